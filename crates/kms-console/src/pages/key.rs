//! The key page: general and cryptographic configuration, the key policy (default view and JSON
//! view, editable), rotation with its history, aliases, tags, grants, every Region of a
//! multi-Region key, the node's recent audit events for the key, and the key's actions.

use maud::{html, Markup};
use serde_json::Value;

use super::{date, error, layout};
use crate::kms_call::AwsError;

/// One Region of a multi-Region key, as DescribeKey there answered.
#[derive(Debug, Clone)]
pub struct RegionState {
    /// The Region.
    pub region: String,
    /// `Primary` or `Replica`.
    pub role: &'static str,
    /// Its key state there, if that Region answered.
    pub state: Option<String>,
    /// Why it did not answer.
    pub problem: Option<String>,
}

/// Everything the key page shows.
pub struct KeyView {
    /// DescribeKey's KeyMetadata.
    pub meta: Value,
    /// The key policy, pretty-printed.
    pub policy: String,
    /// Whether the policy is shown as JSON rather than the default view.
    pub policy_as_json: bool,
    /// GetKeyRotationStatus, if the key has rotation.
    pub rotation: Option<Value>,
    /// ListKeyRotations' rotations.
    pub rotations: Vec<Value>,
    /// The key's aliases.
    pub aliases: Vec<String>,
    /// The key's tags.
    pub tags: Vec<(String, String)>,
    /// ListGrants' grants.
    pub grants: Vec<Value>,
    /// Every Region of a multi-Region key.
    pub regions: Vec<RegionState>,
    /// Regions a replica could be made in.
    pub replica_targets: Vec<String>,
    /// The node's recent audit events for the key, newest first.
    pub events: Vec<Value>,
    /// The section an action failed in, and AWS's answer.
    pub problem: Option<(String, AwsError)>,
}

impl KeyView {
    fn problem_in(&self, section: &str) -> Markup {
        html! { @if let Some((s, e)) = &self.problem { @if s == section { (error(e)) } } }
    }

    /// Whether something the page shows is still settling (Creating, Updating).
    fn settling(&self) -> bool {
        let busy = |s: &str| s == "Creating" || s == "Updating";
        busy(self.meta["KeyState"].as_str().unwrap_or(""))
            || self
                .regions
                .iter()
                .any(|r| r.state.as_deref().is_some_and(busy))
    }
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or("")
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The default view of a policy in the console's shape: administrators, whether they may
/// delete, users and other accounts; `None` when the policy is not in that shape.
fn default_view(policy: &str) -> Option<Markup> {
    let policy: Value = serde_json::from_str(policy).ok()?;
    let statements = policy["Statement"].as_array()?;
    let by_sid = |sid: &str| statements.iter().find(|s| s["Sid"] == sid);
    let admins = by_sid("Allow access for Key Administrators");
    let users = by_sid("Allow use of the key");
    by_sid("Enable IAM User Permissions")?;
    let admin_arns = admins
        .map(|s| list(&s["Principal"]["AWS"]))
        .unwrap_or_default();
    let may_delete = admins.is_some_and(|s| {
        list(&s["Action"])
            .iter()
            .any(|a| a == "kms:ScheduleKeyDeletion")
    });
    let user_arns = users
        .map(|s| list(&s["Principal"]["AWS"]))
        .unwrap_or_default();
    let (accounts, principals): (Vec<&String>, Vec<&String>) =
        user_arns.iter().partition(|a| a.ends_with(":root"));
    Some(html! {
        h3 { "Key administrators" }
        ul #admins { @for a in &admin_arns { li { (a) } } }
        p { "Allow key administrators to delete this key: " strong { @if may_delete { "Yes" } @else { "No" } } }
        h3 { "Key users" }
        ul #users { @for u in &principals { li { (u) } } }
        h3 { "Other AWS accounts" }
        ul #accounts { @for a in &accounts { li { (a) } } }
    })
}

/// Symmetric, Asymmetric or HMAC, as AWS's console names the key type of `spec`.
fn key_type(spec: &str) -> &'static str {
    match spec {
        "SYMMETRIC_DEFAULT" => "Symmetric",
        s if s.starts_with("HMAC_") => "HMAC",
        _ => "Asymmetric",
    }
}

/// A POST button for one action on the key, with extra hidden fields.
fn action(csrf: &str, id: &str, op: &str, label: &str, fields: &[(&str, &str)]) -> Markup {
    html! {
        form.inline method="post" action={ "/console/keys/" (id) } {
            input type="hidden" name="csrf" value=(csrf);
            @for (name, value) in fields { input type="hidden" name=(*name) value=(*value); }
            button type="submit" name="action" value=(op) { (label) }
        }
    }
}

/// The key page.
pub fn key(csrf: &str, v: &KeyView) -> Markup {
    let m = &v.meta;
    let id = text(m, "KeyId");
    let state = text(m, "KeyState");
    let multi = m["MultiRegion"].as_bool() == Some(true);
    let primary = text(&m["MultiRegionConfiguration"], "MultiRegionKeyType") == "PRIMARY";
    let title = v.aliases.first().map_or(id, String::as_str);
    layout(
        title,
        Some(csrf),
        v.settling().then_some(2),
        html! {
            @if let Some((s, e)) = &v.problem { @if s == "general" { (error(e)) } }
            section aria-labelledby="general" { h2 #general { "General configuration" }
                dl {
                    dt { "Key ID" } dd #key-id { (id) }
                    dt { "ARN" } dd { (text(m, "Arn")) }
                    dt { "Status" } dd #state { (state) }
                    dt { "Description" } dd { (text(m, "Description")) }
                    dt { "Creation date" } dd { (date(&m["CreationDate"])) }
                    @if let Some(when) = m.get("DeletionDate") { dt { "Scheduled deletion date" } dd { (date(when)) } }
                }
                h3 { "Actions" }
                (action(csrf, id, "EnableKey", "Enable", &[]))
                " "
                (action(csrf, id, "DisableKey", "Disable", &[]))
                " "
                (action(csrf, id, "CancelKeyDeletion", "Cancel key deletion", &[]))
                form method="post" action={ "/console/keys/" (id) } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="days" { "Waiting period (7-30 days)" }
                    input id="days" name="days" type="number" min="7" max="30" value="30" required;
                    button type="submit" name="action" value="ScheduleKeyDeletion" { "Schedule key deletion" }
                }
            }
            section aria-labelledby="crypto" { h2 #crypto { "Cryptographic configuration" }
                dl {
                    dt { "Key type" } dd { (key_type(text(m, "KeySpec"))) }
                    dt { "Key spec" } dd { (text(m, "KeySpec")) }
                    dt { "Key usage" } dd { (text(m, "KeyUsage")) }
                    dt { "Origin" } dd { (text(m, "Origin")) }
                    dt { "Regionality" } dd #regionality { @if multi { "Multi-Region" } @else { "Single-Region" } }
                    @for (label, field) in [("Encryption algorithms", "EncryptionAlgorithms"), ("Signing algorithms", "SigningAlgorithms"), ("MAC algorithms", "MacAlgorithms"), ("Key agreement algorithms", "KeyAgreementAlgorithms")] {
                        @if m.get(field).is_some() { dt { (label) } dd { (list(&m[field]).join(", ")) } }
                    }
                }
            }
            @if multi {
                section aria-labelledby="regions-h" { h2 #regions-h { "Regionality" }
                    (v.problem_in("regions"))
                    table #regions { thead { tr { th { "Region" } th { "Role" } th { "Status" } } }
                        tbody { @for r in &v.regions {
                            tr { td { (r.region) } td { (r.role) }
                                td { @if let Some(s) = &r.state { (s) } @else { "unavailable: " (r.problem.clone().unwrap_or_default()) } } }
                        } }
                    }
                    @if primary && !v.replica_targets.is_empty() {
                        form method="post" action={ "/console/keys/" (id) } {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="replica_region" { "Create a replica key in" }
                            select id="replica_region" name="replica_region" { @for r in &v.replica_targets { option value=(r) { (r) } } }
                            button type="submit" name="action" value="ReplicateKey" { "Create new replica key" }
                        }
                    }
                    @let replicas: Vec<&RegionState> = v.regions.iter().filter(|r| r.role == "Replica").collect();
                    @if primary && !replicas.is_empty() {
                        form method="post" action={ "/console/keys/" (id) } {
                            input type="hidden" name="csrf" value=(csrf);
                            label for="primary_region" { "Change primary Region to" }
                            select id="primary_region" name="primary_region" { @for r in &replicas { option value=(r.region) { (r.region) } } }
                            button type="submit" name="action" value="UpdatePrimaryRegion" { "Change primary Region" }
                        }
                    }
                }
            }
            section aria-labelledby="policy-h" { h2 #policy-h { "Key policy" }
                (v.problem_in("policy"))
                @if v.policy_as_json {
                    a href={ "/console/keys/" (id) } { "Switch to default view" }
                    form method="post" action={ "/console/keys/" (id) } {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="policy" { "Policy (JSON)" }
                        textarea id="policy" name="policy" rows="20" spellcheck="false" { (v.policy) }
                        button type="submit" name="action" value="PutKeyPolicy" { "Save changes" }
                    }
                } @else {
                    a href={ "/console/keys/" (id) "?policy=json" } id="policy-json" { "Switch to policy view (JSON)" }
                    @match default_view(&v.policy) {
                        Some(view) => (view),
                        None => p { "This key policy is not in the console's default shape: use the policy view." },
                    }
                }
            }
            @if let Some(r) = &v.rotation {
                section aria-labelledby="rotation-h" { h2 #rotation-h { "Key rotation" }
                    (v.problem_in("rotation"))
                    p #rotation-status { "Automatic rotation: " strong { @if r["KeyRotationEnabled"].as_bool() == Some(true) { "Enabled" } @else { "Disabled" } } }
                    @if let Some(days) = r["RotationPeriodInDays"].as_i64() { p { "Rotation period: " (days) " days" } }
                    @if let Some(next) = r.get("NextRotationDate") { p { "Next rotation date: " (date(next)) } }
                    form method="post" action={ "/console/keys/" (id) } {
                        input type="hidden" name="csrf" value=(csrf);
                        label for="period" { "Rotation period (90-2560 days)" }
                        input id="period" name="period" type="number" min="90" max="2560" value=(r["RotationPeriodInDays"].as_i64().unwrap_or(365));
                        button type="submit" name="action" value="EnableKeyRotation" { "Enable automatic rotation" }
                        " "
                        button type="submit" name="action" value="DisableKeyRotation" formnovalidate { "Disable automatic rotation" }
                        " "
                        button type="submit" name="action" value="RotateKeyOnDemand" formnovalidate { "Rotate now" }
                    }
                    h3 { "Rotation history" }
                    table { thead { tr { th { "Date" } th { "Type" } th { "Key material" } } }
                        tbody { @for rot in &v.rotations { tr { td { (date(&rot["RotationDate"])) } td { (text(rot, "RotationType")) } td { (text(rot, "KeyMaterialId")) } } } } }
                }
            }
            section aria-labelledby="aliases-h" { h2 #aliases-h { "Aliases" }
                (v.problem_in("aliases"))
                ul #aliases { @for a in &v.aliases { li { (a) " " (action(csrf, id, "DeleteAlias", "Delete", &[("alias", a)])) } } }
                form method="post" action={ "/console/keys/" (id) } {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="new_alias" { "New alias (alias/ is added)" }
                    input id="new_alias" name="alias" required pattern="(?!aws\\/)(?!aws$)[A-Za-z0-9\\/_\\-]{1,250}";
                    button type="submit" name="action" value="CreateAlias" { "Add alias" }
                }
            }
            section aria-labelledby="tags-h" { h2 #tags-h { "Tags" }
                (v.problem_in("tags"))
                table #tags { thead { tr { th { "Key" } th { "Value" } th { "" } } }
                    tbody { @for (k, val) in &v.tags { tr { td { (k) } td { (val) } td { (action(csrf, id, "UntagResource", "Remove", &[("tag_key", k)])) } } } } }
                form method="post" action={ "/console/keys/" (id) } {
                    input type="hidden" name="csrf" value=(csrf);
                    div.row {
                        div { label for="tag_key" { "Tag key" } input id="tag_key" name="tag_key" required; }
                        div { label for="tag_value" { "Tag value" } input id="tag_value" name="tag_value"; }
                    }
                    button type="submit" name="action" value="TagResource" { "Add tag" }
                }
            }
            section aria-labelledby="grants-h" { h2 #grants-h { "Grants" }
                (v.problem_in("grants"))
                table { thead { tr { th { "Name" } th { "Grantee" } th { "Operations" } th { "" } } }
                    tbody { @for g in &v.grants { tr {
                        td { (text(g, "Name")) } td { (text(g, "GranteePrincipal")) } td { (list(&g["Operations"]).join(", ")) }
                        td { (action(csrf, id, "RevokeGrant", "Revoke", &[("grant_id", text(g, "GrantId"))])) }
                    } } }
                }
            }
            section aria-labelledby="events-h" { h2 #events-h { "Recent events on this node" }
                table #events { thead { tr { th { "Time" } th { "Event" } th { "User" } th { "Error" } } }
                    tbody { @for e in &v.events { tr {
                        td { (text(e, "eventTime")) } td { (text(e, "eventName")) } td { (text(&e["userIdentity"], "arn")) } td { (text(e, "errorCode")) }
                    } } }
                }
            }
        },
    )
}

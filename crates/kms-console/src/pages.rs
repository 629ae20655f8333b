//! The console's HTML: server-rendered with maud, simple responsive CSS, labelled controls.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::Value;

use crate::kms_call::AwsError;
use crate::wizard::Choices;

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem}\
label{display:block;margin-top:.8rem;font-weight:600}\
input,select,textarea{width:100%;box-sizing:border-box;padding:.4rem;font:inherit}\
input[type=checkbox]{width:auto}button{margin-top:1rem;padding:.5rem 1rem;font:inherit}\
table{width:100%;border-collapse:collapse}td,th{border-bottom:1px solid #ccc;padding:.3rem;text-align:left}\
.error{color:#a00;font-weight:600}pre{overflow:auto;background:#f4f4f4;padding:.5rem}\
nav{display:flex;gap:1rem;flex-wrap:wrap;align-items:center}\
@media(max-width:40rem){td,th{display:block}}";

/// The page frame; `csrf` is given when signed in (for the sign-out form).
pub fn layout(title: &str, csrf: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - Trent console" }
                style { (PreEscaped(CSS)) }
            }
            body {
                nav {
                    strong { "Trent" }
                    @if let Some(token) = csrf {
                        a href="/console/" { "Keys" }
                        a href="/console/create" { "Create key" }
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(token);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// An AWS error, shown with its type.
pub fn error(e: &AwsError) -> Markup {
    html! { p.error role="alert" { (e.kind) ": " (e.message) } }
}

/// The sign-in form.
pub fn sign_in(region: &str, problem: Option<&AwsError>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(e) = problem { (error(e)) }
            form method="post" action="/console/sign-in" {
                label for="access_key_id" { "Access key ID" }
                input id="access_key_id" name="access_key_id" required autocomplete="username";
                label for="secret" { "Secret access key" }
                input id="secret" name="secret" type="password" required autocomplete="current-password";
                label for="region" { "Region" }
                input id="region" name="region" value=(region) required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The keys list: `keys` are DescribeKey metadata, `aliases` (alias, key id).
pub fn keys(
    csrf: &str,
    keys: &[Value],
    aliases: &[(String, String)],
    filter: &str,
    next: Option<&str>,
) -> Markup {
    layout(
        "Keys",
        Some(csrf),
        html! {
            form method="get" action="/console/" {
                label for="filter" { "Filter by alias, id, state or spec" }
                input id="filter" name="filter" value=(filter);
                button type="submit" { "Filter" }
            }
            table {
                thead { tr { th { "Aliases" } th { "Key ID" } th { "State" } th { "Spec" } th { "Regionality" } } }
                tbody {
                    @for k in keys {
                        @let id = k["KeyId"].as_str().unwrap_or("");
                        @let names: Vec<&str> = aliases.iter().filter(|(_, t)| t == id).map(|(a, _)| a.as_str()).collect();
                        tr {
                            td { (names.join(", ")) }
                            td { a href={ "/console/keys/" (id) } { (id) } }
                            td { (k["KeyState"].as_str().unwrap_or("")) }
                            td { (k["KeySpec"].as_str().unwrap_or("")) }
                            td { @if k["MultiRegion"].as_bool() == Some(true) { "Multi-Region" } @else { "Single-Region" } }
                        }
                    }
                }
            }
            @if let Some(marker) = next {
                a href={ "/console/?marker=" (marker) "&filter=" (filter) } { "Next page" }
            }
        },
    )
}

fn select(name: &str, label: &str, options: &[&str], chosen: &str) -> Markup {
    html! {
        label for=(name) { (label) }
        select id=(name) name=(name) {
            @for o in options { option value=(o) selected[*o == chosen] { (o) } }
        }
    }
}

fn field_error(problems: &[(&'static str, String)], field: &str) -> Markup {
    html! { @for (f, m) in problems { @if *f == field { p.error role="alert" id={ (field) "-error" } { (m) } } } }
}

/// Wizard step 1: configure the key, its labels and its permissions.
pub fn create_form(
    csrf: &str,
    c: &Choices,
    problems: &[(&'static str, String)],
    principals: &[String],
    aws: Option<&AwsError>,
) -> Markup {
    let tags: Vec<String> = c.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    layout(
        "Create key",
        Some(csrf),
        html! {
            @if let Some(e) = aws { (error(e)) }
            form method="post" action="/console/create" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="step" value="review";
                fieldset { legend { "Configure key" }
                    (select("key_spec", "Key spec", &["SYMMETRIC_DEFAULT","RSA_2048","RSA_3072","RSA_4096","ECC_NIST_P256","ECC_NIST_P384","ECC_NIST_P521","ECC_SECG_P256K1","HMAC_224","HMAC_256","HMAC_384","HMAC_512"], &c.key_spec))
                    (select("key_usage", "Key usage", &["ENCRYPT_DECRYPT","SIGN_VERIFY","GENERATE_VERIFY_MAC","KEY_AGREEMENT"], &c.key_usage))
                    (select("origin", "Key material origin (advanced)", &["AWS_KMS","EXTERNAL"], &c.origin))
                    label { input type="checkbox" name="multi_region" value="true" checked[c.multi_region]; " Multi-Region key" }
                }
                fieldset { legend { "Add labels" }
                    label for="alias" { "Alias (alias/ is added)" }
                    input id="alias" name="alias" value=(c.alias) pattern="[A-Za-z0-9/_-]{0,250}";
                    (field_error(problems, "alias"))
                    label for="description" { "Description" }
                    textarea id="description" name="description" { (c.description) }
                    (field_error(problems, "description"))
                    label for="tags" { "Tags, one KEY=VALUE a line" }
                    textarea id="tags" name="tags" { (tags.join("\n")) }
                    (field_error(problems, "tags"))
                }
                fieldset { legend { "Key administrators and users" }
                    @if !principals.is_empty() {
                        p { "Known principals: " @for p in principals { code { (p) } " " } }
                    }
                    label for="admins" { "Key administrators (ARNs, one a line)" }
                    textarea id="admins" name="admins" { (c.admins.join("\n")) }
                    label { input type="checkbox" name="admins_may_delete" value="true" checked[c.admins_may_delete]; " Allow key administrators to delete this key" }
                    label for="users" { "Key users (ARNs, one a line)" }
                    textarea id="users" name="users" { (c.users.join("\n")) }
                    (field_error(problems, "principals"))
                    label for="accounts" { "Other AWS accounts (12-digit ids, one a line)" }
                    textarea id="accounts" name="accounts" { (c.accounts.join("\n")) }
                    (field_error(problems, "accounts"))
                }
                button type="submit" { "Next: review" }
            }
        },
    )
}

/// Wizard step 2: review, with the key policy editable; Finish creates the key.
pub fn review(csrf: &str, c: &Choices, policy: &str, aws: Option<&AwsError>) -> Markup {
    layout(
        "Review",
        Some(csrf),
        html! {
            @if let Some(e) = aws { (error(e)) }
            dl {
                dt { "Key spec / usage / origin" } dd { (c.key_spec) " / " (c.key_usage) " / " (c.origin) }
                dt { "Regionality" } dd { @if c.multi_region { "Multi-Region" } @else { "Single-Region" } }
                dt { "Alias" } dd { @if !c.alias.is_empty() { "alias/" (c.alias) } }
                dt { "Description" } dd { (c.description) }
                dt { "Tags" } dd { @for (k, v) in &c.tags { code { (k) "=" (v) } " " } }
            }
            form method="post" action="/console/create" {
                input type="hidden" name="csrf" value=(csrf);
                @for (name, value) in c.hidden_fields() { input type="hidden" name=(name) value=(value); }
                label for="policy" { "Key policy" }
                textarea id="policy" name="policy" rows="24" { (policy) }
                button type="submit" name="step" value="edit" { "Back" }
                button type="submit" name="step" value="finish" id="finish" { "Finish" }
            }
        },
    )
}

/// The key page.
pub fn key(
    csrf: &str,
    meta: &Value,
    policy: &str,
    rotation: Option<bool>,
    aliases: &[String],
    tags: &[(String, String)],
    aws: Option<&AwsError>,
) -> Markup {
    let id = meta["KeyId"].as_str().unwrap_or("");
    let state = meta["KeyState"].as_str().unwrap_or("");
    layout(
        id,
        Some(csrf),
        html! {
            @if let Some(e) = aws { (error(e)) }
            h2 { "General configuration" }
            dl {
                dt { "ARN" } dd { (meta["Arn"].as_str().unwrap_or("")) }
                dt { "State" } dd #state { (state) }
                dt { "Description" } dd { (meta["Description"].as_str().unwrap_or("")) }
                dt { "Aliases" } dd { (aliases.join(", ")) }
            }
            h2 { "Cryptographic configuration" }
            dl {
                dt { "Key spec" } dd { (meta["KeySpec"].as_str().unwrap_or("")) }
                dt { "Key usage" } dd { (meta["KeyUsage"].as_str().unwrap_or("")) }
                dt { "Origin" } dd { (meta["Origin"].as_str().unwrap_or("")) }
                dt { "Regionality" } dd { @if meta["MultiRegion"].as_bool() == Some(true) { "Multi-Region" } @else { "Single-Region" } }
                dt { "Automatic rotation" } dd { @match rotation { Some(true) => "Enabled", Some(false) => "Disabled", None => "-" } }
            }
            @if let Some(mrc) = meta.get("MultiRegionConfiguration") {
                h2 { "Regions" }
                table {
                    tr { th { "Role" } th { "Region" } th { "ARN" } }
                    tr { td { "Primary" } td { (mrc["PrimaryKey"]["Region"].as_str().unwrap_or("")) } td { (mrc["PrimaryKey"]["Arn"].as_str().unwrap_or("")) } }
                    @for r in mrc["ReplicaKeys"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                        tr { td { "Replica" } td { (r["Region"].as_str().unwrap_or("")) } td { (r["Arn"].as_str().unwrap_or("")) } }
                    }
                }
            }
            h2 { "Tags" }
            ul { @for (k, v) in tags { li { code { (k) "=" (v) } } } }
            h2 { "Key policy" }
            pre #policy { (policy) }
            h2 { "Actions" }
            form method="post" action={ "/console/keys/" (id) } {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" name="action" value="EnableKey" { "Enable" }
                " "
                button type="submit" name="action" value="DisableKey" { "Disable" }
                label for="days" { "Waiting period (7-30 days)" }
                input id="days" name="days" type="number" min="7" max="30" value="30";
                button type="submit" name="action" value="ScheduleKeyDeletion" { "Schedule deletion" }
                " "
                button type="submit" name="action" value="CancelKeyDeletion" { "Cancel deletion" }
            }
        },
    )
}

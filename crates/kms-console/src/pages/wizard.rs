//! The create-key wizard's pages: one per step as AWS's console walks them, each carrying the
//! other steps' choices in hidden fields, then the review with the key policy to edit.

use maud::{html, Markup};

use super::{error, field_error, layout, select};
use crate::kms_call::AwsError;
use crate::wizard::{Choices, STEPS};

const SPECS: [&str; 15] = [
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519",
    "SM2",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "ML_DSA_65",
];

/// The step list at the top of every wizard page.
fn progress(current: &str) -> Markup {
    html! {
        ol.steps aria-label="Steps" {
            @for (i, (name, label)) in STEPS.iter().enumerate() {
                li.current[*name == current] aria-current=[(*name == current).then_some("step")] {
                    "Step " (i + 1) ": " (label)
                }
            }
        }
    }
}

/// The previous and next steps of `step`.
fn neighbours(step: &str) -> (Option<&'static str>, Option<&'static str>) {
    let i = STEPS.iter().position(|(n, _)| *n == step).unwrap_or(0);
    let prev = i.checked_sub(1).map(|p| STEPS[p].0);
    let next = STEPS.get(i + 1).map(|s| s.0);
    (prev, next)
}

/// A checkbox per known principal (checked when chosen), then a box for other ARNs.
fn principal_picker(name: &str, known: &[String], chosen: &[String]) -> Markup {
    let others: Vec<&str> = chosen
        .iter()
        .filter(|c| !known.contains(c))
        .map(String::as_str)
        .collect();
    html! {
        @if known.is_empty() {
            p.hint { "Trent knows no IAM users or roles in this account (see the identities file)." }
        }
        @for (i, arn) in known.iter().enumerate() {
            label for={ (name) "-" (i) } {
                input type="checkbox" id={ (name) "-" (i) } name=(name) value=(arn) checked[chosen.contains(arn)];
                " " (arn)
            }
        }
        label for={ (name) "_other" } { "Other principals (ARNs, one a line)" }
        textarea id={ (name) "_other" } name={ (name) "_other" } rows="2" { (others.join("\n")) }
    }
}

/// Step `step` of the wizard (`configure`, `labels`, `admins` or `users`).
pub fn step(
    csrf: &str,
    step: &str,
    c: &Choices,
    problems: &[(&'static str, String)],
    known: &[String],
    aws: Option<&AwsError>,
) -> Markup {
    let title = STEPS
        .iter()
        .find(|(n, _)| *n == step)
        .map_or("Create key", |(_, l)| l);
    let shown: &[&str] = match step {
        "configure" => &[
            "key_type",
            "key_spec",
            "key_usage",
            "origin",
            "multi_region",
        ],
        "labels" => &["alias", "description", "tags"],
        "admins" => &["admins", "admins_may_delete"],
        _ => &["users", "accounts"],
    };
    let (prev, next) = neighbours(step);
    let tag_rows = c.tags.len() + 1;
    layout(
        title,
        Some(csrf),
        None,
        html! {
            (progress(step))
            @if let Some(e) = aws { (error(e)) }
            form method="post" action="/console/create" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="from" value=(step);
                @for (name, value) in c.hidden_fields(shown) { input type="hidden" name=(name) value=(value); }
                @match step {
                    "configure" => {
                        fieldset { legend { "Key type" }
                            @for (value, label) in [("symmetric", "Symmetric"), ("asymmetric", "Asymmetric"), ("hmac", "HMAC")] {
                                label for={ "key_type-" (value) } {
                                    input type="radio" id={ "key_type-" (value) } name="key_type" value=(value) checked[c.key_type == value];
                                    " " (label)
                                }
                            }
                        }
                        (select("key_usage", "Key usage", &["ENCRYPT_DECRYPT","SIGN_VERIFY","GENERATE_VERIFY_MAC","KEY_AGREEMENT"], &c.key_usage))
                        (select("key_spec", "Key spec", &SPECS, &c.key_spec))
                        (field_error(problems, "key_spec"))
                        fieldset { legend { "Advanced options" }
                            (select("origin", "Key material origin", &["AWS_KMS","EXTERNAL"], &c.origin))
                            (field_error(problems, "origin"))
                            label for="multi_region" {
                                input type="checkbox" id="multi_region" name="multi_region" value="true" checked[c.multi_region];
                                " Multi-Region key"
                            }
                        }
                    }
                    "labels" => {
                        label for="alias" { "Alias" }
                        p.hint id="alias-hint" { "alias/ is added. Letters, digits, /, _ and -; up to 250 characters; not beginning with aws/." }
                        input id="alias" name="alias" value=(c.alias) aria-describedby="alias-hint"
                            pattern="(?!aws\\/)(?!aws$)[A-Za-z0-9\\/_\\-]{1,250}"
                            title="Letters, digits, /, _ and -; not beginning with aws/";
                        (field_error(problems, "alias"))
                        label for="description" { "Description (optional)" }
                        textarea id="description" name="description" { (c.description) }
                        (field_error(problems, "description"))
                        fieldset { legend { "Tags (optional)" }
                            @for i in 0..tag_rows {
                                @let (k, v) = c.tags.get(i).cloned().unwrap_or_default();
                                div.row {
                                    div { label for={ "tag_key_" (i) } { "Tag key" } input id={ "tag_key_" (i) } name={ "tag_key_" (i) } value=(k); }
                                    div { label for={ "tag_value_" (i) } { "Tag value" } input id={ "tag_value_" (i) } name={ "tag_value_" (i) } value=(v); }
                                }
                            }
                            button type="submit" name="go" value="labels" id="add-tag" { "Add tag" }
                            (field_error(problems, "tags"))
                        }
                    }
                    "admins" => {
                        fieldset { legend { "Key administrators" }
                            p.hint { "The IAM users and roles who can administer this key through the KMS API." }
                            (principal_picker("admins", known, &c.admins))
                            (field_error(problems, "admins"))
                        }
                        fieldset { legend { "Key deletion" }
                            label for="admins_may_delete" {
                                input type="checkbox" id="admins_may_delete" name="admins_may_delete" value="true" checked[c.admins_may_delete];
                                " Allow key administrators to delete this key"
                            }
                        }
                    }
                    _ => {
                        fieldset { legend { "This account" }
                            p.hint { "The IAM users and roles who can use this key in cryptographic operations." }
                            (principal_picker("users", known, &c.users))
                            (field_error(problems, "users"))
                        }
                        fieldset { legend { "Other AWS accounts" }
                            label for="accounts" { "AWS account ids (12 digits, one a line)" }
                            textarea id="accounts" name="accounts" rows="2" { (c.accounts.join("\n")) }
                            (field_error(problems, "accounts"))
                        }
                    }
                }
                div {
                    @if let Some(p) = prev { button type="submit" name="go" value=(p) formnovalidate { "Previous" } " " }
                    @if let Some(n) = next { button type="submit" name="go" value=(n) id="next" { "Next" } }
                }
            }
        },
    )
}

/// The review step: every choice, and the key policy to edit; Finish creates the key.
pub fn review(csrf: &str, c: &Choices, policy: &str, aws: Option<&AwsError>) -> Markup {
    layout(
        "Review",
        Some(csrf),
        None,
        html! {
            (progress("review"))
            @if let Some(e) = aws { (error(e)) }
            section { h2 { "Key configuration" }
                dl {
                    dt { "Key type" } dd { (c.key_type) }
                    dt { "Key spec" } dd { (c.key_spec) }
                    dt { "Key usage" } dd { (c.key_usage) }
                    dt { "Origin" } dd { (c.origin) }
                    dt { "Regionality" } dd { @if c.multi_region { "Multi-Region key" } @else { "Single-Region key" } }
                }
            }
            section { h2 { "Alias and description" }
                dl {
                    dt { "Alias" } dd #review-alias { @if !c.alias.is_empty() { "alias/" (c.alias) } }
                    dt { "Description" } dd { (c.description) }
                }
            }
            section { h2 { "Tags" }
                table { thead { tr { th { "Key" } th { "Value" } } }
                    tbody { @for (k, v) in &c.tags { tr { td { (k) } td { (v) } } } } }
            }
            form method="post" action="/console/create" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="from" value="review";
                @for (name, value) in c.hidden_fields(&[]) { input type="hidden" name=(name) value=(value); }
                section { h2 { label for="policy" { "Key policy" } }
                    p.hint { "The policy AWS's console writes for these choices; edit it before Finish if you need to." }
                    textarea id="policy" name="policy" rows="24" spellcheck="false" { (policy) }
                }
                button type="submit" name="go" value="users" formnovalidate { "Previous" }
                " "
                button type="submit" name="go" value="finish" id="finish" { "Finish" }
            }
        },
    )
}

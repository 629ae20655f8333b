//! The console's HTML, server-rendered with maud: the frame and sign-in here, one module per
//! page. Simple responsive CSS, labelled controls, AWS's messages next to their fields.

mod cluster;
mod key;
pub mod keys;
mod wizard;

pub use cluster::cluster;
pub use key::{key, KeyView, RegionState};
pub use keys::{keys, ListFilter};
pub use wizard::{review, step};

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::kms_call::AwsError;

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:64rem;padding:1rem}\
label{display:block;margin-top:.8rem;font-weight:600}\
input,select,textarea{width:100%;box-sizing:border-box;padding:.4rem;font:inherit}\
input[type=checkbox],input[type=radio]{width:auto}button{margin-top:1rem;padding:.5rem 1rem;font:inherit}\
input:invalid{outline:2px solid #a00}.hint{color:#555;font-size:.9rem;margin:.2rem 0}\
table{width:100%;border-collapse:collapse}td,th{border-bottom:1px solid #ccc;padding:.3rem;text-align:left;vertical-align:top}\
.error{color:#a00;font-weight:600}pre{overflow:auto;background:#f4f4f4;padding:.5rem}\
nav{display:flex;gap:1rem;flex-wrap:wrap;align-items:center}\
ol.steps{display:flex;gap:1rem;flex-wrap:wrap;list-style:none;padding-left:0}ol.steps .current{font-weight:700}\
.row{display:flex;gap:.5rem}.row>*{flex:1}fieldset{margin-top:1rem}\
section{margin-top:1.5rem}.inline{display:inline}.inline button{margin-top:.3rem}\
@media(max-width:40rem){td,th{display:block}.row{flex-direction:column}}";

/// The page frame; `csrf` is given when signed in (for the sign-out form). `refresh` asks the
/// browser to reload the page after that many seconds (a state that is still settling).
pub fn layout(title: &str, csrf: Option<&str>, refresh: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh { meta http-equiv="refresh" content=(seconds); }
                title { (title) " - Trent console" }
                style { (PreEscaped(CSS)) }
            }
            body {
                nav aria-label="Console" {
                    strong { "Trent" }
                    @if let Some(token) = csrf {
                        a href="/console/" { "Keys" }
                        a href="/console/create" { "Create key" }
                        a href="/console/cluster" { "Cluster" }
                        form.inline method="post" action="/console/sign-out" {
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

/// A KMS timestamp (seconds since the epoch, as the JSON protocol sends it) as an RFC 3339 UTC
/// date; anything else as it is.
pub fn date(v: &serde_json::Value) -> String {
    let Some(seconds) = v.as_f64() else {
        return v.as_str().unwrap_or("").to_string();
    };
    time::OffsetDateTime::from_unix_timestamp(seconds as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| seconds.to_string())
}

/// The messages of `problems` that concern `field`, for beside that field.
fn field_error(problems: &[(&'static str, String)], field: &str) -> Markup {
    html! { @for (f, m) in problems { @if *f == field { p.error role="alert" id={ (field) "-error" } { (m) } } } }
}

/// A labelled select.
fn select(name: &str, label: &str, options: &[&str], chosen: &str) -> Markup {
    html! {
        label for=(name) { (label) }
        select id=(name) name=(name) {
            @for o in options { option value=(o) selected[*o == chosen] { (o) } }
        }
    }
}

/// The sign-in form: an access key and secret, and optionally a role to assume with them.
pub fn sign_in(region: &str, problem: Option<&AwsError>) -> Markup {
    layout(
        "Sign in",
        None,
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
                label for="role_arn" { "Role to assume (optional)" }
                input id="role_arn" name="role_arn" placeholder="arn:aws:iam::111122223333:role/NAME";
                p.hint { "With a role, the console signs in with the role session's temporary credentials (STS AssumeRole)." }
                button type="submit" { "Sign in" }
            }
        },
    )
}

//! The create-key wizard's routes: each POST carries the step it came from (`from`) and the step
//! asked for (`go`); a step's problems keep the person on it, the review shows the default
//! console key policy to edit, and Finish makes CreateKey (and CreateAlias) calls.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use crate::wizard::{self, Choices, STEPS};
use crate::{call, checked_form, field, html, key_routes, pages, session, to_sign_in, Console};

fn position(step: &str) -> usize {
    STEPS
        .iter()
        .position(|(n, _)| *n == step)
        .unwrap_or(STEPS.len())
}

/// `GET /console/create`: the first step, with nothing chosen.
pub(crate) async fn first_step(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
) -> Response {
    let Some(s) = session(&console, &headers) else {
        return to_sign_in();
    };
    let known = console
        .config
        .node
        .known_principals(&console.config.account_id);
    html(pages::step(
        &s.csrf,
        "configure",
        &Choices::from_form(&[]),
        &[],
        &known,
        None,
    ))
}

/// `POST /console/create`: the next step, the review, or Finish.
pub(crate) async fn step(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (s, form) = match checked_form(&console, &headers, &body) {
        Ok(checked) => checked,
        Err(refused) => return *refused,
    };
    let choices = Choices::from_form(&form);
    let from = field(&form, "from");
    let go = field(&form, "go");
    let known = console
        .config
        .node
        .known_principals(&console.config.account_id);
    let show = |step: &str, problems: &[(&'static str, String)]| {
        html(pages::step(&s.csrf, step, &choices, problems, &known, None))
    };
    // Forward only past a step without problems; backward always.
    if position(go) > position(from) {
        let problems = choices.problems_of(from);
        if !problems.is_empty() {
            return show(from, &problems);
        }
    }
    if go == "review" || go == "finish" {
        // Every step again: hidden fields can be edited too.
        let first_with_problems = STEPS
            .iter()
            .map(|(n, _)| *n)
            .find(|n| !choices.problems_of(n).is_empty());
        if let Some(step) = first_with_problems {
            return show(step, &choices.problems_of(step));
        }
    }
    match go {
        "finish" => finish(&console, &s, &choices, field(&form, "policy")).await,
        "review" => {
            let policy = wizard::default_policy(&console.config.account_id, &choices);
            let policy = wizard::policy_text(&policy);
            html(pages::review(&s.csrf, &choices, &policy, None))
        }
        "labels" | "admins" | "users" | "configure" => show(go, &[]),
        _ => show("configure", &[]),
    }
}

/// CreateKey with the reviewed policy, then CreateAlias; the key page after.
async fn finish(
    console: &Console,
    s: &session::Active,
    choices: &Choices,
    policy: &str,
) -> Response {
    let mut request = json!({
        "KeySpec": choices.key_spec,
        "KeyUsage": choices.key_usage,
        "Origin": choices.origin,
        "MultiRegion": choices.multi_region,
        "Description": choices.description,
        "Policy": policy,
    });
    if !choices.tags.is_empty() {
        request["Tags"] = choices
            .tags
            .iter()
            .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
            .collect();
    }
    let created = match call(console, s, "CreateKey", request).await {
        Ok(v) => v,
        Err(e) => return html(pages::review(&s.csrf, choices, policy, Some(&e))),
    };
    let id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if !choices.alias.is_empty() {
        let alias = json!({"AliasName": format!("alias/{}", choices.alias), "TargetKeyId": id});
        if let Err(e) = call(console, s, "CreateAlias", alias).await {
            return key_routes::view(console, s, &id, false, Some(("aliases".into(), e))).await;
        }
    }
    Redirect::to(&format!("/console/keys/{id}")).into_response()
}

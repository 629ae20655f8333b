//! The web console served at `/console/`: sign-in sessions, the create-key wizard, the keys list
//! and the key page. Every action is an ordinary KMS call signed with the signed-in principal's
//! credentials and sent to the node's own API address (`kms_call`).

pub mod kms_call;
pub mod pages;
pub mod session;
pub mod wizard;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use kms_call::AwsError;
use session::{Active, Credentials, Sessions};
use wizard::Choices;

const COOKIE: &str = "trent_console";

/// What the console needs from its node.
pub struct ConsoleConfig {
    /// The node's own KMS API address (`host:port`) the console sends its calls to.
    pub api_addr: String,
    /// The account the node serves (for the default key policy's root principal).
    pub account_id: String,
    /// The region offered on the sign-in form.
    pub region: String,
}

struct Console {
    config: ConsoleConfig,
    sessions: Sessions,
    http: reqwest::Client,
}

/// The console's router, its routes under `/console/`; the node merges it into the API router.
pub fn router(config: ConsoleConfig) -> Router {
    let console = Arc::new(Console {
        config,
        sessions: Sessions::default(),
        http: reqwest::Client::new(),
    });
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(home))
        .route("/console/sign-in", post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/create", get(create_form).post(create))
        .route("/console/keys/{id}", get(key_page).post(key_action))
        .with_state(console)
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

fn session(console: &Console, headers: &HeaderMap) -> Option<Active> {
    console.sessions.get(&session_id(headers)?)
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn html(markup: maud::Markup) -> Response {
    let mut response = Html(markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}

fn to_sign_in() -> Response {
    Redirect::to("/console/").into_response()
}

/// A POST from a session: the session, if the form's CSRF token matches it.
fn checked(
    console: &Console,
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<Active, Box<Response>> {
    let Some(active) = session(console, headers) else {
        return Err(Box::new(to_sign_in()));
    };
    if !session::csrf_matches(&active, field(form, "csrf")) {
        return Err(Box::new(
            (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response(),
        ));
    }
    Ok(active)
}

async fn call(console: &Console, s: &Active, op: &str, body: Value) -> Result<Value, AwsError> {
    kms_call::call(
        &console.http,
        &console.config.api_addr,
        &s.credentials,
        op,
        &body,
    )
    .await
}

#[derive(serde::Deserialize)]
struct ListQuery {
    filter: Option<String>,
    marker: Option<String>,
}

async fn home(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some(s) = session(&console, &headers) else {
        return html(pages::sign_in(&console.config.region, None));
    };
    let mut list = json!({"Limit": 50});
    if let Some(m) = &q.marker {
        list["Marker"] = json!(m);
    }
    let listed = match call(&console, &s, "ListKeys", list).await {
        Ok(v) => v,
        Err(e) => return html(pages::layout("Keys", Some(&s.csrf), pages::error(&e))),
    };
    let aliases: Vec<(String, String)> = call(&console, &s, "ListAliases", json!({}))
        .await
        .map(|v| {
            v["Aliases"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|a| {
                    Some((
                        a["AliasName"].as_str()?.to_string(),
                        a["TargetKeyId"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let filter = q.filter.unwrap_or_default();
    let mut keys = Vec::new();
    for k in listed["Keys"].as_array().cloned().unwrap_or_default() {
        let id = k["KeyId"].as_str().unwrap_or("").to_string();
        let meta = call(&console, &s, "DescribeKey", json!({"KeyId": id}))
            .await
            .map(|v| v["KeyMetadata"].clone())
            .unwrap_or_else(|_| json!({"KeyId": id}));
        let text = format!(
            "{} {} {} {}",
            id,
            meta["KeyState"].as_str().unwrap_or(""),
            meta["KeySpec"].as_str().unwrap_or(""),
            aliases
                .iter()
                .filter(|(_, t)| *t == id)
                .map(|(a, _)| a.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
        if filter.is_empty() || text.to_lowercase().contains(&filter.to_lowercase()) {
            keys.push(meta);
        }
    }
    let next = listed["NextMarker"].as_str();
    html(pages::keys(&s.csrf, &keys, &aliases, &filter, next))
}

async fn sign_in(State(console): State<Arc<Console>>, body: Bytes) -> Response {
    let form = form(&body);
    let credentials = Credentials {
        access_key_id: field(&form, "access_key_id").trim().to_string(),
        secret: field(&form, "secret").to_string(),
        region: field(&form, "region").trim().to_string(),
    };
    drop(form);
    // The credentials are checked by an ordinary call made with them.
    let probe = kms_call::call(
        &console.http,
        &console.config.api_addr,
        &credentials,
        "ListKeys",
        &json!({"Limit": 1}),
    )
    .await;
    if let Err(e) = probe {
        if e.kind != "AccessDeniedException" {
            return html(pages::sign_in(&credentials.region, Some(&e)));
        }
    }
    let id = console.sessions.create(credentials);
    let mut response = Redirect::to("/console/").into_response();
    let cookie = format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
        session::MAX_LIFETIME.as_secs()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn sign_out(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form(&body);
    if let Err(refused) = checked(&console, &headers, &form) {
        return *refused;
    }
    if let Some(id) = session_id(&headers) {
        console.sessions.remove(&id);
    }
    let mut response = to_sign_in();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "trent_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

async fn create_form(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some(s) = session(&console, &headers) else {
        return to_sign_in();
    };
    html(pages::create_form(
        &s.csrf,
        &Choices::from_form(&[]),
        &[],
        &[],
        None,
    ))
}

async fn create(State(console): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form(&body);
    let s = match checked(&console, &headers, &form) {
        Ok(s) => s,
        Err(refused) => return *refused,
    };
    let choices = Choices::from_form(&form);
    let problems = choices.problems();
    let step = field(&form, "step");
    if step == "edit" || !problems.is_empty() {
        return html(pages::create_form(&s.csrf, &choices, &problems, &[], None));
    }
    let default = serde_json::to_string_pretty(&wizard::default_policy(
        &console.config.account_id,
        &choices,
    ))
    .unwrap_or_default();
    if step != "finish" {
        return html(pages::review(&s.csrf, &choices, &default, None));
    }
    let policy = field(&form, "policy").to_string();
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
    let created = match call(&console, &s, "CreateKey", request).await {
        Ok(v) => v,
        Err(e) => return html(pages::review(&s.csrf, &choices, &policy, Some(&e))),
    };
    let id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if !choices.alias.is_empty() {
        let alias = json!({"AliasName": format!("alias/{}", choices.alias), "TargetKeyId": id});
        if let Err(e) = call(&console, &s, "CreateAlias", alias).await {
            return key_view(&console, &s, &id, Some(e)).await;
        }
    }
    Redirect::to(&format!("/console/keys/{id}")).into_response()
}

async fn key_page(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(s) = session(&console, &headers) else {
        return to_sign_in();
    };
    key_view(&console, &s, &id, None).await
}

async fn key_view(console: &Console, s: &Active, id: &str, problem: Option<AwsError>) -> Response {
    let meta = match call(console, s, "DescribeKey", json!({"KeyId": id})).await {
        Ok(v) => v["KeyMetadata"].clone(),
        Err(e) => return html(pages::layout(id, Some(&s.csrf), pages::error(&e))),
    };
    let policy = call(
        console,
        s,
        "GetKeyPolicy",
        json!({"KeyId": id, "PolicyName": "default"}),
    )
    .await
    .ok()
    .and_then(|v| v["Policy"].as_str().map(str::to_string))
    .map(|p| {
        serde_json::from_str::<Value>(&p)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or(p)
    })
    .unwrap_or_default();
    let rotation = call(console, s, "GetKeyRotationStatus", json!({"KeyId": id}))
        .await
        .ok()
        .and_then(|v| v["KeyRotationEnabled"].as_bool());
    let aliases: Vec<String> = call(console, s, "ListAliases", json!({"KeyId": id}))
        .await
        .map(|v| {
            v["Aliases"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|a| a["AliasName"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let tags: Vec<(String, String)> = call(console, s, "ListResourceTags", json!({"KeyId": id}))
        .await
        .map(|v| {
            v["Tags"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|t| {
                    Some((
                        t["TagKey"].as_str()?.to_string(),
                        t["TagValue"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    html(pages::key(
        &s.csrf,
        &meta,
        &policy,
        rotation,
        &aliases,
        &tags,
        problem.as_ref(),
    ))
}

async fn key_action(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let form = form(&body);
    let s = match checked(&console, &headers, &form) {
        Ok(s) => s,
        Err(refused) => return *refused,
    };
    let action = field(&form, "action");
    let request = match action {
        "EnableKey" | "DisableKey" | "CancelKeyDeletion" => json!({"KeyId": id}),
        "ScheduleKeyDeletion" => {
            let days: u32 = field(&form, "days").parse().unwrap_or(30);
            json!({"KeyId": id, "PendingWindowInDays": days})
        }
        _ => return (StatusCode::BAD_REQUEST, "unknown action").into_response(),
    };
    let problem = call(&console, &s, action, request).await.err();
    key_view(&console, &s, &id, problem).await
}

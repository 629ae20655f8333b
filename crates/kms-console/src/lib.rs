//! The web console served at `/console/`: sign-in sessions (an access key, or a role assumed
//! with one), the create-key wizard, the keys list, the key page (with every Region of a
//! multi-Region key) and the cluster page. Every action is an ordinary KMS call signed with the
//! signed-in principal's credentials and sent to a node's API (`kms_call`); what the console
//! learns from its node otherwise comes through [`node_view::NodeView`].

mod create_routes;
mod key_routes;
pub mod kms_call;
mod list_routes;
pub mod node_view;
pub mod pages;
pub mod session;
pub mod wizard;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use kms_call::AwsError;
use node_view::NodeView;
use session::{Active, Credentials, Sessions};

const COOKIE: &str = "trent_console";

/// What the console needs from its node.
pub struct ConsoleConfig {
    /// The node's own KMS API endpoint the console sends its calls to: `host:port` for plain
    /// HTTP, or `https://host:port`.
    pub api_addr: String,
    /// The client the console calls with (for a TLS API, one that trusts the node's own
    /// certificate).
    pub http: reqwest::Client,
    /// The account the node serves (for the default key policy's root principal).
    pub account_id: String,
    /// The region offered on the sign-in form.
    pub region: String,
    /// What the node tells the console beyond KMS calls.
    pub node: Arc<dyn NodeView>,
}

struct Console {
    config: ConsoleConfig,
    sessions: Sessions,
    http: reqwest::Client,
}

/// The console's router, its routes under `/console/`; the node merges it into the API router.
pub fn router(config: ConsoleConfig) -> Router {
    let console = Arc::new(Console {
        http: config.http.clone(),
        config,
        sessions: Sessions::default(),
    });
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(list_routes::keys))
        .route("/console/sign-in", post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route(
            "/console/create",
            get(create_routes::first_step).post(create_routes::step),
        )
        .route(
            "/console/keys/{id}",
            get(key_routes::page).post(key_routes::act),
        )
        .route("/console/cluster", get(list_routes::cluster))
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

/// A form's fields as (name, value), in order.
type Form = Vec<(String, String)>;

/// A POST's form and its session, if the form's CSRF token matches it.
fn checked_form(
    console: &Console,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Active, Form), Box<Response>> {
    let form = form(body);
    Ok((checked(console, headers, &form)?, form))
}

/// `op` at this node's API as the session's principal.
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

/// `op` in `region` as the session's principal: at this node when it is the session's region,
/// else at the first of that region's endpoints that answers.
async fn call_in(
    console: &Console,
    s: &Active,
    region: &str,
    op: &str,
    body: Value,
) -> Result<Value, AwsError> {
    if region == s.credentials.region {
        return call(console, s, op, body).await;
    }
    let credentials = s.credentials.for_region(region);
    let endpoints = console.config.node.region_endpoints();
    let mut last = AwsError {
        kind: "ConsoleConnectionError".into(),
        message: format!("this node knows no API endpoint of {region}"),
    };
    for endpoint in endpoints.get(region).into_iter().flatten() {
        match kms_call::call(&console.http, endpoint, &credentials, op, &body).await {
            Err(e) if e.kind == "ConsoleConnectionError" => last = e,
            outcome => return outcome,
        }
    }
    Err(last)
}

async fn sign_in(State(console): State<Arc<Console>>, body: Bytes) -> Response {
    let form = form(&body);
    let mut credentials = Credentials {
        access_key_id: field(&form, "access_key_id").trim().to_string(),
        secret: field(&form, "secret").to_string(),
        region: field(&form, "region").trim().to_string(),
        session_token: None,
    };
    let role_arn = field(&form, "role_arn").trim().to_string();
    drop(form);
    if !role_arn.is_empty() {
        match kms_call::assume_role(
            &console.http,
            &console.config.api_addr,
            &credentials,
            &role_arn,
        )
        .await
        {
            Ok(role) => credentials = role,
            Err(e) => return html(pages::sign_in(&credentials.region, Some(&e))),
        }
    }
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
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session::MAX_LIFETIME.as_secs(),
        // Over a TLS API the browser must never send the cookie in the clear.
        if console.config.api_addr.starts_with("https://") {
            "; Secure"
        } else {
            ""
        }
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

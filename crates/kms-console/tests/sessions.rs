//! Router-level tests of sign-in sessions, cookie flags, CSRF refusal and sign-out, without a
//! browser. The node API the console calls is stood in for by a tiny local server that accepts
//! a ListKeys signed with one access key id (the real API is exercised by
//! `tests/tests/t90_console.rs`).

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

async fn api_double() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let app = Router::new().route(
        "/",
        axum::routing::post(|headers: axum::http::HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if auth.contains("Credential=GOODKEY/") {
                (StatusCode::OK, r#"{"Keys":[],"Truncated":false,"Aliases":[]}"#)
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn console(api: String) -> Router {
    kms_console::router(kms_console::ConsoleConfig {
        api_addr: api,
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        http: reqwest::Client::new(),
        node: std::sync::Arc::new(kms_console::node_view::Alone),
    })
}

fn post(uri: &str, cookie: Option<&str>, body: &str) -> Request<Body> {
    let mut r =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    r.body(Body::from(body.to_string())).expect("request")
}

fn get(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request")
}

async fn text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Signs in and returns (cookie pair, CSRF token).
async fn sign_in(app: &Router) -> (String, String) {
    let response = app
        .clone()
        .oneshot(post(
            "/console/sign-in",
            None,
            "access_key_id=GOODKEY&secret=s3cret%2Fvalue&region=us-east-1",
        ))
        .await
        .expect("sign-in");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(set.contains(flag), "{set} lacks {flag}");
    }
    let pair = set.split(';').next().expect("pair").to_string();
    let id = pair.split_once('=').expect("=").1;
    assert_eq!(id.len(), 32, "a 128-bit id in hex");
    let page = text(
        app.clone()
            .oneshot(get("/console/create", &pair))
            .await
            .expect("create"),
    )
    .await;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field on the form")
        .to_string();
    assert_eq!(csrf.len(), 32);
    (pair, csrf)
}

#[tokio::test]
async fn bad_credentials_show_aws_error_and_set_no_cookie() {
    let app = console(api_double().await);
    let response = app
        .clone()
        .oneshot(post(
            "/console/sign-in",
            None,
            "access_key_id=BAD&secret=x&region=us-east-1",
        ))
        .await
        .expect("sign-in");
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let page = text(response).await;
    assert!(page.contains("UnrecognizedClientException"), "{page}");
    assert!(page.contains("The security token included in the request is invalid."));
}

#[tokio::test]
async fn session_pages_need_the_cookie_and_never_show_the_secret() {
    let app = console(api_double().await);
    let (cookie, _) = sign_in(&app).await;
    let page = text(
        app.clone()
            .oneshot(get("/console/", &cookie))
            .await
            .expect("home"),
    )
    .await;
    assert!(page.contains("Sign out"), "signed in: {page}");
    assert!(!page.contains("s3cret"));
    let anonymous = text(
        app.clone()
            .oneshot(get("/console/", "trent_console=0000"))
            .await
            .expect("home"),
    )
    .await;
    assert!(
        anonymous.contains("Secret access key"),
        "a wrong cookie gets the sign-in form"
    );
}

#[tokio::test]
async fn posts_without_the_right_csrf_token_are_refused() {
    let app = console(api_double().await);
    let (cookie, csrf) = sign_in(&app).await;
    // The real token with its last digit changed (never the same digit again).
    let last = if csrf.ends_with('0') { '1' } else { '0' };
    for body in [
        "step=review&alias=x".to_string(),
        format!("csrf={}{last}&step=review", &csrf[..csrf.len() - 1]),
    ] {
        let response = app
            .clone()
            .oneshot(post("/console/create", Some(&cookie), &body))
            .await
            .expect("post");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{body}");
    }
    let response = app
        .clone()
        .oneshot(post("/console/sign-out", Some(&cookie), "csrf=nope"))
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let ok = app
        .clone()
        .oneshot(post(
            "/console/create",
            Some(&cookie),
            &format!("csrf={csrf}&from=labels&go=admins&alias=aws/x"),
        ))
        .await
        .expect("post");
    let page = text(ok).await;
    assert!(
        page.contains("id=\"alias-error\"") && page.contains("reserved"),
        "the alias rule is shown by its field, on the step it was typed in: {page}"
    );
}

#[tokio::test]
async fn sign_out_ends_the_session_and_clears_the_cookie() {
    let app = console(api_double().await);
    let (cookie, csrf) = sign_in(&app).await;
    let response = app
        .clone()
        .oneshot(post(
            "/console/sign-out",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ))
        .await
        .expect("sign-out");
    let set = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("cookie");
    assert!(set.contains("Max-Age=0"));
    let page = text(
        app.clone()
            .oneshot(get("/console/", &cookie))
            .await
            .expect("home"),
    )
    .await;
    assert!(
        page.contains("Secret access key"),
        "the old cookie no longer signs in"
    );
}

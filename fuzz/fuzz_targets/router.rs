//! The whole front door: `kms_api::router` over an echoing `KmsService`, driven with
//! `tower::ServiceExt::oneshot` (no sockets). It must never panic, every response carries an
//! `x-amzn-RequestId`, and every non-200 answer is a JSON object whose `__type` ends in
//! `Exception`, with a string `message`.
//!
//! Two input forms:
//!
//! - Raw: the text format of `trent_fuzz` (method, URI, headers such as `X-Amz-Target`,
//!   `Content-Type`, `Authorization`, `X-Amz-Date`, `Content-Length`, and a body). Directive
//!   lines before the request line: `@limit N` (the router's body limit, default 1 MiB),
//!   `@chunk N` (deliver the body in N-byte frames instead of one), `@error` (end the body stream
//!   with an error).
//! - Signed: `@signed TARGET` on the first line, and everything after that line is the body.
//!   The harness signs it correctly (`kms_api::sigv4::sign_kms_call`) with `X-Amz-Target:
//!   TARGET`, so the target, content-type, JSON and dispatch stages are reached, and the outcome
//!   is checked exactly: an unknown target is 400 `UnknownOperationException`; otherwise a body
//!   that parses as the operation's typed request is a 200 echo of that request, anything else
//!   400 `SerializationException`.
//! - STS: `@sts` on the first line, and the rest is a form-encoded body, signed correctly for
//!   the service `sts`: the answer is XML, 200 (the echo service answers any action) exactly
//!   when the form has an `Action`, else 400 `InvalidAction`.
//!
//! Raw requests in STS shape (no `X-Amz-Target`, a form `Content-Type`) are answered in XML;
//! for them the invariant is an XML `<ErrorResponse>` with a `<Code>` instead of JSON.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::Router;
use kms_api::sts::{self, StsRequest};
use kms_api::{
    Caller, Identity, IdentityKind, KmsService, Principal, RequestContext,
    DEFAULT_MAX_BODY_BYTES, JSON_CONTENT_TYPE, TARGET_PREFIX,
};
use kms_types::{KmsError, KmsRequest, Operation};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower::ServiceExt;
use trent_fuzz::*;

/// Echoes the typed request as JSON (after checking what the front door established).
struct Echo;

/// The echo service's caller.
struct EchoCaller;

impl Caller for EchoCaller {
    fn identity(&self) -> Identity<'_> {
        Identity {
            kind: IdentityKind::Root,
            principal_id: AKID,
            arn: AKID,
            account_id: AKID,
            access_key_id: AKID,
        }
    }
}

impl KmsService for Echo {
    type Caller = EchoCaller;

    fn resolve(&self, principal: &Principal) -> Result<EchoCaller, KmsError> {
        assert_eq!(principal.access_key_id, AKID);
        Ok(EchoCaller)
    }

    async fn call(
        &self,
        ctx: RequestContext,
        _caller: &EchoCaller,
        request: KmsRequest,
    ) -> Result<Value, KmsError> {
        assert_eq!(ctx.principal.access_key_id, AKID);
        assert_eq!(ctx.principal.region, REGION);
        assert_eq!(ctx.operation, request.operation());
        let body: Value = serde_json::from_str(&request.to_json()?).expect("to_json is JSON");
        assert!(body.is_object(), "a request encoded as a non-object: {body}");
        Ok(body)
    }

    async fn sts(&self, request: StsRequest) -> Result<String, KmsError> {
        assert_eq!(request.principal.access_key_id, AKID);
        assert_eq!(request.principal.region, REGION);
        Ok(format!("<Echo>{}</Echo>", sts::escape(&request.action)))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fn app(max_body_bytes: usize) -> Router {
    kms_api::router(api_config(max_body_bytes), Arc::new(Echo))
}

struct Answer {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
    body: Bytes,
}

fn send(app: Router, request: axum::http::Request<Body>) -> Answer {
    runtime().block_on(async move {
        let response = app
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let request_id = response.headers().get(kms_api::REQUEST_ID_HEADER).cloned();
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("response bodies are in memory");
        Answer {
            status,
            content_type,
            request_id,
            body,
        }
    })
}

/// The checks every JSON 1.1 answer passes: a request id (a UUID).
fn check_request_id(answer: &Answer) {
    let request_id = answer
        .request_id
        .as_ref()
        .expect("every KMS response has x-amzn-RequestId");
    assert_eq!(request_id.len(), 36, "request id {request_id:?}");
}

/// An STS (Query protocol) answer: XML; errors are `<ErrorResponse>` with a `<Code>`. Returns the
/// code for errors.
fn sts_answer(answer: &Answer) -> Option<String> {
    assert_eq!(
        answer.content_type.as_ref().map(HeaderValue::as_bytes),
        Some(&b"text/xml"[..]),
        "STS answer with status {}",
        answer.status
    );
    let xml = std::str::from_utf8(&answer.body).expect("STS answers are UTF-8");
    if answer.status == StatusCode::OK {
        assert!(
            xml.contains("Response xmlns=") && xml.contains("<RequestId>"),
            "{xml}"
        );
        return None;
    }
    assert!(xml.starts_with("<ErrorResponse "), "{xml}");
    let code = xml
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_string())
        .unwrap_or_else(|| panic!("STS error without a code: {xml}"));
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_alphabetic()),
        "{xml}"
    );
    Some(code)
}

/// The body as a JSON value, asserting the JSON content type.
fn json_body(answer: &Answer) -> Value {
    assert_eq!(
        answer.content_type.as_ref().map(HeaderValue::as_bytes),
        Some(JSON_CONTENT_TYPE.as_bytes()),
        "status {}",
        answer.status
    );
    serde_json::from_slice(&answer.body).unwrap_or_else(|e| {
        panic!(
            "status {} with a non-JSON body ({e}): {:?}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )
    })
}

/// Asserts an AWS error and returns its `__type`.
fn error_type(answer: &Answer) -> String {
    assert_ne!(answer.status, StatusCode::OK);
    let json = json_body(answer);
    let code = json["__type"]
        .as_str()
        .unwrap_or_else(|| panic!("error without __type: {json}"));
    let message = json["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error without message: {json}"));
    assert_aws_error_shape(code, message);
    code.to_string()
}

/// JSON equality with numbers compared as f64 (serde_json's default float parsing is not
/// exactly round-trip safe, which is not what this target is about).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

fn signed(target: &[u8], body: &[u8]) {
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let Ok(target_value) = HeaderValue::from_str(target) else {
        return;
    };
    let headers = sigv4_headers(target, target_value, body);
    let request = build_request(
        Method::POST,
        axum::http::Uri::from_static("/"),
        &headers,
        Body::from(body.to_vec()),
    );
    let answer = send(app(DEFAULT_MAX_BODY_BYTES), request);
    check_request_id(&answer);

    let Some(operation) = target
        .strip_prefix(TARGET_PREFIX)
        .and_then(|name| name.parse::<Operation>().ok())
    else {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(error_type(&answer), "UnknownOperationException");
        return;
    };
    // The front door parses the body once into the operation's typed request; the echo is
    // that request encoded again.
    let expected = KmsRequest::parse(operation, body).ok().map(|request| {
        serde_json::from_str::<Value>(&request.to_json().expect("encodes")).expect("is JSON")
    });
    match expected {
        Some(expected) => {
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{}",
                String::from_utf8_lossy(&answer.body)
            );
            let echoed = json_body(&answer);
            assert!(
                same_json(&echoed, &expected),
                "echo {echoed} != sent {expected}"
            );
        }
        None => {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            assert_eq!(error_type(&answer), "SerializationException");
        }
    }
}

fn sigv4_headers(
    target: &str,
    target_value: HeaderValue,
    body: &[u8],
) -> Vec<(HeaderName, HeaderValue)> {
    let signed = kms_api::sigv4::sign_kms_call(HOST, target, body, (AKID, SECRET), REGION, NOW);
    vec![
        (axum::http::header::HOST, HeaderValue::from_static(HOST)),
        (CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE)),
        (HeaderName::from_static("x-amz-target"), target_value),
        (
            HeaderName::from_static("x-amz-date"),
            HeaderValue::from_str(&signed.x_amz_date).expect("an ASCII date"),
        ),
        (
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(&signed.authorization).expect("a valid header value"),
        ),
    ]
}

fn directive_number(text: &TextRequest<'_>, name: &[u8]) -> Option<usize> {
    text.directives.iter().find_map(|d| {
        let rest = d.strip_prefix(name)?.strip_prefix(b" ")?;
        std::str::from_utf8(rest).ok()?.trim().parse().ok()
    })
}

fn raw(data: &[u8]) {
    let text = parse_text_request(data);
    let limit = directive_number(&text, b"limit").unwrap_or(DEFAULT_MAX_BODY_BYTES);
    let chunk = directive_number(&text, b"chunk").unwrap_or(0);
    let stream_error = text.directives.iter().any(|d| *d == b"error");
    let method = method_of(&text);
    let uri = uri_of(&text);
    let headers = headers_of(&text);

    let body = if chunk == 0 && !stream_error {
        Body::from(text.body.to_vec())
    } else {
        let size = chunk.max(1);
        let mut frames: Vec<Result<Bytes, std::io::Error>> = text
            .body
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        if stream_error {
            frames.push(Err(std::io::Error::other("connection reset")));
        }
        Body::from_stream(futures_util::stream::iter(frames))
    };
    let is_health = uri.path() == "/health" && (method == Method::GET || method == Method::HEAD);
    let request = build_request(method, uri, &headers, body);
    let (parts, body) = request.into_parts();
    let is_sts = parts.uri.path() == "/" && sts::is_sts(&parts);
    let request = axum::http::Request::from_parts(parts, body);
    let answer = send(app(limit), request);

    if is_sts {
        sts_answer(&answer);
        return;
    }
    check_request_id(&answer);
    if answer.status == StatusCode::OK {
        if !is_health {
            let json = json_body(&answer);
            assert!(json.is_object(), "200 with a non-object body: {json}");
        }
    } else {
        error_type(&answer);
    }
}

/// An STS call signed correctly (service `sts`): 200 exactly when the form names an `Action`.
fn signed_sts(body: &[u8]) {
    let form = "application/x-www-form-urlencoded";
    let header_pairs = [("host", HOST), ("content-type", form)];
    let input = kms_api::sigv4::SigningInput {
        method: "POST",
        uri: "/",
        headers: &header_pairs,
        body,
    };
    let signed = kms_api::sigv4::sign(&input, (AKID, SECRET), REGION, "sts", NOW);
    let headers = vec![
        (axum::http::header::HOST, HeaderValue::from_static(HOST)),
        (CONTENT_TYPE, HeaderValue::from_static(form)),
        (
            HeaderName::from_static("x-amz-date"),
            HeaderValue::from_str(&signed.x_amz_date).expect("an ASCII date"),
        ),
        (
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_str(&signed.authorization).expect("a valid header value"),
        ),
    ];
    let request = build_request(
        Method::POST,
        axum::http::Uri::from_static("/"),
        &headers,
        Body::from(body.to_vec()),
    );
    let answer = send(app(DEFAULT_MAX_BODY_BYTES), request);
    let has_action = form_urlencoded::parse(body).any(|(name, _)| name == "Action");
    match sts_answer(&answer) {
        None => assert!(has_action, "200 for a form without Action"),
        Some(code) => {
            assert!(
                !has_action,
                "a signed STS call with an Action failed: {code}"
            );
            assert_eq!(code, "InvalidAction");
            assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(body) = data.strip_prefix(b"@sts\n") {
        signed_sts(body);
    } else if let Some(rest) = data.strip_prefix(b"@signed ") {
        let (target, body) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        signed(target.strip_suffix(b"\r").unwrap_or(target), body);
    } else {
        raw(data);
    }
});

//! HTTP-boundary tests against a fake service that echoes the request body.

use super::*;
use crate::sigv4::{sign, SigningInput};
use crate::{IdentityKind, DEFAULT_MAX_BODY_BYTES};
use axum::http::Request as HttpRequest;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use time::macros::datetime;
use time::OffsetDateTime;
use tower::ServiceExt;

const AKID: &str = "AKIDTRENT";
const SECRET: &str = "trent-secret-key";
const NOW: OffsetDateTime = datetime!(2024-05-01 12:00:00 UTC);
const JSON_11: &str = "application/x-amz-json-1.1";

/// Echoes the typed request as JSON; a `KeyId` of `fail:<code>` makes it return that error
/// instead.
#[derive(Default)]
struct Echo {
    calls: Mutex<Vec<RequestContext>>,
}

/// The echo service's caller: the access key.
struct EchoCaller(String);

impl Caller for EchoCaller {
    fn identity(&self) -> Identity<'_> {
        Identity {
            kind: IdentityKind::Root,
            principal_id: &self.0,
            arn: &self.0,
            account_id: "111122223333",
            access_key_id: &self.0,
        }
    }
}

impl KmsService for Echo {
    type Caller = EchoCaller;

    fn resolve(&self, principal: &Principal) -> Result<EchoCaller, KmsError> {
        Ok(EchoCaller(principal.access_key_id.clone()))
    }

    async fn call(
        &self,
        ctx: RequestContext,
        _caller: &EchoCaller,
        request: KmsRequest,
    ) -> Result<Value, KmsError> {
        self.calls.lock().unwrap().push(ctx);
        let body: Value = serde_json::from_str(&request.to_json()?).unwrap();
        let fail = body
            .get("KeyId")
            .and_then(Value::as_str)
            .and_then(|k| k.strip_prefix("fail:"));
        match fail {
            Some("NotFound") => Err(KmsError::NotFound("Key 'x' does not exist".into())),
            Some("Disabled") => Err(KmsError::Disabled("Key is disabled".into())),
            Some("Internal") => Err(KmsError::KmsInternal("boom".into())),
            _ => Ok(body),
        }
    }
}

fn config(max_body_bytes: usize) -> ApiConfig {
    let credentials: HashMap<String, String> =
        HashMap::from([(AKID.to_string(), SECRET.to_string())]);
    ApiConfig::new(vec!["us-east-1".into()], Arc::new(credentials))
        .with_max_body_bytes(max_body_bytes)
        .with_clock(Arc::new(|| NOW))
}

fn app_with(max_body_bytes: usize) -> (Router, Arc<Echo>) {
    let echo = Arc::new(Echo::default());
    (router(config(max_body_bytes), echo.clone()), echo)
}

fn app() -> (Router, Arc<Echo>) {
    app_with(DEFAULT_MAX_BODY_BYTES)
}

/// How to build a test request.
struct Req<'a> {
    target: Option<&'a str>,
    content_type: Option<&'a str>,
    body: Vec<u8>,
    signed: bool,
    content_length: bool,
}

impl<'a> Req<'a> {
    fn new(target: &'a str, body: &[u8]) -> Self {
        Req {
            target: Some(target),
            content_type: Some(JSON_11),
            body: body.to_vec(),
            signed: true,
            content_length: true,
        }
    }

    fn build(&self) -> Request {
        let mut headers = vec![("host", "kms.us-east-1.amazonaws.com")];
        if let Some(ct) = self.content_type {
            headers.push(("content-type", ct));
        }
        if let Some(target) = self.target {
            headers.push(("x-amz-target", target));
        }
        let mut builder = HttpRequest::builder().method("POST").uri("/");
        for (name, value) in &headers {
            builder = builder.header(*name, *value);
        }
        if self.signed {
            let input = SigningInput {
                method: "POST",
                uri: "/",
                headers: &headers,
                body: &self.body,
            };
            let signed = sign(&input, (AKID, SECRET), "us-east-1", "kms", NOW);
            builder = builder
                .header("authorization", signed.authorization)
                .header("x-amz-date", signed.x_amz_date);
        }
        if self.content_length {
            builder = builder.header("content-length", self.body.len().to_string());
        }
        builder.body(Body::from(self.body.clone())).unwrap()
    }
}

struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    request_id: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Asserts an AWS-shaped error and returns its message.
    fn error(&self, status: u16, aws_type: &str) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type.as_deref(), Some(JSON_CONTENT_TYPE));
        let json = self.json();
        assert_eq!(json["__type"], aws_type, "{json}");
        json["message"].as_str().unwrap().to_string()
    }
}

async fn send(app: &Router, request: Request) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .expect("every response has x-amzn-RequestId")
        .to_str()
        .unwrap()
        .to_string();
    let parsed = uuid::Uuid::parse_str(&request_id).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
    Answer {
        status,
        content_type: headers
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string()),
        request_id,
        body,
    }
}

#[tokio::test]
async fn good_request_is_echoed() {
    let (app, echo) = app();
    let body = br#"{"KeyId":"alias/test","Plaintext":"aGk="}"#;
    let answer = send(&app, Req::new("TrentService.Encrypt", body).build()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type.as_deref(), Some(JSON_CONTENT_TYPE));
    assert_eq!(
        answer.json(),
        json!({"KeyId": "alias/test", "Plaintext": "aGk="})
    );
    let calls = echo.calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].operation, Operation::Encrypt);
    assert_eq!(calls[0].principal.access_key_id, AKID);
    assert_eq!(calls[0].principal.region, "us-east-1");
    assert_eq!(calls[0].request_id, answer.request_id);
}

#[tokio::test]
async fn every_operation_dispatches() {
    let (app, echo) = app();
    for op in Operation::ALL {
        let target = format!("{TARGET_PREFIX}{op}");
        let answer = send(&app, Req::new(&target, b"{}").build()).await;
        assert_eq!(answer.status, StatusCode::OK, "{op}");
    }
    let calls = echo.calls.lock().unwrap();
    let ops: Vec<Operation> = calls.iter().map(|c| c.operation).collect();
    assert_eq!(ops, Operation::ALL);
}

#[tokio::test]
async fn empty_body_is_an_empty_object() {
    let (app, _) = app();
    let answer = send(&app, Req::new("TrentService.ListKeys", b"").build()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!({}));
}

#[tokio::test]
async fn json_1_0_and_content_type_parameters_are_accepted() {
    let (app, _) = app();
    for ct in [
        "application/x-amz-json-1.0",
        "application/x-amz-json-1.1; charset=utf-8",
        "Application/X-Amz-Json-1.1",
    ] {
        let mut req = Req::new("TrentService.ListKeys", b"{}");
        req.content_type = Some(ct);
        let answer = send(&app, req.build()).await;
        assert_eq!(answer.status, StatusCode::OK, "{ct}");
    }
}

#[tokio::test]
async fn wrong_or_missing_content_type() {
    let (app, echo) = app();
    for ct in [Some("application/json"), Some("text/plain"), None] {
        let mut req = Req::new("TrentService.ListKeys", b"{}");
        req.content_type = ct;
        let message = send(&app, req.build())
            .await
            .error(400, "SerializationException");
        assert!(message.contains("application/x-amz-json-1.1"), "{message}");
    }
    assert!(echo.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn missing_or_unknown_target() {
    let (app, echo) = app();
    let mut req = Req::new("", b"{}");
    req.target = None;
    send(&app, req.build())
        .await
        .error(400, "UnknownOperationException");
    for target in [
        "TrentService.Nope",
        "TrentService.encrypt",
        "TrentService.",
        "Encrypt",
        "KMS.Encrypt",
        "trentservice.Encrypt",
    ] {
        let answer = send(&app, Req::new(target, b"{}").build()).await;
        answer.error(400, "UnknownOperationException");
    }
    // The target is checked before the signature.
    let mut req = Req::new("TrentService.Nope", b"{}");
    req.signed = false;
    send(&app, req.build())
        .await
        .error(400, "UnknownOperationException");
    assert!(echo.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unsigned_request() {
    let (app, _) = app();
    let mut req = Req::new("TrentService.ListKeys", b"{}");
    req.signed = false;
    // Auth comes before the content type.
    req.content_type = Some("text/plain");
    let message = send(&app, req.build())
        .await
        .error(403, "MissingAuthenticationTokenException");
    assert_eq!(message, "Missing Authentication Token");
}

#[tokio::test]
async fn signature_errors() {
    let (app, echo) = app();
    // Body changed after signing.
    let mut request = Req::new("TrentService.Decrypt", br#"{"a":1}"#).build();
    *request.body_mut() = Body::from(r#"{"a":2}"#);
    let message = send(&app, request)
        .await
        .error(400, "InvalidSignatureException");
    assert!(message.starts_with("The request signature we calculated does not match"));

    // Target changed after signing (the target is a signed header).
    let mut request = Req::new("TrentService.Decrypt", b"{}").build();
    request.headers_mut().insert(
        "x-amz-target",
        HeaderValue::from_static("TrentService.ScheduleKeyDeletion"),
    );
    send(&app, request)
        .await
        .error(400, "InvalidSignatureException");

    // Unknown access key.
    let mut request = Req::new("TrentService.Decrypt", b"{}").build();
    let auth = request.headers()["authorization"]
        .to_str()
        .unwrap()
        .replace(AKID, "AKIDUNKNOWN");
    request
        .headers_mut()
        .insert("authorization", HeaderValue::from_str(&auth).unwrap());
    send(&app, request)
        .await
        .error(400, "UnrecognizedClientException");

    // Malformed Authorization header.
    let mut request = Req::new("TrentService.Decrypt", b"{}").build();
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKIDTRENT/20240501/us-east-1/kms/aws4_request",
        ),
    );
    send(&app, request)
        .await
        .error(400, "IncompleteSignatureException");

    // A clock far from the signing time.
    let echo2 = Arc::new(Echo::default());
    let late = router(
        config(DEFAULT_MAX_BODY_BYTES).with_clock(Arc::new(|| NOW + time::Duration::hours(1))),
        echo2,
    );
    let message = send(&late, Req::new("TrentService.Decrypt", b"{}").build())
        .await
        .error(400, "InvalidSignatureException");
    assert!(message.starts_with("Signature expired"), "{message}");

    assert!(echo.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn garbage_and_non_object_json() {
    let (app, echo) = app();
    for body in [&b"{not json"[..], b"{\"a\":1} trailing", b"\xff\xfe"] {
        let message = send(&app, Req::new("TrentService.Encrypt", body).build())
            .await
            .error(400, "SerializationException");
        assert!(
            message.starts_with("The request body is not valid JSON"),
            "{message}"
        );
    }
    for body in [&b"[1,2]"[..], b"\"text\"", b"42", b"null", b"true"] {
        let message = send(&app, Req::new("TrentService.Encrypt", body).build())
            .await
            .error(400, "SerializationException");
        assert_eq!(message, "The request body must be a JSON object.");
    }
    assert!(echo.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn body_limit() {
    let limit = 64;
    let (app, echo) = app_with(limit);
    // Exactly at the limit is fine.
    let filler = "x".repeat(limit - r#"{"a":""}"#.len());
    let at_limit = format!(r#"{{"a":"{filler}"}}"#);
    assert_eq!(at_limit.len(), limit);
    let answer = send(
        &app,
        Req::new("TrentService.Encrypt", at_limit.as_bytes()).build(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);

    // One byte over, declared in Content-Length: refused before reading (and before auth).
    let over = format!(r#"{{"a":"{filler}x"}}"#);
    let mut req = Req::new("TrentService.Encrypt", over.as_bytes());
    req.signed = false;
    let message = send(&app, req.build())
        .await
        .error(413, "RequestEntityTooLargeException");
    assert!(message.contains("64 bytes"), "{message}");

    // One byte over, streamed without Content-Length.
    let mut req = Req::new("TrentService.Encrypt", over.as_bytes());
    req.content_length = false;
    send(&app, req.build())
        .await
        .error(413, "RequestEntityTooLargeException");

    // A lying Content-Length cannot smuggle a larger body past the limit.
    let mut request = Req::new("TrentService.Encrypt", over.as_bytes()).build();
    request
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("10"));
    let answer = send(&app, request).await;
    assert_eq!(answer.status.as_u16(), 413);

    assert_eq!(echo.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn service_errors_are_mapped() {
    let (app, _) = app();
    let cases = [
        (
            "NotFound",
            400,
            "NotFoundException",
            "Key 'x' does not exist",
        ),
        ("Disabled", 409, "DisabledException", "Key is disabled"),
        ("Internal", 500, "KMSInternalException", "boom"),
    ];
    for (fail, status, aws_type, message) in cases {
        let body = json!({ "KeyId": format!("fail:{fail}") }).to_string();
        let got = send(
            &app,
            Req::new("TrentService.Encrypt", body.as_bytes()).build(),
        )
        .await
        .error(status, aws_type);
        assert_eq!(got, message);
    }
}

#[tokio::test]
async fn health_and_other_routes() {
    let (app, _) = app();
    for probe in ["/health", "/ready", "/live"] {
        let request = HttpRequest::builder()
            .method("GET")
            .uri(probe)
            .body(Body::empty())
            .unwrap();
        let answer = send(&app, request).await;
        assert_eq!(answer.status, StatusCode::OK, "{probe}");
        assert_eq!(answer.body, b"ok");
    }

    for (method, uri) in [
        ("GET", "/"),
        ("POST", "/other"),
        ("POST", "/health"),
        ("POST", "/ready"),
        ("PUT", "/"),
    ] {
        let request = HttpRequest::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        send(&app, request)
            .await
            .error(400, "UnknownOperationException");
    }
}

#[test]
fn config_debug_hides_credentials() {
    let text = format!("{:?}", config(10));
    assert!(!text.contains(SECRET), "{text}");
    assert!(text.contains("us-east-1"));
}

#[test]
fn response_strings_are_zeroed_before_the_value_is_dropped() {
    let mut value = serde_json::json!({
        "Plaintext": "c2VjcmV0",
        "Nested": {"List": ["a2V5", 7, {"Deep": "ZGF0YQ=="}]},
        "Flag": true,
    });
    zeroize_strings(&mut value);
    assert_eq!(
        value,
        serde_json::json!({"Plaintext": "", "Nested": {"List": ["", 7, {"Deep": ""}]}, "Flag": true})
    );
}

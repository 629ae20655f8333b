//! One KMS call made as the session's principal: a JSON 1.1 request signed with SigV4 and sent to
//! the node's own API address, so policies and grants decide and the audit trail records it.

use serde_json::Value;

use crate::session::Credentials;

/// AWS's answer to a refused call: its `__type` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The error's `__type`, e.g. `AccessDeniedException`.
    pub kind: String,
    /// The error's message.
    pub message: String,
}

/// Calls `operation` (e.g. `CreateKey`) at `api` (`host:port`) with `body` as `credentials`.
pub async fn call(
    http: &reqwest::Client,
    api: &str,
    credentials: &Credentials,
    operation: &str,
    body: &Value,
) -> Result<Value, AwsError> {
    let target = format!("TrentService.{operation}");
    let bytes = body.to_string().into_bytes();
    let signed = kms_api::sigv4::sign_kms_call(
        api,
        &target,
        &bytes,
        (&credentials.access_key_id, &credentials.secret),
        &credentials.region,
        time::OffsetDateTime::now_utc(),
    );
    let response = http
        .post(format!("http://{api}/"))
        .header("content-type", kms_api::JSON_CONTENT_TYPE)
        .header("x-amz-target", target)
        .header("x-amz-date", signed.x_amz_date)
        .header("authorization", signed.authorization)
        .body(bytes)
        .send()
        .await
        .map_err(|e| AwsError {
            kind: "ConsoleConnectionError".into(),
            message: format!("the node's API did not answer: {e}"),
        })?;
    let ok = response.status().is_success();
    let text = response.text().await.unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if ok {
        return Ok(value);
    }
    let kind = value["__type"].as_str().unwrap_or("UnknownError");
    let kind = kind.rsplit('#').next().unwrap_or(kind).to_string();
    let message = value["message"]
        .as_str()
        .or_else(|| value["Message"].as_str())
        .unwrap_or("")
        .to_string();
    Err(AwsError { kind, message })
}

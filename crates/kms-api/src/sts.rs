//! The STS front door on the KMS port: AWS's Query protocol (`POST /` with a form-encoded body
//! `Action=AssumeRole&Version=2011-06-15&...`, SigV4 for the service `sts`, XML answers), so
//! unmodified AWS clients get role credentials from the same endpoint. The service decides what
//! each action does ([`crate::KmsService::sts`]); this module parses, authenticates and renders.

use crate::config::ApiConfig;
use crate::sigv4::{self, Principal};
use axum::http::request::Parts;
use axum::http::{header::CONTENT_TYPE, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kms_types::KmsError;
use std::collections::BTreeMap;

/// The XML namespace of STS responses.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// An authenticated STS call.
#[derive(Debug, Clone)]
pub struct StsRequest {
    /// `Action` (e.g. `AssumeRole`, `GetCallerIdentity`).
    pub action: String,
    /// Every other form parameter.
    pub params: BTreeMap<String, String>,
    /// Who signed it.
    pub principal: Principal,
    /// The request id.
    pub request_id: String,
}

/// True for a request in the Query protocol: no `X-Amz-Target`, form-encoded body.
pub fn is_sts(parts: &Parts) -> bool {
    !parts.headers.contains_key("x-amz-target")
        && parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
}

/// Authenticates and parses an STS call.
pub fn parse(
    config: &ApiConfig,
    parts: &Parts,
    body: &[u8],
    request_id: &str,
) -> Result<StsRequest, KmsError> {
    let principal = sigv4::verify_for_service(
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        body,
        config.credentials.as_ref(),
        &config.accepted_regions,
        (config.clock)(),
        "sts",
    )?;
    let mut params: BTreeMap<String, String> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let action = params
        .remove("Action")
        .ok_or_else(|| KmsError::UnknownOperation("Missing Action.".into()))?;
    params.remove("Version");
    Ok(StsRequest {
        action,
        params,
        principal,
        request_id: request_id.to_string(),
    })
}

/// The XML answer for `action` whose result element holds `inner` (already escaped XML).
pub fn ok_response(action: &str, inner: &str, request_id: &str) -> Response {
    let xml = format!(
        "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{inner}</{action}Result>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    );
    xml_response(StatusCode::OK, xml)
}

/// The XML error answer, with STS's error codes.
pub fn error_response(error: &KmsError, request_id: &str) -> Response {
    let (status, code) = match error {
        KmsError::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
        KmsError::UnrecognizedClient(_) => (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
        KmsError::InvalidSignature(_) | KmsError::IncompleteSignature(_) => {
            (StatusCode::FORBIDDEN, "SignatureDoesNotMatch")
        }
        KmsError::MissingAuthenticationToken(_) => {
            (StatusCode::FORBIDDEN, "MissingAuthenticationToken")
        }
        KmsError::ExpiredToken(_) => (StatusCode::BAD_REQUEST, "ExpiredToken"),
        KmsError::Validation(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
        KmsError::UnknownOperation(_) | KmsError::UnsupportedOperation(_) => {
            (StatusCode::BAD_REQUEST, "InvalidAction")
        }
        KmsError::MalformedPolicyDocument(_) => {
            (StatusCode::BAD_REQUEST, "MalformedPolicyDocument")
        }
        KmsError::RequestEntityTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLarge"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure"),
    };
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let xml = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(&error.message())
    );
    xml_response(status, xml)
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut response = (status, xml).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// Escapes text for XML element content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_as_sts_xml_with_escaped_messages() {
        let response = error_response(&KmsError::AccessDenied("a <b> & 'c'".into()), "r-1");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let expired = error_response(&KmsError::ExpiredToken("old".into()), "r-2");
        assert_eq!(expired.status(), StatusCode::BAD_REQUEST);
        assert_eq!(escape("a <b> & 'c'"), "a &lt;b&gt; &amp; &apos;c&apos;");
    }
}

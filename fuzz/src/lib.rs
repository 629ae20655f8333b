//! Shared pieces of Trent's fuzz targets: the plain-text request format the `sigv4` and `router`
//! targets read, and the fixed credentials, region and clock they verify against.
//!
//! The input format is HTTP/1.1 written out by hand, so seed files are readable and libFuzzer's
//! byte mutations still reach every field:
//!
//! ```text
//! POST / HTTP/1.1          <- request line: method, URI (anything after is ignored)
//! Host: kms.us-east-1.amazonaws.com
//! X-Amz-Target: TrentService.Encrypt
//!                          <- an empty line ends the headers
//! {"KeyId": "alias/x"}     <- everything after it, byte for byte, is the body
//! ```
//!
//! Lines end in `\n` (a trailing `\r` is dropped). A header line is `name: value` (split at the
//! first `:`, leading blanks of the value dropped); a line without `:` is a header with an empty
//! value. Names or values the `http` crate rejects are skipped, as a server would never see them.
//! Lines starting with `@` are harness directives, described by each target.

use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use time::macros::datetime;
use time::OffsetDateTime;

/// The access key id the fuzzed front door accepts.
pub const AKID: &str = "AKIDTRENTFUZZ";
/// Its secret.
pub const SECRET: &str = "trent-fuzz-secret-key";
/// The one accepted region.
pub const REGION: &str = "us-east-1";
/// The host the signed variants sign.
pub const HOST: &str = "kms.us-east-1.amazonaws.com";
/// The server's (pinned) clock; seed requests are dated 20240501T120000Z.
pub const NOW: OffsetDateTime = datetime!(2024-05-01 12:00:00 UTC);

/// The credential store every target verifies against.
pub fn credentials() -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(AKID.to_string(), SECRET.to_string())])
}

/// The accepted regions.
pub fn accepted_regions() -> Vec<String> {
    vec![REGION.to_string()]
}

/// An [`kms_api::ApiConfig`] with the fixed credentials, region and clock.
pub fn api_config(max_body_bytes: usize) -> kms_api::ApiConfig {
    kms_api::ApiConfig::new(accepted_regions(), Arc::new(credentials()))
        .with_max_body_bytes(max_body_bytes)
        .with_clock(Arc::new(|| NOW))
}

/// A request read from the text format, before any validation by `http`.
#[derive(Debug, Default, Clone)]
pub struct TextRequest<'a> {
    /// Directive lines (`@...`, without the `@`), in order.
    pub directives: Vec<&'a [u8]>,
    /// The method token (may be empty or invalid).
    pub method: &'a [u8],
    /// The request target (may be empty or invalid).
    pub uri: &'a [u8],
    /// Header lines as (name, value) byte strings.
    pub headers: Vec<(&'a [u8], &'a [u8])>,
    /// The body.
    pub body: &'a [u8],
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_blanks_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

/// Splits `data` into directives, request line, headers and body (never fails).
pub fn parse_text_request(data: &[u8]) -> TextRequest<'_> {
    let mut req = TextRequest::default();
    let mut rest = data;
    let mut seen_request_line = false;
    loop {
        let (line, tail, ended) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..], false),
            None => (rest, &rest[rest.len()..], true),
        };
        let line = strip_cr(line);
        rest = tail;
        if !seen_request_line {
            if let Some(directive) = line.strip_prefix(b"@") {
                req.directives.push(directive);
            } else {
                let mut words = line.splitn(3, |&b| b == b' ');
                req.method = words.next().unwrap_or_default();
                req.uri = words.next().unwrap_or_default();
                seen_request_line = true;
            }
        } else if line.is_empty() {
            req.body = rest;
            break;
        } else {
            match line.iter().position(|&b| b == b':') {
                Some(i) => req
                    .headers
                    .push((&line[..i], trim_blanks_start(&line[i + 1..]))),
                None => req.headers.push((line, b"")),
            }
        }
        if ended {
            break;
        }
    }
    req
}

/// The method, falling back to `POST` when the token is not a valid method.
pub fn method_of(req: &TextRequest<'_>) -> Method {
    Method::from_bytes(req.method).unwrap_or(Method::POST)
}

/// The URI, falling back to `/` when the `http` crate rejects the request target.
pub fn uri_of(req: &TextRequest<'_>) -> Uri {
    Uri::try_from(req.uri).unwrap_or_else(|_| Uri::from_static("/"))
}

/// The headers `http` accepts, in order (repeated names kept).
pub fn headers_of(req: &TextRequest<'_>) -> Vec<(HeaderName, HeaderValue)> {
    req.headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_bytes(name).ok()?,
                HeaderValue::from_bytes(value).ok()?,
            ))
        })
        .collect()
}

/// An `http::Request` with the given head and body.
pub fn build_request<B>(
    method: Method,
    uri: Uri,
    headers: &[(HeaderName, HeaderValue)],
    body: B,
) -> Request<B> {
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    for (name, value) in headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    request
}

/// Asserts the invariants of any error the front door returns: an AWS error type name and a
/// message. `code` is `KmsError::aws_code`, `message` its text.
pub fn assert_aws_error_shape(code: &str, message: &str) {
    assert!(
        code.ends_with("Exception") && !code.contains(char::is_whitespace),
        "odd error type {code:?} ({message:?})"
    );
}

//! AWS Signature Version 4, header form (`Authorization: AWS4-HMAC-SHA256 ...` plus
//! `X-Amz-Date`): a signer for our own clients and the verifier the front door runs on every
//! request. Both build the string they sign with the same canonical-request code, so they cannot
//! drift apart.
//!
//! Canonicalisation follows AWS for every service but S3:
//! - the canonical URI is the request path as it arrived on the wire, with `.`/`..` segments
//!   resolved and empty segments dropped (a trailing `/` is kept), each segment URI-encoded
//!   again (AWS's "double encoding": `%3A` on the wire becomes `%253A`);
//! - the canonical query string is every `name=value` pair percent-decoded, re-encoded with
//!   RFC 3986 unreserved characters kept, and sorted by name then value;
//! - canonical headers are the signed headers, lowercased, each value trimmed with internal
//!   whitespace runs collapsed to one space, repeated headers joined with `,`;
//! - the payload hash is the hex SHA-256 of the body actually received. An
//!   `x-amz-content-sha256` header, if sent, must equal it.
//!
//! The verifier checks, in order: the `Authorization` header is present
//! (`MissingAuthenticationTokenException`), well formed and complete, with `X-Amz-Date` present
//! and `host` signed (`IncompleteSignatureException`); then the credential scope's service,
//! region and date, and the 15-minute clock-skew window (`InvalidSignatureException`); then the
//! access key (`UnrecognizedClientException`); then the body hash and finally the signature
//! itself, compared in constant time (`InvalidSignatureException`).
//!
//! `X-Amz-Security-Token` is accepted and otherwise ignored (Trent has no session credentials);
//! like any header it is part of the canonical request only when it is signed.

use std::collections::HashMap;
use std::hash::BuildHasher;

use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use kms_types::KmsError;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// The only signing algorithm Trent accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The service name a credential scope must carry to call Trent.
pub const SERVICE: &str = "kms";

/// How far `X-Amz-Date` may be from the server's clock, either way.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(15);

/// The headers [`sign`] signs when the request carries them (`x-amz-date` is always signed).
const HEADERS_TO_SIGN: [&str; 3] = ["host", "content-type", "x-amz-target"];

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the \
     signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
     service documentation for details.";

/// Looks up the secret access key for an access key id.
pub trait CredentialStore {
    /// The secret access key of `access_key_id`, or `None` if the key is unknown.
    fn secret_for(&self, access_key_id: &str) -> Option<String>;

    /// The secret of temporary credentials: `access_key_id` with the session `token` of the
    /// request's `X-Amz-Security-Token` header. `Ok(None)` if the token is not valid for that
    /// key; `Err` (ExpiredTokenException) once the session expired. A store without sessions
    /// treats the token as opaque and answers the key's own secret.
    fn session_secret(
        &self,
        access_key_id: &str,
        _token: &str,
    ) -> Result<Option<String>, KmsError> {
        Ok(self.secret_for(access_key_id))
    }
}

impl<H: BuildHasher> CredentialStore for HashMap<String, String, H> {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.get(access_key_id).cloned()
    }
}

/// Who signed a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The access key id from the credential scope.
    pub access_key_id: String,
    /// The region from the credential scope (one of the accepted regions).
    pub region: String,
    /// The session token of temporary credentials (`X-Amz-Security-Token`), if any.
    pub session_token: Option<String>,
}

/// A request to be signed by [`sign`].
#[derive(Debug, Clone, Copy)]
pub struct SigningInput<'a> {
    /// The HTTP method, e.g. `"POST"`.
    pub method: &'a str,
    /// The path and query exactly as they will be sent, e.g. `"/"` or `"/?a=b"`.
    pub uri: &'a str,
    /// The request headers (name, value). Must include `host`; `content-type` and
    /// `x-amz-target` are signed too when present. Any `x-amz-date` here is ignored: the
    /// signer sets its own.
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body.
    pub body: &'a [u8],
}

/// The header values [`sign`] produces; send both with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The value of the `Authorization` header.
    pub authorization: String,
    /// The value of the `X-Amz-Date` header (`YYYYMMDDTHHMMSSZ`).
    pub x_amz_date: String,
}

/// Signs a KMS JSON 1.1 call: `POST /` to `host` with `X-Amz-Target: target`, content type
/// `application/x-amz-json-1.1` and `body`, for service `kms` in `region` at `now`. The caller
/// sends those headers plus the two returned ones.
pub fn sign_kms_call(
    host: &str,
    target: &str,
    body: &[u8],
    credentials: (&str, &str),
    region: &str,
    now: OffsetDateTime,
) -> SignedHeaders {
    let headers = [
        ("host", host),
        ("content-type", crate::JSON_CONTENT_TYPE),
        ("x-amz-target", target),
    ];
    let input = SigningInput {
        method: "POST",
        uri: "/",
        headers: &headers,
        body,
    };
    sign(&input, credentials, region, SERVICE, now)
}

/// Signs `req` with `credentials` (access key id, secret access key) for `region` and `service`
/// at time `now`, signing `host`, `content-type`, `x-amz-date` and `x-amz-target`.
pub fn sign(
    req: &SigningInput<'_>,
    credentials: (&str, &str),
    region: &str,
    service: &str,
    now: OffsetDateTime,
) -> SignedHeaders {
    let (access_key_id, secret) = credentials;
    let amz_date = format_amz_date(now);
    let date = &amz_date[..8];

    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_string()))
        .filter(|(name, _)| HEADERS_TO_SIGN.contains(&name.as_str()))
        .collect();
    headers.push(("x-amz-date".to_string(), amz_date.clone()));
    let mut signed: Vec<String> = headers.iter().map(|(name, _)| name.clone()).collect();
    signed.sort();
    signed.dedup();
    let signed: Vec<&str> = signed.iter().map(String::as_str).collect();

    let (path, query) = req.uri.split_once('?').unwrap_or((req.uri, ""));
    let canonical = canonical_request(
        req.method,
        path,
        query,
        &canonical_headers(&headers, &signed),
        &signed,
        &hex::encode(kms_crypto::sha256(req.body)),
    );
    let scope = Scope {
        date,
        region,
        service,
    };
    let signature = compute_signature(secret, &amz_date, &scope, &canonical);
    SignedHeaders {
        authorization: format!(
            "{ALGORITHM} Credential={access_key_id}/{date}/{region}/{service}/aws4_request, \
             SignedHeaders={}, Signature={signature}",
            signed.join(";")
        ),
        x_amz_date: amz_date,
    }
}

/// Verifies the SigV4 signature of a request to the `kms` service whose head is `parts` and
/// whose complete body is `body`, at server time `now`. Returns who signed it.
///
/// See the module documentation for the checks and the error each one raises.
pub fn verify(
    parts: &Parts,
    body: &[u8],
    credentials: &dyn CredentialStore,
    accepted_regions: &[String],
    now: OffsetDateTime,
) -> Result<Principal, KmsError> {
    verify_for_service(
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        body,
        credentials,
        accepted_regions,
        now,
        SERVICE,
    )
}

/// [`verify`] for any service name (`sts` for the STS endpoint; the AWS test-suite vectors use
/// `service`).
#[allow(clippy::too_many_arguments)]
pub fn verify_for_service(
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    credentials: &dyn CredentialStore,
    accepted_regions: &[String],
    now: OffsetDateTime,
    service: &str,
) -> Result<Principal, KmsError> {
    let Some(authorization) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(KmsError::MissingAuthenticationToken(
            "Missing Authentication Token".to_string(),
        ));
    };
    let authorization = authorization.to_str().map_err(|_| {
        KmsError::IncompleteSignature("Authorization header is not valid ASCII.".to_string())
    })?;
    let amz_date_header = headers
        .get("x-amz-date")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let auth = parse_authorization(authorization, amz_date_header.is_some())?;
    let amz_date_text = amz_date_header.unwrap_or_default();
    let amz_date = parse_amz_date(&amz_date_text).ok_or_else(|| {
        KmsError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See \
             http://en.wikipedia.org/wiki/ISO_8601",
            truncate(&amz_date_text, 64)
        ))
    })?;
    if !auth.signed_headers.contains(&"host") {
        return Err(KmsError::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
        ));
    }

    // The credential scope.
    if auth.scope.service != service {
        return Err(KmsError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    if !accepted_regions.iter().any(|r| r == auth.scope.region) {
        return Err(KmsError::InvalidSignature(
            "Credential should be scoped to a valid region. ".to_string(),
        ));
    }
    if auth.scope.date != &amz_date_text[..8] {
        return Err(KmsError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{}', from '{amz_date_text}'.",
            truncate(auth.scope.date, 16),
            &amz_date_text[..8],
        )));
    }
    if amz_date < now - MAX_CLOCK_SKEW {
        return Err(KmsError::InvalidSignature(format!(
            "Signature expired: {amz_date_text} is now earlier than {} ({} - 15 min.)",
            format_amz_date(now - MAX_CLOCK_SKEW),
            format_amz_date(now),
        )));
    }
    if amz_date > now + MAX_CLOCK_SKEW {
        return Err(KmsError::InvalidSignature(format!(
            "Signature not yet current: {amz_date_text} is still later than {} ({} + 15 min.)",
            format_amz_date(now + MAX_CLOCK_SKEW),
            format_amz_date(now),
        )));
    }

    let session_token = headers
        .get("x-amz-security-token")
        .map(|t| String::from_utf8_lossy(t.as_bytes()).into_owned());
    let secret = match &session_token {
        Some(token) => credentials.session_secret(auth.access_key_id, token)?,
        None => credentials.secret_for(auth.access_key_id),
    };
    let Some(secret) = secret else {
        return Err(KmsError::UnrecognizedClient(
            "The security token included in the request is invalid.".to_string(),
        ));
    };

    let payload_hash = hex::encode(kms_crypto::sha256(body));
    if let Some(claimed) = headers.get("x-amz-content-sha256") {
        if !claimed
            .as_bytes()
            .eq_ignore_ascii_case(payload_hash.as_bytes())
        {
            return Err(KmsError::InvalidSignature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_string(),
            ));
        }
    }

    let mut header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    if !headers.contains_key(axum::http::header::HOST) {
        // HTTP/2 carries the host as the `:authority` pseudo-header, which lands in the URI.
        if let Some(authority) = uri.authority() {
            header_list.push(("host".to_string(), authority.as_str().to_string()));
        }
    }
    for name in &auth.signed_headers {
        if !header_list.iter().any(|(have, _)| have == name) {
            return Err(KmsError::InvalidSignature(format!(
                "Signed header '{}' is not present in the request.",
                truncate(name, 64)
            )));
        }
    }

    let canonical = canonical_request(
        method,
        uri.path(),
        uri.query().unwrap_or(""),
        &canonical_headers(&header_list, &auth.signed_headers),
        &auth.signed_headers,
        &payload_hash,
    );
    let expected = compute_signature(&secret, &amz_date_text, &auth.scope, &canonical);
    if !kms_crypto::constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(KmsError::InvalidSignature(SIGNATURE_MISMATCH.to_string()));
    }
    Ok(Principal {
        access_key_id: auth.access_key_id.to_string(),
        region: auth.scope.region.to_string(),
        session_token,
    })
}

/// The credential scope `date/region/service/aws4_request`.
struct Scope<'a> {
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

/// The parsed `Authorization` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    scope: Scope<'a>,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str, has_amz_date: bool) -> Result<Authorization<'_>, KmsError> {
    let value = value.trim();
    let (algorithm, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(KmsError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{}'. Only '{ALGORITHM}' is supported.",
            truncate(algorithm, 32)
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let Some((key, val)) = component.trim().split_once('=') else {
            continue;
        };
        let val = val.trim();
        if val.is_empty() {
            continue;
        }
        match key.trim() {
            "Credential" => credential = Some(val),
            "SignedHeaders" => signed_headers = Some(val),
            "Signature" => signature = Some(val),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if !has_amz_date {
        missing.push("Authorization header requires existence of a 'X-Amz-Date' header.");
    }
    let (Some(credential), Some(signed_headers), Some(signature), true) =
        (credential, signed_headers, signature, missing.is_empty())
    else {
        return Err(KmsError::IncompleteSignature(missing.join(" ")));
    };

    let elements: Vec<&str> = credential.split('/').collect();
    let &[access_key_id, date, region, service, terminator] = elements.as_slice() else {
        return Err(KmsError::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. \
             keyid/date/region/service/term, got '{}'",
            truncate(credential, 256)
        )));
    };
    if access_key_id.is_empty() || date.is_empty() || region.is_empty() || service.is_empty() {
        return Err(KmsError::IncompleteSignature(format!(
            "Credential has an empty element: '{}'",
            truncate(credential, 256)
        )));
    }
    if terminator != "aws4_request" {
        return Err(KmsError::IncompleteSignature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
            truncate(terminator, 32)
        )));
    }
    let signed_headers: Vec<&str> = signed_headers.split(';').collect();
    if signed_headers
        .iter()
        .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(KmsError::IncompleteSignature(
            "SignedHeaders must be a ';'-separated list of lowercase header names.".to_string(),
        ));
    }
    Ok(Authorization {
        access_key_id,
        scope: Scope {
            date,
            region,
            service,
        },
        signed_headers,
        signature,
    })
}

/// The canonical request AWS defines: method, URI, query, headers, signed headers, payload hash.
fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    canonical_headers: &str,
    signed_headers: &[&str],
    payload_hash: &str,
) -> String {
    format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        canonical_uri(path),
        canonical_query(query),
        signed_headers.join(";"),
    )
}

/// `name:value\n` for each signed header, in the order of `signed` (which the caller keeps
/// sorted). `headers` names are lowercase; repeated names are joined with `,`.
fn canonical_headers(headers: &[(String, String)], signed: &[&str]) -> String {
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .iter()
            .filter(|(have, _)| have == name)
            .map(|(_, value)| value.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// The normalised path with each segment URI-encoded (see the module docs).
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing_slash =
        path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..") || path == "..";
    let mut out = String::from("/");
    out.push_str(
        &segments
            .iter()
            .map(|s| uri_encode(s.as_bytes()))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if trailing_slash && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The sorted, re-encoded query string.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(name)),
                uri_encode(&percent_decode(value)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// AWS's URI encoding: RFC 3986 unreserved characters as is, every other byte as `%XX`.
fn uri_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays literal.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| char::from(*b).to_digit(16)),
                bytes.get(i + 2).and_then(|b| char::from(*b).to_digit(16)),
            ) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The hex signature of `canonical_request` under the key derived for `scope`.
fn compute_signature(
    secret: &str,
    amz_date: &str,
    scope: &Scope<'_>,
    canonical_request: &str,
) -> String {
    let scope_text = format!(
        "{}/{}/{}/aws4_request",
        scope.date, scope.region, scope.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope_text}\n{}",
        hex::encode(kms_crypto::sha256(canonical_request.as_bytes()))
    );
    let k_date = kms_crypto::hmac_sha256(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k_region = kms_crypto::hmac_sha256(&k_date, scope.region.as_bytes());
    let k_service = kms_crypto::hmac_sha256(&k_region, scope.service.as_bytes());
    let k_signing = kms_crypto::hmac_sha256(&k_service, b"aws4_request");
    hex::encode(kms_crypto::hmac_sha256(
        &k_signing,
        string_to_sign.as_bytes(),
    ))
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses `YYYYMMDDTHHMMSSZ` (UTC).
fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    if s.len() != 16 || !s.is_ascii() {
        return None;
    }
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(s, format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// At most `max` characters of `s`, for echoing caller input in messages.
fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests;

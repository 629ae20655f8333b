//! A KMS request signed for another region travels there as its caller signed it, and that
//! region's front door verifies the signature again with its own identities and clock
//! ([`serve_forwarded`](crate::serve_forwarded)). The region that received the request proves nothing on the caller's
//! behalf: it passes on bytes it cannot have forged without the caller's secret.
//!
//! What the home region can and cannot check of a forwarded request:
//! - the signature, the credential scope (it must name the home region) and the clock-skew
//!   window ([`crate::sigv4::MAX_CLOCK_SKEW`]) against the home region's clock; the `Host`
//!   header is checked as signed (the address the caller reached, not the home region's);
//! - not the caller's address or whether the caller used TLS: the forwarding node reports
//!   neither, so a forwarded call carries no `aws:SourceIp` and `aws:SecureTransport` is
//!   false. A policy that requires either refuses forwarded calls (fails closed).
//! - A signed request can be replayed within the skew window by whoever saw it (as with SigV4
//!   anywhere); the forwarding region sees it, so it could replay what its callers sent it,
//!   never make up a new one.

use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, Uri};
use kms_types::KmsError;

/// A request exactly as its caller signed it: what SigV4 covers, and everything else it
/// carried (the `User-Agent` for the audit trail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The HTTP method.
    pub method: String,
    /// The request target as it arrived (path and query; with HTTP/2 also the authority).
    pub uri: String,
    /// Every header, in arrival order, `Content-Length` included (any header may be signed:
    /// the AWS SDKs sign `content-length`). Values that are not valid UTF-8 are replaced
    /// lossily, so their signature no longer verifies: such a request is refused, never
    /// altered.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Vec<u8>,
}

impl Drop for SignedRequest {
    /// The body may hold plaintext: zeroed when the request is dropped.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body);
    }
}

impl SignedRequest {
    /// The request whose head is `parts` and whose body is `body`.
    pub(crate) fn capture(parts: &Parts, body: &[u8]) -> SignedRequest {
        SignedRequest {
            method: parts.method.as_str().to_string(),
            uri: parts.uri.to_string(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        }
    }

    /// The request head again, for the verifier; a malformed one is refused.
    pub(crate) fn parts(&self) -> Result<Parts, KmsError> {
        let malformed =
            || KmsError::IncompleteSignature("The forwarded request is malformed.".to_string());
        let method = Method::from_bytes(self.method.as_bytes()).map_err(|_| malformed())?;
        let uri: Uri = self.uri.parse().map_err(|_| malformed())?;
        let mut builder = axum::http::Request::builder().method(method).uri(uri);
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| malformed())?;
            let value = HeaderValue::from_str(value).map_err(|_| malformed())?;
            builder = builder.header(name, value);
        }
        let (parts, ()) = builder.body(()).map_err(|_| malformed())?.into_parts();
        Ok(parts)
    }
}

/// The peer that forwarded a request, as its link certificate names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedBy {
    /// The forwarding region.
    pub region: String,
    /// Its node, if the certificate names one.
    pub node: Option<u64>,
    /// The forwarding node's address (the link connection's peer).
    pub addr: Option<std::net::IpAddr>,
}

//! A KMS node's calls to an external key store proxy ([`XksClient`]): the four XKS Proxy API v1
//! operations as SigV4-signed (service `kms-xks-proxy`) JSON POSTs over HTTPS, each bounded by
//! one timeout (AWS KMS allows 250 ms), with every failure an [`XksError`] that knows its
//! `ConnectionErrorCode`.
//!
//! TLS runs on kms-crypto's rustls provider, HTTP/1.1 only, no proxies, no redirects. The
//! client checks what the proxy answers: lengths, the ciphertext data integrity value (CDIV) it
//! always asks for on encrypt, and that decrypt returns as many bytes as it was given.
//! Secrets and plaintext are never logged; `kmsRequestId` is, at debug level.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::xks_api::{
    self, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, ErrorBody,
    HealthRequest, HealthResponse, KeyMetadataRequest, KeyMetadataResponse, RequestMetadata,
};

/// The SigV4 service name of the XKS Proxy API.
pub const SIGV4_SERVICE: &str = "kms-xks-proxy";

/// The longest response body the client reads.
const MAX_RESPONSE: usize = 256 * 1024;

/// Where a proxy is and how to sign for it: AWS's `XksProxyUriEndpoint`, `XksProxyUriPath` and
/// `XksProxyAuthenticationCredential`, plus the region to sign for and whom to trust. `Debug`
/// leaves the secret out.
#[derive(Clone)]
pub struct XksEndpoint {
    /// `https://` and a host name, no port or path (AWS's `XksProxyUriEndpoint`).
    pub uri_endpoint: String,
    /// The TCP port: 443 for AWS; a node's config may name another for local tests.
    pub port: u16,
    /// AWS's `XksProxyUriPath`, e.g. `/example/prefix/kms/xks/v1`.
    pub uri_path: String,
    /// The SigV4 access key id.
    pub access_key_id: String,
    /// The SigV4 secret (AWS's `RawSecretAccessKey`).
    pub secret: Zeroizing<String>,
    /// The region requests are signed for: the calling KMS's.
    pub region: String,
    /// Which server certificates are accepted.
    pub trust: XksTrust,
}

impl fmt::Debug for XksEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XksEndpoint")
            .field("uri_endpoint", &self.uri_endpoint)
            .field("port", &self.port)
            .field("uri_path", &self.uri_path)
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"redacted")
            .field("region", &self.region)
            .field("trust", &self.trust)
            .finish()
    }
}

/// Which certificates a proxy may present.
#[derive(Clone, PartialEq, Eq)]
pub enum XksTrust {
    /// The public web PKI as the platform knows it (the system's roots), as AWS KMS does.
    WebPki,
    /// Only CA certificates from this PEM text (a local CA, for tests and private proxies).
    CaPem(Vec<u8>),
}

impl fmt::Debug for XksTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XksTrust::WebPki => f.write_str("WebPki"),
            XksTrust::CaPem(pem) => write!(f, "CaPem(<{} bytes>)", pem.len()),
        }
    }
}

/// Why a call to a proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum XksError {
    /// The proxy answered with an XKS error body.
    #[error("the XKS proxy answered HTTP {status} {error_name}: {message}")]
    Proxy {
        /// The HTTP status.
        status: u16,
        /// The `errorName` (see [`xks_api::ErrorName`]; others are possible).
        error_name: String,
        /// The `errorMessage`, or empty.
        message: String,
    },
    /// No connection (refused, reset, DNS) or it broke before an answer.
    #[error("the XKS proxy is not reachable: {0}")]
    Unreachable(String),
    /// No complete answer within the timeout.
    #[error("the XKS proxy did not answer in time")]
    TimedOut,
    /// An answer that is not what the API says (malformed, wrong lengths, CDIV mismatch).
    #[error("invalid response from the XKS proxy: {0}")]
    InvalidResponse(String),
    /// The TLS handshake failed (e.g. the certificate is not trusted or names another host).
    #[error("TLS with the XKS proxy failed: {0}")]
    Tls(String),
    /// The endpoint or an argument is unusable; nothing was sent.
    #[error("invalid XKS configuration: {0}")]
    InvalidConfig(String),
}

impl XksError {
    /// The `ConnectionErrorCode` a custom key store gets for this failure, as AWS KMS names
    /// them.
    pub fn connection_error_code(&self) -> &'static str {
        match self {
            XksError::Proxy {
                status, error_name, ..
            } => match (*status, error_name.as_str()) {
                (401, _) | (_, "AuthenticationFailedException") => "INVALID_CREDENTIALS",
                (403, _) | (_, "AccessDeniedException") => "XKS_PROXY_ACCESS_DENIED",
                (_, "InvalidUriPathException") => "XKS_PROXY_INVALID_CONFIGURATION",
                _ => "INTERNAL_ERROR",
            },
            XksError::Unreachable(_) => "XKS_PROXY_NOT_REACHABLE",
            XksError::TimedOut => "XKS_PROXY_TIMED_OUT",
            XksError::InvalidResponse(_) => "XKS_PROXY_INVALID_RESPONSE",
            XksError::Tls(_) => "XKS_PROXY_INVALID_TLS_CONFIGURATION",
            XksError::InvalidConfig(_) => "INTERNAL_ERROR",
        }
    }

    /// The proxy's `errorName`, if it answered with one.
    pub fn error_name(&self) -> Option<&str> {
        match self {
            XksError::Proxy { error_name, .. } => Some(error_name),
            _ => None,
        }
    }
}

/// What a proxy's encrypt returned, as a KMS node keeps it inside its own ciphertext blob
/// (see [`XksCiphertext::to_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XksCiphertext {
    /// The ciphertext (as long as the plaintext).
    pub ciphertext: Vec<u8>,
    /// The IV (12 or 16 bytes).
    pub iv: Vec<u8>,
    /// The GCM tag (16 bytes).
    pub tag: Vec<u8>,
    /// The proxy's `ciphertextMetadata`, if it returned any (at most 20 bytes).
    pub metadata: Option<Vec<u8>>,
}

/// The version byte of [`XksCiphertext::to_bytes`].
const CIPHERTEXT_FORMAT_V1: u8 = 1;

impl XksCiphertext {
    /// A compact encoding: `1 ‖ u8 len ‖ iv ‖ u8 len ‖ tag ‖ 0 | (1 ‖ u8 len ‖ metadata) ‖
    /// u32be len ‖ ciphertext`.
    ///
    /// # Panics
    /// If a field is longer than its length prefix allows (never for what [`XksClient`]
    /// returns: it checks the lengths).
    pub fn to_bytes(&self) -> Vec<u8> {
        let short = |field: &[u8]| u8::try_from(field.len()).expect("field of at most 255 bytes");
        let mut out = Vec::with_capacity(
            9 + self.iv.len()
                + self.tag.len()
                + self.metadata.as_ref().map_or(0, Vec::len)
                + self.ciphertext.len(),
        );
        out.push(CIPHERTEXT_FORMAT_V1);
        out.push(short(&self.iv));
        out.extend_from_slice(&self.iv);
        out.push(short(&self.tag));
        out.extend_from_slice(&self.tag);
        match &self.metadata {
            None => out.push(0),
            Some(md) => {
                out.push(1);
                out.push(short(md));
                out.extend_from_slice(md);
            }
        }
        let ct_len = u32::try_from(self.ciphertext.len()).expect("ciphertext under 4 GiB");
        out.extend_from_slice(&ct_len.to_be_bytes());
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Reads what [`XksCiphertext::to_bytes`] wrote; `None` for anything else, including
    /// trailing bytes.
    pub fn from_bytes(b: &[u8]) -> Option<XksCiphertext> {
        let mut r = Reader(b);
        if r.u8()? != CIPHERTEXT_FORMAT_V1 {
            return None;
        }
        let n = usize::from(r.u8()?);
        let iv = r.take(n)?.to_vec();
        let n = usize::from(r.u8()?);
        let tag = r.take(n)?.to_vec();
        let metadata = match r.u8()? {
            0 => None,
            1 => {
                let n = usize::from(r.u8()?);
                Some(r.take(n)?.to_vec())
            }
            _ => return None,
        };
        let n = usize::try_from(u32::from_be_bytes(r.take(4)?.try_into().ok()?)).ok()?;
        let ciphertext = r.take(n)?.to_vec();
        if !r.0.is_empty() {
            return None;
        }
        Some(XksCiphertext {
            ciphertext,
            iv,
            tag,
            metadata,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
}

/// A client for one proxy endpoint and credential. Clones share one connection pool.
#[derive(Clone)]
pub struct XksClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `https://host:port`.
    origin: String,
    /// The `Host` header (and signed value): `host` on 443, else `host:port`.
    host: String,
    uri_path: String,
    access_key_id: String,
    secret: Zeroizing<String>,
    region: String,
}

impl fmt::Debug for XksClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XksClient")
            .field("origin", &self.inner.origin)
            .field("uri_path", &self.inner.uri_path)
            .field("access_key_id", &self.inner.access_key_id)
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

impl XksClient {
    /// A client for `endpoint` whose every call (connect, TLS, request and response) must
    /// finish within `timeout`. Fails with [`XksError::InvalidConfig`] for an endpoint AWS
    /// would refuse (not `https://` and a bare host name, a bad URI path) or a CA PEM without
    /// a usable certificate.
    pub fn new(endpoint: XksEndpoint, timeout: Duration) -> Result<XksClient, XksError> {
        let invalid = |what: &str| Err(XksError::InvalidConfig(what.to_string()));
        let Some(host) = endpoint.uri_endpoint.strip_prefix("https://") else {
            return invalid("the URI endpoint must start with https://");
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        {
            return invalid("the URI endpoint must be https:// and a host name (no port or path)");
        }
        if endpoint.port == 0 {
            return invalid("the port must not be 0");
        }
        if !xks_api::is_valid_uri_path(&endpoint.uri_path) {
            return invalid(
                "the URI path must be 10 to 128 characters of A-Z a-z 0-9 / - _ ending in \
                 /kms/xks/v1",
            );
        }
        if endpoint.access_key_id.is_empty() || endpoint.secret.is_empty() {
            return invalid("the access key id and secret must not be empty");
        }
        if endpoint.region.is_empty() {
            return invalid("the region must not be empty");
        }
        let tls = tls_config(&endpoint.trust)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http1_only()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| XksError::InvalidConfig(format!("building the HTTP client: {e}")))?;
        let host = if endpoint.port == 443 {
            host.to_string()
        } else {
            format!("{host}:{}", endpoint.port)
        };
        Ok(XksClient {
            inner: Arc::new(Inner {
                http,
                origin: format!("https://{host}"),
                host,
                uri_path: endpoint.uri_path,
                access_key_id: endpoint.access_key_id,
                secret: endpoint.secret,
                region: endpoint.region,
            }),
        })
    }

    /// GetHealthStatus. A proxy whose every key manager is `UNAVAILABLE` still answers `Ok`:
    /// see [`HealthResponse::connection_error_code`].
    pub async fn health(&self, meta: &RequestMetadata) -> Result<HealthResponse, XksError> {
        let request = HealthRequest {
            request_metadata: meta.clone(),
        };
        let response: HealthResponse = self.call("/health", &request, meta).await?;
        if let Some(problem) = response.problem() {
            return Err(XksError::InvalidResponse(problem));
        }
        Ok(response)
    }

    /// GetKeyMetadata of `external_key_id`.
    pub async fn key_metadata(
        &self,
        external_key_id: &str,
        meta: &RequestMetadata,
    ) -> Result<KeyMetadataResponse, XksError> {
        let path = key_path(external_key_id, "metadata")?;
        let request = KeyMetadataRequest {
            request_metadata: meta.clone(),
        };
        let response: KeyMetadataResponse = self.call(&path, &request, meta).await?;
        if response.key_usage.len() > xks_api::MAX_KEY_USAGES {
            return Err(XksError::InvalidResponse(format!(
                "{} keyUsage values (at most 10)",
                response.key_usage.len()
            )));
        }
        Ok(response)
    }

    /// Encrypt `plaintext` with AAD `aad` (empty: none sent) under `external_key_id`. Asks
    /// for the SHA-256 CDIV and checks it: a missing or different CDIV, or a ciphertext, IV,
    /// tag or metadata of the wrong length, is [`XksError::InvalidResponse`].
    pub async fn encrypt(
        &self,
        external_key_id: &str,
        meta: &RequestMetadata,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<XksCiphertext, XksError> {
        let path = key_path(external_key_id, "encrypt")?;
        let request = EncryptRequest {
            request_metadata: meta.clone(),
            additional_authenticated_data: (!aad.is_empty()).then(|| aad.to_vec()),
            plaintext: Zeroizing::new(plaintext.to_vec()),
            encryption_algorithm: xks_api::ENCRYPTION_ALGORITHM.to_string(),
            ciphertext_data_integrity_value_algorithm: Some(xks_api::CDIV_ALGORITHM.to_string()),
        };
        let response: EncryptResponse = self.call(&path, &request, meta).await?;
        let bad = |what: String| Err(XksError::InvalidResponse(what));
        if response.ciphertext.len() != plaintext.len() {
            return bad(format!(
                "{} bytes of ciphertext for {} bytes of plaintext",
                response.ciphertext.len(),
                plaintext.len()
            ));
        }
        if !matches!(response.initialization_vector.len(), 12 | 16) {
            return bad(format!(
                "a {}-byte initialization vector (12 or 16 expected)",
                response.initialization_vector.len()
            ));
        }
        if response.authentication_tag.len() != xks_api::TAG_LEN {
            return bad(format!(
                "a {}-byte authentication tag (16 expected)",
                response.authentication_tag.len()
            ));
        }
        if let Some(md) = &response.ciphertext_metadata {
            if md.len() > xks_api::MAX_CIPHERTEXT_METADATA {
                return bad(format!(
                    "{} bytes of ciphertext metadata (at most 20)",
                    md.len()
                ));
            }
        }
        let Some(cdiv) = &response.ciphertext_data_integrity_value else {
            return bad("no ciphertextDataIntegrityValue although one was asked for".to_string());
        };
        if !kms_crypto::constant_time_eq(cdiv, &response.expected_cdiv(aad)) {
            return bad("the ciphertextDataIntegrityValue does not match the response".to_string());
        }
        Ok(XksCiphertext {
            ciphertext: response.ciphertext,
            iv: response.initialization_vector,
            tag: response.authentication_tag,
            metadata: response.ciphertext_metadata,
        })
    }

    /// Decrypt what [`XksClient::encrypt`] returned for the same `aad`.
    pub async fn decrypt(
        &self,
        external_key_id: &str,
        meta: &RequestMetadata,
        ciphertext: &XksCiphertext,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, XksError> {
        let path = key_path(external_key_id, "decrypt")?;
        let request = DecryptRequest {
            request_metadata: meta.clone(),
            ciphertext: ciphertext.ciphertext.clone(),
            ciphertext_metadata: ciphertext.metadata.clone(),
            encryption_algorithm: xks_api::ENCRYPTION_ALGORITHM.to_string(),
            additional_authenticated_data: (!aad.is_empty()).then(|| aad.to_vec()),
            initialization_vector: ciphertext.iv.clone(),
            authentication_tag: ciphertext.tag.clone(),
        };
        let response: DecryptResponse = self.call(&path, &request, meta).await?;
        if response.plaintext.len() != ciphertext.ciphertext.len() {
            return Err(XksError::InvalidResponse(format!(
                "{} bytes of plaintext for {} bytes of ciphertext",
                response.plaintext.len(),
                ciphertext.ciphertext.len()
            )));
        }
        Ok(response.plaintext)
    }

    /// POSTs `body` to `uri_path + op_path`, signed, and reads a `T` or the error body.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        op_path: &str,
        body: &B,
        meta: &RequestMetadata,
    ) -> Result<T, XksError> {
        let inner = &*self.inner;
        let path = format!("{}{op_path}", inner.uri_path);
        let body = Zeroizing::new(
            serde_json::to_vec(body)
                .map_err(|e| XksError::InvalidConfig(format!("encoding the request: {e}")))?,
        );
        let content_type = "application/json";
        let signed = kms_api::sigv4::sign(
            &kms_api::sigv4::SigningInput {
                method: "POST",
                uri: &path,
                headers: &[("host", &inner.host), ("content-type", content_type)],
                body: &body,
            },
            (&inner.access_key_id, &inner.secret),
            &inner.region,
            SIGV4_SERVICE,
            time::OffsetDateTime::now_utc(),
        );
        let started = Instant::now();
        let result = async {
            let mut response = inner
                .http
                .post(format!("{}{path}", inner.origin))
                .header(reqwest::header::HOST, &inner.host)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .header("x-amz-date", &signed.x_amz_date)
                .header(reqwest::header::AUTHORIZATION, &signed.authorization)
                .body(body.to_vec())
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status().as_u16();
            let mut bytes = Zeroizing::new(Vec::new());
            while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
                if bytes.len() + chunk.len() > MAX_RESPONSE {
                    return Err(XksError::InvalidResponse(format!(
                        "a response body over {MAX_RESPONSE} bytes"
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok((status, bytes))
        }
        .await;
        let elapsed_ms = started.elapsed().as_millis();
        let (status, bytes) = match result {
            Ok(answer) => answer,
            Err(e) => {
                tracing::debug!(
                    kms_request_id = %meta.kms_request_id,
                    kms_operation = %meta.kms_operation,
                    path = %path,
                    elapsed_ms,
                    error = %e,
                    "XKS call failed"
                );
                return Err(e);
            }
        };
        tracing::debug!(
            kms_request_id = %meta.kms_request_id,
            kms_operation = %meta.kms_operation,
            path = %path,
            status,
            elapsed_ms,
            "XKS call"
        );
        if status == 200 {
            // The decoder's message could quote the body (plaintext): only its position.
            return serde_json::from_slice(&bytes).map_err(|e| {
                XksError::InvalidResponse(format!(
                    "malformed {op_path} response ({:?} error at line {} column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(error) => Err(XksError::Proxy {
                status,
                error_name: error.error_name,
                message: error.error_message.unwrap_or_default(),
            }),
            Err(_) => Err(XksError::InvalidResponse(format!(
                "HTTP {status} without an XKS error body"
            ))),
        }
    }
}

/// `/keys/{id}/{op}` for a valid `externalKeyId`.
fn key_path(external_key_id: &str, op: &str) -> Result<String, XksError> {
    if !xks_api::is_valid_external_key_id(external_key_id) {
        return Err(XksError::InvalidConfig(
            "an external key id is 1 to 128 characters of A-Z a-z 0-9 . - _".to_string(),
        ));
    }
    Ok(format!("/keys/{external_key_id}/{op}"))
}

/// The client TLS configuration: kms-crypto's provider, TLS 1.2 and 1.3, ALPN `http/1.1`.
fn tls_config(trust: &XksTrust) -> Result<ClientConfig, XksError> {
    let provider = kms_crypto::tls_provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| XksError::InvalidConfig(format!("TLS versions: {e}")))?;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match trust {
        XksTrust::WebPki => Arc::new(
            rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| XksError::InvalidConfig(format!("the platform's roots: {e}")))?,
        ),
        XksTrust::CaPem(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| XksError::InvalidConfig(format!("the CA PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| XksError::InvalidConfig(format!("a CA certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(XksError::InvalidConfig(
                    "the CA PEM holds no certificate".to_string(),
                ));
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| XksError::InvalidConfig(format!("the CA certificates: {e}")))?
        }
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The rustls error `err` is or wraps in (nested) `io::Error`s, whose `source` skips what they
/// wrap.
fn rustls_error<'a>(mut err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner = err.downcast_ref::<std::io::Error>()?.get_ref()?;
        err = inner;
    }
}

/// Sorts a transport failure: a timeout, a TLS failure (a rustls error anywhere in the
/// chain), or anything else that kept the answer from arriving.
fn transport_error(e: reqwest::Error) -> XksError {
    if e.is_timeout() {
        return XksError::TimedOut;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut chain = Vec::new();
    while let Some(err) = source {
        if let Some(tls) = rustls_error(err) {
            return XksError::Tls(tls.to_string());
        }
        chain.push(err.to_string());
        source = err.source();
    }
    chain.dedup();
    XksError::Unreachable(chain.join(": "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn endpoint() -> XksEndpoint {
        XksEndpoint {
            uri_endpoint: "https://localhost".to_string(),
            port: 443,
            uri_path: "/example/prefix/kms/xks/v1".to_string(),
            access_key_id: "AKIAI2SFODNN7EXAMPLE".to_string(),
            secret: Zeroizing::new("FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE".to_string()),
            region: "us-east-1".to_string(),
            trust: XksTrust::WebPki,
        }
    }

    fn meta() -> RequestMetadata {
        RequestMetadata {
            kms_operation: "KmsHealthCheck".to_string(),
            kms_request_id: "r-1".to_string(),
            ..RequestMetadata::default()
        }
    }

    #[test]
    fn ciphertext_encoding_round_trips_and_is_strict() {
        for metadata in [None, Some(Vec::new()), Some(b"trent-xks:v1".to_vec())] {
            let ct = XksCiphertext {
                ciphertext: vec![7; 300],
                iv: vec![1; 12],
                tag: vec![2; 16],
                metadata,
            };
            let bytes = ct.to_bytes();
            assert_eq!(XksCiphertext::from_bytes(&bytes), Some(ct));
            for cut in 0..bytes.len() {
                assert_eq!(
                    XksCiphertext::from_bytes(&bytes[..cut]),
                    None,
                    "cut at {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(XksCiphertext::from_bytes(&longer), None);
            let mut other_version = bytes;
            other_version[0] = 2;
            assert_eq!(XksCiphertext::from_bytes(&other_version), None);
        }
    }

    #[test]
    fn endpoints_aws_would_refuse_are_refused() {
        assert!(XksClient::new(endpoint(), Duration::from_millis(250)).is_ok());
        let cases: [fn(&mut XksEndpoint); 7] = [
            |e| e.uri_endpoint = "http://localhost".into(),
            |e| e.uri_endpoint = "https://localhost:8443".into(),
            |e| e.uri_endpoint = "https://localhost/x".into(),
            |e| e.uri_path = "/example/prefix".into(),
            |e| e.port = 0,
            |e| e.secret = Zeroizing::new(String::new()),
            |e| e.trust = XksTrust::CaPem(b"not a certificate".to_vec()),
        ];
        for change in cases {
            let mut e = endpoint();
            change(&mut e);
            assert!(
                matches!(
                    XksClient::new(e.clone(), Duration::from_millis(250)),
                    Err(XksError::InvalidConfig(_))
                ),
                "{e:?}"
            );
        }
        let shown = format!("{:?}", endpoint());
        assert!(!shown.contains("FYtE5"), "{shown}");
    }

    #[test]
    fn connection_error_codes() {
        let proxy = |status: u16, name: &str| XksError::Proxy {
            status,
            error_name: name.to_string(),
            message: String::new(),
        };
        let cases = [
            (
                proxy(401, "AuthenticationFailedException"),
                "INVALID_CREDENTIALS",
            ),
            (
                proxy(403, "AccessDeniedException"),
                "XKS_PROXY_ACCESS_DENIED",
            ),
            (
                proxy(404, "InvalidUriPathException"),
                "XKS_PROXY_INVALID_CONFIGURATION",
            ),
            (proxy(404, "KeyNotFoundException"), "INTERNAL_ERROR"),
            (proxy(500, "InternalException"), "INTERNAL_ERROR"),
            (
                XksError::Unreachable("refused".into()),
                "XKS_PROXY_NOT_REACHABLE",
            ),
            (XksError::TimedOut, "XKS_PROXY_TIMED_OUT"),
            (
                XksError::InvalidResponse("x".into()),
                "XKS_PROXY_INVALID_RESPONSE",
            ),
            (
                XksError::Tls("x".into()),
                "XKS_PROXY_INVALID_TLS_CONFIGURATION",
            ),
            (XksError::InvalidConfig("x".into()), "INTERNAL_ERROR"),
        ];
        for (error, code) in cases {
            assert_eq!(error.connection_error_code(), code, "{error}");
        }
        assert_eq!(
            proxy(400, "InvalidStateException").error_name(),
            Some("InvalidStateException")
        );
        assert_eq!(XksError::TimedOut.error_name(), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_not_reachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = XksClient::new(
            XksEndpoint {
                uri_endpoint: "https://127.0.0.1".into(),
                port,
                ..endpoint()
            },
            Duration::from_secs(5),
        )
        .unwrap();
        let err = client.health(&meta()).await.unwrap_err();
        assert_eq!(
            err.connection_error_code(),
            "XKS_PROXY_NOT_REACHABLE",
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_silent_proxy_times_out() {
        // Accepts the TCP connection and never says a word.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let client = XksClient::new(
            XksEndpoint {
                uri_endpoint: "https://127.0.0.1".into(),
                port,
                ..endpoint()
            },
            Duration::from_millis(250),
        )
        .unwrap();
        let started = Instant::now();
        let err = client.health(&meta()).await.unwrap_err();
        assert!(matches!(err, XksError::TimedOut), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        hold.abort();
    }

    #[tokio::test]
    async fn an_invalid_key_id_is_not_sent() {
        let client = XksClient::new(endpoint(), Duration::from_millis(250)).unwrap();
        let err = client.key_metadata("a/b", &meta()).await.unwrap_err();
        assert!(matches!(err, XksError::InvalidConfig(_)), "{err}");
    }
}

//! The XKS Proxy API v1 on the wire, shared by the client a KMS node uses
//! ([`crate::xks_client`]) and the proxy (`kms-xks-proxy`): the JSON bodies of GetHealthStatus,
//! GetKeyMetadata, Encrypt and Decrypt (camelCase field names, binary fields in standard
//! Base64), the `requestMetadata` every request carries, the error body, the error names with
//! their HTTP statuses, the ciphertext data integrity value ([`cdiv`]) and the AES-GCM AAD the
//! spec recommends when ciphertext metadata is returned ([`gcm_aad`]).
//!
//! Types that carry plaintext keep it in [`Zeroizing`] buffers and leave it out of `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The only `encryptionAlgorithm` of v1.
pub const ENCRYPTION_ALGORITHM: &str = "AES_GCM";
/// The only `ciphertextDataIntegrityValueAlgorithm` of v1.
pub const CDIV_ALGORITHM: &str = "SHA_256";
/// The only `keySpec` of v1.
pub const KEY_SPEC_AES_256: &str = "AES_256";
/// The `keyUsage` value for encryption.
pub const USAGE_ENCRYPT: &str = "ENCRYPT";
/// The `keyUsage` value for decryption.
pub const USAGE_DECRYPT: &str = "DECRYPT";
/// The largest plaintext (and so ciphertext) a proxy must accept, in bytes.
pub const MAX_PLAINTEXT: usize = 4300;
/// The largest `additionalAuthenticatedData` a proxy must accept, in bytes.
pub const MAX_AAD: usize = 8192;
/// The largest `ciphertextMetadata` a proxy may return, in bytes.
pub const MAX_CIPHERTEXT_METADATA: usize = 20;
/// The authentication tag length, in bytes.
pub const TAG_LEN: usize = 16;
/// The most `keyUsage` values a metadata response may list.
pub const MAX_KEY_USAGES: usize = 10;
/// The most `ekmFleetDetails` entries a health response may list.
pub const MAX_EKM_FLEET: usize = 10;
/// The longest `errorMessage`, in characters (the spec says fewer than 512).
pub const MAX_ERROR_MESSAGE: usize = 511;
/// How every `XksProxyUriPath` ends in v1.
pub const URI_PATH_SUFFIX: &str = "/kms/xks/v1";

/// True if `id` is a valid `externalKeyId`: 1 to 128 characters of `A-Z a-z 0-9 . - _`.
pub fn is_valid_external_key_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// True if `path` is a valid `XksProxyUriPath`: 10 to 128 characters of `A-Z a-z 0-9 / - _`,
/// starting with `/` and ending in `/kms/xks/v1`.
pub fn is_valid_uri_path(path: &str) -> bool {
    (10..=128).contains(&path.len())
        && path.starts_with('/')
        && path.ends_with(URI_PATH_SUFFIX)
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'))
}

/// The `requestMetadata` object of every request. KMS may add fields; unknown ones are
/// ignored. Which fields are present depends on the operation: health requests carry only
/// `kmsRequestId` and `kmsOperation`; metadata requests have no `kmsKeyArn` on CreateKey.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMetadata {
    /// The caller of the KMS API (an ARN, a service principal or `AWS Internal`); required
    /// except on health requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_principal_arn: Option<String>,
    /// The VPC of a call through a VPC endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_source_vpc: Option<String>,
    /// The VPC endpoint of such a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_source_vpce: Option<String>,
    /// The KMS key's ARN; required on encrypt and decrypt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    /// The KMS API that caused this call (never rejected for an unknown value).
    pub kms_operation: String,
    /// The KMS request id, opaque: log it, never validate it.
    pub kms_request_id: String,
    /// The AWS service that called KMS on the caller's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_via_service: Option<String>,
}

/// The body of `POST .../health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthRequest {
    /// Only `kmsRequestId` and `kmsOperation`.
    pub request_metadata: RequestMetadata,
}

/// How one external key manager is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EkmHealthStatus {
    /// Healthy.
    Active,
    /// Unhealthy but still serving.
    Degraded,
    /// Unable to serve.
    Unavailable,
}

/// One entry of `ekmFleetDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EkmFleetDetail {
    /// The key manager's id in its cluster.
    pub id: String,
    /// Its model (product, version).
    pub model: String,
    /// Its health.
    pub health_status: EkmHealthStatus,
}

/// The 200 response of `POST .../health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse {
    /// How many proxies serve this endpoint (> 0).
    pub xks_proxy_fleet_size: u32,
    /// The proxy's vendor.
    pub xks_proxy_vendor: String,
    /// The proxy's model (product, version).
    pub xks_proxy_model: String,
    /// The key manager's vendor.
    pub ekm_vendor: String,
    /// One to ten key managers.
    pub ekm_fleet_details: Vec<EkmFleetDetail>,
}

impl HealthResponse {
    /// True if every key manager reports `UNAVAILABLE` (or none is listed): KMS then reports
    /// the store as `XKS_PROXY_NOT_REACHABLE`.
    pub fn all_unavailable(&self) -> bool {
        self.ekm_fleet_details
            .iter()
            .all(|ekm| ekm.health_status == EkmHealthStatus::Unavailable)
    }

    /// The `ConnectionErrorCode` this answer amounts to: `XKS_PROXY_NOT_REACHABLE` when
    /// [`HealthResponse::all_unavailable`], else `None` (healthy enough to connect).
    pub fn connection_error_code(&self) -> Option<&'static str> {
        self.all_unavailable().then_some("XKS_PROXY_NOT_REACHABLE")
    }

    /// What is wrong with this response by the spec's rules, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.xks_proxy_fleet_size == 0 {
            return Some("xksProxyFleetSize is 0".to_string());
        }
        let n = self.ekm_fleet_details.len();
        if !(1..=MAX_EKM_FLEET).contains(&n) {
            return Some(format!("{n} ekmFleetDetails entries (1 to 10 allowed)"));
        }
        None
    }
}

/// The body of `POST .../keys/{id}/metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMetadataRequest {
    /// `kmsKeyArn` is absent on CreateKey.
    pub request_metadata: RequestMetadata,
}

/// Whether the external key is enabled in its key manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyStatus {
    /// Usable.
    Enabled,
    /// Disabled in the key manager: crypto calls fail with InvalidStateException.
    Disabled,
}

/// The 200 response of `POST .../keys/{id}/metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMetadataResponse {
    /// `AES_256` in v1.
    pub key_spec: String,
    /// What the key can do, e.g. `["ENCRYPT", "DECRYPT"]` (at most ten values).
    pub key_usage: Vec<String>,
    /// `ENABLED` or `DISABLED`.
    pub key_status: KeyStatus,
}

impl KeyMetadataResponse {
    /// True if KMS's CreateKey accepts this key: `AES_256`, usable to `ENCRYPT` and `DECRYPT`,
    /// and `ENABLED`.
    pub fn usable_by_kms(&self) -> bool {
        self.key_spec == KEY_SPEC_AES_256
            && self.key_usage.iter().any(|u| u == USAGE_ENCRYPT)
            && self.key_usage.iter().any(|u| u == USAGE_DECRYPT)
            && self.key_status == KeyStatus::Enabled
    }
}

/// The body of `POST .../keys/{id}/encrypt`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptRequest {
    /// Who asks, for which KMS key.
    pub request_metadata: RequestMetadata,
    /// Optional AAD (at most 8192 bytes).
    #[serde(default, with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub additional_authenticated_data: Option<Vec<u8>>,
    /// The plaintext (at most 4300 bytes); never logged.
    #[serde(with = "b64_secret")]
    pub plaintext: Zeroizing<Vec<u8>>,
    /// `AES_GCM`.
    pub encryption_algorithm: String,
    /// `SHA_256` to ask for a CDIV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ciphertext_data_integrity_value_algorithm: Option<String>,
}

impl fmt::Debug for EncryptRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptRequest")
            .field("request_metadata", &self.request_metadata)
            .field(
                "additional_authenticated_data",
                &self.additional_authenticated_data.as_ref().map(Vec::len),
            )
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .field("encryption_algorithm", &self.encryption_algorithm)
            .field(
                "ciphertext_data_integrity_value_algorithm",
                &self.ciphertext_data_integrity_value_algorithm,
            )
            .finish()
    }
}

/// The 200 response of `POST .../keys/{id}/encrypt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptResponse {
    /// As long as the plaintext.
    #[serde(with = "b64")]
    pub ciphertext: Vec<u8>,
    /// Up to 20 bytes the proxy keeps for itself (bound into the tag).
    #[serde(default, with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub ciphertext_metadata: Option<Vec<u8>>,
    /// 12 or 16 bytes.
    #[serde(with = "b64")]
    pub initialization_vector: Vec<u8>,
    /// 16 bytes.
    #[serde(with = "b64")]
    pub authentication_tag: Vec<u8>,
    /// The CDIV, present iff the request asked for one.
    #[serde(default, with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub ciphertext_data_integrity_value: Option<Vec<u8>>,
}

impl EncryptResponse {
    /// The SHA-256 CDIV of this response for a request whose AAD was `aad`.
    pub fn expected_cdiv(&self, aad: &[u8]) -> [u8; 32] {
        cdiv(
            aad,
            self.ciphertext_metadata.as_deref().unwrap_or_default(),
            &self.initialization_vector,
            &self.ciphertext,
            &self.authentication_tag,
        )
    }
}

/// The body of `POST .../keys/{id}/decrypt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptRequest {
    /// Who asks, for which KMS key.
    pub request_metadata: RequestMetadata,
    /// What encrypt returned.
    #[serde(with = "b64")]
    pub ciphertext: Vec<u8>,
    /// What encrypt returned, if it returned any.
    #[serde(default, with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub ciphertext_metadata: Option<Vec<u8>>,
    /// `AES_GCM`.
    pub encryption_algorithm: String,
    /// The AAD given to encrypt.
    #[serde(default, with = "b64_opt", skip_serializing_if = "Option::is_none")]
    pub additional_authenticated_data: Option<Vec<u8>>,
    /// What encrypt returned.
    #[serde(with = "b64")]
    pub initialization_vector: Vec<u8>,
    /// What encrypt returned.
    #[serde(with = "b64")]
    pub authentication_tag: Vec<u8>,
}

/// The 200 response of `POST .../keys/{id}/decrypt`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptResponse {
    /// The plaintext; never logged.
    #[serde(with = "b64_secret")]
    pub plaintext: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for DecryptResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptResponse")
            .field(
                "plaintext",
                &format_args!("<{} bytes>", self.plaintext.len()),
            )
            .finish()
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// One of [`ErrorName`]'s names (a client must accept others too).
    pub error_name: String,
    /// Fewer than 512 printable ASCII characters; KMS logs it, its callers never see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl ErrorBody {
    /// An error body for `name` with `message` made fit for the wire (printable ASCII, fewer
    /// than 512 characters).
    pub fn new(name: ErrorName, message: &str) -> ErrorBody {
        let message: String = message
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
            .take(MAX_ERROR_MESSAGE)
            .collect();
        ErrorBody {
            error_name: name.as_str().to_string(),
            error_message: (!message.is_empty()).then_some(message),
        }
    }
}

/// The spec's error names, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorName {
    /// 400: an invalid input parameter (never on health).
    Validation,
    /// 400: the key or key store is disabled.
    InvalidState,
    /// 400: the ciphertext, IV, AAD or tag is invalid (decrypt).
    InvalidCiphertext,
    /// 400: the key does not support the operation (encrypt, decrypt).
    InvalidKeyUsage,
    /// 401: the SigV4 signature is invalid.
    AuthenticationFailed,
    /// 403: secondary authorization denied the request (never on health).
    AccessDenied,
    /// 404: no such external key (never on health).
    KeyNotFound,
    /// 404: no such URI path.
    InvalidUriPath,
    /// 429: too many requests.
    Throttling,
    /// 500: a generic server error (e.g. the key manager failed).
    Internal,
    /// 501: an operation or a parameter size the proxy does not support.
    UnsupportedOperation,
    /// 503: a dependency timed out.
    DependencyTimeout,
}

impl ErrorName {
    /// Every name.
    pub const ALL: [ErrorName; 12] = [
        ErrorName::Validation,
        ErrorName::InvalidState,
        ErrorName::InvalidCiphertext,
        ErrorName::InvalidKeyUsage,
        ErrorName::AuthenticationFailed,
        ErrorName::AccessDenied,
        ErrorName::KeyNotFound,
        ErrorName::InvalidUriPath,
        ErrorName::Throttling,
        ErrorName::Internal,
        ErrorName::UnsupportedOperation,
        ErrorName::DependencyTimeout,
    ];

    /// The `errorName` on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::Validation => "ValidationException",
            ErrorName::InvalidState => "InvalidStateException",
            ErrorName::InvalidCiphertext => "InvalidCiphertextException",
            ErrorName::InvalidKeyUsage => "InvalidKeyUsageException",
            ErrorName::AuthenticationFailed => "AuthenticationFailedException",
            ErrorName::AccessDenied => "AccessDeniedException",
            ErrorName::KeyNotFound => "KeyNotFoundException",
            ErrorName::InvalidUriPath => "InvalidUriPathException",
            ErrorName::Throttling => "ThrottlingException",
            ErrorName::Internal => "InternalException",
            ErrorName::UnsupportedOperation => "UnsupportedOperationException",
            ErrorName::DependencyTimeout => "DependencyTimeoutException",
        }
    }

    /// Its HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ErrorName::Validation
            | ErrorName::InvalidState
            | ErrorName::InvalidCiphertext
            | ErrorName::InvalidKeyUsage => 400,
            ErrorName::AuthenticationFailed => 401,
            ErrorName::AccessDenied => 403,
            ErrorName::KeyNotFound | ErrorName::InvalidUriPath => 404,
            ErrorName::Throttling => 429,
            ErrorName::Internal => 500,
            ErrorName::UnsupportedOperation => 501,
            ErrorName::DependencyTimeout => 503,
        }
    }

    /// The name `errorName` stands for, if it is one of the spec's.
    pub fn parse(error_name: &str) -> Option<ErrorName> {
        ErrorName::ALL
            .into_iter()
            .find(|n| n.as_str() == error_name)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ciphertext data integrity value: SHA-256 over `aad ‖ ciphertext_metadata ‖ iv ‖
/// ciphertext ‖ tag` (absent fields are empty; no lengths). On the wire it is Base64.
pub fn cdiv(
    aad: &[u8],
    ciphertext_metadata: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> [u8; 32] {
    let mut input = Vec::with_capacity(
        aad.len() + ciphertext_metadata.len() + iv.len() + ciphertext.len() + tag.len(),
    );
    for part in [aad, ciphertext_metadata, iv, ciphertext, tag] {
        input.extend_from_slice(part);
    }
    kms_crypto::sha256(&input)
}

/// The AES-GCM AAD the spec recommends when a proxy returns ciphertext metadata:
/// `u16be(len aad) ‖ aad ‖ u8(len metadata) ‖ metadata`, so that moving bytes between the two
/// can never verify. `None` if `aad` is longer than 65535 bytes or `metadata` than 255.
pub fn gcm_aad(aad: &[u8], ciphertext_metadata: &[u8]) -> Option<Vec<u8>> {
    let aad_len = u16::try_from(aad.len()).ok()?;
    let md_len = u8::try_from(ciphertext_metadata.len()).ok()?;
    let mut out = Vec::with_capacity(3 + aad.len() + ciphertext_metadata.len());
    out.extend_from_slice(&aad_len.to_be_bytes());
    out.extend_from_slice(aad);
    out.push(md_len);
    out.extend_from_slice(ciphertext_metadata);
    Some(out)
}

/// Standard Base64 (with padding), as the spec requires for every binary field.
pub(crate) mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("not standard Base64"))
    }
}

/// [`b64`] for optional fields.
pub(crate) mod b64_opt {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::b64::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    /// A JSON `null` reads as absent.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => STANDARD
                .decode(text.as_bytes())
                .map(Some)
                .map_err(|_| serde::de::Error::custom("not standard Base64")),
        }
    }
}

/// [`b64`] for plaintext: the decoded bytes and the Base64 text in between are zeroized.
pub(crate) mod b64_secret {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(bytes: &Zeroizing<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(STANDARD.encode(bytes.as_slice()));
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        STANDARD
            .decode(text.as_bytes())
            .map(Zeroizing::new)
            .map_err(|_| serde::de::Error::custom("not standard Base64"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::json;

    use super::*;

    /// The spec's Encrypt request example.
    fn spec_encrypt_request() -> serde_json::Value {
        json!({
            "requestMetadata": {
                "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
                "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "kmsOperation": "Encrypt",
                "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
                "kmsViaService": "ebs"
            },
            "additionalAuthenticatedData": "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
            "plaintext": "SGVsbG8gV29ybGQh",
            "encryptionAlgorithm": "AES_GCM",
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256"
        })
    }

    /// The spec's Encrypt response example.
    fn spec_encrypt_response() -> serde_json::Value {
        json!({
            "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ==",
            "ciphertext": "ghxkK1txeDNn3q8Y",
            "ciphertextDataIntegrityValue": "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=",
            "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
            "initializationVector": "HMrlRw85cAJUd5Ax"
        })
    }

    #[test]
    fn encrypt_request_example_parses_and_round_trips() {
        let req: EncryptRequest = serde_json::from_value(spec_encrypt_request()).unwrap();
        assert_eq!(req.plaintext.as_slice(), b"Hello World!");
        assert_eq!(
            req.additional_authenticated_data.as_deref(),
            Some(&b"project=nile,department=marketing"[..])
        );
        assert_eq!(req.encryption_algorithm, ENCRYPTION_ALGORITHM);
        assert_eq!(
            req.ciphertext_data_integrity_value_algorithm.as_deref(),
            Some(CDIV_ALGORITHM)
        );
        let meta = &req.request_metadata;
        assert_eq!(meta.kms_operation, "Encrypt");
        assert_eq!(meta.kms_via_service.as_deref(), Some("ebs"));
        assert_eq!(meta.aws_source_vpc, None);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            spec_encrypt_request(),
            "absent optional fields stay absent"
        );
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("Hello") && shown.contains("<12 bytes>"),
            "{shown}"
        );
    }

    #[test]
    fn encrypt_response_example_has_the_spec_cdiv() {
        let resp: EncryptResponse = serde_json::from_value(spec_encrypt_response()).unwrap();
        assert_eq!(resp.initialization_vector.len(), 12);
        assert_eq!(resp.authentication_tag.len(), TAG_LEN);
        assert_eq!(resp.ciphertext.len(), b"Hello World!".len());
        assert_eq!(
            resp.ciphertext_metadata.as_deref(),
            Some(&b"key_version=1"[..])
        );
        let cdiv = resp.expected_cdiv(b"project=nile,department=marketing");
        assert_eq!(
            hex::encode(cdiv),
            "a8703f2260bd8791ec2d15ea0b23e65a0631eedcf2a13a65cc82db3f47cf5ec7"
        );
        assert_eq!(
            STANDARD.encode(cdiv),
            "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc="
        );
        assert_eq!(
            resp.ciphertext_data_integrity_value.as_deref(),
            Some(&cdiv[..])
        );
        assert_eq!(
            serde_json::to_value(&resp).unwrap(),
            spec_encrypt_response()
        );
    }

    #[test]
    fn decrypt_examples_parse() {
        let req: DecryptRequest = serde_json::from_value(json!({
            "requestMetadata": {
                "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
                "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "kmsOperation": "Decrypt",
                "kmsRequestId": "5112f4d6-db54-4af4-ae30-c55a22a8dfae",
                "kmsViaService": "ebs"
            },
            "additionalAuthenticatedData": "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
            "encryptionAlgorithm": "AES_GCM",
            "ciphertext": "ghxkK1txeDNn3q8Y",
            "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
            "initializationVector": "HMrlRw85cAJUd5Ax",
            "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ=="
        }))
        .unwrap();
        assert_eq!(req.ciphertext.len(), 12);
        assert_eq!(req.authentication_tag.len(), 16);
        let resp: DecryptResponse =
            serde_json::from_value(json!({"plaintext": "SGVsbG8gV29ybGQh"})).unwrap();
        assert_eq!(resp.plaintext.as_slice(), b"Hello World!");
        assert!(!format!("{resp:?}").contains("Hello"));
    }

    #[test]
    fn metadata_and_health_examples_parse() {
        let req: KeyMetadataRequest = serde_json::from_value(json!({
            "requestMetadata": {
                "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
                "kmsOperation": "CreateKey",
                "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae"
            }
        }))
        .unwrap();
        assert_eq!(req.request_metadata.kms_key_arn, None);
        let resp: KeyMetadataResponse = serde_json::from_value(json!({
            "keySpec": "AES_256",
            "keyUsage": ["ENCRYPT", "DECRYPT"],
            "keyStatus": "ENABLED"
        }))
        .unwrap();
        assert!(resp.usable_by_kms());
        let disabled = KeyMetadataResponse {
            key_status: KeyStatus::Disabled,
            ..resp.clone()
        };
        assert!(!disabled.usable_by_kms());

        let req: HealthRequest = serde_json::from_value(json!({
            "requestMetadata": {
                "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
                "kmsOperation": "CreateCustomKeyStore"
            }
        }))
        .unwrap();
        assert_eq!(req.request_metadata.aws_principal_arn, None);
        let mut health: HealthResponse = serde_json::from_value(json!({
            "xksProxyFleetSize": 2,
            "xksProxyVendor": "Acme Corp",
            "xksProxyModel": "Acme XKS Proxy 1.0",
            "ekmVendor": "Thales Group",
            "ekmFleetDetails": [
                {"id": "hsm-id-1", "model": "Luna 5.0", "healthStatus": "DEGRADED"},
                {"id": "hsm-id-2", "model": "Luna 5.1", "healthStatus": "ACTIVE"}
            ]
        }))
        .unwrap();
        assert_eq!(health.problem(), None);
        assert!(!health.all_unavailable());
        assert_eq!(health.connection_error_code(), None);
        for ekm in &mut health.ekm_fleet_details {
            ekm.health_status = EkmHealthStatus::Unavailable;
        }
        assert_eq!(
            health.connection_error_code(),
            Some("XKS_PROXY_NOT_REACHABLE")
        );
        health.ekm_fleet_details.clear();
        assert!(health.problem().is_some());
    }

    #[test]
    fn required_fields_and_base64_are_enforced() {
        // No kmsRequestId.
        assert!(serde_json::from_value::<HealthRequest>(
            json!({"requestMetadata": {"kmsOperation": "KmsHealthCheck"}})
        )
        .is_err());
        // URL-safe Base64 is not standard Base64.
        let mut req = spec_encrypt_request();
        req["plaintext"] = json!("-_-_");
        assert!(serde_json::from_value::<EncryptRequest>(req).is_err());
        // Unknown (future) metadata fields are accepted.
        let mut req = spec_encrypt_request();
        req["requestMetadata"]["kmsRecipientAttestationImageSha384"] = json!("ab");
        assert!(serde_json::from_value::<EncryptRequest>(req).is_ok());
    }

    #[test]
    fn error_bodies_and_names() {
        let body = ErrorBody::new(ErrorName::InvalidCiphertext, "bad tag\n\u{e9}");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"errorName": "InvalidCiphertextException", "errorMessage": "bad tag??"})
        );
        let long = ErrorBody::new(ErrorName::Internal, &"x".repeat(600));
        assert_eq!(long.error_message.map(|m| m.len()), Some(511));
        let bare: ErrorBody =
            serde_json::from_value(json!({"errorName": "ThrottlingException"})).unwrap();
        assert_eq!(
            ErrorName::parse(&bare.error_name),
            Some(ErrorName::Throttling)
        );
        assert_eq!(ErrorName::parse("NoSuchException"), None);
        for name in ErrorName::ALL {
            assert_eq!(ErrorName::parse(name.as_str()), Some(name));
        }
        assert_eq!(ErrorName::AuthenticationFailed.status(), 401);
        assert_eq!(ErrorName::InvalidUriPath.status(), 404);
        assert_eq!(ErrorName::DependencyTimeout.status(), 503);
    }

    #[test]
    fn recommended_aad_has_both_lengths() {
        assert_eq!(gcm_aad(b"", b"").unwrap(), [0, 0, 0]);
        assert_eq!(
            gcm_aad(b"ab", b"v1").unwrap(),
            [0, 2, b'a', b'b', 2, b'v', b'1']
        );
        // Metadata moved into the AAD no longer verifies.
        assert_ne!(gcm_aad(b"v1", b""), gcm_aad(b"", b"v1"));
        assert!(gcm_aad(&[0; 65536], b"").is_none());
        assert!(gcm_aad(b"", &[0; 256]).is_none());
    }

    #[test]
    fn identifiers() {
        assert!(is_valid_external_key_id(
            "b42c7fbf-de61-441c-ae24-123456789012"
        ));
        assert!(is_valid_external_key_id("a.b_c-D9"));
        assert!(is_valid_external_key_id(&"k".repeat(128)));
        assert!(!is_valid_external_key_id(""));
        assert!(!is_valid_external_key_id(&"k".repeat(129)));
        assert!(!is_valid_external_key_id("a/b"));
        assert!(!is_valid_external_key_id("a b"));
        assert!(is_valid_uri_path("/kms/xks/v1"));
        assert!(is_valid_uri_path("/example/prefix/kms/xks/v1"));
        assert!(is_valid_uri_path(
            "/keystores/4a0d79d6-1d1b-49fd-9dbe-799cb9c0fb3f/kms/xks/v1"
        ));
        assert!(!is_valid_uri_path("/example/prefix"));
        assert!(!is_valid_uri_path("/ex.ample/kms/xks/v1"));
        assert!(!is_valid_uri_path(&format!(
            "/{}{URI_PATH_SUFFIX}",
            "a".repeat(120)
        )));
    }
}

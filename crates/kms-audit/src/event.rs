//! [`AuditEvent`]: one KMS API call in CloudTrail's record shape (field names as CloudTrail
//! writes them), plus the chain fields `prevHash` and `hash`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::redact::{redact_request, redact_response};

/// CloudTrail record format version written in `eventVersion`.
pub const EVENT_VERSION: &str = "1.08";
/// `eventSource` of every KMS event.
pub const EVENT_SOURCE: &str = "kms.amazonaws.com";
/// `eventType` of an API call.
pub const EVENT_TYPE: &str = "AwsApiCall";
/// `eventCategory` of a management event.
pub const EVENT_CATEGORY: &str = "Management";
/// `resources[].type` of a KMS key.
pub const KEY_RESOURCE_TYPE: &str = "AWS::KMS::Key";

/// One audited KMS API call.
///
/// `requestParameters` and `responseElements` are built by the caller and must never hold
/// plaintexts, data keys, ciphertexts, messages, MACs, signatures or any other secret: use
/// [`AuditEvent::with_request`] / [`AuditEvent::with_response`] (which apply
/// [`redact_request`] / [`redact_response`]) rather than setting them from raw request bodies.
/// Numbers anywhere in the event must be integers.
///
/// `prevHash` and `hash` are filled in by [`AuditLog::append`](crate::AuditLog::append);
/// whatever the caller puts there is overwritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Always [`EVENT_VERSION`].
    pub event_version: String,
    /// When the request was received, written as RFC 3339 in UTC.
    #[serde(with = "rfc3339")]
    pub event_time: OffsetDateTime,
    /// Always [`EVENT_SOURCE`].
    pub event_source: String,
    /// The KMS operation, e.g. `"Encrypt"`.
    pub event_name: String,
    /// The region that served the request.
    pub aws_region: String,
    /// The caller's IP address.
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    /// The caller's `User-Agent`.
    pub user_agent: String,
    /// The request id returned to the caller.
    #[serde(rename = "requestID")]
    pub request_id: String,
    /// Unique id of this event.
    #[serde(rename = "eventID", with = "uuid_text")]
    pub event_id: Uuid,
    /// Whether the operation leaves keys unchanged (see [`is_read_only`]).
    pub read_only: bool,
    /// Always [`EVENT_TYPE`].
    pub event_type: String,
    /// Always `true` for KMS API calls.
    pub management_event: bool,
    /// Always [`EVENT_CATEGORY`].
    pub event_category: String,
    /// The account that owns the resources.
    pub recipient_account_id: String,
    /// Who made the call; `None` when the request never authenticated (e.g. a bad signature
    /// from an unknown access key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_identity: Option<UserIdentity>,
    /// Non-secret request members (written as `null` when absent).
    #[serde(default)]
    pub request_parameters: Option<Value>,
    /// Non-secret response members (written as `null` when absent, as for failed calls).
    #[serde(default)]
    pub response_elements: Option<Value>,
    /// The error code of a failed or denied call, e.g. `"AccessDeniedException"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error message returned with `error_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Keys the call touched.
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// Set when another region forwarded the call here (the caller's signature was verified
    /// again in this region): `{"forwardedBy": {"region": ..., "node": ...}}`. Absent otherwise,
    /// so events written before it existed hash as they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_event_data: Option<Value>,
    /// The previous event's `hash` (or [`GENESIS_HASH`](crate::GENESIS_HASH)).
    #[serde(default)]
    pub prev_hash: String,
    /// This event's chain hash (see [`chain_hash`](crate::chain_hash)).
    #[serde(default)]
    pub hash: String,
}

/// CloudTrail's `userIdentity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// The kind of principal.
    #[serde(rename = "type")]
    pub identity_type: IdentityType,
    /// The principal's unique id.
    pub principal_id: String,
    /// The principal's ARN.
    pub arn: String,
    /// The principal's account.
    pub account_id: String,
    /// The access key that signed the request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
}

/// `userIdentity.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentityType {
    /// An IAM user.
    #[serde(rename = "IAMUser")]
    IamUser,
    /// A role session.
    AssumedRole,
    /// The account's root user.
    Root,
}

/// One entry of `resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The account that owns it.
    #[serde(rename = "accountId")]
    pub account_id: String,
    /// [`KEY_RESOURCE_TYPE`] for keys.
    #[serde(rename = "type")]
    pub resource_type: String,
}

impl Resource {
    /// A KMS key resource.
    pub fn key(arn: impl Into<String>, account_id: impl Into<String>) -> Resource {
        Resource {
            arn: arn.into(),
            account_id: account_id.into(),
            resource_type: KEY_RESOURCE_TYPE.to_owned(),
        }
    }
}

impl AuditEvent {
    /// An event for `event_name` received now (whole seconds, as CloudTrail writes them), with
    /// fresh `eventID` and `requestID`, `readOnly` from [`is_read_only`], and everything else
    /// empty.
    pub fn new(
        event_name: impl Into<String>,
        aws_region: impl Into<String>,
        recipient_account_id: impl Into<String>,
    ) -> AuditEvent {
        let event_name = event_name.into();
        let now = OffsetDateTime::now_utc();
        AuditEvent {
            event_version: EVENT_VERSION.to_owned(),
            event_time: now.replace_nanosecond(0).unwrap_or(now),
            event_source: EVENT_SOURCE.to_owned(),
            read_only: is_read_only(&event_name),
            event_name,
            aws_region: aws_region.into(),
            source_ip_address: String::new(),
            user_agent: String::new(),
            request_id: Uuid::new_v4().to_string(),
            event_id: Uuid::new_v4(),
            event_type: EVENT_TYPE.to_owned(),
            management_event: true,
            event_category: EVENT_CATEGORY.to_owned(),
            recipient_account_id: recipient_account_id.into(),
            user_identity: None,
            request_parameters: None,
            response_elements: None,
            error_code: None,
            error_message: None,
            resources: Vec::new(),
            additional_event_data: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// Sets `eventTime`.
    pub fn with_time(mut self, time: OffsetDateTime) -> AuditEvent {
        self.event_time = time;
        self
    }

    /// Sets `userIdentity`.
    pub fn with_identity(mut self, identity: UserIdentity) -> AuditEvent {
        self.user_identity = Some(identity);
        self
    }

    /// Sets `sourceIPAddress` and `userAgent`.
    pub fn with_source(
        mut self,
        ip: impl Into<String>,
        user_agent: impl Into<String>,
    ) -> AuditEvent {
        self.source_ip_address = ip.into();
        self.user_agent = user_agent.into();
        self
    }

    /// Sets `requestID`.
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> AuditEvent {
        self.request_id = request_id.into();
        self
    }

    /// Sets `requestParameters` to [`redact_request`] of the raw request body.
    pub fn with_request(mut self, request: &Value) -> AuditEvent {
        self.request_parameters = Some(redact_request(&self.event_name, request));
        self
    }

    /// Sets `responseElements` to [`redact_response`] of the raw response body.
    pub fn with_response(mut self, response: &Value) -> AuditEvent {
        self.response_elements = Some(redact_response(&self.event_name, response));
        self
    }

    /// Sets `errorCode` and `errorMessage`.
    pub fn with_error(mut self, code: impl Into<String>, message: impl Into<String>) -> AuditEvent {
        self.error_code = Some(code.into());
        self.error_message = Some(message.into());
        self
    }

    /// Notes that region `region` (node `node`, if known) forwarded the call here.
    pub fn with_forwarded_by(mut self, region: &str, node: Option<u64>) -> AuditEvent {
        self.additional_event_data = Some(serde_json::json!({
            "forwardedBy": { "region": region, "node": node }
        }));
        self
    }

    /// Adds a key to `resources`.
    pub fn with_key(mut self, arn: impl Into<String>, account_id: impl Into<String>) -> AuditEvent {
        self.resources.push(Resource::key(arn, account_id));
        self
    }
}

/// Whether CloudTrail marks `operation` `readOnly`: operations that leave keys, aliases, grants
/// and policies unchanged. That includes the cryptographic operations (`Encrypt`, `Decrypt`,
/// `Sign`, `GenerateDataKey`, ...), as in AWS KMS's own CloudTrail records.
pub fn is_read_only(operation: &str) -> bool {
    const CRYPTO: &[&str] = &[
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
        "DeriveSharedSecret",
    ];
    ["Describe", "Get", "List"]
        .iter()
        .any(|p| operation.starts_with(p))
        || CRYPTO.contains(&operation)
}

/// `eventTime` as RFC 3339, normalised to UTC (`...Z`).
mod rfc3339 {
    use serde::{de, Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::{OffsetDateTime, UtcOffset};

    pub(super) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = t
            .to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(de::Error::custom)
    }
}

/// `eventID` as a hyphenated lowercase UUID (the workspace builds `uuid` without `serde`).
mod uuid_text {
    use serde::{de, Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    pub(super) fn serialize<S: Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&id.hyphenated())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let text = String::deserialize(d)?;
        Uuid::parse_str(&text).map_err(de::Error::custom)
    }
}

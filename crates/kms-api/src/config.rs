//! How the front door is configured ([`ApiConfig`]: accepted regions, credentials, body limit,
//! clock) and the hook it reports answered requests to ([`RequestObserver`]). Both the KMS
//! router and the STS branch read it.

use std::fmt;
use std::sync::Arc;

use kms_types::{KmsError, KmsRequest, Operation};
use serde_json::Value;
use time::OffsetDateTime;

use crate::forwarded::ForwardedBy;
use crate::sigv4::{CredentialStore, Principal};

/// The default [`ApiConfig::max_body_bytes`]: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The server's clock, injected so tests can pin time.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// How the front door authenticates and limits requests.
#[derive(Clone)]
pub struct ApiConfig {
    /// Regions a credential scope may name; requests scoped elsewhere are refused.
    pub accepted_regions: Vec<String>,
    /// The access keys allowed to call, and their secrets.
    pub credentials: Arc<dyn CredentialStore + Send + Sync>,
    /// The largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// The clock SigV4 checks `X-Amz-Date` against.
    pub clock: Clock,
    /// Told about every KMS request once it is answered (the audit trail).
    pub observer: Option<Arc<dyn RequestObserver>>,
}

/// What the front door knows about one answered KMS request, for an audit trail. Responses may
/// hold plaintext and key material: an observer must filter what it keeps.
#[derive(Debug, Clone)]
pub struct RequestRecord<'a> {
    /// The operation, if `X-Amz-Target` named one.
    pub operation: Option<Operation>,
    /// Who signed it, if the signature was valid.
    pub principal: Option<&'a Principal>,
    /// Who that signer is, as the service resolved it (once, for the call and this record).
    pub identity: Option<Identity<'a>>,
    /// The request id.
    pub request_id: &'a str,
    /// The caller's address.
    pub source_ip: Option<std::net::IpAddr>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// What [`RequestObserver::request_params`] kept of the request, if it parsed.
    pub request: Option<&'a Value>,
    /// The JSON response of a successful call.
    pub response: Option<&'a Value>,
    /// The error of a failed one.
    pub error: Option<&'a KmsError>,
    /// The region (and node) that forwarded the request here, if it was forwarded; then
    /// `source_ip` is that node's address.
    pub forwarded_by: Option<&'a ForwardedBy>,
    /// From the request's arrival to its answer being decided.
    pub elapsed: std::time::Duration,
}

/// Receives a [`RequestRecord`] for every KMS request (not health checks).
pub trait RequestObserver: Send + Sync {
    /// What of the parsed request the observer keeps for [`RequestRecord::request`], taken
    /// before the call consumes the request (the default keeps every non-binary member).
    fn request_params(&self, request: &KmsRequest) -> Value {
        request.non_binary_members()
    }

    /// Called once per request after its answer is decided; must not block for long.
    fn observe(&self, record: RequestRecord<'_>);
}

/// What an audit trail records of who called (CloudTrail's `userIdentity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// Root user, IAM user or assumed role.
    pub kind: IdentityKind,
    /// IAM's unique id of the principal.
    pub principal_id: &'a str,
    /// The principal's ARN.
    pub arn: &'a str,
    /// Its account.
    pub account_id: &'a str,
    /// The access key that signed.
    pub access_key_id: &'a str,
}

/// The kinds of [`Identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// The account's root user.
    Root,
    /// An IAM user.
    IamUser,
    /// A role session (STS temporary credentials).
    AssumedRole,
}

impl ApiConfig {
    /// A configuration with the default body limit and the system clock.
    pub fn new(
        accepted_regions: Vec<String>,
        credentials: Arc<dyn CredentialStore + Send + Sync>,
    ) -> Self {
        ApiConfig {
            accepted_regions,
            credentials,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            clock: Arc::new(OffsetDateTime::now_utc),
            observer: None,
        }
    }

    /// Replaces the body limit.
    pub fn with_max_body_bytes(mut self, max_body_bytes: usize) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }

    /// Sets the observer told about every answered request.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

impl fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiConfig")
            .field("accepted_regions", &self.accepted_regions)
            .field("credentials", &"<redacted>")
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

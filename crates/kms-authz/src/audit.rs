//! The node's audit trail: every KMS request this node's front door answers, allowed or
//! denied, becomes one CloudTrail-shaped event in the node's hash-chained log (`kms-audit`),
//! with the principal (the one the service resolved for the call; it rides in the request
//! record), operation, key, outcome, source address and request id. Request and response
//! members pass kms-audit's allow-list, so plaintexts, ciphertexts, data keys and signatures
//! never reach it. A request signed for another region is recorded by the node that
//! received it, and again by the node of the region that executed it (which verified the
//! caller's signature itself), with the forwarding region in `additionalEventData`. Appends
//! are queued to the log's writer thread and written at once; the log is fsynced (and its
//! head anchor renewed) every [`FLUSH_PERIOD`], not per event: requests never wait for the
//! audit log, and a crash can lose at most the events of the last period.
//! (Fsyncing every batch halved Encrypt throughput on two cores.)

use crate::{setup_error, SetupError};
use kms_api::{IdentityKind, RequestObserver, RequestRecord};
use kms_audit::{AuditEvent, IdentityType, SharedAuditLog, UserIdentity};
use kms_types::{key_arn, KmsRequest};
use serde_json::Value;
use std::future::Future;
use std::path::Path;

/// Events waiting for the writer thread before callers queue behind it.
const QUEUE: usize = 65_536;
/// How often the log is fsynced and its anchor renewed.
pub const FLUSH_PERIOD: std::time::Duration = std::time::Duration::from_millis(200);

/// The observer that writes the trail.
pub struct AuditTrail {
    log: SharedAuditLog,
    region: String,
    account: String,
}

impl AuditTrail {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path, region: &str, account: &str) -> Result<AuditTrail, SetupError> {
        let log = kms_audit::AuditLog::open_with(path, kms_audit::Durability::Batched)
            .map_err(|e| setup_error!("opening the audit log {}: {e}", path.display()))?;
        let report = log.open_report();
        if report.truncated_bytes > 0 {
            tracing::warn!(
                bytes = report.truncated_bytes,
                "the audit log ended in a torn line (a crash while writing); it was cut off"
            );
        }
        let log = SharedAuditLog::spawn(log, QUEUE)
            .map_err(|e| setup_error!("starting the audit writer: {e}"))?;
        let flusher = log.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(FLUSH_PERIOD);
            loop {
                ticker.tick().await;
                if let Err(e) = flusher.flush().await {
                    tracing::error!(error = %e, "flushing the audit log");
                }
            }
        });
        Ok(AuditTrail {
            log,
            region: region.to_string(),
            account: account.to_string(),
        })
    }

    /// The key a request was about: the answer's key ARN, else the request's key id or ARN.
    fn key_arn(&self, region: &str, record: &RequestRecord<'_>) -> Option<String> {
        let from_response = record.response.and_then(|r| {
            r.get("KeyMetadata")
                .and_then(|m| m.get("Arn"))
                .or_else(|| r.get("KeyId"))
                .and_then(Value::as_str)
                .filter(|id| id.starts_with("arn:"))
        });
        if let Some(arn) = from_response {
            return Some(arn.to_string());
        }
        let requested = record
            .request
            .and_then(|r| r.get("KeyId").or_else(|| r.get("TargetKeyId")))
            .and_then(Value::as_str)?;
        if requested.starts_with("arn:") && requested.contains(":key/") {
            Some(requested.to_string())
        } else if kms_types::is_valid_key_id(requested) {
            Some(key_arn(region, &self.account, requested))
        } else {
            None
        }
    }
}

impl RequestObserver for AuditTrail {
    fn request_params(&self, request: &KmsRequest) -> Value {
        // Only the allow-listed members of the typed request (binary members, the plaintexts
        // and ciphertexts, are never even copied).
        kms_audit::redact_request(request.operation().name(), &request.non_binary_members())
    }

    fn observe(&self, record: RequestRecord<'_>) {
        let name = record.operation.map_or("UnknownOperation", |op| op.name());
        let region = record
            .principal
            .map_or(self.region.clone(), |p| p.region.clone());
        let mut event = AuditEvent::new(name, region.clone(), self.account.clone())
            .with_request_id(record.request_id)
            .with_source(
                record
                    .source_ip
                    .map(|ip| ip.to_string())
                    .unwrap_or_default(),
                record.user_agent.unwrap_or_default(),
            );
        if let Some(identity) = &record.identity {
            event = event.with_identity(UserIdentity {
                identity_type: match identity.kind {
                    IdentityKind::Root => IdentityType::Root,
                    IdentityKind::IamUser => IdentityType::IamUser,
                    IdentityKind::AssumedRole => IdentityType::AssumedRole,
                },
                principal_id: identity.principal_id.to_string(),
                arn: identity.arn.to_string(),
                account_id: identity.account_id.to_string(),
                access_key_id: Some(identity.access_key_id.to_string()),
            });
        }
        if let Some(request) = record.request {
            event = event.with_request(request);
        }
        if let Some(response) = record.response {
            event = event.with_response(response);
        }
        if let Some(error) = record.error {
            event = event.with_error(error.aws_code(), error.message());
        }
        if let Some(from) = record.forwarded_by {
            event = event.with_forwarded_by(&from.region, from.node);
        }
        if let Some(arn) = self.key_arn(&region, &record) {
            event = event.with_key(arn, self.account.clone());
        }
        // The append is queued when first polled: poll it once here and let it go (a queued
        // event is written even if nobody waits). Only if the queue is full does a task wait
        // for room, so the request never does.
        let mut pending = self.log.append(event);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(Err(e)) = std::pin::Pin::new(&mut pending).poll(&mut context)
        {
            tracing::error!(error = %e, "writing the audit log");
            return;
        }
        if !pending.is_queued() {
            tokio::spawn(async move {
                if let Err(e) = pending.await {
                    tracing::error!(error = %e, "writing the audit log");
                }
            });
        }
    }
}

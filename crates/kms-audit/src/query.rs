//! [`query`]: scan a log for events matching a [`Filter`].
//!
//! Queries read the file in order and do not check the chain (use [`verify`](crate::verify)
//! for that). A torn last line (being written right now, or left by a crash) is skipped.

use std::fs::File;
use std::path::Path;

use serde_json::Value;
use time::OffsetDateTime;

use crate::error::{AuditError, Result};
use crate::event::AuditEvent;
use crate::log::Lines;

/// Which events to return. The default matches everything; set criteria are ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `eventName` equals this.
    pub event_name: Option<String>,
    /// A key id or ARN (or alias name or alias ARN) the event concerns: matched against
    /// `resources[].ARN` and `requestParameters.{KeyId, SourceKeyId, DestinationKeyId,
    /// TargetKeyId}` (also their camelCase spellings). A key id matches an ARN ending in
    /// `:key/<id>`, an alias name (`alias/x`) an ARN ending in `:alias/x`.
    pub key: Option<String>,
    /// `userIdentity.arn` equals this.
    pub principal_arn: Option<String>,
    /// Constraint on `errorCode`.
    pub error: ErrorFilter,
    /// `eventTime >= since`.
    pub since: Option<OffsetDateTime>,
    /// `eventTime < until`.
    pub until: Option<OffsetDateTime>,
    /// Return at most this many events (the first ones in log order).
    pub limit: Option<usize>,
}

/// A constraint on `errorCode`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ErrorFilter {
    /// Any event.
    #[default]
    Any,
    /// Only successful calls (no `errorCode`).
    Succeeded,
    /// Only failed or denied calls (any `errorCode`).
    Failed,
    /// Only calls that failed with this `errorCode`.
    Code(String),
}

impl Filter {
    /// A filter that matches everything.
    pub fn new() -> Filter {
        Filter::default()
    }

    /// Only events for operation `name`.
    pub fn event_name(mut self, name: impl Into<String>) -> Filter {
        self.event_name = Some(name.into());
        self
    }

    /// Only events concerning `key` (id, ARN, alias name or alias ARN).
    pub fn key(mut self, key: impl Into<String>) -> Filter {
        self.key = Some(key.into());
        self
    }

    /// Only events by the principal with this ARN.
    pub fn principal_arn(mut self, arn: impl Into<String>) -> Filter {
        self.principal_arn = Some(arn.into());
        self
    }

    /// Only events matching `error`.
    pub fn error(mut self, error: ErrorFilter) -> Filter {
        self.error = error;
        self
    }

    /// Only events at or after `t`.
    pub fn since(mut self, t: OffsetDateTime) -> Filter {
        self.since = Some(t);
        self
    }

    /// Only events before `t`.
    pub fn until(mut self, t: OffsetDateTime) -> Filter {
        self.until = Some(t);
        self
    }

    /// At most `n` events.
    pub fn limit(mut self, n: usize) -> Filter {
        self.limit = Some(n);
        self
    }

    /// Whether `event` passes every criterion (ignores `limit`).
    pub fn matches(&self, event: &AuditEvent) -> bool {
        if self
            .event_name
            .as_ref()
            .is_some_and(|n| *n != event.event_name)
        {
            return false;
        }
        if let Some(arn) = &self.principal_arn {
            if event.user_identity.as_ref().map(|u| &u.arn) != Some(arn) {
                return false;
            }
        }
        let error_ok = match &self.error {
            ErrorFilter::Any => true,
            ErrorFilter::Succeeded => event.error_code.is_none(),
            ErrorFilter::Failed => event.error_code.is_some(),
            ErrorFilter::Code(code) => event.error_code.as_ref() == Some(code),
        };
        if !error_ok {
            return false;
        }
        if self.since.is_some_and(|t| event.event_time < t)
            || self.until.is_some_and(|t| event.event_time >= t)
        {
            return false;
        }
        match &self.key {
            None => true,
            Some(key) => event_keys(event).any(|k| same_key(k, key)),
        }
    }
}

/// Every key reference in `event`.
fn event_keys(event: &AuditEvent) -> impl Iterator<Item = &str> {
    const MEMBERS: &[&str] = &[
        "KeyId",
        "SourceKeyId",
        "DestinationKeyId",
        "TargetKeyId",
        "keyId",
        "sourceKeyId",
        "destinationKeyId",
        "targetKeyId",
    ];
    let params = event.request_parameters.as_ref().and_then(Value::as_object);
    event.resources.iter().map(|r| r.arn.as_str()).chain(
        MEMBERS
            .iter()
            .filter_map(move |m| params?.get(*m)?.as_str()),
    )
}

/// Whether two key references name the same key: equal, or one is an ARN ending in the other
/// (`...:key/<id>` for an id, `...:<resource>` for `key/<id>` or `alias/<name>`).
fn same_key(a: &str, b: &str) -> bool {
    fn arn_ends_with(arn: &str, id: &str) -> bool {
        arn.starts_with("arn:")
            && !id.is_empty()
            && arn
                .strip_suffix(id)
                .is_some_and(|rest| rest.ends_with(':') || rest.ends_with(":key/"))
    }
    a == b || arn_ends_with(a, b) || arn_ends_with(b, a)
}

/// The events in the log at `path` that match `filter`, in log order, up to `filter.limit`.
///
/// [`AuditError::Corrupt`] if a complete line is not a valid event.
pub fn query(path: impl AsRef<Path>, filter: &Filter) -> Result<Vec<AuditEvent>> {
    let mut out = Vec::new();
    if filter.limit == Some(0) {
        return Ok(out);
    }
    let mut lines = Lines::new(File::open(path.as_ref())?);
    while let Some(line) = lines.next_line()? {
        if !line.complete {
            break;
        }
        let event: AuditEvent =
            serde_json::from_slice(&lines.buf).map_err(|e| AuditError::Corrupt {
                line: line.number,
                reason: e.to_string(),
            })?;
        if filter.matches(&event) {
            out.push(event);
            if filter.limit.is_some_and(|n| out.len() >= n) {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn key_references() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(same_key(arn, arn));
        assert!(same_key(arn, "1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(same_key("1234abcd-12ab-34cd-56ef-1234567890ab", arn));
        assert!(!same_key(arn, "cd-56ef-1234567890ab"));
        assert!(!same_key(arn, "other"));
        let alias = "arn:aws:kms:us-east-1:111122223333:alias/app";
        assert!(same_key(alias, "alias/app"));
        assert!(!same_key(alias, "app"));
        assert!(!same_key("key/x", "x"));
    }
}

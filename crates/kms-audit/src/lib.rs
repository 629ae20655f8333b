//! An append-only, hash-chained audit trail of KMS API calls in CloudTrail's event shape.
//!
//! Every request the server handles, allowed or denied, becomes one [`AuditEvent`]. An
//! [`AuditLog`] appends events to a JSON-Lines file and chains them; [`verify`] re-checks the
//! chain, [`query`] filters events, and [`SharedAuditLog`] lets many async tasks append through
//! one writer thread.
//!
//! # File format
//!
//! * `<path>`: UTF-8 JSON Lines, one event per line, each line terminated by `\n`, written in
//!   canonical form (compact, object keys sorted; see [`canonical_json`]). Files are created
//!   with mode `0600`.
//! * Each event carries `prevHash` and `hash`, lowercase hex SHA-256:
//!   `hash = SHA-256(prevHash as 32 raw bytes || canonical JSON of the event without "hash")`.
//!   The first event's `prevHash` is [`GENESIS_HASH`] (64 zeros); a log's identity is its file,
//!   not a derived genesis value.
//! * `<path>.head` (the *anchor*): `{"count":N,"hash":"<hash of event N>"}`, replaced atomically
//!   (write, fsync, rename) after every fsync of the log.
//!
//! Numbers inside events must be integers: `serde_json` does not round-trip every float exactly
//! by default, and a hash must survive parse → re-serialise unchanged.
//!
//! # Threat model
//!
//! The chain is keyless: it provides tamper *evidence* against anyone who edits the file
//! without recomputing the chain, and against accidental corruption. [`verify`] reports the first
//! line that is malformed, whose `prevHash` is not its predecessor's `hash` (deleted, inserted
//! or reordered lines) or whose `hash` does not match its content (edited lines).
//!
//! * Deleting events from the *end* leaves a valid shorter chain. The `.head` anchor catches
//!   that, as long as the attacker did not also rewrite or delete the anchor. An anchor that
//!   is *behind* the log is normal after a crash between the log's fsync and the anchor's
//!   rename, and is not an error.
//! * An attacker with write access to both files can rewrite the whole chain from any point.
//!   Against that, copy the head hash somewhere they cannot write (another host, the Raft log,
//!   an operator's ticket) and check it with [`verify`]'s `head_hash`/`events`.
//! * The chain protects the *content* of each event, not its byte encoding: re-encodings that
//!   do not change content (object key order, whitespace, spelling of `\u` escapes) still
//!   verify. Rewriting a line with its keys reordered is harmless by design.
//!
//! What goes *into* an event is the caller's responsibility: `requestParameters` and
//! `responseElements` must never contain plaintexts, data keys, ciphertexts, signatures, MACs
//! or other secrets. Build them with [`redact_request`] and [`redact_response`], which keep an
//! allow-list of non-secret members.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod canonical;
mod error;
mod event;
mod log;
mod query;
mod redact;
mod shared;
mod verify;

#[cfg(test)]
mod tests;

pub use canonical::{canonical_json, chain_hash, GENESIS_HASH};
pub use error::{AuditError, Result};
pub use event::{
    is_read_only, AuditEvent, IdentityType, Resource, UserIdentity, EVENT_CATEGORY, EVENT_SOURCE,
    EVENT_TYPE, EVENT_VERSION, KEY_RESOURCE_TYPE,
};
pub use log::{anchor_path, Anchor, AuditLog, Durability, OpenReport};
pub use query::{query, ErrorFilter, Filter};
pub use redact::{redact_request, redact_response, MAX_POLICY_BYTES};
pub use shared::{Pending, SharedAuditLog};
pub use verify::{verify, AnchorStatus, FailureKind, VerifyFailure, VerifyReport};

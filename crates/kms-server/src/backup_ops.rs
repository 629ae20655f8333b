//! Backup and restore on the Raft port, for the operator certificate (and the region's own
//! nodes): `GET /raft/backup` answers a [`BackupFile`] of the region read after a linearizable
//! read barrier, so it holds every write acknowledged before the request; `POST /raft/restore`
//! takes one and restores it into this region, which must be empty, in parts through the log.
//!
//! The region keeps serving meanwhile. A restore checks, before anything is written, that the
//! file is whole, that it is of this region, and that this node's root key opens the backup's
//! key material (a backup is useless without the root of trust of the region that wrote it).
//! After the last part it commits `ResyncWith` for the linked regions: each sends its
//! multi-region keys shared with this region again (kms-core's `region_protocol`), so what
//! reached the lost region after the backup comes back from them.

use crate::backup_file::BackupFile;
use crate::seal_state::SealState;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State as AxumState};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kms_core::{Command, State};
use kms_crypto::{Keyring, WrapContext};
use kms_raft::RegionRaft;
use kms_types::Clock;
use std::sync::Arc;

/// The largest backup `POST /raft/restore` takes.
pub const MAX_RESTORE_BYTES: usize = 1024 * 1024 * 1024;
/// About how large one restore part's JSON may be: one Raft entry, far below the Raft
/// endpoints' body limits even beside a batch of other entries.
const PART_BYTES: usize = 1024 * 1024;
/// How often the resync after a restore is tried (a second apart) before the restore reports it.
const RESYNC_ATTEMPTS: u32 = 5;

/// What the two endpoints need.
#[derive(Clone)]
pub(crate) struct BackupRoutes {
    pub region: String,
    /// The linked regions, asked after a restore to send their multi-region keys again.
    pub peers: Vec<String>,
    pub raft: Arc<RegionRaft>,
    pub seal: Arc<SealState>,
    pub clock: Clock,
}

/// `GET /raft/backup` and `POST /raft/restore`.
pub(crate) fn router(routes: BackupRoutes) -> Router {
    Router::new()
        .route("/raft/backup", get(backup))
        .route(
            "/raft/restore",
            post(restore).layer(DefaultBodyLimit::max(MAX_RESTORE_BYTES)),
        )
        .with_state(routes)
}

fn refusal(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    tracing::warn!(%status, message, "backup/restore refused");
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

async fn backup(AxumState(routes): AxumState<BackupRoutes>) -> Response {
    if let Err(e) = routes.raft.linearizable_read().await {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no linearizable read (is there a leader?): {e}"),
        );
    }
    // Clone under the read lock, encode outside it: applying entries waits only for the clone.
    let (index, state) = routes
        .raft
        .reader()
        .read_at_index(|index, state| (index, state.clone()));
    let created_ms = routes.clock.now_ms();
    let file = BackupFile::of_state(
        &state,
        &routes.region,
        routes.raft.node_id(),
        index,
        created_ms,
    )
    .and_then(|file| Ok((file.to_bytes()?, file.header)));
    match file {
        Ok((bytes, header)) => {
            tracing::info!(
                applied_index = ?header.applied_index,
                keys = header.summary.keys,
                bytes = bytes.len(),
                "backup read"
            );
            ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
        }
        Err(e) => refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

/// Why this node's root key cannot open the backup's material, if it cannot: the backup's
/// root-key generations are opened under this root key, then the first present material.
fn root_key_mismatch(seal: &SealState, state: &State) -> Option<String> {
    let Some(root) = seal.root_key() else {
        return Some("this node is sealed: unseal it before restoring".into());
    };
    let mismatch = |what: String| {
        format!(
            "this region's root key does not open the backup's {what}: restore into a region \
             with the root key of the region that wrote the backup"
        )
    };
    let mut ring = Keyring::new(root.clone());
    for (generation, sealed) in &state.root_keys().sealed {
        match ring.open_generation(*generation, sealed) {
            Ok(key) => ring.insert(*generation, key),
            Err(_) => return Some(mismatch(format!("root-key generation {generation}"))),
        }
    }
    let material = state.all_keys().find_map(|key| {
        key.materials
            .iter()
            .find(|m| m.is_present() && !m.wrapped.is_empty())
            .map(|m| (key.key_id.clone(), m))
    });
    let (key_id, material) = material?;
    ring.unwrap(
        &material.wrapped,
        &WrapContext::material(&key_id, &material.material_id),
    )
    .err()
    .map(|_| mismatch(format!("key material (key {key_id})")))
}

async fn restore(AxumState(routes): AxumState<BackupRoutes>, body: Bytes) -> Response {
    let (file, state) = match BackupFile::parse(&body) {
        Ok(parsed) => parsed,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, format!("{e:#}")),
    };
    let header = &file.header;
    if header.region != routes.region {
        return refusal(
            StatusCode::CONFLICT,
            format!(
                "the backup is of region {}, this node is of {}",
                header.region, routes.region
            ),
        );
    }
    if let Some(why) = root_key_mismatch(&routes.seal, &state) {
        return refusal(StatusCode::CONFLICT, why);
    }
    let parts = state.split_for_restore(PART_BYTES);
    let count = u32::try_from(parts.len()).unwrap_or(u32::MAX);
    let restore_ms = routes.clock.now_ms();
    for (part, image) in parts.into_iter().enumerate() {
        let command = Command::Restore {
            backup_id: header.state_sha256.clone(),
            part: u32::try_from(part).unwrap_or(u32::MAX),
            parts: count,
            image,
            restore_ms,
        };
        if let Err(e) = routes.raft.write(command).await {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return refusal(
                status,
                format!("restore part {part} of {count}: {}: {e}", e.aws_code()),
            );
        }
    }
    // What reached this region after the backup is gone here but counted as delivered by
    // the peers: ask each of them to send its multi-region keys again.
    if !routes.peers.is_empty() {
        let resync = Command::ResyncWith {
            regions: routes.peers.clone(),
        };
        let mut attempt = 0;
        while let Err(e) = routes.raft.write(resync.clone()).await {
            attempt += 1;
            if attempt == RESYNC_ATTEMPTS {
                let status = StatusCode::from_u16(e.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return refusal(
                    status,
                    format!(
                        "restored, but asking {} to send their multi-region keys again failed \
                         ({}: {e}): until they do, this region lacks what they sent after the \
                         backup",
                        routes.peers.join(", "),
                        e.aws_code()
                    ),
                );
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
    tracing::info!(
        keys = header.summary.keys,
        parts = count,
        backup_index = ?header.applied_index,
        resync_with = ?routes.peers,
        "restored a backup"
    );
    axum::Json(serde_json::json!({
        "restored": header.summary,
        "parts": count,
        "resync_with": routes.peers,
        "backup_applied_index": header.applied_index,
        "backup_created_ms": header.created_ms,
    }))
    .into_response()
}

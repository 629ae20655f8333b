//! The operator's calls on a node's Raft port: backup and restore (`trent backup create|verify`,
//! `trent restore`, reading and writing [`BackupFile`]s), root-key rotation (`trent operator
//! rotate-root-key`) and membership changes (`trent cluster members|add-node|remove-node|
//! replace-node`, sent on to the leader). It presents the operator certificate (or speaks plain HTTP where the region
//! runs without Raft TLS).

use crate::backup_file::{BackupFile, BackupHeader};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one backup or restore may take.
const TIMEOUT: Duration = Duration::from_secs(600);

/// Which node to ask, and how to prove the caller is the operator.
#[derive(Debug, Clone)]
pub struct RaftTarget {
    /// The node's Raft address, host:port.
    pub node: String,
    /// The node's region (the name its certificate carries).
    pub region: String,
    /// The PKI directory holding ca.pem, operator.pem and operator.key (`trent pki`; `trent
    /// up` keeps it in DATA_DIR/pki). `None`: the Raft port is plain HTTP.
    pub pki: Option<PathBuf>,
}

impl RaftTarget {
    fn client(&self) -> anyhow::Result<(reqwest::Client, &'static str)> {
        let Some(dir) = &self.pki else {
            return Ok((reqwest::Client::builder().no_proxy().build()?, "http"));
        };
        let layout = kms_link::PkiLayout::new(dir);
        let identity = kms_link::LinkIdentity::load(
            &layout.ca_cert(),
            &layout.operator_cert(),
            &layout.operator_key(),
        )
        .with_context(|| format!("loading the operator certificate from {}", dir.display()))?;
        Ok((
            kms_link::client_for_region(&identity, &self.region)?,
            "https",
        ))
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.node)
    }
}

/// Why the node refused, from its JSON answer.
async fn refused(response: reqwest::Response) -> anyhow::Error {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or(body);
    anyhow::anyhow!("the node answered {status}: {message}")
}

/// Reads a backup from `target` and writes it to `out` (a new file, mode 0600), after
/// checking it as [`verify`] does.
pub async fn create(target: &RaftTarget, out: &Path) -> anyhow::Result<BackupHeader> {
    if out.exists() {
        bail!("{} exists; a backup never replaces a file", out.display());
    }
    let (client, scheme) = target.client()?;
    let response = client
        .get(target.url(scheme, "/raft/backup"))
        .timeout(TIMEOUT)
        .send()
        .await
        .with_context(|| format!("asking {} for a backup", target.node))?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let bytes = response.bytes().await.context("reading the backup")?;
    let (file, _) = BackupFile::parse(&bytes).context("the node's backup does not check")?;
    file.write_new(out)?;
    Ok(file.header)
}

/// Checks the backup file at `path` without restoring it (format, version, length, checksum,
/// that its state decodes and holds what its header says).
pub fn verify(path: &Path) -> anyhow::Result<BackupHeader> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (file, _) = BackupFile::parse(&bytes)?;
    Ok(file.header)
}

/// Restores the backup at `from` into `target`'s region (which must be empty); answers the
/// node's summary.
pub async fn restore(target: &RaftTarget, from: &Path) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    // Check here first, so a damaged file is named before anything is sent.
    BackupFile::parse(&bytes)?;
    let (client, scheme) = target.client()?;
    let response = client
        .post(target.url(scheme, "/raft/restore"))
        .timeout(TIMEOUT)
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("sending the backup to {}", target.node))?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let body = response
        .bytes()
        .await
        .context("reading the node's answer")?;
    Ok(serde_json::from_slice(&body)?)
}

/// One line for the operator describing a backup.
pub fn describe(header: &BackupHeader) -> String {
    let s = &header.summary;
    format!(
        "backup of {} (node {}, applied index {}, written {} by trent {}): {} keys ({} multi-region), \
         {} aliases, {} grants, {} queued messages to other regions; state {} bytes, sha256 {}",
        header.region,
        header.node_id,
        header
            .applied_index
            .map_or("none".to_string(), |i| i.to_string()),
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(header.created_ms) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_else(|| header.created_ms.to_string()),
        header.trent_version,
        s.keys,
        s.multi_region_keys,
        s.aliases,
        s.grants,
        s.outbox,
        header.state_bytes,
        header.state_sha256
    )
}

/// A short operator call: `method` on `path`, the node's JSON answer.
async fn call_json(
    target: &RaftTarget,
    method: reqwest::Method,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    let (client, scheme) = target.client()?;
    let response = client
        .request(method, target.url(scheme, path))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .with_context(|| format!("calling {path} on {}", target.node))?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    Ok(serde_json::from_slice(&response.bytes().await?)?)
}

/// Starts a root-key rotation on `target`'s region; answers the new generation.
pub async fn rotate_root_key(target: &RaftTarget) -> anyhow::Result<u64> {
    let body = call_json(target, reqwest::Method::POST, "/raft/root-key/rotate").await?;
    body["generation"]
        .as_u64()
        .context("the node's answer names no generation")
}

/// The region's root-key generations as `target` sees them (`GET /raft/root-key`).
pub async fn root_key_status(target: &RaftTarget) -> anyhow::Result<serde_json::Value> {
    call_json(target, reqwest::Method::GET, "/raft/root-key").await
}

/// The region's membership as `target` knows it (`GET /raft/members`).
pub async fn members(target: &RaftTarget) -> anyhow::Result<serde_json::Value> {
    call_json(target, reqwest::Method::GET, "/raft/members").await
}

/// A membership change (`POST /raft/members/{add,remove,replace}` with `body`), made on the
/// leader: a follower's 421 names it, and the call goes there. Answers the new membership.
pub async fn change_members(
    target: &RaftTarget,
    change: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let (client, scheme) = target.client()?;
    let path = format!("/raft/members/{change}");
    let mut node = target.node.clone();
    for _ in 0..3 {
        let response = client
            .post(format!("{scheme}://{node}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(180))
            .send()
            .await
            .with_context(|| format!("calling {path} on {node}"))?;
        if response.status() == reqwest::StatusCode::MISDIRECTED_REQUEST {
            let answer: serde_json::Value =
                serde_json::from_slice(&response.bytes().await?).unwrap_or_default();
            match answer["leader"]["raft_addr"].as_str() {
                Some(leader) => {
                    eprintln!("{node} does not lead the region; asking the leader at {leader}");
                    node = leader.to_string();
                    continue;
                }
                None => bail!("{node} knows no leader of the region; try again shortly"),
            }
        }
        if !response.status().is_success() {
            return Err(refused(response).await);
        }
        return Ok(serde_json::from_slice(&response.bytes().await?)?);
    }
    bail!("the region's leader kept moving; try again")
}

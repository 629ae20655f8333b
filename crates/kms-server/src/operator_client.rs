//! The operator's calls on a node's Raft port: backup and restore (`trent backup create|verify`,
//! `trent restore`, reading and writing [`BackupFile`]s), root-key rotation (`trent operator
//! rotate-root-key`) and membership changes (`trent cluster members|add-node|remove-node|
//! replace-node`, sent on to the leader). It presents the operator certificate (or speaks plain HTTP where the region
//! runs without Raft TLS).
//!
//! Also the seal calls on a node's KMS API port (`trent operator unseal|status`, [`ApiTarget`]):
//! over HTTPS with the CA given (`--ca`), or plain HTTP, which carries an unseal share only to
//! a loopback address.

use crate::backup_file::{BackupFile, BackupHeader};
use anyhow::{bail, Context};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

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

/// How long one seal call on the API port may take.
const SEAL_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to the API port may take.
const SEAL_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A node's KMS API port for the seal calls, from `--addr` and `--ca`: `https://host:port`
/// (the node's `[api_tls]`), `http://host:port`, or `host:port` (plain HTTP, for a node on
/// this host).
#[derive(Debug, Clone)]
pub struct ApiTarget {
    /// `https://host:port`, with the path left off.
    base: reqwest::Url,
    /// The PEM file of the CA certificate(s) to trust for `https` (or the node's self-signed
    /// certificate); `None`: the system's roots.
    ca: Option<PathBuf>,
}

/// One call of `trent operator unseal|status`.
pub enum SealCall {
    /// `GET /v1/sys/seal-status`.
    Status,
    /// `POST /v1/sys/unseal {"reset": true}`.
    Reset,
    /// `POST /v1/sys/unseal {"key": SHARE}`.
    Share(Zeroizing<String>),
}

impl ApiTarget {
    /// Reads `--addr` (`https://host:port`, `http://host:port` or `host:port`, which is plain
    /// HTTP) and `--ca`. Refuses other schemes, a path, query or user name in the address, and
    /// `--ca` with plain HTTP (the operator meant TLS, and would not get it).
    pub fn parse(addr: &str, ca: Option<&Path>) -> anyhow::Result<ApiTarget> {
        let addr = addr.trim();
        let with_scheme = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("http://{addr}")
        };
        let base = reqwest::Url::parse(&with_scheme).with_context(|| {
            format!("--addr takes https://HOST:PORT, http://HOST:PORT or HOST:PORT, got '{addr}'")
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            bail!(
                "--addr '{addr}': the scheme must be https:// (or http:// for a node on this host)"
            );
        }
        if base.host().is_none()
            || !matches!(base.path(), "" | "/")
            || base.query().is_some()
            || base.fragment().is_some()
            || !base.username().is_empty()
            || base.password().is_some()
        {
            bail!("--addr '{addr}' must be only the node's API address, SCHEME://HOST:PORT");
        }
        if ca.is_some() && base.scheme() == "http" {
            bail!(
                "--ca is for a node whose API port serves TLS, but '{addr}' is plain HTTP: use \
                 --addr https://{}",
                authority(&base)
            );
        }
        Ok(ApiTarget {
            base,
            ca: ca.map(Path::to_path_buf),
        })
    }

    /// Whether the calls go over TLS.
    pub fn is_https(&self) -> bool {
        self.base.scheme() == "https"
    }

    /// The address as the operator would write it, `scheme://host:port`.
    pub fn display(&self) -> String {
        format!("{}://{}", self.base.scheme(), authority(&self.base))
    }

    /// The host: an address literal, or a name.
    fn host(&self) -> Result<IpAddr, &str> {
        let host = self.base.host_str().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare.parse().map_err(|_| host)
    }

    /// Whether the host is a loopback address literal (127.0.0.0/8, ::1) or `localhost`.
    fn names_loopback(&self) -> bool {
        match self.host() {
            Ok(ip) => is_loopback(ip),
            Err(name) => name == "localhost",
        }
    }

    /// Fails unless an unseal share may go to this address: over HTTPS, or over plain HTTP
    /// only to a loopback address (a share crosses no network then). Called before the share
    /// is read, so nothing is typed or sent for a refused address.
    pub fn check_share_transport(&self) -> anyhow::Result<()> {
        if self.is_https() || self.names_loopback() {
            return Ok(());
        }
        bail!(
            "refusing to send an unseal share over plain HTTP to {}: it is not a loopback \
             address, so the share would cross the network in the clear. Use --addr https://{} \
             (the node's API port with [api_tls]) and --ca FILE (the CA certificate its API \
             certificate chains to); plain HTTP is only for a node on this host (127.0.0.1, \
             ::1, localhost)",
            self.display(),
            authority(&self.base)
        )
    }

    /// The client: no proxy (a share goes only to the node), no redirects (a share is never
    /// sent on elsewhere), HTTPS only for an `https` target, with `--ca` as its only roots.
    /// `localhost` is resolved here and the client pinned to its addresses, which must all
    /// be loopback.
    async fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(SEAL_CONNECT_TIMEOUT)
            .timeout(SEAL_CALL_TIMEOUT);
        if self.is_https() {
            builder = builder.https_only(true);
            if let Some(ca) = &self.ca {
                let pem = std::fs::read(ca)
                    .with_context(|| format!("reading the --ca file {}", ca.display()))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .with_context(|| format!("the --ca file {} is not PEM", ca.display()))?;
                if certs.is_empty() {
                    bail!("the --ca file {} holds no PEM certificate", ca.display());
                }
                builder = builder.tls_certs_only(certs);
            }
        } else if let Err(name) = self.host() {
            let port = self.base.port_or_known_default().unwrap_or(80);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .with_context(|| format!("resolving {name}"))?
                .collect();
            if addrs.is_empty() || !addrs.iter().all(|a| is_loopback(a.ip())) {
                bail!(
                    "{name} resolves to {addrs:?}, not only to loopback addresses: use \
                     --addr http://127.0.0.1:{port}, or https:// with --ca"
                );
            }
            builder = builder.resolve_to_addrs(name, &addrs);
        }
        Ok(builder.build()?)
    }

    fn url(&self, path: &str) -> anyhow::Result<reqwest::Url> {
        Ok(self.base.join(path)?)
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// `host:port` of a parsed address (the port as written, or the scheme's).
fn authority(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Makes one seal call on `target`: answers whether the node took it, and its JSON answer
/// (the seal status, with `errors` when refused). A share is sent only where
/// [`ApiTarget::check_share_transport`] allows it.
pub async fn seal_call(
    target: &ApiTarget,
    call: SealCall,
) -> anyhow::Result<(bool, serde_json::Value)> {
    let client = target.client().await?;
    let request = match &call {
        SealCall::Status => client.get(target.url("/v1/sys/seal-status")?),
        SealCall::Reset => unseal_request(&client, target, serde_json::json!({ "reset": true }))?,
        SealCall::Share(share) => {
            target.check_share_transport()?;
            unseal_request(&client, target, serde_json::json!({ "key": share.trim() }))?
        }
    };
    let response = request.send().await.map_err(|e| {
        let hint = if target.is_https() {
            "; is --ca the CA the node's API certificate chains to, and does that certificate \
             name the host of --addr?"
        } else {
            "; if the node's API port serves TLS ([api_tls]), use --addr https://HOST:PORT with \
             --ca"
        };
        anyhow::Error::new(e).context(format!("calling {}{hint}", target.display()))
    })?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("reading the answer of {}", target.display()))?;
    let answer: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} answered {status} without a seal status: {}",
            target.display(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )
    })?;
    Ok((status.is_success(), answer))
}

fn unseal_request(
    client: &reqwest::Client,
    target: &ApiTarget,
    body: serde_json::Value,
) -> anyhow::Result<reqwest::RequestBuilder> {
    Ok(client
        .post(target.url("/v1/sys/unseal")?)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(addr: &str) -> ApiTarget {
        ApiTarget::parse(addr, None).unwrap()
    }

    #[test]
    fn addresses_name_their_scheme_or_are_plain_http() {
        assert_eq!(target("127.0.0.1:8101").display(), "http://127.0.0.1:8101");
        assert_eq!(target("http://[::1]:8101/").display(), "http://[::1]:8101");
        let tls =
            ApiTarget::parse("https://trent-1.internal:8443", Some(Path::new("ca.pem"))).unwrap();
        assert!(tls.is_https());
        assert_eq!(tls.display(), "https://trent-1.internal:8443");
        for bad in [
            "ftp://127.0.0.1:1",
            "http://127.0.0.1:1/v1/sys",
            "https://user@host:1",
            "http://127.0.0.1:1?x=1",
            "not an address:x",
        ] {
            assert!(ApiTarget::parse(bad, None).is_err(), "{bad}");
        }
        // --ca with plain HTTP: the operator meant TLS.
        let err = ApiTarget::parse("10.0.0.5:8101", Some(Path::new("ca.pem"))).unwrap_err();
        assert!(err.to_string().contains("https://10.0.0.5:8101"), "{err}");
    }

    #[test]
    fn a_share_goes_over_plain_http_only_to_loopback() {
        for ok in [
            "127.0.0.1:8101",
            "127.0.0.2:8101",
            "http://[::1]:8101",
            "localhost:8101",
            "https://192.0.2.1:8101",
            "https://trent-1.internal:8443",
        ] {
            assert!(target(ok).check_share_transport().is_ok(), "{ok}");
        }
        for refused in [
            "192.0.2.1:8101",
            "http://10.0.0.5:8101",
            "trent-1.internal:8101",
            "http://[2001:db8::1]:8101",
            "0.0.0.0:8101",
        ] {
            let err = target(refused)
                .check_share_transport()
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("plain HTTP") && err.contains("https://") && err.contains("--ca"),
                "{err}"
            );
        }
    }
}

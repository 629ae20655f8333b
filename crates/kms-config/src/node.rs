//! A node's configuration file (TOML): the types `trent serve` parses and the topology writer
//! serializes, and the environment overrides `make run` users expect.
//!
//! `TRENT_ACCOUNT_ID` replaces the account id; `TRENT_CREDENTIALS` (comma-separated
//! `access_key_id:secret` or `access_key_id:secret@account` entries) replaces the accepted
//! access keys. Each access key signs as the root user of its account: the one given, else
//! (an access key id of exactly twelve digits, LocalStack's convention) the account it names,
//! else `account_id`. `TRENT_SEED` names a seed file (keys a new cluster starts with) and
//! `TRENT_ALLOW_RESET=1` switches on the reset endpoints test suites call.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The account id of the seeds, used when neither config nor environment sets one.
pub const DEFAULT_ACCOUNT_ID: &str = "111122223333";

/// One node's configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's Raft id, unique in its region.
    pub node_id: u64,
    /// The region this node serves, e.g. `us-east-1`.
    pub region: String,
    /// Address of the public KMS API (`host:port`).
    pub api_addr: String,
    /// Address of the internal Raft endpoints (`host:port`).
    pub raft_addr: String,
    /// Where this node keeps its RocksDB data.
    pub data_dir: PathBuf,
    /// The region root key file (32 bytes, mode 0600), shared by the region's nodes: used as
    /// is only without `[seal]` (a warning at every start). With `[seal]`, a plaintext root
    /// key found here (what versions before the seal wrote) is sealed at start and destroyed.
    pub root_key_path: PathBuf,
    /// AWS account id in ARNs.
    #[serde(default = "default_account")]
    pub account_id: String,
    /// If true, this node forms the region from `members` when its store is empty.
    #[serde(default)]
    pub bootstrap: bool,
    /// The region's initial members: node id to Raft address.
    #[serde(default)]
    pub members: BTreeMap<u64, String>,
    /// Accepted access keys.
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// Raft tunables.
    #[serde(default)]
    pub raft: RaftTuning,
    /// An identities file of IAM users with access keys and identity policies (see
    /// `identities`); re-read when it changes.
    #[serde(default)]
    pub identities: Option<PathBuf>,
    /// The audit log (hash-chained JSON Lines); `<data_dir>/audit.jsonl` when not set.
    #[serde(default)]
    pub audit_log: Option<PathBuf>,
    /// The STS token key (a 32-byte key file like a root key, `trent root-key --create`),
    /// shared by every node of every region; enables AssumeRole.
    #[serde(default)]
    pub sts_key: Option<PathBuf>,
    /// Mutual TLS between this region's nodes on the Raft port (the region's certificate from
    /// the link CA); without it the Raft port speaks plain HTTP.
    #[serde(default)]
    pub raft_tls: Option<RaftTls>,
    /// TLS for the KMS API port; without it the port speaks plain HTTP (local testing).
    #[serde(default)]
    pub api_tls: Option<ApiTls>,
    /// The link to other regions (multi-region keys and cross-region requests); absent for a
    /// region that stands alone.
    #[serde(default)]
    pub link: Option<LinkConfig>,
    /// A seed file (YAML or JSON): keys with fixed ids (and optionally material) the region
    /// gets when it is created; checked again on every start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<PathBuf>,
    /// Whether the reset endpoints of LocalStack and moto (`POST /_localstack/state/reset`,
    /// `POST /moto-api/reset`) wipe the cluster; off, they are unknown paths.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_reset: bool,
    /// The seal of the region root key (`kind = "pkcs11" | "kms" | "shamir"`, see kms-seal):
    /// the node starts sealed and serves KMS calls only once its root key is unsealed.
    #[serde(default)]
    pub seal: Option<kms_seal::SealConfig>,
}

/// The region's certificate for mutual TLS between its nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftTls {
    /// The CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// The region's certificate (PEM); its DNS name is the region name.
    pub cert: PathBuf,
    /// Its private key (PEM, mode 0600).
    pub key: PathBuf,
}

/// The certificate the KMS API port presents (PEM files; operator-provided, or made by
/// `trent pki` for local clusters).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTls {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM, mode 0600).
    pub key: PathBuf,
}

/// How this node reaches the other regions and lets them reach it: a mutual-TLS listener and
/// client, with certificates from one CA (made by `trent pki` for local clusters).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Address of this node's inter-region listener (`host:port`), mutual TLS only.
    pub addr: String,
    /// The CA certificate (PEM) that every region's certificate chains to.
    pub ca_cert: PathBuf,
    /// This region's certificate (PEM); its DNS name is the region name.
    pub cert: PathBuf,
    /// This region's private key (PEM, mode 0600).
    pub key: PathBuf,
    /// The other regions: region name to the inter-region addresses of its nodes.
    #[serde(default)]
    pub peers: BTreeMap<String, Vec<String>>,
}

/// An access key pair accepted by SigV4, signing as the root user of an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credential {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// The account this key is the root user of (12 digits); when absent, the access key id
    /// itself if it is twelve digits, else the node's `account_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// Optional Raft tunables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RaftTuning {
    /// Heartbeat period in ms.
    pub heartbeat_ms: u64,
    /// Lower bound of the election timeout in ms.
    pub election_timeout_ms: u64,
    /// Snapshot after this many applied entries.
    pub snapshot_after_entries: u64,
}

impl Default for RaftTuning {
    /// The values a config without `[raft]` gets (kms-server checks that they are kms-raft's
    /// own defaults).
    fn default() -> Self {
        RaftTuning {
            heartbeat_ms: 100,
            election_timeout_ms: 500,
            snapshot_after_entries: 5000,
        }
    }
}

fn default_account() -> String {
    DEFAULT_ACCOUNT_ID.to_string()
}

impl NodeConfig {
    /// Reads a config file and applies the environment overrides.
    pub fn load(path: &Path) -> anyhow::Result<NodeConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: NodeConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        config.apply_env()?;
        config.validate()?;
        Ok(config)
    }

    /// The config as the TOML text [`NodeConfig::load`] reads, after `header` (comment lines,
    /// each without its `# `).
    pub fn to_toml(&self, header: &[&str]) -> anyhow::Result<String> {
        self.validate()?;
        let mut text: String = header.iter().map(|line| format!("# {line}\n")).collect();
        text.push_str(&toml::to_string(self).context("serializing a node config")?);
        Ok(text)
    }

    fn apply_env(&mut self) -> anyhow::Result<()> {
        if let Ok(account) = std::env::var("TRENT_ACCOUNT_ID") {
            self.account_id = account;
        }
        if let Ok(pairs) = std::env::var("TRENT_CREDENTIALS") {
            self.credentials = parse_credentials(&pairs)?;
        }
        if let Ok(seed) = std::env::var("TRENT_SEED") {
            self.seed = (!seed.trim().is_empty()).then(|| PathBuf::from(seed.trim()));
        }
        if let Ok(allow) = std::env::var("TRENT_ALLOW_RESET") {
            self.allow_reset = match allow.trim() {
                "1" | "true" | "yes" | "on" => true,
                "" | "0" | "false" | "no" | "off" => false,
                other => bail!("TRENT_ALLOW_RESET must be 1 or 0, got '{other}'"),
            };
        }
        Ok(())
    }

    /// The checks [`NodeConfig::load`] makes after the overrides.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !is_account_id(&self.account_id) {
            bail!("account_id must be 12 digits, got '{}'", self.account_id);
        }
        if self.credentials.is_empty() {
            bail!("no credentials configured: set [[credentials]] or TRENT_CREDENTIALS");
        }
        for credential in &self.credentials {
            if let Some(account) = &credential.account_id {
                if !is_account_id(account) {
                    bail!(
                        "credential {}: account_id must be 12 digits, got '{account}'",
                        credential.access_key_id
                    );
                }
            }
        }
        if self.bootstrap && !self.members.contains_key(&self.node_id) {
            bail!("a bootstrap node must list itself in members");
        }
        if let Some(link) = &self.link {
            if link.peers.contains_key(&self.region) {
                bail!(
                    "link.peers must not list this node's own region {}",
                    self.region
                );
            }
        }
        Ok(())
    }

    /// Every region this node can serve requests for: its own, then its link peers.
    pub fn served_regions(&self) -> Vec<String> {
        let mut regions = vec![self.region.clone()];
        if let Some(link) = &self.link {
            regions.extend(link.peers.keys().cloned());
        }
        regions
    }

    /// The accepted access keys as a lookup table.
    pub fn credential_map(&self) -> HashMap<String, String> {
        self.credentials
            .iter()
            .map(|c| (c.access_key_id.clone(), c.secret_access_key.clone()))
            .collect()
    }
}

/// True for an AWS account id: 12 digits.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `id:secret,id:secret@account`.
pub fn parse_credentials(pairs: &str) -> anyhow::Result<Vec<Credential>> {
    pairs
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (pair_text, account_id) = match pair.trim().rsplit_once('@') {
                Some((rest, account)) if is_account_id(account) => {
                    (rest, Some(account.to_string()))
                }
                Some(_) => {
                    bail!("TRENT_CREDENTIALS: the account after '@' must be 12 digits, in '{pair}'")
                }
                None => (pair.trim(), None),
            };
            match pair_text.split_once(':') {
                Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(Credential {
                    access_key_id: id.to_string(),
                    secret_access_key: secret.to_string(),
                    account_id,
                }),
                _ => bail!(
                    "TRENT_CREDENTIALS entries must be access_key_id:secret[@account], got '{pair}'"
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_reject_malformed_pairs() {
        let parsed = parse_credentials("a:b, c:d").expect("valid pairs");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].access_key_id, "c");
        assert!(parse_credentials("nocolon").is_err());
        let with_account = parse_credentials("a:b@000000000002").expect("with account");
        assert_eq!(with_account[0].account_id.as_deref(), Some("000000000002"));
        assert_eq!(with_account[0].secret_access_key, "b");
        assert!(parse_credentials("a:b@2").is_err());
        assert!(parse_credentials(":secret").is_err());
    }
}

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
    /// The key that opens `secret_sealed` values in the identities file (a 32-byte key file
    /// like a root key, `trent root-key --create`; `trent seal-secret` seals with it). Read
    /// from `sts_key` too, its name before STS sessions got keys of their own.
    #[serde(default, alias = "sts_key")]
    pub secrets_key: Option<PathBuf>,
    /// Mutual TLS between this region's nodes on the Raft port (this node's certificate from
    /// the internal CA). Required unless `insecure_plaintext_raft` is set.
    #[serde(default)]
    pub raft_tls: Option<RaftTls>,
    /// Speak plain HTTP on the Raft port, without `[raft_tls]`: anyone who reaches the port can
    /// then commit any command. Only for loopback addresses (refused otherwise); the node warns
    /// at every start.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure_plaintext_raft: bool,
    /// The deny-list of revoked nodes (`<region>/<node id>` lines), refused on the Raft port
    /// and the link; re-read while the node runs.
    #[serde(default)]
    pub deny_list: Option<PathBuf>,
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
    /// The KMS API endpoints (`http://host:port`) of every region's nodes, this one's included:
    /// the web console shows a multi-Region key in each region and every region's nodes.
    /// Empty, the console knows only this node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub region_endpoints: BTreeMap<String, Vec<String>>,
    /// How this node reaches the backends of custom key stores: the PKCS#11 module behind HSM
    /// key stores, and how external key store proxies are trusted and checked.
    #[serde(default, skip_serializing_if = "CustomKeyStores::is_default")]
    pub custom_key_stores: CustomKeyStores,
}

/// `[custom_key_stores]`: what custom key stores need from the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomKeyStores {
    /// The PKCS#11 module of HSM key stores (CustomKeyStoreType AWS_CLOUDHSM): a store's
    /// CloudHsmClusterId names a token of this module by its label, and its KeyStorePassword
    /// is that token's user PIN. Unset, HSM key stores cannot be created.
    #[serde(default)]
    pub pkcs11_module: Option<PathBuf>,
    /// SoftHSM2's config file (`SOFTHSM2_CONF`) for that module, if it is SoftHSM2. A process
    /// has one: it must be the PKCS#11 seal's too, if the seal uses the same module.
    #[serde(default)]
    pub softhsm2_conf: Option<PathBuf>,
    /// A CA certificate (PEM) trusted for external key store proxies, besides the public web
    /// PKI (for a proxy whose certificate a private CA issued).
    #[serde(default)]
    pub xks_ca_file: Option<PathBuf>,
    /// The TCP port of an external key store proxy whose XksProxyUriEndpoint names none
    /// (AWS uses 443, the default; AWS's pattern for the endpoint also admits `host:port`).
    #[serde(default = "default_xks_port")]
    pub xks_proxy_port: u16,
    /// How often the leader checks the health of each connected store, in seconds; a store
    /// that fails the check goes FAILED with its connection error code.
    #[serde(default = "default_health_check_secs")]
    pub health_check_secs: u64,
}

fn default_xks_port() -> u16 {
    443
}

fn default_health_check_secs() -> u64 {
    60
}

impl Default for CustomKeyStores {
    fn default() -> Self {
        CustomKeyStores {
            pkcs11_module: None,
            softhsm2_conf: None,
            xks_ca_file: None,
            xks_proxy_port: default_xks_port(),
            health_check_secs: default_health_check_secs(),
        }
    }
}

impl CustomKeyStores {
    fn is_default(&self) -> bool {
        *self == CustomKeyStores::default()
    }
}

/// This node's certificate for mutual TLS between the region's nodes. Certificate, key and CA
/// are re-read while the node runs (new connections use the new ones).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaftTls {
    /// The CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// The node's certificate (PEM): its first DNS name is the region name, and it names the
    /// node as `<node id>.<region>.node.trent` (see `trent pki`).
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
    /// This node's certificate (PEM); its first DNS name is the region name (the same file as
    /// `raft_tls.cert` in generated configs).
    pub cert: PathBuf,
    /// Its private key (PEM, mode 0600).
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
    /// Snapshot after this many applied entries, or after half as many as the state holds keys
    /// if that is more (kms-raft's snapshot schedule).
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

fn is_false(value: &bool) -> bool {
    !*value
}

/// True for `host:port` whose host is a loopback IP address or `localhost`.
pub fn is_loopback_addr(addr: &str) -> bool {
    if let Ok(socket) = addr.parse::<std::net::SocketAddr>() {
        return socket.ip().is_loopback();
    }
    addr.rsplit_once(':')
        .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
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

    /// The `region` that the TOML file at `path` names at its top level, read without loading
    /// the rest: `None` when the file is unreadable, not TOML or names no region (an identities
    /// file). `trent up --cluster-dir` tells a region's directory from others by it.
    pub fn region_named_in(path: &Path) -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        let table: toml::Table = toml::from_str(&text).ok()?;
        table.get("region")?.as_str().map(str::to_string)
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
        if self.credentials.is_empty() && self.identities.is_none() {
            bail!(
                "no credentials configured: set [[credentials]], TRENT_CREDENTIALS or an \
                 identities file"
            );
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
        match (&self.raft_tls, self.insecure_plaintext_raft) {
            (None, false) => bail!(
                "the Raft port needs [raft_tls] (mutual TLS with this node's certificate, see \
                 `trent pki`); plain HTTP only with insecure_plaintext_raft = true on loopback"
            ),
            (Some(_), true) => {
                bail!("set either [raft_tls] or insecure_plaintext_raft = true, not both")
            }
            (None, true) => {
                let addrs = std::iter::once(&self.raft_addr).chain(self.members.values());
                for addr in addrs {
                    if !is_loopback_addr(addr) {
                        bail!(
                            "insecure_plaintext_raft = true is refused for the non-loopback \
                             Raft address {addr}: configure [raft_tls]"
                        );
                    }
                }
            }
            (Some(_), false) => {}
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

    fn plain(raft_addr: &str) -> NodeConfig {
        NodeConfig {
            node_id: 1,
            region: "us-east-1".into(),
            api_addr: "127.0.0.1:1".into(),
            raft_addr: raft_addr.into(),
            data_dir: "d".into(),
            root_key_path: "k".into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            bootstrap: false,
            members: BTreeMap::new(),
            credentials: parse_credentials("a:b").unwrap(),
            raft: RaftTuning::default(),
            identities: None,
            audit_log: None,
            secrets_key: None,
            raft_tls: None,
            insecure_plaintext_raft: false,
            deny_list: None,
            api_tls: None,
            link: None,
            seed: None,
            allow_reset: false,
            seal: None,
            region_endpoints: BTreeMap::new(),
            custom_key_stores: Default::default(),
        }
    }

    #[test]
    fn plain_raft_needs_the_explicit_flag_and_loopback_addresses() {
        let without_tls = plain("127.0.0.1:8201").validate().unwrap_err();
        assert!(
            without_tls.to_string().contains("[raft_tls]"),
            "{without_tls}"
        );
        let mut config = plain("127.0.0.1:8201");
        config.insecure_plaintext_raft = true;
        config.validate().unwrap();
        config.members.insert(2, "localhost:8202".into());
        config.validate().unwrap();
        config.members.insert(3, "10.0.0.3:8203".into());
        let remote = config.validate().unwrap_err();
        assert!(remote.to_string().contains("10.0.0.3:8203"), "{remote}");
        let mut config = plain("0.0.0.0:8201");
        config.insecure_plaintext_raft = true;
        assert!(config.validate().is_err());
        config.raft_addr = "[::1]:8201".into();
        config.validate().unwrap();
        config.raft_tls = Some(RaftTls {
            ca_cert: "ca".into(),
            cert: "c".into(),
            key: "k".into(),
        });
        assert!(config.validate().is_err(), "both at once");
    }

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

//! A cluster's topology (regions, their nodes and addresses, the options every node shares)
//! and the writer that turns it into one [`NodeConfig`] file per node, with the root keys, the
//! STS token key, the identities file and the local PKI those configs point at.
//!
//! Everything goes below one root directory:
//!
//! ```text
//! <root>/pki/ca.pem, ca.key                       the internal CA (Raft, link, API TLS)
//! <root>/pki/<region>/node<id>.pem, .key          each node's certificate
//! <root>/pki/operator.pem, .key                   for `/raft/status` (tools, tests)
//! <root>/pki/revoked.txt                          the deny-list every node reads
//! <root>/secrets.key                              with secrets_key (opens `secret_sealed`)
//! <root>/identities.toml                          with identities
//! <root>/<region>/root.key                        the region root key (no softhsm_module)
//! <root>/<region>/root.sealed                     it sealed by SoftHSM2 (softhsm_module)
//! <root>/hsm/softhsm2.conf, tokens/, user.pin     the SoftHSM2 token (softhsm_module)
//! <root>/<region>/<node>.toml                     the node's config
//! <root>/<region>/<node>/                         the node's data dir (RocksDB, audit log)
//! ```
//!
//! The first node of each region bootstraps it. Every region is linked to every other one
//! when there are several. A node's Raft and link addresses are where it listens; peers reach
//! it at [`NodePlan::raft_peer_addr`] and [`NodePlan::link_peer_addr`] when set (a proxy in
//! between), else at the same addresses.

use crate::node::{ApiTls, Credential, LinkConfig, NodeConfig, RaftTls, RaftTuning};
use anyhow::{bail, Context};
use kms_crypto::RootKey;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The label of the SoftHSM2 token a topology with `softhsm_module` makes.
pub const SOFTHSM_TOKEN_LABEL: &str = "trent-local";

/// The three listening addresses of one node (`host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddrs {
    /// The KMS API.
    pub api: String,
    /// The Raft endpoints (`/raft/*`).
    pub raft: String,
    /// The inter-region mutual-TLS listener (used only when the topology has several regions).
    pub link: String,
}

impl NodeAddrs {
    /// The fixed plan of `make run`: region `region_index` (0-based), node `node_id` (1-based)
    /// listens on 127.0.0.1 ports 8100+10i+n (API), 8200+10i+n (Raft) and 8300+10i+n (link).
    pub fn fixed(region_index: usize, node_id: u64) -> NodeAddrs {
        let port = |base: u64| format!("127.0.0.1:{}", base + 10 * region_index as u64 + node_id);
        NodeAddrs {
            api: port(8100),
            raft: port(8200),
            link: port(8300),
        }
    }
}

/// One node of a [`RegionPlan`].
#[derive(Debug, Clone)]
pub struct NodePlan {
    /// Raft node id, unique in its region.
    pub id: u64,
    /// Its file names: `<region>/<name>.toml` and the data dir `<region>/<name>/`.
    pub name: String,
    /// Where it listens.
    pub addrs: NodeAddrs,
    /// Where the region's other nodes send Raft traffic for it, if not `addrs.raft`.
    pub raft_peer_addr: Option<String>,
    /// Where other regions reach its link listener, if not `addrs.link`.
    pub link_peer_addr: Option<String>,
    /// Its audit log, if not `<data_dir>/audit.jsonl`.
    pub audit_log: Option<PathBuf>,
}

impl NodePlan {
    /// The address the region's other nodes use for its Raft endpoints.
    pub fn raft_peer(&self) -> &str {
        self.raft_peer_addr.as_deref().unwrap_or(&self.addrs.raft)
    }

    /// The address other regions use for its link listener.
    pub fn link_peer(&self) -> &str {
        self.link_peer_addr.as_deref().unwrap_or(&self.addrs.link)
    }
}

/// One region: its name and its nodes, the first of which bootstraps it.
#[derive(Debug, Clone)]
pub struct RegionPlan {
    /// The region name, e.g. `us-east-1`.
    pub name: String,
    /// Its nodes.
    pub nodes: Vec<NodePlan>,
}

impl RegionPlan {
    /// A region whose nodes have ids 1, 2, ... and names `node1`, `node2`, ..., one per entry
    /// of `addrs`.
    pub fn new(name: &str, addrs: Vec<NodeAddrs>) -> RegionPlan {
        let nodes = addrs
            .into_iter()
            .zip(1u64..)
            .map(|(addrs, id)| NodePlan {
                id,
                name: format!("node{id}"),
                addrs,
                raft_peer_addr: None,
                link_peer_addr: None,
                audit_log: None,
            })
            .collect();
        RegionPlan {
            name: name.to_string(),
            nodes,
        }
    }
}

/// A whole cluster: regions, nodes, and the options every node shares.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Where everything is written (see the module doc).
    pub root: PathBuf,
    /// The regions, in order.
    pub regions: Vec<RegionPlan>,
    /// The AWS account id in ARNs.
    pub account_id: String,
    /// The access keys every node accepts.
    pub credentials: Vec<Credential>,
    /// Raft tunables.
    pub raft: RaftTuning,
    /// Mutual TLS between each region's nodes on the Raft port (the default); `false` writes
    /// `insecure_plaintext_raft = true` (loopback only).
    pub raft_tls: bool,
    /// TLS on the KMS API port (the region's certificate from the local CA).
    pub api_tls: bool,
    /// Point every node's `secrets_key` at `<root>/secrets.key` (created if missing), the key
    /// that opens `secret_sealed` values in the identities file.
    pub secrets_key: bool,
    /// The text of an identities file every node reads (IAM users, roles, policies).
    pub identities: Option<String>,
    /// Comment lines at the top of every config file.
    pub header: Vec<String>,
    /// Seal each region's root key with a key in a SoftHSM2 token under `<root>/hsm`, through
    /// this PKCS#11 module (`kms_seal::pkcs11::find_softhsm2_module`); without it the root keys
    /// are plaintext files. The writer makes the token and the wrapping keys; the sealed root
    /// keys are made by the launcher (`kms_seal::ensure_sealed`).
    pub softhsm_module: Option<PathBuf>,
}

/// One node's config as written.
#[derive(Debug, Clone)]
pub struct WrittenNode {
    /// Index of its region in [`Topology::regions`].
    pub region_index: usize,
    /// Its name in the plan.
    pub name: String,
    /// The config file.
    pub path: PathBuf,
    /// What the file holds.
    pub config: NodeConfig,
}

impl Topology {
    /// A topology under `root` with the default account, the one access key `credential`,
    /// default Raft tunables, mutual TLS on the Raft port, a plain-HTTP KMS API, no secrets key
    /// and no identities file.
    pub fn new(root: &Path, regions: Vec<RegionPlan>, credential: Credential) -> Topology {
        Topology {
            root: root.to_path_buf(),
            regions,
            account_id: crate::node::DEFAULT_ACCOUNT_ID.to_string(),
            credentials: vec![credential],
            raft: RaftTuning::default(),
            raft_tls: true,
            api_tls: false,
            secrets_key: false,
            identities: None,
            header: Vec::new(),
            softhsm_module: None,
        }
    }

    /// True when the regions are linked to each other (there are several).
    pub fn linked(&self) -> bool {
        self.regions.len() > 1
    }

    fn needs_pki(&self) -> bool {
        self.linked() || self.raft_tls || self.api_tls
    }

    /// The directory of the local CA and the regions' certificates.
    pub fn pki_dir(&self) -> PathBuf {
        self.root.join("pki")
    }

    /// The local CA's certificate (written when the topology needs a PKI).
    pub fn ca_cert(&self) -> PathBuf {
        self.pki().ca_cert()
    }

    /// The names of the PKI's files.
    pub fn pki(&self) -> kms_link::PkiLayout {
        Topology::pki_layout_of(&self.pki_dir())
    }

    /// The names of the files of the PKI in `dir`.
    pub fn pki_layout_of(dir: &Path) -> kms_link::PkiLayout {
        kms_link::PkiLayout::new(dir)
    }

    /// The deny-list every node reads (`<region>/<node id>` lines).
    pub fn deny_list_path(&self) -> PathBuf {
        self.pki().deny_list()
    }

    /// The operator's credentials for `/raft/status` on a mutual-TLS Raft port (use with
    /// [`kms_link::client_for_region`]); the PKI must have been written.
    pub fn operator_identity(&self) -> anyhow::Result<kms_link::LinkIdentity> {
        let pki = self.pki();
        kms_link::LinkIdentity::load(&pki.ca_cert(), &pki.operator_cert(), &pki.operator_key())
            .context("loading the operator certificate")
    }

    /// The secrets key file (see [`Topology::secrets_key`]).
    pub fn secrets_key_path(&self) -> PathBuf {
        self.root.join("secrets.key")
    }

    /// The identities file.
    pub fn identities_path(&self) -> PathBuf {
        self.root.join("identities.toml")
    }

    /// The directory of region `region`'s root key, configs and data dirs.
    pub fn region_dir(&self, region: &str) -> PathBuf {
        self.root.join(region)
    }

    /// Region `region`'s root key.
    pub fn root_key_path(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("root.key")
    }

    /// Region `region`'s sealed root key (with `softhsm_module`).
    pub fn sealed_root_key_path(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("root.sealed")
    }

    /// The directory of the SoftHSM2 token (with `softhsm_module`).
    pub fn hsm_dir(&self) -> PathBuf {
        self.root.join("hsm")
    }

    /// Region `region`'s PKCS#11 seal (with `softhsm_module`).
    pub fn softhsm_seal(&self, region: &str) -> Option<kms_seal::SealConfig> {
        let module = self.softhsm_module.clone()?;
        Some(kms_seal::SealConfig::Pkcs11(kms_seal::Pkcs11Config {
            sealed_root_key: self.sealed_root_key_path(region),
            module,
            token_label: SOFTHSM_TOKEN_LABEL.to_string(),
            key_label: format!("trent-root-wrap-{region}"),
            pin_file: self.hsm_dir().join("user.pin"),
            softhsm2_conf: Some(self.hsm_dir().join("softhsm2.conf")),
        }))
    }

    /// The config file of node `node` of region `region`.
    pub fn config_path(&self, region: &str, node: &str) -> PathBuf {
        self.region_dir(region).join(format!("{node}.toml"))
    }

    /// The data dir of node `node` of region `region`.
    pub fn data_dir(&self, region: &str, node: &str) -> PathBuf {
        self.region_dir(region).join(node)
    }

    /// Refuses duplicate regions, node ids, names or addresses, and empty regions.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.regions.is_empty() {
            bail!("a topology needs at least one region");
        }
        let mut regions = BTreeSet::new();
        let mut addrs = BTreeSet::new();
        for region in &self.regions {
            if !regions.insert(&region.name) {
                bail!("region {} is listed twice", region.name);
            }
            if region.nodes.is_empty() {
                bail!("region {} has no nodes", region.name);
            }
            let mut ids = BTreeSet::new();
            let mut names = BTreeSet::new();
            for node in &region.nodes {
                if !ids.insert(node.id) || !names.insert(&node.name) {
                    bail!(
                        "region {}: node id {} or name {} is used twice",
                        region.name,
                        node.id,
                        node.name
                    );
                }
                let mut own = vec![&node.addrs.api, &node.addrs.raft];
                if self.linked() {
                    own.push(&node.addrs.link);
                }
                for addr in own {
                    if !addrs.insert(addr.clone()) {
                        bail!("address {addr} is used twice");
                    }
                }
            }
        }
        Ok(())
    }

    /// The config of node `node_index` of region `region_index`, as [`Topology::write`]
    /// writes it (pure: creates no file).
    pub fn node_config(&self, region_index: usize, node_index: usize) -> NodeConfig {
        let region = &self.regions[region_index];
        let node = &region.nodes[node_index];
        let cert = self.pki().node_cert(&region.name, node.id);
        let key = self.pki().node_key(&region.name, node.id);
        let link = self.linked().then(|| LinkConfig {
            addr: node.addrs.link.clone(),
            ca_cert: self.ca_cert(),
            cert: cert.clone(),
            key: key.clone(),
            peers: self
                .regions
                .iter()
                .filter(|other| other.name != region.name)
                .map(|other| {
                    let addrs = other.nodes.iter().map(|n| n.link_peer().to_string());
                    (other.name.clone(), addrs.collect())
                })
                .collect(),
        });
        let members: BTreeMap<u64, String> = region
            .nodes
            .iter()
            .map(|n| (n.id, n.raft_peer().to_string()))
            .collect();
        NodeConfig {
            node_id: node.id,
            region: region.name.clone(),
            api_addr: node.addrs.api.clone(),
            raft_addr: node.addrs.raft.clone(),
            data_dir: self.data_dir(&region.name, &node.name),
            root_key_path: self.root_key_path(&region.name),
            account_id: self.account_id.clone(),
            bootstrap: node_index == 0,
            members,
            credentials: self.credentials.clone(),
            raft: self.raft.clone(),
            identities: self.identities.is_some().then(|| self.identities_path()),
            audit_log: node.audit_log.clone(),
            secrets_key: self.secrets_key.then(|| self.secrets_key_path()),
            raft_tls: self.raft_tls.then(|| RaftTls {
                ca_cert: self.ca_cert(),
                cert: cert.clone(),
                key: key.clone(),
            }),
            insecure_plaintext_raft: !self.raft_tls,
            deny_list: self.needs_pki().then(|| self.deny_list_path()),
            api_tls: self.api_tls.then_some(ApiTls { cert, key }),
            link,
            seed: None,
            allow_reset: false,
            seal: self.softhsm_seal(&region.name),
            region_endpoints: self.region_endpoints(),
            custom_key_stores: Default::default(),
        }
    }

    /// Every region's API endpoints, as clients reach them.
    fn region_endpoints(&self) -> BTreeMap<String, Vec<String>> {
        let scheme = if self.api_tls { "https" } else { "http" };
        self.regions
            .iter()
            .map(|r| {
                let endpoints = r
                    .nodes
                    .iter()
                    .map(|n| format!("{scheme}://{}", n.addrs.api));
                (r.name.clone(), endpoints.collect())
            })
            .collect()
    }

    /// Writes the PKI, keys and identities file the configs need (keeping keys and a PKI
    /// that already exist), then every node's config; returns the nodes region by region.
    pub fn write(&self) -> anyhow::Result<Vec<WrittenNode>> {
        self.check()?;
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating {}", self.root.display()))?;
        if self.needs_pki() {
            let regions: Vec<kms_link::RegionNodes> = self
                .regions
                .iter()
                .map(|r| kms_link::RegionNodes {
                    region: r.name.clone(),
                    nodes: r.nodes.iter().map(|n| n.id).collect(),
                })
                .collect();
            kms_link::generate_local_pki(&self.pki_dir(), &regions)
                .context("creating the local PKI")?;
        }
        if self.secrets_key {
            RootKey::load_or_create(&self.secrets_key_path())
                .context("creating the secrets key")?;
        }
        if let Some(text) = &self.identities {
            let path = self.identities_path();
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        let header: Vec<&str> = self.header.iter().map(String::as_str).collect();
        let mut written = Vec::new();
        for (region_index, region) in self.regions.iter().enumerate() {
            let dir = self.region_dir(&region.name);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            if let Some(kms_seal::SealConfig::Pkcs11(pkcs11)) = self.softhsm_seal(&region.name) {
                prepare_softhsm_seal(&pkcs11)
                    .with_context(|| format!("preparing the SoftHSM2 seal of {}", region.name))?;
            } else {
                RootKey::load_or_create(&self.root_key_path(&region.name))
                    .with_context(|| format!("creating the root key of {}", region.name))?;
            }
            for (node_index, node) in region.nodes.iter().enumerate() {
                let config = self.node_config(region_index, node_index);
                let path = self.config_path(&region.name, &node.name);
                std::fs::write(&path, config.to_toml(&header)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                written.push(WrittenNode {
                    region_index,
                    name: node.name.clone(),
                    path,
                    config,
                });
            }
        }
        Ok(written)
    }
}

/// Sets up what a PKCS#11 seal on a local SoftHSM2 token needs, where it is missing: the token
/// (its `softhsm2.conf`, its `tokens/` directory and a random user PIN in a 0600 file, all in
/// the directory of the seal's `softhsm2_conf`, as [`kms_seal::pkcs11::init_softhsm_token`]
/// lays them out) and the seal's AES-256 wrapping key in it ([`kms_seal::pkcs11::ensure_key`]).
/// [`Topology::write`] calls it for each region of a topology with `softhsm_module`, and
/// `trent up` for each hand-written node config (`--cluster-dir`) before the root key is sealed.
///
/// A seal that is not in that layout (no `softhsm2_conf`: a real HSM; or a PIN file elsewhere)
/// is left to its operator: `Ok(false)`, nothing done. A missing module is refused with what
/// to do about it.
pub fn prepare_softhsm_seal(seal: &kms_seal::Pkcs11Config) -> anyhow::Result<bool> {
    let Some(conf) = &seal.softhsm2_conf else {
        return Ok(false);
    };
    let dir = conf.parent().unwrap_or(Path::new(""));
    let laid_out = conf.file_name() == Some("softhsm2.conf".as_ref())
        && seal.pin_file.parent() == Some(dir)
        && seal.pin_file.file_name() == Some("user.pin".as_ref());
    if !laid_out {
        return Ok(false);
    }
    if !seal.module.is_file() {
        let module = seal.module.display();
        match kms_seal::pkcs11::find_softhsm2_module() {
            Ok(found) => bail!(
                "the seal's PKCS#11 module {module} does not exist; SoftHSM2's module on this \
                 machine is {}: set `module` in [seal] to it",
                found.display()
            ),
            Err(_) => bail!(
                "SoftHSM2 is not installed (the seal's PKCS#11 module {module} does not exist): \
                 run `make deps`, which installs the softhsm2 package (cluster/install-deps.sh)"
            ),
        }
    }
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    kms_seal::pkcs11::init_softhsm_token(&seal.module, dir, &seal.token_label)
        .with_context(|| format!("setting up the SoftHSM2 token in {}", dir.display()))?;
    kms_seal::pkcs11::ensure_key(seal).with_context(|| {
        format!(
            "creating the wrapping key {} in the SoftHSM2 token {}",
            seal.key_label, seal.token_label
        )
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential() -> Credential {
        Credential {
            access_key_id: "id".into(),
            secret_access_key: "secret".into(),
            account_id: None,
        }
    }

    fn two_regions(root: &Path) -> Topology {
        let regions = ["us-east-1", "us-west-2"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                RegionPlan::new(name, (1..=3).map(|n| NodeAddrs::fixed(i, n)).collect())
            })
            .collect();
        Topology::new(root, regions, credential())
    }

    #[test]
    fn written_configs_load_back_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut topology = two_regions(dir.path());
        topology.raft_tls = true;
        topology.secrets_key = true;
        topology.identities = Some("# no users\n".into());
        topology.header = vec!["generated".into()];
        let written = topology.write().expect("write");
        assert_eq!(written.len(), 6);
        for node in &written {
            let text = std::fs::read_to_string(&node.path).expect("read");
            assert!(text.starts_with("# generated\n"), "{text}");
            let parsed: NodeConfig = toml::from_str(&text).expect("parse");
            assert_eq!(
                toml::to_string(&parsed).ok(),
                toml::to_string(&node.config).ok()
            );
        }
        let west2 = &written[4].config;
        assert_eq!(west2.region, "us-west-2");
        assert_eq!(west2.api_addr, "127.0.0.1:8112");
        assert!(!west2.bootstrap && written[3].config.bootstrap);
        assert_eq!(west2.members[&3], "127.0.0.1:8213");
        let link = west2.link.as_ref().expect("linked");
        assert_eq!(link.addr, "127.0.0.1:8312");
        assert_eq!(
            link.peers["us-east-1"],
            ["127.0.0.1:8301", "127.0.0.1:8302", "127.0.0.1:8303"]
        );
        assert!(!link.peers.contains_key("us-west-2"));
        for file in [
            "pki/ca.pem",
            "pki/us-west-2/node3.key",
            "pki/operator.pem",
            "pki/revoked.txt",
            "secrets.key",
            "identities.toml",
        ] {
            assert!(dir.path().join(file).is_file(), "{file}");
        }
        assert_eq!(
            std::fs::read(dir.path().join("us-east-1/root.key"))
                .map(|k| k.len())
                .ok(),
            Some(32)
        );
        assert_ne!(
            std::fs::read(dir.path().join("us-east-1/root.key")).ok(),
            std::fs::read(dir.path().join("us-west-2/root.key")).ok()
        );
    }

    #[test]
    fn a_softhsm_seal_is_prepared_only_in_the_token_layout_and_needs_its_module() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hsm = dir.path().join("hsm");
        let seal = |softhsm2_conf: Option<PathBuf>, pin_file: PathBuf| kms_seal::Pkcs11Config {
            sealed_root_key: dir.path().join("root.sealed"),
            module: dir.path().join("no-such-libsofthsm2.so"),
            token_label: SOFTHSM_TOKEN_LABEL.into(),
            key_label: "trent-root-wrap-r1".into(),
            pin_file,
            softhsm2_conf,
        };
        // A real HSM (no SoftHSM2 config), or a PIN file outside the token's directory: left
        // to the operator.
        let real_hsm = seal(None, hsm.join("user.pin"));
        assert!(!prepare_softhsm_seal(&real_hsm).expect("skipped"));
        let elsewhere = seal(Some(hsm.join("softhsm2.conf")), dir.path().join("user.pin"));
        assert!(!prepare_softhsm_seal(&elsewhere).expect("skipped"));
        // In the layout, a missing module is refused with what to do.
        let local = seal(Some(hsm.join("softhsm2.conf")), hsm.join("user.pin"));
        let refused = format!("{:#}", prepare_softhsm_seal(&local).expect_err("no module"));
        assert!(refused.contains("no-such-libsofthsm2.so"), "{refused}");
        assert!(
            refused.contains("run `make deps`") || refused.contains("set `module` in [seal]"),
            "{refused}"
        );
        assert!(!hsm.exists(), "nothing was created");
    }

    #[test]
    fn peers_use_the_peer_addresses_while_the_node_listens_on_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut topology = two_regions(dir.path());
        topology.regions[0].nodes[1].raft_peer_addr = Some("127.0.0.1:9202".into());
        topology.regions[0].nodes[1].link_peer_addr = Some("127.0.0.1:9302".into());
        let east2 = topology.node_config(0, 1);
        assert_eq!(east2.raft_addr, "127.0.0.1:8202");
        assert_eq!(east2.members[&2], "127.0.0.1:9202");
        assert_eq!(topology.node_config(0, 0).members[&2], "127.0.0.1:9202");
        assert_eq!(
            east2.link.as_ref().map(|l| l.addr.as_str()),
            Some("127.0.0.1:8302")
        );
        let west1 = topology.node_config(1, 0);
        assert_eq!(
            west1.link.expect("linked").peers["us-east-1"][1],
            "127.0.0.1:9302"
        );
    }

    #[test]
    fn one_region_has_no_link_and_mutual_tls_on_raft_by_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let region = RegionPlan::new("us-east-1", vec![NodeAddrs::fixed(0, 1)]);
        let mut topology = Topology::new(dir.path(), vec![region], credential());
        let written = topology.write().expect("write");
        let config = &written[0].config;
        assert!(config.link.is_none() && !config.insecure_plaintext_raft);
        let tls = config.raft_tls.as_ref().expect("mutual TLS by default");
        assert!(tls.cert.ends_with("pki/us-east-1/node1.pem") && tls.cert.is_file());
        assert_eq!(
            config.deny_list.as_deref(),
            Some(&*topology.deny_list_path())
        );
        assert!(topology.operator_identity().is_ok());
        assert!(config.bootstrap);

        topology.raft_tls = false;
        let plain = topology.node_config(0, 0);
        assert!(plain.raft_tls.is_none() && plain.insecure_plaintext_raft);
        plain
            .validate()
            .expect("loopback plain HTTP is allowed when asked for");
    }

    #[test]
    fn duplicate_addresses_and_names_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut topology = two_regions(dir.path());
        topology.regions[1].nodes[0].addrs.api = topology.regions[0].nodes[0].addrs.api.clone();
        assert!(topology.write().is_err());
        let mut topology = two_regions(dir.path());
        topology.regions[0].nodes[2].name = "node1".into();
        assert!(topology.check().is_err());
        let mut topology = two_regions(dir.path());
        topology.regions[1].name = "us-east-1".into();
        assert!(topology.check().is_err());
    }
}

//! The production template under `cluster/production/` loads as a node config and keeps the
//! promises its comments make: TLS on every port, a PKCS#11 seal, no credentials in the file,
//! the audit trail and the deny-list on, and exactly one bootstrapping node.

use kms_config::node::NodeConfig;
use kms_seal::SealConfig;
use std::path::PathBuf;

fn template(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../cluster/production")
        .join(name)
}

#[test]
fn the_production_template_is_a_hardened_three_node_region() {
    let configs: Vec<NodeConfig> = (1..=3)
        .map(|n| {
            NodeConfig::load(&template(&format!("node{n}.toml")))
                .unwrap_or_else(|e| panic!("node{n}.toml: {e:#}"))
        })
        .collect();
    for (config, id) in configs.iter().zip(1u64..) {
        assert_eq!(config.node_id, id);
        assert!(
            config.api_tls.is_some(),
            "node {id}: the KMS API without TLS"
        );
        let raft_tls = config.raft_tls.as_ref().expect("Raft without mutual TLS");
        assert!(
            raft_tls.cert.ends_with(format!("node{id}.pem")),
            "node {id}: another node's certificate"
        );
        assert!(!config.insecure_plaintext_raft);
        assert!(
            config.credentials.is_empty(),
            "node {id}: credentials in the config file"
        );
        assert!(
            config.identities.is_some() && config.audit_log.is_some() && config.deny_list.is_some()
        );
        assert!(
            matches!(config.seal, Some(SealConfig::Pkcs11(_))),
            "node {id}: not sealed by PKCS#11"
        );
        assert!(!config.allow_reset && config.seed.is_none());
        assert_eq!(config.members.len(), 3);
        assert_eq!(config.members.get(&id), Some(&config.raft_addr));
        assert_eq!(config.members, configs[0].members);
        assert_eq!(config.region, configs[0].region);
    }
    let bootstrapping: Vec<u64> = configs
        .iter()
        .filter(|c| c.bootstrap)
        .map(|c| c.node_id)
        .collect();
    assert_eq!(bootstrapping, vec![1]);
}

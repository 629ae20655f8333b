//! `cluster.json`: what `trent up` writes once every node answers, for tools that talk to the
//! running cluster (account, one access key, every region's API endpoints).

use crate::node::NodeConfig;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

/// The document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterFile {
    /// The account id in ARNs.
    pub account_id: String,
    /// An access key every node accepts.
    pub credentials: ClusterCredentials,
    /// Region name to its nodes.
    pub regions: BTreeMap<String, ClusterRegion>,
}

/// The access key of [`ClusterFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
}

/// One region of [`ClusterFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRegion {
    /// `http://host:port` API endpoints, in the order of the configs.
    pub endpoints: Vec<String>,
}

impl ClusterFile {
    /// Describes the nodes of `configs` (in order); the account and access key are the first
    /// node's.
    pub fn describe(configs: &[&NodeConfig]) -> anyhow::Result<ClusterFile> {
        let first = configs.first().context("no nodes to describe")?;
        let credential = first.credentials.first().context("no credentials")?;
        let mut regions: BTreeMap<String, ClusterRegion> = BTreeMap::new();
        for config in configs {
            regions
                .entry(config.region.clone())
                .or_insert_with(|| ClusterRegion {
                    endpoints: Vec::new(),
                })
                .endpoints
                .push(format!("http://{}", config.api_addr));
        }
        Ok(ClusterFile {
            account_id: first.account_id.clone(),
            credentials: ClusterCredentials {
                access_key_id: credential.access_key_id.clone(),
                secret_access_key: credential.secret_access_key.clone(),
            },
            regions,
        })
    }

    /// Writes the document (pretty JSON) to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Parses the document's text.
    pub fn parse(text: &str) -> anyhow::Result<ClusterFile> {
        serde_json::from_str(text).context("parsing cluster.json")
    }

    /// Every region's API addresses; each region of `expected` must have at least one.
    pub fn endpoints(
        &self,
        expected: &[&str],
    ) -> anyhow::Result<BTreeMap<String, Vec<SocketAddr>>> {
        let mut regions = BTreeMap::new();
        for (region, entry) in &self.regions {
            let addrs = entry
                .endpoints
                .iter()
                .map(|url| {
                    let host = url
                        .strip_prefix("http://")
                        .unwrap_or(url)
                        .trim_end_matches('/');
                    host.parse::<SocketAddr>()
                        .with_context(|| format!("cluster.json: bad endpoint '{url}' in {region}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            regions.insert(region.clone(), addrs);
        }
        for region in expected {
            if regions.get(*region).is_none_or(Vec::is_empty) {
                bail!("cluster.json lists no endpoints for {region}");
            }
        }
        Ok(regions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_parsed_per_region() {
        let text = r#"{"account_id": "111122223333",
            "credentials": {"access_key_id": "a", "secret_access_key": "b"},
            "regions": {
                "us-east-1": {"endpoints": ["http://127.0.0.1:8101", "http://127.0.0.1:8102"]},
                "us-west-2": {"endpoints": ["http://127.0.0.1:8111/"]}}}"#;
        let file = ClusterFile::parse(text).expect("valid");
        let regions = file.endpoints(&["us-east-1", "us-west-2"]).expect("valid");
        assert_eq!(
            regions["us-west-2"],
            [SocketAddr::from(([127, 0, 0, 1], 8111))]
        );
        assert_eq!(regions["us-east-1"].len(), 2);
        assert!(file.endpoints(&["eu-west-1"]).is_err());
        assert!(ClusterFile::parse("{\"regions\": {").is_err());
    }

    #[test]
    fn described_configs_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let regions = ["us-east-1", "us-west-2"]
            .iter()
            .enumerate()
            .map(|(i, r)| {
                crate::RegionPlan::new(r, (1..=2).map(|n| crate::NodeAddrs::fixed(i, n)).collect())
            })
            .collect();
        let credential = crate::Credential {
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            account_id: None,
        };
        let topology = crate::Topology::new(dir.path(), regions, credential);
        let configs: Vec<NodeConfig> = (0..2)
            .flat_map(|r| (0..2).map(move |n| (r, n)))
            .map(|(r, n)| topology.node_config(r, n))
            .collect();
        let described =
            ClusterFile::describe(&configs.iter().collect::<Vec<_>>()).expect("describe");
        let path = dir.path().join("cluster.json");
        described.write(&path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(ClusterFile::parse(&text).expect("parse"), described);
        assert_eq!(
            described.regions["us-west-2"].endpoints,
            ["http://127.0.0.1:8111", "http://127.0.0.1:8112"]
        );
        assert_eq!(described.credentials.access_key_id, "k");
    }
}

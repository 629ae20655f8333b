//! The local-cluster launcher behind `make run`: generates the local topology (regions from
//! `TRENT_REGIONS`, default `us-east-1,us-west-2`; `TRENT_NODES_PER_REGION` nodes each,
//! default 3) with its node configs, root keys and inter-region certificates under the data
//! directory (or reads hand-written configs from `--cluster-dir`), starts every node, waits
//! until every region answers, writes `data/cluster.json`, prints how to reach it, and stops
//! the nodes on Ctrl-C.

use crate::config::{Credential, LinkConfig, NodeConfig, RaftTls, RaftTuning, DEFAULT_ACCOUNT_ID};
use anyhow::{bail, Context};
use kms_crypto::RootKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// One node the launcher started.
struct Started {
    config: NodeConfig,
    child: Child,
}

/// Reads every `*.toml` under `cluster_dir/<region>/`, sorted by path.
pub fn read_topology(cluster_dir: &Path) -> anyhow::Result<Vec<(PathBuf, NodeConfig)>> {
    let mut files = Vec::new();
    for region in std::fs::read_dir(cluster_dir)
        .with_context(|| format!("reading {}", cluster_dir.display()))?
    {
        let region = region?.path();
        if !region.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&region)? {
            let file = file?.path();
            if file.extension().is_some_and(|e| e == "toml") {
                files.push(file);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|f| NodeConfig::load(&f).map(|c| (f, c)))
        .collect()
}

/// The regions and nodes per region `make run` starts, from the environment.
pub fn topology_from_env() -> anyhow::Result<(Vec<String>, u64)> {
    let regions: Vec<String> = std::env::var("TRENT_REGIONS")
        .unwrap_or_else(|_| "us-east-1,us-west-2".into())
        .split(',')
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    let nodes: u64 = match std::env::var("TRENT_NODES_PER_REGION") {
        Ok(n) => n
            .trim()
            .parse()
            .with_context(|| format!("TRENT_NODES_PER_REGION must be a number, got '{n}'"))?,
        Err(_) => 3,
    };
    if regions.is_empty() || regions.len() > 10 {
        bail!("TRENT_REGIONS must name 1 to 10 regions");
    }
    if !(1..=9).contains(&nodes) {
        bail!("TRENT_NODES_PER_REGION must be 1 to 9");
    }
    let mut seen = std::collections::BTreeSet::new();
    for region in &regions {
        let valid = region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid || !seen.insert(region.clone()) {
            bail!("TRENT_REGIONS: '{region}' is not a distinct region name like us-east-1");
        }
    }
    Ok((regions, nodes))
}

/// Writes the configs of a local topology under `data_dir/config/<region>/node<N>.toml`:
/// region `i` (0-based), node `n` listens on 127.0.0.1 ports 8100+10i+n (KMS API),
/// 8200+10i+n (Raft, mutual TLS) and 8300+10i+n (inter-region link, mutual TLS), with
/// certificates from one local CA under `data_dir/pki`. Returns the paths.
pub fn write_local_topology(
    data_dir: &Path,
    regions: &[String],
    nodes_per_region: u64,
) -> anyhow::Result<Vec<PathBuf>> {
    let port = |base: u64, region: usize, node: u64| {
        format!("127.0.0.1:{}", base + 10 * region as u64 + node)
    };
    let pki = data_dir.join("pki");
    // One CA for the local deployment: each region's certificate serves mutual TLS between its
    // nodes (Raft) and between regions (the link).
    kms_link::pki::generate_local_pki(&pki, regions)?;
    RootKey::load_or_create(&data_dir.join("sts.key")).context("creating the STS token key")?;
    let mut paths = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        let dir = data_dir.join("config").join(region);
        std::fs::create_dir_all(&dir)?;
        let members: BTreeMap<u64, String> = (1..=nodes_per_region)
            .map(|n| (n, port(8200, i, n)))
            .collect();
        for n in 1..=nodes_per_region {
            let link = (regions.len() > 1).then(|| LinkConfig {
                addr: port(8300, i, n),
                ca_cert: pki.join("ca.pem"),
                cert: pki.join(format!("{region}.pem")),
                key: pki.join(format!("{region}.key")),
                peers: regions
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| *r != region)
                    .map(|(j, r)| {
                        (
                            r.clone(),
                            (1..=nodes_per_region).map(|m| port(8300, j, m)).collect(),
                        )
                    })
                    .collect(),
            });
            let config = NodeConfig {
                node_id: n,
                region: region.clone(),
                api_addr: port(8100, i, n),
                raft_addr: port(8200, i, n),
                data_dir: data_dir.join(region).join(format!("node{n}")),
                root_key_path: data_dir.join(region).join("root.key"),
                account_id: DEFAULT_ACCOUNT_ID.into(),
                bootstrap: n == 1,
                members: members.clone(),
                credentials: vec![Credential {
                    access_key_id: "test".into(),
                    secret_access_key: "test".into(),
                }],
                raft: RaftTuning::default(),
                identities: None,
                audit_log: None,
                raft_tls: Some(RaftTls {
                    ca_cert: pki.join("ca.pem"),
                    cert: pki.join(format!("{region}.pem")),
                    key: pki.join(format!("{region}.key")),
                }),
                sts_key: Some(data_dir.join("sts.key")),
                api_tls: None,
                link,
            };
            let path = dir.join(format!("node{n}.toml"));
            let text = format!(
                "# Generated by `trent up` for the local topology; edits are overwritten.\n{}",
                toml::to_string(&config)?
            );
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            paths.push(path);
        }
    }
    Ok(paths)
}

/// Runs the local cluster until SIGINT/SIGTERM: the configs under `cluster_dir`, or the
/// topology from the environment when `cluster_dir` is `None`.
pub async fn up(cluster_dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let topology = match cluster_dir {
        Some(dir) => read_topology(dir)?,
        None => {
            let (regions, nodes) = topology_from_env()?;
            write_local_topology(data_dir, &regions, nodes)?
                .into_iter()
                .map(|f| NodeConfig::load(&f).map(|c| (f, c)))
                .collect::<anyhow::Result<_>>()?
        }
    };
    if topology.is_empty() {
        bail!("no node configs found");
    }
    std::fs::create_dir_all(data_dir)?;
    for (_, config) in &topology {
        if let Some(parent) = config.root_key_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        RootKey::load_or_create(&config.root_key_path).with_context(|| {
            format!("preparing the root key {}", config.root_key_path.display())
        })?;
    }
    let exe = std::env::current_exe().context("locating the trent binary")?;
    let mut nodes = Vec::new();
    for (path, config) in topology {
        let log_path = data_dir.join(format!("{}-node{}.log", config.region, config.node_id));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let child = Command::new(&exe)
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting node {}", path.display()))?;
        nodes.push(Started { config, child });
    }
    let ready = wait_ready(&nodes).await;
    if let Err(e) = ready {
        stop(&mut nodes).await;
        return Err(e.context(format!(
            "the cluster did not come up; see the logs in {}",
            data_dir.display()
        )));
    }
    write_cluster_json(&nodes, data_dir)?;
    print_banner(&nodes, data_dir);
    wait_for_signal_or_exit(&mut nodes).await;
    stop(&mut nodes).await;
    Ok(())
}

async fn wait_ready(nodes: &[Started]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in nodes {
        loop {
            if ready(&http, &node.config).await {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "node {} of {} did not answer",
                    node.config.node_id,
                    node.config.region
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// Ready means: a signed ListKeys through this node succeeds (so the region has a leader).
async fn ready(http: &reqwest::Client, config: &NodeConfig) -> bool {
    let Some(credential) = config.credentials.first() else {
        return false;
    };
    let host = config.api_addr.clone();
    let body = b"{}";
    let target = "TrentService.ListKeys";
    let content_type = "application/x-amz-json-1.1";
    let signed = kms_api::sigv4::sign_kms_call(
        &host,
        target,
        body,
        (&credential.access_key_id, &credential.secret_access_key),
        &config.region,
        time::OffsetDateTime::now_utc(),
    );
    let response = http
        .post(format!("http://{host}/"))
        .header("content-type", content_type)
        .header("x-amz-target", target)
        .header("x-amz-date", signed.x_amz_date)
        .header("authorization", signed.authorization)
        .body(body.to_vec())
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    matches!(response, Ok(r) if r.status().is_success())
}

fn write_cluster_json(nodes: &[Started], data_dir: &Path) -> anyhow::Result<()> {
    let first = &nodes[0].config;
    let credential = first.credentials.first().context("no credentials")?;
    let mut regions = serde_json::Map::new();
    for node in nodes {
        let entry = regions
            .entry(node.config.region.clone())
            .or_insert_with(|| serde_json::json!({"endpoints": []}));
        if let Some(list) = entry["endpoints"].as_array_mut() {
            list.push(serde_json::Value::String(format!(
                "http://{}",
                node.config.api_addr
            )));
        }
    }
    let document = serde_json::json!({
        "account_id": first.account_id,
        "credentials": {
            "access_key_id": credential.access_key_id,
            "secret_access_key": credential.secret_access_key,
        },
        "regions": regions,
    });
    let path = data_dir.join("cluster.json");
    std::fs::write(&path, serde_json::to_string_pretty(&document)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn print_banner(nodes: &[Started], data_dir: &Path) {
    let first = &nodes[0].config;
    let credential = &first.credentials[0];
    let mut regions: Vec<&str> = nodes.iter().map(|n| n.config.region.as_str()).collect();
    regions.dedup();
    println!(
        "\nTrent is running: {} region(s), {} nodes (data in {}).",
        regions.len(),
        nodes.len(),
        data_dir.display()
    );
    for node in nodes {
        println!(
            "  {} node {}: http://{}",
            node.config.region, node.config.node_id, node.config.api_addr
        );
    }
    println!("\nAccount {}; credentials:", first.account_id);
    println!("  export AWS_ACCESS_KEY_ID={}", credential.access_key_id);
    println!(
        "  export AWS_SECRET_ACCESS_KEY={}",
        credential.secret_access_key
    );
    println!("  export AWS_DEFAULT_REGION={}", first.region);
    println!("\nAny node serves every region (the region your request is signed for). Try:");
    println!(
        "  aws kms create-key --endpoint-url http://{} --region {}",
        first.api_addr, first.region
    );
    if let Some(other) = regions.iter().find(|r| **r != first.region) {
        println!(
            "  aws kms create-key --multi-region --endpoint-url http://{} --region {}",
            first.api_addr, first.region
        );
        println!(
            "  aws kms replicate-key --key-id mrk-... --replica-region {other} --endpoint-url http://{} --region {}",
            first.api_addr, first.region
        );
    }
    println!(
        "\nCluster description for tools: {}",
        data_dir.join("cluster.json").display()
    );
    println!("Press Ctrl-C to stop.");
}

async fn wait_for_signal_or_exit(nodes: &mut [Started]) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = interrupt.recv() => return,
            _ = terminate.recv() => return,
            _ = check.tick() => {
                for node in nodes.iter_mut() {
                    if let Ok(Some(status)) = node.child.try_wait() {
                        eprintln!("node {} of {} exited ({status}); stopping the cluster", node.config.node_id, node.config.region);
                        return;
                    }
                }
            }
        }
    }
}

/// Asks every node to stop (SIGTERM), waits up to 10 s, then kills what is left.
async fn stop(nodes: &mut [Started]) {
    for node in nodes.iter() {
        if let Some(pid) = node.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
    }
    for node in nodes.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(10), node.child.wait())
            .await
            .is_err()
        {
            let _ = node.child.kill().await;
        }
    }
    println!("Trent stopped.");
}

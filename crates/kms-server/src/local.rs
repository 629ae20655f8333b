//! The local-cluster launcher behind `make run`: generates the local topology (regions from
//! `TRENT_REGIONS`, default `us-east-1,us-west-2`; `TRENT_NODES_PER_REGION` nodes each,
//! default 3) with kms-config's topology writer (node configs, the SoftHSM2 token that seals
//! the root keys, and inter-region certificates under the data directory), or reads
//! hand-written configs from `--cluster-dir` and sets up the local PKI and the SoftHSM2 token
//! they name where missing; starts every node, waits until every region answers, writes
//! `data/cluster.json`, prints how to reach it, and hands the nodes to the [`Supervisor`]
//! until Ctrl-C.

use crate::config::{Credential, NodeConfig};
use crate::supervisor::{ControlSocket, Node, RestartPolicy, Supervisor};
use anyhow::{bail, Context};
use kms_config::{ClusterFile, NodeAddrs, RegionPlan, Topology};
use kms_crypto::RootKey;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Reads every `*.toml` under `cluster_dir/<region>/`, sorted by path. A subdirectory counts
/// as a region's when one of its `*.toml` files names that region (`region = "<dir name>"`);
/// the others are skipped with a note, like `cluster/production/` (a template whose configs
/// are for hosts elsewhere, beside its identities file) when `trent up --cluster-dir cluster`
/// runs `cluster/us-east-1/`.
pub fn read_topology(cluster_dir: &Path) -> anyhow::Result<Vec<(PathBuf, NodeConfig)>> {
    let mut regions = Vec::new();
    for region in std::fs::read_dir(cluster_dir)
        .with_context(|| format!("reading {}", cluster_dir.display()))?
    {
        let region = region?.path();
        if region.is_dir() {
            regions.push(region);
        }
    }
    regions.sort();
    let mut files = Vec::new();
    for region in regions {
        let mut tomls = Vec::new();
        for file in std::fs::read_dir(&region)? {
            let file = file?.path();
            if file.extension().is_some_and(|e| e == "toml") {
                tomls.push(file);
            }
        }
        if tomls.is_empty() {
            continue;
        }
        let name = region.file_name().and_then(|n| n.to_str());
        if !tomls
            .iter()
            .any(|file| NodeConfig::region_named_in(file).as_deref() == name)
        {
            println!(
                "Skipping {}: no config in it is for a region of that name.",
                region.display()
            );
            continue;
        }
        files.extend(tomls);
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let config = NodeConfig::load(&f)?;
            let dir = f.parent().and_then(Path::file_name);
            if dir.and_then(|d| d.to_str()) != Some(config.region.as_str()) {
                bail!(
                    "{} is a node config of region {}, in another region's directory",
                    f.display(),
                    config.region
                );
            }
            Ok((f, config))
        })
        .collect()
}

/// For hand-written configs (`--cluster-dir`) whose `[raft_tls]` points into a local PKI
/// directory (the CA certificate's directory, in [`kms_link::PkiLayout`]'s layout): creates
/// that CA if it is missing and issues each node's certificate that is missing, as
/// `trent pki` would. A node whose certificate paths are elsewhere is left to its operator.
fn issue_missing_certificates(topology: &[(PathBuf, NodeConfig)]) -> anyhow::Result<()> {
    let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<kms_link::RegionNodes>> =
        std::collections::BTreeMap::new();
    for (_, config) in topology {
        let Some(tls) = &config.raft_tls else {
            continue;
        };
        let Some(dir) = tls.ca_cert.parent() else {
            continue;
        };
        let layout = kms_link::PkiLayout::new(dir);
        if layout.node_cert(&config.region, config.node_id) != tls.cert {
            continue;
        }
        let regions = by_dir.entry(dir.to_path_buf()).or_default();
        match regions.iter_mut().find(|r| r.region == config.region) {
            Some(region) => region.nodes.push(config.node_id),
            None => regions.push(kms_link::RegionNodes {
                region: config.region.clone(),
                nodes: vec![config.node_id],
            }),
        }
    }
    for (dir, regions) in by_dir {
        kms_link::generate_local_pki(&dir, &regions)
            .with_context(|| format!("creating the local PKI in {}", dir.display()))?;
    }
    Ok(())
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

/// The local topology of `make run` under `data_dir`, in kms-config's layout (configs at
/// `data_dir/<region>/node<N>.toml`, data in `data_dir/<region>/node<N>/`): region `i`
/// (0-based), node `n` listens on 127.0.0.1 ports 8100+10i+n (KMS API), 8200+10i+n (Raft,
/// mutual TLS) and 8300+10i+n (inter-region link, mutual TLS), with certificates from one
/// local CA under `data_dir/pki`, and each region's root
/// key sealed by a SoftHSM2 token under `data_dir/hsm` (the PKCS#11 seal).
pub fn local_topology(
    data_dir: &Path,
    regions: &[String],
    nodes_per_region: u64,
) -> anyhow::Result<Topology> {
    let plans = regions
        .iter()
        .enumerate()
        .map(|(i, region)| {
            let addrs = (1..=nodes_per_region).map(|n| NodeAddrs::fixed(i, n));
            RegionPlan::new(region, addrs.collect())
        })
        .collect();
    let credential = Credential {
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        account_id: None,
    };
    let mut topology = Topology::new(data_dir, plans, credential);
    // One CA for the local deployment: each node's certificate serves mutual TLS between the
    // region's nodes (Raft, the default) and between regions (the link).
    // STS needs no file: each region's session keys come from its root key. A `sts.key` that
    // an earlier `trent up` made stays the nodes' secrets key, so `secret_sealed` values made
    // with it still open.
    if data_dir.join("sts.key").is_file() && !data_dir.join("secrets.key").exists() {
        std::fs::rename(data_dir.join("sts.key"), data_dir.join("secrets.key"))
            .context("renaming the earlier sts.key to secrets.key")?;
    }
    topology.secrets_key = data_dir.join("secrets.key").is_file();
    topology.header =
        vec!["Generated by `trent up` for the local topology; edits are overwritten.".into()];
    topology.softhsm_module = Some(
        kms_seal::pkcs11::find_softhsm2_module()
            .context("the local cluster seals its root keys with SoftHSM2")?,
    );
    Ok(topology)
}

/// Runs the local cluster until SIGINT/SIGTERM: the configs under `cluster_dir`, or the
/// topology from the environment when `cluster_dir` is `None`. A node that exits is reported
/// and handled by `policy`; the others keep running.
pub async fn up(
    cluster_dir: Option<&Path>,
    data_dir: &Path,
    policy: RestartPolicy,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)?;
    let control = ControlSocket::claim(data_dir)?;
    let topology = match cluster_dir {
        Some(dir) => read_topology(dir)?,
        None => {
            let (regions, nodes) = topology_from_env()?;
            local_topology(data_dir, &regions, nodes)?
                .write()?
                .into_iter()
                .map(|node| NodeConfig::load(&node.path).map(|c| (node.path, c)))
                .collect::<anyhow::Result<_>>()?
        }
    };
    if topology.is_empty() {
        bail!("no node configs found");
    }
    std::fs::create_dir_all(data_dir)?;
    issue_missing_certificates(&topology)?;
    for (path, config) in &topology {
        prepare_root_key(path, config).await?;
    }
    let exe = std::env::current_exe().context("locating the trent binary")?;
    let mut supervisor = Supervisor::start(exe, control, topology, policy)?;
    // A SIGINT/SIGTERM while the nodes come up stops them too (without this, trent up died of
    // the signal and left its nodes running on the fixed ports).
    let ready = tokio::select! {
        ready = wait_ready(&mut supervisor.nodes) => ready,
        () = stop_requested() => {
            supervisor.stop_all().await;
            println!("Trent stopped before it was ready.");
            return Ok(());
        }
    };
    if let Err(e) = ready {
        supervisor.stop_all().await;
        return Err(e.context(format!(
            "the cluster did not come up; see the logs in {}",
            data_dir.display()
        )));
    }
    write_cluster_json(&supervisor.nodes, data_dir)?;
    print_banner(&supervisor.nodes, data_dir, policy);
    let result = supervisor.run().await;
    supervisor.stop_all().await;
    println!("Trent stopped.");
    result
}

/// Resolves at the first SIGINT or SIGTERM (never, if the handlers cannot be installed).
async fn stop_requested() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// Makes sure a node's root key exists before the node starts: under an auto-unsealing seal,
/// the sealed file (sealing the plaintext root key an earlier version left, or a new one),
/// after setting up a local SoftHSM2 token, its PIN file and the wrapping key where the
/// PKCS#11 seal names one that is missing (as the topology writer does for `make run`);
/// without a seal, the plaintext file. A Shamir-sealed region is left to `trent operator init`.
async fn prepare_root_key(path: &Path, config: &NodeConfig) -> anyhow::Result<()> {
    if let Some(kms_seal::SealConfig::Pkcs11(pkcs11)) = &config.seal {
        kms_config::prepare_softhsm_seal(pkcs11)
            .with_context(|| format!("preparing the seal of {}", path.display()))?;
    }
    match &config.seal {
        None => {
            if let Some(parent) = config.root_key_path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            RootKey::load_or_create(&config.root_key_path).with_context(|| {
                format!("preparing the root key {}", config.root_key_path.display())
            })?;
        }
        Some(seal) if seal.auto_unseals() => {
            if let Some(parent) = seal.sealed_root_key().parent() {
                std::fs::create_dir_all(parent)?;
            }
            let prepared =
                kms_seal::ensure_sealed(seal, &config.region, &config.root_key_path, true)
                    .await
                    .with_context(|| {
                        format!(
                            "sealing the root key of {} with the {} seal",
                            config.region,
                            seal.kind()
                        )
                    })?;
            if prepared == kms_seal::Prepared::Migrated {
                println!(
                    "Sealed the plaintext root key of {} ({}) under the {} seal and destroyed \
                     the plaintext file.",
                    config.region,
                    config.root_key_path.display(),
                    seal.kind()
                );
            }
        }
        Some(_) => {}
    }
    Ok(())
}

async fn wait_ready(nodes: &mut [Node]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in nodes {
        loop {
            if ready(&http, &node.config).await {
                break;
            }
            if let Some(status) = node.exited() {
                // A node that stops by itself at start (a refused seed, a bad config) says why
                // in its log's last error.
                let log = std::fs::read_to_string(node.log_path()).unwrap_or_default();
                let last = |what: &str| log.lines().rev().find(|line| line.contains(what));
                let why = last(" ERROR ").or_else(|| last("Error")).unwrap_or("");
                bail!(
                    "node {} exited ({status}) before serving: {why}",
                    node.name()
                );
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

fn write_cluster_json(nodes: &[Node], data_dir: &Path) -> anyhow::Result<()> {
    let configs: Vec<&NodeConfig> = nodes.iter().map(|n| &n.config).collect();
    ClusterFile::describe(&configs)?.write(&data_dir.join("cluster.json"))
}

fn print_banner(nodes: &[Node], data_dir: &Path, policy: RestartPolicy) {
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
    println!(
        "\nWeb console (sign in with the credentials below): http://{}/console/",
        first.api_addr
    );
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
    let restarts = match policy {
        RestartPolicy::Never => "a node that exits stays stopped",
        RestartPolicy::OnFailure => "a node that fails is restarted",
        RestartPolicy::Always => "a node that exits is restarted",
    };
    println!(
        "Nodes: `trent node status|start|stop|restart REGION/N --data-dir {}` ({restarts}; \
         the others keep running).",
        data_dir.display()
    );
    println!("Press Ctrl-C to stop.");
}

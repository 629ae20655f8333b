//! `trent`: run a node, create a region root key, seal and unseal it (`operator`), or run the
//! local cluster of `make run`.

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's allocator (fewer cycles per request on the hot path).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "trent",
    about = "A self-hosted key management service speaking the AWS KMS API"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run one node from its config file.
    Serve {
        /// The node's TOML config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Seal an access key's secret (read from standard input) for an identities file's
    /// `secret_sealed`, with the secrets key the nodes hold.
    SealSecret {
        /// The secrets key file (`secrets_key` in the node config; `trent root-key --create`
        /// makes one).
        #[arg(long, alias = "sts-key")]
        secrets_key: PathBuf,
        /// The access key id the secret belongs to (the sealed secret is bound to it).
        #[arg(long)]
        access_key_id: String,
    },
    /// Check or search a node's audit log (`<data_dir>/audit.jsonl`).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Create (or extend) the internal CA: one certificate per node for mutual TLS on the Raft
    /// port and the inter-region link, an operator certificate for `/raft/status` and an empty
    /// deny-list. With the CA in place only missing certificates are issued.
    Pki {
        /// Where to write ca.pem, REGION/nodeN.pem/.key, operator.pem/.key and revoked.txt.
        #[arg(long)]
        dir: PathBuf,
        /// Comma-separated region names.
        #[arg(long)]
        regions: String,
        /// Node ids 1 to N in every region.
        #[arg(long, default_value_t = 3)]
        nodes: u64,
    },
    /// Create a region root key file (32 random bytes, mode 0600).
    RootKey {
        /// Where to write it; fails if it exists.
        #[arg(long)]
        create: PathBuf,
    },
    /// Run a local cluster until Ctrl-C: the regions of TRENT_REGIONS (default
    /// us-east-1,us-west-2) with TRENT_NODES_PER_REGION nodes each (default 3), or the node
    /// configs under CLUSTER_DIR/REGION/.
    Up {
        /// Directory of hand-written per-region node configs (instead of the generated ones).
        #[arg(long)]
        cluster_dir: Option<PathBuf>,
        /// Where cluster.json and the node logs go.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// What to do when a node exits on its own (the other nodes keep running either way).
        #[arg(long, value_enum, default_value = "never")]
        restart: kms_server::supervisor::RestartPolicy,
    },
    /// The root key's seal: initialise Shamir shares, unseal a node, show its seal status.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Drive one node of the local cluster that `trent up` runs on DATA_DIR.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
        /// The data directory `trent up` was started with.
        #[arg(long, default_value = "data", global = true)]
        data_dir: PathBuf,
    },
    /// The region's health as its nodes see it (from each node's /metrics): seal state, Raft
    /// role, term, leader, log/applied/snapshot index, the leader's lag per follower, outbox
    /// depth per peer region, keys. Exits 1 unless every region is healthy (every node answers,
    /// is unsealed, and all agree on one leader).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Back up a region to one file through one of its nodes, or check a backup file.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Restore a backup into a new, empty region of the same name and root key, through one
    /// of its nodes (the region keeps serving; the restore goes through its Raft log).
    Restore {
        #[command(flatten)]
        target: RaftTargetArgs,
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
    },
    /// Run an external key store proxy (XKS Proxy API v1) from its config, or with
    /// `create-key` make a key in its token.
    XksProxy(XksProxyArgs),
}

/// `trent xks-proxy --config FILE` serves; its subcommands manage the token's keys.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct XksProxyArgs {
    /// The proxy's TOML config (see cluster/xks-proxy.example.toml).
    #[arg(long, required = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<XksProxyCommand>,
}

#[derive(Subcommand)]
enum XksProxyCommand {
    /// Create an AES-256 key in the config's token (sensitive, never extractable, encrypt and
    /// decrypt only) whose label is the external key id.
    CreateKey {
        /// The proxy's TOML config.
        #[arg(long)]
        config: PathBuf,
        /// The external key id (1 to 128 characters of A-Z a-z 0-9 . - _).
        #[arg(long)]
        key_id: String,
    },
}

/// A node's Raft port and the operator certificate, for backup and restore.
#[derive(clap::Args)]
struct RaftTargetArgs {
    /// The node's Raft address, host:port.
    #[arg(long)]
    node: String,
    /// The node's region.
    #[arg(long)]
    region: String,
    /// The PKI directory with ca.pem, operator.pem and operator.key (`trent up`: DATA_DIR/pki).
    /// Leave it out only for a Raft port on plain HTTP.
    #[arg(long)]
    pki: Option<PathBuf>,
}

impl RaftTargetArgs {
    fn target(self) -> kms_server::operator_client::RaftTarget {
        kms_server::operator_client::RaftTarget {
            node: self.node,
            region: self.region,
            pki: self.pki,
        }
    }
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Write a consistent image of the region (after a linearizable read barrier, so every
    /// write acknowledged before it is in) to a new file: keys, aliases, grants, policies,
    /// tags, rotations, multi-region records, key material still wrapped by the root key.
    Create {
        #[command(flatten)]
        target: RaftTargetArgs,
        /// The file to write (must not exist; mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a backup file without restoring it: format, version, length, checksum, and that
    /// its state decodes and holds what its header says.
    Verify {
        /// The backup file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// One line per node, grouped by region.
    Status {
        /// The data directory of a `trent up` cluster (its cluster.json lists the nodes).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Nodes to ask instead, as REGION=http://host:port (repeatable; plain HTTP).
        #[arg(long = "node")]
        nodes: Vec<String>,
    },
    /// The region's voters and learners as one node knows them (JSON), with the operator
    /// certificate on its Raft port.
    Members {
        #[command(flatten)]
        target: RaftTargetArgs,
    },
    /// Add a running, fresh node (its config names this region, `bootstrap = false`, and its
    /// certificate comes from the region's CA, e.g. `trent pki --nodes 4`): it joins as a
    /// learner, catches up with the log, then becomes a voter (joint consensus).
    AddNode {
        #[command(flatten)]
        target: RaftTargetArgs,
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// The new node's Raft address, host:port.
        #[arg(long)]
        raft_addr: String,
    },
    /// Remove a node from the region. Refused when the voters left would not have a majority
    /// that answers, unless --force.
    RemoveNode {
        #[command(flatten)]
        target: RaftTargetArgs,
        /// The node's id.
        #[arg(long)]
        id: u64,
        /// Remove it even if the voters left have no live quorum.
        #[arg(long)]
        force: bool,
    },
    /// Put a fresh node in a (dead) voter's place: the new node catches up as a learner, then
    /// one joint-consensus change makes it a voter and drops the old one.
    ReplaceNode {
        #[command(flatten)]
        target: RaftTargetArgs,
        /// The id of the voter to replace.
        #[arg(long)]
        old: u64,
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// The new node's Raft address, host:port.
        #[arg(long)]
        raft_addr: String,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Every node with its state and pid.
    Status,
    /// Start a stopped node, e.g. `us-east-1/2`.
    Start {
        /// REGION/N.
        node: String,
    },
    /// Stop a node (SIGTERM, SIGKILL after 10 s); it stays stopped until started.
    Stop {
        /// REGION/N.
        node: String,
    },
    /// Stop and start a node.
    Restart {
        /// REGION/N.
        node: String,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Bring the region's root key under the node config's seal. Shamir: seal it under a new
    /// split and print the shares (the plaintext root key an earlier version left at
    /// root_key_path is sealed and destroyed; otherwise a new root key is made); the shares'
    /// key is never written anywhere. PKCS#11: create the AES-256 wrapping key in the token if
    /// it is missing (sensitive, not extractable), then seal the plaintext root key found at
    /// root_key_path and destroy that file (run once on each node, each with its own HSM, after
    /// copying the region's one root key there). Writes `[seal] sealed_root_key`.
    Init {
        /// A node config of the region with `[seal] kind = "shamir"` or `"pkcs11"`.
        #[arg(long)]
        config: PathBuf,
        /// How many shares to deal (Shamir).
        #[arg(long, default_value_t = 5)]
        shares: u8,
        /// How many shares unseal (Shamir).
        #[arg(long, default_value_t = 3)]
        threshold: u8,
    },
    /// Submit one unseal share to a node (read from standard input unless given); prints the
    /// progress. Run it once per share, on every node of the region. A share goes over
    /// HTTPS (`--addr https://HOST:PORT --ca FILE`), or over plain HTTP only to a loopback
    /// address; anything else is refused before the share is read.
    Unseal {
        /// The node's KMS API address: https://HOST:PORT (its `[api_tls]` port), or HOST:PORT
        /// (plain HTTP; loopback only).
        #[arg(long)]
        addr: String,
        /// The PEM file of the CA certificate the node's API certificate chains to (or that
        /// certificate itself, if self-signed), for https://; default: the system's roots.
        #[arg(long)]
        ca: Option<PathBuf>,
        /// The share (else one line of standard input, so it stays out of shell history).
        #[arg(long)]
        share: Option<String>,
        /// Forget the shares submitted so far instead.
        #[arg(long)]
        reset: bool,
    },
    /// Rotate the region's root key: a new generation wraps new material from now on, the
    /// leader re-wraps every key's material under it in the background (nothing stops serving),
    /// then the old generations are retired. The sealed root key, which wraps the generations,
    /// stays.
    RotateRootKey {
        #[command(flatten)]
        target: RaftTargetArgs,
        /// Wait until the old generations are retired, printing the progress.
        #[arg(long)]
        wait: bool,
    },
    /// Print the region's root-key generations and the rotation's progress (JSON).
    RootKeyStatus {
        #[command(flatten)]
        target: RaftTargetArgs,
    },
    /// Print a node's seal status (JSON).
    Status {
        /// The node's KMS API address: https://HOST:PORT (its `[api_tls]` port), or HOST:PORT
        /// (plain HTTP).
        #[arg(long)]
        addr: String,
        /// The PEM file of the CA certificate the node's API certificate chains to (or that
        /// certificate itself, if self-signed), for https://; default: the system's roots.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
}

async fn operator_init(config: &std::path::Path, shares: u8, threshold: u8) -> anyhow::Result<()> {
    let config = kms_server::config::NodeConfig::load(config)?;
    let shamir = match &config.seal {
        Some(kms_seal::SealConfig::Shamir(shamir)) => shamir,
        Some(seal @ kms_seal::SealConfig::Pkcs11(pkcs11)) => {
            return operator_init_pkcs11(&config, seal, pkcs11).await
        }
        _ => anyhow::bail!(
            "operator init needs a node config whose [seal] has kind = \"shamir\" or \"pkcs11\""
        ),
    };
    let (prepared, dealt) = kms_seal::init_shamir(
        shamir,
        &config.region,
        &config.root_key_path,
        shares,
        threshold,
    )?;
    let what = match prepared {
        kms_seal::Prepared::Migrated => "the existing plaintext root key (its file is destroyed)",
        _ => "a new root key",
    };
    println!(
        "Sealed {what} of {} into {}.\n\nUnseal shares ({threshold} of {shares} unseal each \
         node; give each to a different operator, store them apart, they are shown only once):\n",
        config.region,
        shamir.sealed_root_key.display()
    );
    for (i, share) in dealt.iter().enumerate() {
        println!("Share {}: {share}", i + 1);
    }
    println!(
        "\nStart the nodes, then on each run `trent operator unseal --addr https://HOST:PORT --ca \
         CA.pem` (plain HOST:PORT only on the node's own host) {threshold} times with different \
         shares."
    );
    Ok(())
}

/// `trent operator init` for a PKCS#11 seal: the token's wrapping key, then the plaintext root
/// key sealed under it and destroyed. Never makes a root key: the region's nodes must share one.
async fn operator_init_pkcs11(
    config: &kms_server::config::NodeConfig,
    seal: &kms_seal::SealConfig,
    pkcs11: &kms_seal::Pkcs11Config,
) -> anyhow::Result<()> {
    kms_seal::pkcs11::ensure_key(pkcs11)?;
    let prepared =
        kms_seal::ensure_sealed(seal, &config.region, &config.root_key_path, false).await?;
    let done = match prepared {
        kms_seal::Prepared::Existing => "was already sealed",
        _ => "is sealed (the plaintext file is destroyed)",
    };
    println!(
        "The root key of {} {done}: {} under key '{}' of token '{}'. The node unseals by itself \
         at every start.",
        config.region,
        pkcs11.sealed_root_key.display(),
        pkcs11.key_label,
        pkcs11.token_label
    );
    Ok(())
}

/// `trent operator unseal|status`: one seal call, the node's answer printed; fails when the
/// node refused it, with its reason.
async fn operator_call(
    target: &kms_server::operator_client::ApiTarget,
    call: kms_server::operator_client::SealCall,
) -> anyhow::Result<()> {
    let (ok, answer) = kms_server::operator_client::seal_call(target, call).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    if !ok {
        anyhow::bail!(
            "refused: {}",
            answer["errors"][0]
                .as_str()
                .unwrap_or("see the answer above")
        );
    }
    Ok(())
}

/// `trent cluster add-node|remove-node|replace-node`: the change, then the new membership.
async fn membership_change(
    target: RaftTargetArgs,
    change: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    let view = kms_server::operator_client::change_members(&target.target(), change, &body).await?;
    println!("{}", serde_json::to_string_pretty(&view)?);
    Ok(())
}

/// `trent cluster status`: the nodes given, else those of `data_dir/cluster.json`.
async fn cluster_status(data_dir: &std::path::Path, nodes: &[String]) -> anyhow::Result<()> {
    use kms_server::cluster_status::Target;
    let targets: Vec<Target> = if nodes.is_empty() {
        let path = data_dir.join("cluster.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "reading {} (is `trent up` running there?): {e}",
                path.display()
            )
        })?;
        let file = kms_config::ClusterFile::parse(&text)?;
        file.regions
            .into_iter()
            .flat_map(|(region, nodes)| {
                nodes.endpoints.into_iter().map(move |endpoint| Target {
                    region: region.clone(),
                    endpoint,
                })
            })
            .collect()
    } else {
        nodes
            .iter()
            .map(|node| {
                let (region, endpoint) = node.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!("--node takes REGION=http://host:port, got '{node}'")
                })?;
                Ok(Target {
                    region: region.to_string(),
                    endpoint: endpoint.to_string(),
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    let (report, healthy) = kms_server::cluster_status::report(targets).await?;
    print!("{report}");
    if !healthy {
        std::process::exit(1);
    }
    Ok(())
}

async fn operator(command: OperatorCommand) -> anyhow::Result<()> {
    use kms_server::operator_client::{ApiTarget, SealCall};
    match command {
        OperatorCommand::Init {
            config,
            shares,
            threshold,
        } => operator_init(&config, shares, threshold).await,
        OperatorCommand::Status { addr, ca } => {
            let target = ApiTarget::parse(&addr, ca.as_deref())?;
            operator_call(&target, SealCall::Status).await
        }
        OperatorCommand::RotateRootKey { target, wait } => {
            let target = target.target();
            let generation = kms_server::operator_client::rotate_root_key(&target).await?;
            println!("root-key generation {generation} wraps new material; re-wrapping the rest");
            if wait {
                loop {
                    let status = kms_server::operator_client::root_key_status(&target).await?;
                    if status["retired_below"].as_u64() >= Some(generation) {
                        println!("done: {status}");
                        break;
                    }
                    println!("{status}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
            Ok(())
        }
        OperatorCommand::RootKeyStatus { target } => {
            let status = kms_server::operator_client::root_key_status(&target.target()).await?;
            println!("{status}");
            Ok(())
        }
        OperatorCommand::Unseal {
            addr, ca, reset, ..
        } if reset => {
            let target = ApiTarget::parse(&addr, ca.as_deref())?;
            operator_call(&target, SealCall::Reset).await
        }
        OperatorCommand::Unseal {
            addr, ca, share, ..
        } => {
            let target = ApiTarget::parse(&addr, ca.as_deref())?;
            // Before the share is read: nothing is typed for an address it may not go to.
            target.check_share_transport()?;
            let share = match share {
                Some(share) => zeroize::Zeroizing::new(share),
                None => {
                    let mut line = zeroize::Zeroizing::new(String::new());
                    std::io::stdin().read_line(&mut line)?;
                    line
                }
            };
            operator_call(&target, SealCall::Share(share)).await
        }
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; exit 1 at the first line that was changed, removed, added or
    /// reordered (or a tail cut off behind the head anchor).
    Verify {
        /// The audit log.
        log: PathBuf,
    },
    /// Print matching events as JSON Lines.
    Query {
        /// The audit log.
        log: PathBuf,
        /// Only this operation (e.g. Decrypt).
        #[arg(long)]
        event_name: Option<String>,
        /// Only events about this key (id or ARN).
        #[arg(long)]
        key: Option<String>,
        /// Only this principal ARN.
        #[arg(long)]
        principal: Option<String>,
        /// Only failed or denied calls.
        #[arg(long)]
        failed: bool,
        /// At most this many events.
        #[arg(long)]
        limit: Option<usize>,
    },
}

fn audit(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { log } => {
            let report = kms_audit::verify(&log)?;
            println!(
                "{} events verified, head {} (anchor: {:?})",
                report.events, report.head_hash, report.anchor
            );
            if let Some(failure) = &report.failure {
                println!("TAMPERED: {failure:?}");
                std::process::exit(1);
            }
            Ok(())
        }
        AuditCommand::Query {
            log,
            event_name,
            key,
            principal,
            failed,
            limit,
        } => {
            let mut filter = kms_audit::Filter::new();
            if let Some(name) = event_name {
                filter = filter.event_name(name);
            }
            if let Some(key) = key {
                filter = filter.key(key);
            }
            if let Some(principal) = principal {
                filter = filter.principal_arn(principal);
            }
            if failed {
                filter = filter.error(kms_audit::ErrorFilter::Failed);
            }
            if let Some(limit) = limit {
                filter = filter.limit(limit);
            }
            for event in kms_audit::query(&log, &filter)? {
                println!("{}", serde_json::to_string(&event)?);
            }
            Ok(())
        }
    }
}

/// Runs the command line; also the body of the `trent-test` binary.
#[tokio::main]
pub async fn main() -> anyhow::Result<()> {
    kms_server::logging::init();
    // Every TLS configuration in the process, including clients built without one, runs on
    // kms-crypto's provider.
    if !kms_crypto::install_tls_provider() {
        tracing::warn!("another rustls provider was installed first");
    }
    match Cli::parse().command {
        Commands::Serve { config } => {
            kms_server::process_hygiene::harden()?;
            kms_server::node::serve(kms_server::config::NodeConfig::load(&config)?).await
        }
        Commands::RootKey { create } => {
            kms_crypto::RootKey::create_file(&create)?;
            println!("created {}", create.display());
            Ok(())
        }
        Commands::Up {
            cluster_dir,
            data_dir,
            restart,
        } => {
            // `trent up` makes and seals root keys; its nodes harden themselves too.
            kms_server::process_hygiene::harden()?;
            kms_server::local::up(cluster_dir.as_deref(), &data_dir, restart).await
        }
        Commands::Cluster {
            command: ClusterCommand::Status { data_dir, nodes },
        } => cluster_status(&data_dir, &nodes).await,
        Commands::Cluster {
            command: ClusterCommand::Members { target },
        } => {
            let view = kms_server::operator_client::members(&target.target()).await?;
            println!("{}", serde_json::to_string_pretty(&view)?);
            Ok(())
        }
        Commands::Cluster {
            command:
                ClusterCommand::AddNode {
                    target,
                    id,
                    raft_addr,
                },
        } => {
            let body = serde_json::json!({"id": id, "raft_addr": raft_addr});
            membership_change(target, "add", body).await
        }
        Commands::Cluster {
            command: ClusterCommand::RemoveNode { target, id, force },
        } => {
            let body = serde_json::json!({"id": id, "force": force});
            membership_change(target, "remove", body).await
        }
        Commands::Cluster {
            command:
                ClusterCommand::ReplaceNode {
                    target,
                    old,
                    id,
                    raft_addr,
                },
        } => {
            let body = serde_json::json!({"old": old, "id": id, "raft_addr": raft_addr});
            membership_change(target, "replace", body).await
        }
        Commands::Backup {
            command: BackupCommand::Create { target, out },
        } => {
            let header = kms_server::operator_client::create(&target.target(), &out).await?;
            println!(
                "wrote {}: {}",
                out.display(),
                kms_server::operator_client::describe(&header)
            );
            Ok(())
        }
        Commands::Backup {
            command: BackupCommand::Verify { file },
        } => {
            let header = kms_server::operator_client::verify(&file)?;
            println!(
                "{} is whole: {}",
                file.display(),
                kms_server::operator_client::describe(&header)
            );
            Ok(())
        }
        Commands::XksProxy(XksProxyArgs {
            command: Some(XksProxyCommand::CreateKey { config, key_id }),
            ..
        }) => {
            let served = kms_xks_proxy::create_key(&config, &key_id)?;
            println!("created the AES-256 key {key_id}");
            if !served {
                println!(
                    "no store of {} serves it yet: add it to a store's keys",
                    config.display()
                );
            }
            Ok(())
        }
        Commands::XksProxy(XksProxyArgs { config, .. }) => {
            let config = config.ok_or_else(|| anyhow::anyhow!("--config is required"))?;
            // The proxy holds the token PIN and the SigV4 secrets.
            kms_server::process_hygiene::harden()?;
            Ok(kms_xks_proxy::run(&config).await?)
        }
        Commands::Restore { target, from } => {
            let answer = kms_server::operator_client::restore(&target.target(), &from).await?;
            println!("restored {}: {answer}", from.display());
            Ok(())
        }
        Commands::Node { command, data_dir } => {
            let request = match command {
                NodeCommand::Status => "status".to_string(),
                NodeCommand::Start { node } => format!("start {node}"),
                NodeCommand::Stop { node } => format!("stop {node}"),
                NodeCommand::Restart { node } => format!("restart {node}"),
            };
            let answer = kms_server::supervisor::request(&data_dir, &request).await?;
            println!("{}", answer.replace("; ", "\n"));
            Ok(())
        }
        Commands::Audit { command } => audit(command),
        Commands::Operator { command } => operator(command).await,
        Commands::SealSecret {
            secrets_key,
            access_key_id,
        } => {
            let key = kms_crypto::RootKey::load(&secrets_key)?;
            let mut secret = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut secret)?;
            println!(
                "{}",
                kms_authz::identities::seal_secret(&key, &access_key_id, secret.trim_end())
            );
            Ok(())
        }
        Commands::Pki {
            dir,
            regions,
            nodes,
        } => {
            let regions: Vec<String> = regions.split(',').map(str::to_string).collect();
            let plan: Vec<kms_link::RegionNodes> = regions
                .iter()
                .map(|region| kms_link::RegionNodes {
                    region: region.clone(),
                    nodes: (1..=nodes).collect(),
                })
                .collect();
            kms_link::pki::generate_local_pki(&dir, &plan)?;
            println!(
                "node certificates (1 to {nodes}) for {} in {}",
                regions.join(", "),
                dir.display()
            );
            Ok(())
        }
    }
}

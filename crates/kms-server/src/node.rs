//! Starting and stopping one node: Raft, the public KMS listener, the internal Raft listener,
//! and, once the root key is unsealed (`seal_state`), the region's service, the link to other
//! regions and the leader's background tasks.

use crate::config::NodeConfig;
use crate::seal_state::{self, SealGate, SealState};
use crate::service::{system_clock, Kms};
use anyhow::Context;
use kms_api::{ApiConfig, CredentialStore};
use kms_authz::audit::AuditTrail;
use kms_authz::{IdentityStore, RootCredential};
use kms_crypto::RootKey;
use kms_raft::{RaftSettings, RegionRaft};
use kms_replication::{RegionLink, Replication};
use kms_types::Clock;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

/// Runs a node until SIGINT or SIGTERM, then stops it cleanly.
pub async fn serve(config: NodeConfig) -> anyhow::Result<()> {
    serve_with_clock(config, system_clock()).await
}

/// [`serve`] with an injected clock.
pub async fn serve_with_clock(config: NodeConfig, clock: Clock) -> anyhow::Result<()> {
    // The node starts sealed: Raft and the API run without the root key; KMS calls are served
    // once the seal hands it over (`seal_state`).
    let seal = SealState::new(&config.region, config.seal.as_ref());
    // Mutual TLS between the region's nodes: every node presents its own certificate and
    // admits only members of its region's group (`raft_admission`).
    let raft_identity = match &config.raft_tls {
        Some(tls) => {
            let identity = kms_link::tls::LinkIdentity::load(&tls.ca_cert, &tls.cert, &tls.key)
                .context("loading the Raft certificate")?;
            check_names_this_node(&identity, &config, "raft_tls.cert")?;
            Some(identity)
        }
        None => {
            // `validate` allows this only with the explicit flag and loopback addresses.
            tracing::warn!(
                raft = %config.raft_addr,
                "insecure_plaintext_raft = true: the Raft port speaks plain HTTP and anyone \
                 who reaches it can commit any command; configure [raft_tls]"
            );
            None
        }
    };
    let deny_list = Arc::new(
        kms_link::tls::DenyList::load(config.deny_list.as_deref())
            .context("loading the deny-list")?,
    );
    let settings = RaftSettings {
        heartbeat_ms: config.raft.heartbeat_ms,
        election_timeout_ms: config.raft.election_timeout_ms,
        snapshot_after_entries: config.raft.snapshot_after_entries,
        leader_wait: Duration::from_secs(5),
        tls_client: match &raft_identity {
            Some(identity) => Some(kms_link::tls::client_for_region(identity, &config.region)?),
            None => None,
        },
        source_ip: None,
        wire_version: raft_wire_version(),
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let raft = RegionRaft::start(config.node_id, &config.data_dir, settings)
        .await
        .map_err(anyhow::Error::msg)?;

    let internal = tokio::net::TcpListener::bind(&config.raft_addr)
        .await
        .with_context(|| format!("binding the raft address {}", config.raft_addr))?;
    let api = tokio::net::TcpListener::bind(&config.api_addr)
        .await
        .with_context(|| format!("binding the API address {}", config.api_addr))?;

    if config.bootstrap
        && raft
            .initialize(config.members.clone())
            .await
            .map_err(anyhow::Error::msg)?
    {
        tracing::info!(members = ?config.members, "formed a new region");
    }

    let mut reloading: Vec<kms_link::tls::LinkIdentity> = raft_identity.iter().cloned().collect();
    let link_identity = match &config.link {
        Some(link_config) => {
            let identity = kms_link::tls::LinkIdentity::load(
                &link_config.ca_cert,
                &link_config.cert,
                &link_config.key,
            )
            .context("loading the link certificate")?;
            check_names_this_node(&identity, &config, "link.cert")?;
            reloading.push(identity.clone());
            // Checked now, with a stand-in transport key, so a bad link config fails the start;
            // the real link is built once the root key is unsealed.
            RegionLink::new(
                &config.region,
                &link_config.peers,
                &identity,
                RootKey::generate().transport_key(),
            )
            .context("setting up the link to other regions")?;
            Some(identity)
        }
        None => None,
    };
    let secrets_key = match &config.secrets_key {
        Some(path) => Some(
            RootKey::load(path)
                .with_context(|| format!("loading the secrets key {}", path.display()))?,
        ),
        None => None,
    };
    let root_credentials: Vec<RootCredential> = config
        .credentials
        .iter()
        .map(|c| RootCredential {
            access_key_id: c.access_key_id.clone(),
            secret_access_key: c.secret_access_key.clone(),
            account: c.account_id.clone(),
        })
        .collect();
    let identities = Arc::new(
        IdentityStore::new(
            &config.account_id,
            &root_credentials,
            config.identities.as_deref(),
            secrets_key,
            clock.clone(),
        )
        .context("loading identities")?,
    );
    // The seed file is checked now, so a bad one fails the start; it is applied once unsealed.
    let seed = match &config.seed {
        Some(path) => Some(crate::seed::Seed::load(path, &config.served_regions())?),
        None => None,
    };
    let gate = Arc::new(SealGate::new(seal.clone(), identities.clone()));
    let mut background = vec![tokio::spawn(kms_authz::identities::watch(
        identities.clone(),
    ))];
    // Certificates and the deny-list are re-read while the node runs.
    background.push(tokio::spawn(kms_link::tls::watch(
        reloading,
        deny_list.clone(),
        Duration::from_secs(1),
    )));
    let audit_path = config
        .audit_log
        .clone()
        .unwrap_or_else(|| config.data_dir.join("audit.jsonl"));
    let audit = AuditTrail::open(&audit_path, &config.region, &config.account_id)?;
    seal_state::start(&seal, config.seal.as_ref(), config.root_key_path.clone())?;
    let credentials: Arc<dyn CredentialStore + Send + Sync> = identities.clone();
    let metrics = Arc::new(crate::metrics::Metrics::new());
    metrics.set_build(
        raft.wire_version(),
        kms_replication::link::link_wire_version(),
        kms_raft::STORE_FORMAT_VERSION,
    );
    let observers = crate::metrics::Observers(vec![Arc::new(audit), metrics.clone()]);
    let api_config =
        ApiConfig::new(config.served_regions(), credentials).with_observer(Arc::new(observers));
    let (kms_tx, kms_rx) = tokio::sync::oneshot::channel();
    let unsealed = tokio::spawn(serve_unsealed(Unsealing {
        config: config.clone(),
        raft: raft.clone(),
        clock: clock.clone(),
        identities: identities.clone(),
        seal: seal.clone(),
        gate: gate.clone(),
        link_identity,
        seed,
        // Calls forwarded from other regions pass the same checks and audit trail.
        front_door: api_config.clone(),
        deny_list: deny_list.clone(),
        kms_tx,
    }));
    // The console is nested beside the KMS API on the same port; its calls come back to this
    // node's API as ordinary signed requests.
    // Over a TLS API the console's calls to this node trust exactly its own certificate.
    let (console_api, console_http) = match &config.api_tls {
        Some(tls) => (
            format!("https://{}", config.api_addr),
            kms_link::pinned_client(&tls.cert).context("the console's client for the TLS API")?,
        ),
        None => (
            format!("http://{}", config.api_addr),
            reqwest::Client::new(),
        ),
    };
    let mut region_endpoints = config.region_endpoints.clone();
    region_endpoints
        .entry(config.region.clone())
        .or_insert_with(|| vec![console_api.clone()]);
    let console = kms_console::router(kms_console::ConsoleConfig {
        api_addr: console_api,
        http: console_http,
        account_id: config.account_id.clone(),
        region: config.region.clone(),
        node: Arc::new(crate::console_view::ConsoleNode {
            identities: identities.clone(),
            region_endpoints,
            audit_path: audit_path.clone(),
        }),
    });
    let reset_routes = config
        .allow_reset
        .then(|| crate::reset::router(gate.clone()));
    let mut api_router = kms_api::router(api_config, gate.clone())
        .merge(console)
        .merge(seal_state::router(seal.clone()))
        .merge(crate::metrics::router(gate.clone(), metrics));
    if let Some(reset_routes) = reset_routes {
        api_router = api_router.merge(reset_routes);
    }
    let internal_router = raft
        .internal_router()
        .merge(crate::backup_ops::router(crate::backup_ops::BackupRoutes {
            region: config.region.clone(),
            peers: config
                .link
                .as_ref()
                .map(|link| link.peers.keys().cloned().collect())
                .unwrap_or_default(),
            raft: raft.clone(),
            seal: seal.clone(),
            clock: clock.clone(),
        }))
        .merge(crate::root_key_ops::router(gate.clone()))
        .merge(crate::membership_ops::router(raft.clone()));

    let shutdown = shutdown_signal();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let api_task = match &config.api_tls {
        None => tokio::spawn(
            axum::serve(
                api,
                api_router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
        ),
        Some(tls) => {
            drop(api);
            let listener = kms_link::tls::TlsListener::bind(
                &config.api_addr,
                kms_link::tls::api_server_config(&tls.cert, &tls.key)?,
            )
            .await
            .with_context(|| format!("binding the TLS API address {}", config.api_addr))?;
            // Requests over TLS carry their peer address and the SecureTransport marker.
            let api_router = api_router.layer(axum::middleware::map_request(
                |mut request: axum::extract::Request| async move {
                    let peer = request
                        .extensions()
                        .get::<axum::extract::ConnectInfo<kms_link::tls::PeerInfo>>()
                        .map(|info| info.0.addr);
                    if let Some(addr) = peer {
                        request
                            .extensions_mut()
                            .insert(axum::extract::ConnectInfo(addr));
                    }
                    request.extensions_mut().insert(kms_api::SecureTransport);
                    request
                },
            ));
            tokio::spawn(
                axum::serve(
                    listener,
                    api_router.into_make_service_with_connect_info::<kms_link::tls::PeerInfo>(),
                )
                .with_graceful_shutdown(stopped(stop_rx.clone()))
                .into_future(),
            )
        }
    };
    let internal_task = match &raft_identity {
        None => tokio::spawn(
            axum::serve(
                internal,
                crate::raft_admission::log_only(internal_router)
                    .into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
        ),
        Some(identity) => {
            drop(internal);
            let listener = kms_link::tls::TlsListener::bind(
                &config.raft_addr,
                kms_link::tls::server_config(identity)?,
            )
            .await
            .with_context(|| format!("binding the raft address {}", config.raft_addr))?;
            let internal_router = crate::raft_admission::admit_members(
                internal_router,
                crate::raft_admission::Admission {
                    region: config.region.clone(),
                    raft: raft.clone(),
                    deny_list: deny_list.clone(),
                    initial_members: config.members.keys().copied().collect(),
                },
            );
            tokio::spawn(
                axum::serve(
                    listener,
                    internal_router
                        .into_make_service_with_connect_info::<kms_link::tls::PeerInfo>(),
                )
                .with_graceful_shutdown(stopped(stop_rx.clone()))
                .into_future(),
            )
        }
    };
    tracing::info!(node_id = config.node_id, region = %config.region, api = %config.api_addr, raft = %config.raft_addr, "node serving");

    // A seed that conflicts with the region's state stops the node.
    let refusal = async move {
        match kms_rx.await {
            Ok(kms) => crate::seed::refusal(kms).await,
            Err(_) => std::future::pending().await,
        }
    };
    let refused = tokio::select! {
        _ = shutdown => None,
        error = refusal => Some(error),
    };
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    if unsealed.is_finished() {
        if let Ok(tasks) = unsealed.await {
            background.extend(tasks);
        }
    } else {
        unsealed.abort();
    }
    for task in background {
        task.abort();
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), api_task).await;
    raft.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), internal_task).await;
    tracing::info!("stopped");
    match refused {
        Some(error) => Err(error.context("the seed was refused")),
        None => Ok(()),
    }
}

/// Refuses a certificate that does not name this node (its region and id): a node speaks only
/// as itself.
fn check_names_this_node(
    identity: &kms_link::tls::LinkIdentity,
    config: &NodeConfig,
    what: &str,
) -> anyhow::Result<()> {
    let (region, node) = (identity.region(), identity.node());
    if region.as_deref() != Some(config.region.as_str()) || node != Some(config.node_id) {
        anyhow::bail!(
            "{what} names region {region:?} node {node:?}, but this is node {} of {}; each node \
             needs its own certificate (`trent pki`)",
            config.node_id,
            config.region
        );
    }
    Ok(())
}

/// What the node needs to start serving once unsealed.
struct Unsealing {
    config: NodeConfig,
    raft: Arc<RegionRaft>,
    clock: Clock,
    identities: Arc<IdentityStore>,
    seal: Arc<SealState>,
    gate: Arc<SealGate>,
    link_identity: Option<kms_link::tls::LinkIdentity>,
    seed: Option<crate::seed::Seed>,
    /// The front door's configuration, for calls forwarded from other regions.
    front_door: ApiConfig,
    deny_list: Arc<kms_link::tls::DenyList>,
    /// Receives the region's service, for the seed's refusal watch.
    kms_tx: tokio::sync::oneshot::Sender<Arc<Kms>>,
}

/// Once the seal hands over the root key: builds the region's [`Kms`] (with its seed), the
/// link to other regions (listener, shippers), the leader's tasks and the key-use batches, and
/// opens the gate. Returns the tasks it started, for the shutdown to stop.
async fn serve_unsealed(unsealing: Unsealing) -> Vec<tokio::task::JoinHandle<()>> {
    let Unsealing {
        config,
        raft,
        clock,
        identities,
        seal,
        gate,
        link_identity,
        seed,
        front_door,
        deny_list,
        kms_tx,
    } = unsealing;
    let root_key = seal.wait_unsealed().await;
    identities.set_session_keys(&config.region, root_key.sts_session_key());
    let mut tasks = Vec::new();
    let session_identities = identities.clone();
    let mut kms = Kms::new(
        raft,
        root_key.clone(),
        config.region.clone(),
        config.account_id.clone(),
        clock,
        identities,
    )
    .with_front_door(front_door);
    let mut link_parts = None;
    if let (Some(link_config), Some(identity)) = (&config.link, &link_identity) {
        match start_link(link_config, identity, &config.region, &root_key, deny_list).await {
            Ok(parts) => link_parts = Some(parts),
            Err(e) => {
                // The same check passed at start; only the listener's bind can fail here.
                tracing::error!(error = ?e, "the link to other regions could not start");
                std::process::exit(1);
            }
        }
    }
    kms = kms.with_seed(seed).with_reset(config.allow_reset);
    kms = match kms.with_key_stores(config.custom_key_stores.clone()) {
        Ok(kms) => kms,
        Err(e) => {
            tracing::error!(error = %e, "the [custom_key_stores] config cannot be used");
            std::process::exit(1);
        }
    };
    if let Some((replication, _)) = &link_parts {
        kms = kms.with_replication(replication.clone());
    }
    let kms = Arc::new(kms);
    if let Some((replication, listener)) = link_parts {
        tasks.push(tokio::spawn(crate::sts_peers::learn(
            replication.clone(),
            session_identities,
        )));
        tasks.extend(replication.spawn_shippers(kms.clone()));
        let router = replication
            .router(kms.clone())
            .into_make_service_with_connect_info::<kms_link::tls::PeerInfo>();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "the link listener stopped");
            }
        }));
    }
    tasks.push(tokio::spawn(crate::leader_tasks::run(kms.clone())));
    tasks.push(tokio::spawn(crate::key_store_watch::run(kms.clone())));
    tasks.push(tokio::spawn(crate::readiness::catch_up(kms.clone())));
    tasks.push(tokio::spawn(crate::key_use_ops::run(kms.clone())));
    let _ = kms_tx.send(kms.clone());
    gate.open(kms);
    tracing::info!(region = %config.region, "serving KMS calls");
    tasks
}

async fn start_link(
    link_config: &crate::config::LinkConfig,
    identity: &kms_link::tls::LinkIdentity,
    region: &str,
    root_key: &RootKey,
    deny_list: Arc<kms_link::tls::DenyList>,
) -> anyhow::Result<(Arc<Replication>, kms_link::tls::TlsListener)> {
    let link = RegionLink::new(
        region,
        &link_config.peers,
        identity,
        root_key.transport_key(),
    )
    .context("setting up the link to other regions")?
    .with_deny_list(deny_list);
    let listener = kms_link::tls::TlsListener::bind(
        &link_config.addr,
        kms_link::tls::server_config(identity)?,
    )
    .await
    .with_context(|| format!("binding the link address {}", link_config.addr))?;
    Ok((Arc::new(Replication::new(link)), listener))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("could not install signal handlers; stop the node with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// The Raft wire version this node speaks: kms-types' `wire_version::RAFT`, or in a `testing`
/// build `TRENT_TEST_RAFT_WIRE_VERSION` when it is set, to test how peers refuse it.
fn raft_wire_version() -> u32 {
    #[cfg(feature = "testing")]
    if let Some(version) = std::env::var("TRENT_TEST_RAFT_WIRE_VERSION")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        tracing::warn!(
            version,
            "speaking another Raft wire version (testing build)"
        );
        return version;
    }
    kms_types::wire_version::RAFT.version
}

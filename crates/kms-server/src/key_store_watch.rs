//! The leader's watch over custom key stores. A store asked to connect (CONNECTING) is probed
//! and committed CONNECTED, or FAILED with AWS's connection error code; a CONNECTED store is
//! checked every `health_check_secs` of the node's `[custom_key_stores]` config and goes
//! FAILED when its backend fails the check. Each change is a replicated command allowed only
//! from the state the probe started in, so a Disconnect committed meanwhile wins.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_core::{Command, ConnectionChange, CustomKeyStoreRecord};
use kms_types::ConnectionState;

use crate::service::Kms;

/// How often the leader looks at the stores.
const PERIOD: Duration = Duration::from_millis(250);

/// Runs until the process ends.
pub async fn run(kms: Arc<Kms>) {
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let interval = Duration::from_secs(kms.key_store_backends().config().health_check_secs.max(1));
    let mut checked: BTreeMap<String, Instant> = BTreeMap::new();
    loop {
        ticker.tick().await;
        if !kms.is_leader() {
            checked.clear();
            continue;
        }
        let stores: Vec<CustomKeyStoreRecord> =
            kms.read_applied(|state| state.custom_key_stores_to_watch().cloned().collect());
        checked.retain(|id, _| stores.iter().any(|store| &store.id == id));
        for store in stores {
            match store.connection_state {
                ConnectionState::Connecting => {
                    connect(&kms, &store).await;
                    checked.insert(store.id.clone(), Instant::now());
                }
                ConnectionState::Connected => {
                    let due = checked
                        .get(&store.id)
                        .is_none_or(|at| at.elapsed() >= interval);
                    if due {
                        check_health(&kms, &store).await;
                        checked.insert(store.id.clone(), Instant::now());
                    }
                }
                _ => {}
            }
        }
    }
}

async fn commit(kms: &Kms, store: &CustomKeyStoreRecord, change: ConnectionChange) {
    let to = change.to;
    match kms
        .write(Command::SetCustomKeyStoreConnection(change))
        .await
    {
        Ok(_) => tracing::info!(store = %store.id, state = %to, "custom key store connection"),
        Err(e) => tracing::warn!(store = %store.id, error = %e, "custom key store connection"),
    }
}

async fn connect(kms: &Kms, store: &CustomKeyStoreRecord) {
    let (to, error_code) = match kms.probe_key_store(store, "ConnectCustomKeyStore").await {
        Ok(()) => (ConnectionState::Connected, None),
        Err(e) => {
            tracing::warn!(store = %store.id, error = %e, "connecting a custom key store failed");
            (ConnectionState::Failed, Some(e.connection_error_code()))
        }
    };
    let change = ConnectionChange {
        id: store.id.clone(),
        from: vec![ConnectionState::Connecting],
        to,
        error_code,
    };
    commit(kms, store, change).await;
}

async fn check_health(kms: &Kms, store: &CustomKeyStoreRecord) {
    let Err(e) = kms.probe_key_store(store, "KmsHealthCheck").await else {
        return;
    };
    tracing::warn!(store = %store.id, error = %e, "a connected custom key store failed its health check");
    let change = ConnectionChange {
        id: store.id.clone(),
        from: vec![ConnectionState::Connected],
        to: ConnectionState::Failed,
        error_code: Some(e.connection_error_code()),
    };
    commit(kms, store, change).await;
}

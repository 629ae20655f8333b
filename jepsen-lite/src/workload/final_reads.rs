//! The single-region workloads' final phase, after the last heal and once every region has a
//! leader and every node answers ListKeys: `final_list_keys` on every node (create-set's and
//! big-keys' final read on the first region's nodes, and otherwise the probe `liveness`
//! judges), `describe_key` of every key-state key on every first-region node (ordinary reads
//! for the register checker) and `final_decrypt` of every acked crypto-workload ciphertext on
//! every first-region node. The multi-region workload's settle loop and final reads are in
//! `workload::multi_region`.

use super::driver::{perform, Shared};
use crate::client::KmsClient;
use crate::db::Db;
use crate::generator::{Op, Workload, CRYPTO_KEY, KEY_STATE_KEYS};
use crate::history::EventType;
use anyhow::Context;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Clients of some nodes, with the nodes' names.
type NodeClients = Vec<(String, KmsClient)>;

/// The final phase: per-node reads of everything the workloads must still see.
pub(crate) async fn final_phase(
    shared: &Arc<Shared>,
    db: &Db,
    workloads: &[Workload],
    timeout: Duration,
) -> anyhow::Result<()> {
    let clients_of = |indices: Vec<usize>| {
        indices
            .into_iter()
            .map(|i| db.client(i, timeout).map(|c| (db.nodes[i].name.clone(), c)))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    // The single-region workloads' keys live in the first region.
    let first_region = clients_of(db.region_nodes(0))?;
    let other_regions = clients_of(
        (0..db.nodes.len())
            .filter(|&i| db.nodes[i].region_index != 0)
            .collect(),
    )?;
    // Every run ends with `final_list_keys` on every node: the final read of create-set and
    // big-keys (one listing each, on the first region's nodes), and otherwise the liveness
    // probe (`liveness` judges `final_*` ops except the final decrypts). Another region's
    // listings are given to a workload that ignores them, never to a set workload (its keys
    // are not there).
    let mut list_owners: Vec<Workload> = workloads
        .iter()
        .copied()
        .filter(|w| w.lists_keys())
        .collect();
    if list_owners.is_empty() {
        list_owners.push(workloads.first().copied().unwrap_or(Workload::KeyState));
    }
    let list = || {
        vec![Op {
            f: "final_list_keys",
            key: None,
            value: Value::Null,
        }]
    };
    let mut phases: Vec<(Workload, Vec<Op>, &NodeClients)> = list_owners
        .into_iter()
        .map(|owner| (owner, list(), &first_region))
        .collect();
    if let Some(&owner) = workloads.iter().find(|w| !w.lists_keys()) {
        if !other_regions.is_empty() {
            phases.push((owner, list(), &other_regions));
        }
    }
    for &workload in workloads {
        let ops: Vec<Op> = match workload {
            // Ordinary reads, judged by the register checker (a lost write with no later
            // read shows up here).
            Workload::KeyState => KEY_STATE_KEYS
                .iter()
                .map(|k| Op {
                    f: "describe_key",
                    key: Some((*k).to_string()),
                    value: Value::Null,
                })
                .collect(),
            Workload::CreateSet | Workload::BigKeys | Workload::MultiRegion => continue,
            Workload::Crypto => shared
                .recorder
                .events_for(Workload::Crypto)
                .iter()
                .filter(|e| e.f == "encrypt" && e.kind == EventType::Ok)
                .filter_map(|e| e.value.get("ciphertext_b64").cloned())
                .map(|blob| Op {
                    f: "final_decrypt",
                    key: Some(CRYPTO_KEY.to_string()),
                    value: json!({ "ciphertext_b64": blob }),
                })
                .collect(),
        };
        phases.push((workload, ops, &first_region));
    }
    for (workload, ops, clients) in phases {
        let ops = Arc::new(ops);
        // Per node, a few sequential lanes; one process number per lane.
        let mut tasks = tokio::task::JoinSet::new();
        for (name, client) in clients {
            for lane in 0..3usize {
                let (shared, ops, name, client) =
                    (shared.clone(), ops.clone(), name.clone(), client.clone());
                tasks.spawn(async move {
                    let mut process = shared.fresh_process();
                    for op in ops.iter().skip(lane).step_by(3) {
                        if perform(&shared, &client, &name, process, workload, op)
                            .await?
                            .info
                        {
                            process = shared.fresh_process();
                        }
                    }
                    anyhow::Ok(())
                });
            }
        }
        while let Some(result) = tasks.join_next().await {
            result.context("final-phase task")??;
        }
    }
    Ok(())
}

//! The main phase's client workers: which workload and node each gets ([`assignment`]), the
//! single-region worker loop, and `spawn_workers`.
//!
//! Worker `w` of `--concurrency` runs workload `w % W` (of the `W` requested) and talks to node
//! `(w / W + w % W) % 3` of the first region, so each workload's workers are spread over the
//! nodes; a `multi-region` worker holds a client for one node of each region
//! (`workload::multi_region`). A worker's process number starts at its id and is replaced by a
//! fresh one after an `info` (Jepsen rule).

use super::driver::{perform, Shared};
use super::multi_region;
use crate::client::KmsClient;
use crate::db::Db;
use crate::generator::{Counters, Generator, Rng, Workload};
use std::sync::Arc;
use std::time::Duration;

/// One client worker's main loop.
async fn worker(
    shared: Arc<Shared>,
    id: usize,
    workload: Workload,
    node: String,
    client: KmsClient,
    mut generator: Generator,
) -> anyhow::Result<()> {
    let mut process = id as u64;
    while shared.next_slot().await {
        let op = generator.next_op();
        if perform(&shared, &client, &node, process, workload, &op)
            .await?
            .info
        {
            process = shared.fresh_process();
        }
    }
    Ok(())
}

/// Which workload and node worker `w` gets (see the module docs).
pub fn assignment(worker: usize, workloads: usize, nodes: usize) -> (usize, usize) {
    let workloads = workloads.max(1);
    let workload = worker % workloads;
    let node = (worker / workloads + workload) % nodes.max(1);
    (workload, node)
}

/// Spawns the `concurrency` client workers of the main phase (see the module docs); each
/// returns at the deadline.
pub(crate) fn spawn_workers(
    shared: &Arc<Shared>,
    db: &Db,
    workloads: &[Workload],
    concurrency: usize,
    seed: &Rng,
    request_timeout: Duration,
) -> anyhow::Result<tokio::task::JoinSet<anyhow::Result<()>>> {
    let counters = Arc::new(Counters::default());
    let mut workers = tokio::task::JoinSet::new();
    // Single-region workloads use the first region's nodes (all of them with one region).
    let first_region = db.region_nodes(0);
    for id in 0..concurrency {
        let (w, n) = assignment(id, workloads.len(), first_region.len());
        let workload = workloads[w];
        let generator = Generator::new(workload, seed.fork(id as u64), counters.clone());
        if workload == Workload::MultiRegion {
            // Node n of the first region, node n+1 of the second, ...: one client per region.
            let mut clients = Vec::new();
            for region in 0..db.regions.len() {
                let members = db.region_nodes(region);
                let index = members[(n + region) % members.len()];
                clients.push((
                    db.nodes[index].name.clone(),
                    db.client(index, request_timeout)?,
                ));
            }
            workers.spawn(multi_region::worker(shared.clone(), id, clients, generator));
            continue;
        }
        let index = first_region[n];
        let client = db.client(index, request_timeout)?;
        workers.spawn(worker(
            shared.clone(),
            id,
            workload,
            db.nodes[index].name.clone(),
            client,
            generator,
        ));
    }
    Ok(workers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn assignment_spreads_each_workload_over_the_nodes() {
        let mut seen: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for w in 0..6 {
            let (workload, node) = assignment(w, 3, 3);
            seen.entry(workload).or_default().push(node);
        }
        for nodes in seen.values() {
            assert_eq!(nodes.len(), 2);
            assert_ne!(nodes[0], nodes[1]);
        }
        let single: Vec<usize> = (0..6).map(|w| assignment(w, 1, 3).1).collect();
        assert_eq!(single, vec![0, 1, 2, 0, 1, 2]);
    }
}

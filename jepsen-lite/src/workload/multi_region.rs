//! Driving the `multi-region` workload (`--regions 2`): the workers, and the
//! settle loop and final reads after the heal. What each op sends is in `workload::mrk_ops`;
//! the history format and the checkers are in `checker::mrk`.
//!
//! Setup creates the keys `m0`..`m5` in us-east-1 with `MultiRegion: true`. A worker holds one
//! client per region (a node of us-east-1 and a node of us-west-2, each signing for its own
//! region) and draws ops from its seeded stream (`generator`): `mrk_describe` in one region,
//! `mrk_describe_both` (us-east-1 then us-west-2), `mrk_encrypt` in a random region (the
//! acknowledged ciphertext and its plaintext are kept), `mrk_decrypt` of a kept ciphertext in
//! a random region, and three mutations that first read the key (`mrk_describe` in a random
//! region) to learn where the primary is:
//!
//! - `replicate_key`: ReplicateKey on that primary into the other region (once the key is
//!   replicated this answers AlreadyExistsException, a definite failure);
//! - `update_primary_region`: UpdatePrimaryRegion on that primary to the region the read says
//!   is a replica (skipped if it names none);
//! - `rotate_key`: RotateKeyOnDemand on that primary.
//!
//! A read from a stale region can send a mutation to the wrong region; the server refuses it
//! (UnsupportedOperationException), which is recorded like any definite failure. The mutations
//! get [`MUTATION_GRACE`] more than `--request-timeout`, because ReplicateKey and
//! UpdatePrimaryRegion wait up to 2 s for the other region before answering.
//!
//! After the final heal, `final_phase` polls both regions (`mrk_describe` and
//! `list_key_rotations` of every key, through rotating nodes) until every key is converged
//! ([`key_problems`], [`rotation_problems`]) with the same answers for [`QUIET`], or
//! `--settle-timeout` passes; records `mrk_settle`; then reads every key on every node of both
//! regions (`final_mrk_describe`, `final_list_key_rotations`) and decrypts every acknowledged
//! ciphertext in every region that holds its key (`final_mrk_decrypt`, spread over the region's
//! nodes).

use super::driver::{perform, Shared};
use crate::checker::mrk::{
    key_problems, other_region, replicated_keys, rotation_counts, rotation_problems, View,
    F_DECRYPT, F_DESCRIBE, F_ENCRYPT, F_FINAL_DECRYPT, F_FINAL_DESCRIBE, F_FINAL_LIST_ROTATIONS,
    F_LIST_ROTATIONS, F_REPLICATE, F_ROTATE, F_SETTLE, F_UPDATE_PRIMARY, HARNESS,
};
use crate::client::{KmsClient, REGIONS};
use crate::db::Db;
use crate::generator::{Generator, Op, Workload, MRK_KEYS};
use crate::history::{pair, Event, EventType};
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Extra deadline of ReplicateKey and UpdatePrimaryRegion over `--request-timeout` (they wait
/// up to 2 s for the other region).
pub const MUTATION_GRACE: Duration = Duration::from_secs(3);
/// How long the settled state must stay the same before the final reads.
pub const QUIET: Duration = Duration::from_secs(5);
/// Pause between settle rounds.
const SETTLE_POLL: Duration = Duration::from_millis(500);

/// A worker's clients: (node name, client signing for that node's region), one per region.
type Clients = Vec<(String, KmsClient)>;

/// Performs `op` through the client of the op's region; replaces `process` after an `info`.
/// Returns the `ok` value, if any.
async fn run_op(
    shared: &Shared,
    clients: &Clients,
    process: &mut u64,
    op: &Op,
) -> anyhow::Result<Option<Value>> {
    let region = op.value["region"].as_str().unwrap_or(REGIONS[0]);
    let Some((node, client)) = clients
        .iter()
        .find(|(_, c)| c.region() == region)
        .or(clients.first())
    else {
        return Ok(None);
    };
    let client = if [F_REPLICATE, F_UPDATE_PRIMARY].contains(&op.f) {
        client.with_timeout(client.timeout() + MUTATION_GRACE)
    } else {
        client.clone()
    };
    let done = perform(shared, &client, node, *process, Workload::MultiRegion, op).await?;
    if done.info {
        *process = shared.fresh_process();
    }
    Ok(done.ok)
}

fn describe_op(key: &Option<String>, region: &str) -> Op {
    Op {
        f: F_DESCRIBE,
        key: key.clone(),
        value: json!({ "region": region }),
    }
}

/// One generated op, expanded into the history ops it stands for.
async fn step(shared: &Shared, clients: &Clients, process: &mut u64, op: Op) -> anyhow::Result<()> {
    match op.f {
        "mrk_describe_both" => {
            for region in REGIONS {
                run_op(shared, clients, process, &describe_op(&op.key, region)).await?;
            }
        }
        F_REPLICATE | F_UPDATE_PRIMARY | F_ROTATE => {
            let probe_region = op.value["region"].as_str().unwrap_or(REGIONS[0]);
            let probe = describe_op(&op.key, probe_region);
            let Some(view) = run_op(shared, clients, process, &probe)
                .await?
                .as_ref()
                .and_then(View::from_value)
            else {
                return Ok(());
            };
            let Some(primary) = view.primary_region.clone().filter(|_| view.exists) else {
                return Ok(());
            };
            let other = other_region(&primary);
            let value = match op.f {
                F_REPLICATE => json!({ "region": primary, "replica_region": other }),
                F_UPDATE_PRIMARY => {
                    if !view.replica_regions.iter().any(|r| r == other) {
                        return Ok(());
                    }
                    json!({ "region": primary, "primary_region": other })
                }
                _ => json!({ "region": primary }),
            };
            let real = Op {
                f: op.f,
                key: op.key.clone(),
                value,
            };
            run_op(shared, clients, process, &real).await?;
        }
        F_DECRYPT => {
            let picked = {
                let kept = shared
                    .mrk_ciphertexts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let pick = op.value["pick"].as_u64().unwrap_or(0);
                let len = kept.len() as u64;
                (len > 0)
                    .then(|| usize::try_from(pick % len).ok())
                    .flatten()
                    .and_then(|i| kept.get(i).cloned())
            };
            let Some((key, ciphertext, plaintext)) = picked else {
                return Ok(());
            };
            let real = Op {
                f: F_DECRYPT,
                key: Some(key),
                value: json!({
                    "region": op.value["region"],
                    "ciphertext_b64": ciphertext,
                    "expected_b64": plaintext,
                }),
            };
            run_op(shared, clients, process, &real).await?;
        }
        F_ENCRYPT => {
            if let Some(value) = run_op(shared, clients, process, &op).await? {
                if let (Some(key), Some(ct), Some(pt)) = (
                    op.key.clone(),
                    value["ciphertext_b64"].as_str(),
                    value["plaintext_b64"].as_str(),
                ) {
                    shared
                        .mrk_ciphertexts
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((key, ct.to_string(), pt.to_string()));
                }
            }
        }
        _ => {
            run_op(shared, clients, process, &op).await?;
        }
    }
    Ok(())
}

/// One multi-region client worker's main loop (one generated op per rate-limiter slot).
pub(crate) async fn worker(
    shared: Arc<Shared>,
    id: usize,
    clients: Clients,
    mut generator: Generator,
) -> anyhow::Result<()> {
    let mut process = id as u64;
    while shared.next_slot().await {
        let op = generator.next_op();
        step(&shared, &clients, &mut process, op).await?;
    }
    Ok(())
}

/// What one settle round saw of a key: views by region and rotation lists by region.
type Seen = (BTreeMap<String, View>, Vec<(String, Vec<String>)>);

/// The settle loop and the final reads (see the module docs).
/// `timeout` is each request's deadline, `settle_timeout` bounds the settle loop.
pub(crate) async fn final_phase(
    shared: &Arc<Shared>,
    db: &Db,
    timeout: Duration,
    settle_timeout: Duration,
) -> anyhow::Result<()> {
    let events = shared.recorder.events_for(Workload::MultiRegion);
    let ops = pair(&events);
    let replicated = replicated_keys(&ops);
    let rotations = rotation_counts(&ops);
    let by_region: Vec<Vec<(String, KmsClient)>> = (0..db.regions.len())
        .map(|r| {
            db.region_nodes(r)
                .into_iter()
                .map(|i| db.client(i, timeout).map(|c| (db.nodes[i].name.clone(), c)))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let mut process = shared.fresh_process();
    let mut stable: Option<(Instant, BTreeMap<String, Seen>)> = None;
    let mut rounds = 0usize;
    let (settled, problems) = loop {
        let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
        let mut problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in MRK_KEYS {
            let key = Some(key.to_string());
            let mut views = BTreeMap::new();
            let mut lists = Vec::new();
            let mut missing = Vec::new();
            for (region, nodes) in REGIONS.iter().zip(&by_region) {
                let clients: Clients = vec![nodes[rounds % nodes.len()].clone()];
                let read = run_op(shared, &clients, &mut process, &describe_op(&key, region))
                    .await?
                    .as_ref()
                    .and_then(View::from_value);
                let Some(view) = read else {
                    missing.push(format!("DescribeKey in {region} failed"));
                    continue;
                };
                if view.exists {
                    let list = Op {
                        f: F_LIST_ROTATIONS,
                        key: key.clone(),
                        value: json!({ "region": region }),
                    };
                    match run_op(shared, &clients, &mut process, &list).await? {
                        Some(v) if v["exists"] == true => lists.push((
                            (*region).to_string(),
                            v["material_ids"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|m| m.as_str().map(str::to_string))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        )),
                        _ => missing.push(format!("ListKeyRotations in {region} failed")),
                    }
                }
                views.insert((*region).to_string(), view);
            }
            let name = key.clone().unwrap_or_default();
            let (acked, possible) = rotations.get(&name).copied().unwrap_or((0, 0));
            let mut found = missing;
            found.extend(key_problems(&views, replicated.contains(&name)));
            found.extend(rotation_problems(&lists, acked, possible));
            if !found.is_empty() {
                problems.insert(name.clone(), found);
            }
            seen.insert(name, (views, lists));
        }
        rounds += 1;
        if problems.is_empty() {
            match &stable {
                Some((since, before)) if *before == seen => {
                    if since.elapsed() >= QUIET {
                        break (true, problems);
                    }
                }
                _ => stable = Some((Instant::now(), seen)),
            }
        } else {
            stable = None;
        }
        if started.elapsed() >= settle_timeout {
            if problems.is_empty() {
                problems.insert(
                    "*".into(),
                    vec![format!("still changing: not the same for {QUIET:?}")],
                );
            }
            break (false, problems);
        }
        tokio::time::sleep(SETTLE_POLL).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    if settled {
        println!("jl: multi-region keys settled after {seconds:.1}s ({rounds} rounds)");
    } else {
        println!(
            "jl: multi-region keys did NOT settle within {:?}: {problems:?}",
            settle_timeout
        );
    }
    shared.recorder.record(
        Some(Workload::MultiRegion),
        Event::harness_info(
            HARNESS,
            None,
            F_SETTLE,
            json!({
                "settled": settled,
                "seconds": seconds,
                "rounds": rounds,
                "quiet_s": QUIET.as_secs_f64(),
                "problems": problems,
            }),
        ),
    )?;
    final_reads(shared, &by_region).await
}

/// Runs `ops` through `client` on one lane (one process number, renewed after `info`).
async fn lane(
    shared: Arc<Shared>,
    name: String,
    client: KmsClient,
    ops: Vec<Op>,
) -> anyhow::Result<Vec<Option<Value>>> {
    let clients: Clients = vec![(name, client)];
    let mut process = shared.fresh_process();
    let mut results = Vec::new();
    for op in &ops {
        results.push(run_op(&shared, &clients, &mut process, op).await?);
    }
    Ok(results)
}

/// Every key on every node of both regions, then every acked ciphertext in every region that
/// holds its key.
async fn final_reads(
    shared: &Arc<Shared>,
    by_region: &[Vec<(String, KmsClient)>],
) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for (region, nodes) in REGIONS.iter().zip(by_region) {
        for (name, client) in nodes {
            let ops: Vec<Op> = MRK_KEYS
                .iter()
                .flat_map(|key| {
                    [F_FINAL_DESCRIBE, F_FINAL_LIST_ROTATIONS].map(|f| Op {
                        f,
                        key: Some((*key).to_string()),
                        value: json!({ "region": region }),
                    })
                })
                .collect();
            tasks.spawn(lane(shared.clone(), name.clone(), client.clone(), ops));
        }
    }
    while let Some(result) = tasks.join_next().await {
        result.context("final multi-region read")??;
    }
    // The regions holding each key, by the final reads just made (and acked replication).
    let events = shared.recorder.events_for(Workload::MultiRegion);
    let ops = pair(&events);
    let replicated = replicated_keys(&ops);
    let mut holds: BTreeMap<(String, String), bool> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.invoke.f == F_FINAL_DESCRIBE) {
        let (Some(key), Some(completion)) = (&op.invoke.key, &op.completion) else {
            continue;
        };
        if completion.kind == EventType::Ok && completion.value["exists"] == true {
            if let Some(region) = completion.value["region"].as_str() {
                holds.insert((key.clone(), region.to_string()), true);
            }
        }
    }
    let kept: Vec<(String, String, String)> = shared
        .mrk_ciphertexts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for (region, nodes) in REGIONS.iter().zip(by_region) {
        let ops: Vec<Op> = kept
            .iter()
            .filter(|(key, ..)| {
                *region == REGIONS[0]
                    || replicated.contains(key)
                    || holds.contains_key(&(key.clone(), (*region).to_string()))
            })
            .map(|(key, ct, pt)| Op {
                f: F_FINAL_DECRYPT,
                key: Some(key.clone()),
                value: json!({ "region": region, "ciphertext_b64": ct, "expected_b64": pt }),
            })
            .collect();
        // Spread over the region's nodes, two lanes each.
        let lanes = nodes.len() * 2;
        for l in 0..lanes {
            let (name, client) = nodes[l % nodes.len()].clone();
            let share: Vec<Op> = ops.iter().skip(l).step_by(lanes).cloned().collect();
            tasks.spawn(lane(shared.clone(), name, client, share));
        }
    }
    while let Some(result) = tasks.join_next().await {
        result.context("final multi-region decrypt")??;
    }
    Ok(())
}

//! One `jl run`, as a sequence of the other modules' steps: start the region(s) (`db`), create
//! the history (`recorder`) and the workloads' keys (`workload::setup`), run the client workers
//! (`workload::driver`) and the nemesis (`nemesis::injector`) until the deadline, heal, wait
//! for recovery while probing every node's catch-up (`nemesis::catch_up`), run the final phase
//! (`workload::final_reads`, `workload::multi_region`), tear everything down, check the history
//! (`checker::compose`), and write `results.json`, `report.html` (`report`) and the verdict
//! table (`report::table`) into the run's store dir (`store`).
//!
//! With two regions, the single-region workloads (`key-state`, `create-set`, `crypto`) run
//! against us-east-1 only (its nodes `e1`..`e3` play the part of `n1`..`n3`), and the
//! `multi-region` workload talks to both.
//!
//! The nemesis' own catch-up probes are awaited after the final phase.

use crate::checker::availability::PauseOptions;
use crate::checker::catch_up::CatchUpOptions;
use crate::checker::compose::{check_run, stats, RunChecks};
use crate::checker::logs::UnexpectedExit;
use crate::checker::{self, CheckResult, Verdict};
use crate::db::{Db, DbOptions};
use crate::generator::{Rng, Workload};
use crate::nemesis::catch_up::Prober;
use crate::nemesis::fault::Fault;
use crate::nemesis::injector::Nemesis;
use crate::recorder::Recorder;
use crate::report::table::print_table;
use crate::topology::Topology;
use crate::workload::driver::Shared;
use crate::workload::workers::spawn_workers;
use crate::workload::{final_reads, multi_region, setup};
use anyhow::{bail, Context};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything `jl run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The workloads, run concurrently.
    pub workloads: Vec<Workload>,
    /// `--workload` as given (names the store dir).
    pub workload_arg: String,
    /// Requested fault kinds.
    pub faults: Vec<Fault>,
    /// Length of the main phase.
    pub time: Duration,
    /// The seed of every random choice.
    pub seed: u64,
    /// Client workers.
    pub concurrency: usize,
    /// Total client ops per second.
    pub rate: f64,
    /// The `trent` binary.
    pub trent: PathBuf,
    /// Root of the store.
    pub store: PathBuf,
    /// Fault window.
    pub fault_window: Duration,
    /// Heal window.
    pub heal_window: Duration,
    /// Per-request deadline of the main phase.
    pub request_timeout: Duration,
    /// Per-request deadline of setup and final reads.
    pub final_timeout: Duration,
    /// How long the region may take to recover after the final heal.
    pub recovery_timeout: Duration,
    /// Wall-clock budget of the linearizability search.
    pub check_budget: Duration,
    /// `[raft] snapshot_after_entries` of the nodes.
    pub snapshot_after_entries: u64,
    /// A bug planted in every node (`TRENT_PLANTED_BUG`), to prove the checkers catch it.
    pub planted_bug: Option<String>,
    /// Keep the nodes' data dirs even after a valid run (they are always kept otherwise).
    pub keep_data: bool,
    /// Where the nodes live (`loopback` or `netns`).
    pub topology: Topology,
    /// Number of regions (1, or 2 for `multi-region` and `region-split`).
    pub regions: usize,
    /// How long the multi-region keys may take to settle after the final heal.
    pub settle_timeout: Duration,
    /// How long after a heal a node may take to catch up with its leader (`catch_up`).
    pub catch_up_timeout: Duration,
    /// `catch_up` is unknown unless a node needed a snapshot while at least this many bytes of
    /// `big-keys` payload were acknowledged (`--expect-snapshot-mb`).
    pub expect_snapshot_bytes: Option<u64>,
    /// Longest latency `availability_during_pause` accepts (`--failover-latency`).
    pub failover_latency: Duration,
    /// Checks that must come out invalid (`--expect-invalid`, planted-bug runs): if set, the
    /// exit code says whether all of them did (0) or not (1), instead of the verdict's.
    pub expect_invalid: Vec<String>,
    /// The exact command that reruns this test (for the report).
    pub command: String,
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunSummary {
    /// The store dir of this run.
    pub dir: PathBuf,
    /// The combined verdict.
    pub verdict: Verdict,
    /// The process exit code: the verdict's (0 valid, 1 invalid, 2 unknown), or with
    /// `--expect-invalid` 0 if every expected check was invalid and 1 otherwise.
    pub exit_code: i32,
}

impl RunOptions {
    /// The requested fault kinds' CLI names.
    pub fn fault_names(&self) -> Vec<&'static str> {
        self.faults.iter().map(|f| f.name()).collect()
    }

    /// The store dir name of this run (`<workload>-<nemesis kinds joined by '+'>`).
    pub fn test_name(&self) -> String {
        crate::store::test_name(&self.workload_arg, &self.fault_names())
    }
}

/// Runs the whole test; the region is torn down before this returns (also on error).
pub async fn run(options: &RunOptions) -> anyhow::Result<RunSummary> {
    if options.concurrency < options.workloads.len() {
        bail!(
            "--concurrency {} is less than the number of workloads ({})",
            options.concurrency,
            options.workloads.len()
        );
    }
    if options.regions < 2 && options.workloads.contains(&Workload::MultiRegion) {
        bail!("--workload multi-region needs --regions 2");
    }
    if options.regions < 2 && options.faults.iter().any(|f| f.needs_regions()) {
        bail!("--nemesis region-split needs --regions 2");
    }
    let dir = crate::store::timestamp_dir(&options.store.join(options.test_name()))?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    println!("jl: store {}", dir.display());
    println!("jl: rerun with: {}", options.command);
    let db = Db::start(
        &DbOptions {
            trent: options.trent.clone(),
            nodes: 3,
            regions: options.regions,
            snapshot_after_entries: options.snapshot_after_entries,
            planted_bug: options.planted_bug.clone(),
            start_timeout: Duration::from_secs(60),
            topology: options.topology,
            raft_proxies: options.topology == Topology::Loopback
                && options.faults.iter().any(|f| f.needs_raft_proxies()),
        },
        &dir,
    )
    .await?;
    let db = Arc::new(db);
    // Ctrl-C: kill every node before exiting (the watcher holds no strong reference).
    let weak = Arc::downgrade(&db);
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            if let Some(db) = weak.upgrade() {
                db.teardown();
            }
            eprintln!("jl: interrupted; region torn down");
            std::process::exit(130);
        }
    });
    let outcome = drive(options, &db, &dir).await;
    db.teardown();
    watcher.abort();
    let (recorder, exits, recovery) = outcome?;
    let summary = finish(
        options,
        &dir,
        &recorder,
        &exits,
        recovery,
        &db.node_regions(),
    )?;
    if summary.verdict == Verdict::Valid && !options.keep_data {
        // ~75 MB of RocksDB per node; only a failing run's data is worth keeping.
        for node in &db.nodes {
            let _ = std::fs::remove_dir_all(&node.data_dir);
        }
    }
    Ok(summary)
}

type Driven = (Arc<Recorder>, Vec<UnexpectedExit>, Option<f64>);

/// Setup, main phase, heal, recovery, final phase.
async fn drive(options: &RunOptions, db: &Arc<Db>, dir: &Path) -> anyhow::Result<Driven> {
    let recorder = Arc::new(Recorder::create(&dir.join("history.jsonl"))?);
    let setup_client = db.client(0, options.final_timeout)?;
    let keys = setup::setup(
        &recorder,
        &setup_client,
        &db.nodes[0].name,
        &options.workloads,
    )
    .await?;
    let root = Rng::new(options.seed);
    let deadline = Instant::now() + options.time;
    let shared = Arc::new(Shared::new(
        recorder.clone(),
        options.rate,
        options.concurrency,
        keys,
        deadline,
    ));
    let exits = Arc::new(Mutex::new(Vec::new()));
    let prober = Prober {
        db: db.clone(),
        recorder: recorder.clone(),
        bound: options.catch_up_timeout,
        read_timeout: options.final_timeout,
    };
    let nemesis = Nemesis {
        db: db.clone(),
        recorder: recorder.clone(),
        rng: root.fork(u64::MAX),
        faults: options.faults.clone(),
        fault_window: options.fault_window,
        heal_window: options.heal_window,
        exits: exits.clone(),
        prober: prober.clone(),
    };
    let nemesis = tokio::spawn(nemesis.run(deadline));
    let mut workers = spawn_workers(
        &shared,
        db,
        &options.workloads,
        options.concurrency,
        &root,
        options.request_timeout,
    )?;
    println!(
        "jl: {} workers, {} ops/s, {:?} of faults {:?}",
        options.concurrency,
        options.rate,
        options.time,
        options.faults.iter().map(|f| f.name()).collect::<Vec<_>>()
    );
    while let Some(result) = workers.join_next().await {
        result.context("worker task")??;
    }
    let mut probes = nemesis.await.context("nemesis task")??;
    // Final heal and recovery, while every node's catch-up is measured.
    let healed_at = Instant::now();
    db.heal_all()?;
    let (healthy, probed) = tokio::join!(
        db.wait_healthy(options.recovery_timeout),
        prober.final_probes(healed_at)
    );
    probed?;
    let recovery = match healthy {
        Ok(()) => Some(healed_at.elapsed().as_secs_f64()),
        Err(e) => {
            eprintln!("jl: region did not recover: {e:#}");
            None
        }
    };
    if let Some(seconds) = recovery {
        println!("jl: healed; region serving again after {seconds:.2}s; final reads");
    }
    final_reads::final_phase(&shared, db, &options.workloads, options.final_timeout).await?;
    if options.workloads.contains(&Workload::MultiRegion) {
        multi_region::final_phase(&shared, db, options.final_timeout, options.settle_timeout)
            .await?;
    }
    // The nemesis' last probes (bounded by --catch-up-timeout).
    while let Some(result) = probes.join_next().await {
        result.context("catch-up probe")??;
    }
    let crashed = db.reap_crashed();
    let mut exits: Vec<UnexpectedExit> = exits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let at_s = recorder.elapsed().as_secs_f64();
    exits.extend(
        crashed
            .into_iter()
            .map(|(node, status)| UnexpectedExit { node, status, at_s }),
    );
    Ok((recorder, exits, recovery))
}

/// Checks, results.json, report.html and the verdict table. `regions`: node name -> region.
fn finish(
    options: &RunOptions,
    dir: &Path,
    recorder: &Recorder,
    exits: &[UnexpectedExit],
    recovery: Option<f64>,
    regions: &BTreeMap<String, String>,
) -> anyhow::Result<RunSummary> {
    let events = recorder.events();
    let nodes_dir = dir.join("nodes");
    let results = check_run(
        recorder,
        &RunChecks {
            workloads: &options.workloads,
            check_budget: options.check_budget,
            catch_up: CatchUpOptions {
                expect_snapshot_bytes: options.expect_snapshot_bytes,
            },
            availability: applies_availability_during_pause(options).then(|| PauseOptions {
                grace: crate::db::failover_grace(),
                max_latency: options.failover_latency,
                regions: regions.clone(),
            }),
            faults: options.fault_names(),
            nodes_dir: &nodes_dir,
            exits,
        },
    );
    let plain: Vec<CheckResult> = results.iter().map(|r| r.result.clone()).collect();
    let verdict = checker::combine(&plain);
    let missed = missed_expectations(&plain, &options.expect_invalid);
    let exit_code = match (&missed, options.expect_invalid.is_empty()) {
        (_, true) => verdict.exit_code(),
        (missed, false) if missed.is_empty() => 0,
        _ => 1,
    };
    let results_json = json!({
        "verdict": verdict,
        "exit_code": exit_code,
        "expect_invalid": options.expect_invalid,
        "expectations_missed": missed,
        "command": options.command,
        "seed": options.seed,
        "workloads": options.workloads.iter().map(|w| w.name()).collect::<Vec<_>>(),
        "nemesis": options.faults.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "time_s": options.time.as_secs_f64(),
        "concurrency": options.concurrency,
        "rate": options.rate,
        "mode": options.topology.name(),
        "regions": options.regions,
        "recovery_s": recovery,
        "events": events.len(),
        "stats": stats(&events),
        "checks": results.iter().map(|r| json!({
            "workload": r.workload.map(Workload::name),
            "name": r.result.name,
            "verdict": r.result.verdict,
            "details": r.result.details,
        })).collect::<Vec<_>>(),
    });
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results_json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let mode = mode_description(options);
    let report = crate::report::render(&crate::report::ReportInput {
        title: &options.test_name(),
        mode: &mode,
        command: &options.command,
        events: &events,
        results: &results,
        verdict,
        recovery_s: recovery,
    });
    let report_path = dir.join("report.html");
    std::fs::write(&report_path, report)
        .with_context(|| format!("writing {}", report_path.display()))?;
    print_table(&results, verdict);
    println!("jl: results {}", path.display());
    println!("jl: report  {}", report_path.display());
    if !options.expect_invalid.is_empty() {
        if missed.is_empty() {
            println!(
                "jl: expected invalid and invalid: {} (exit 0)",
                options.expect_invalid.join(", ")
            );
        } else {
            println!("jl: NOT caught: {} (exit 1)", missed.join("; "));
        }
    }
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        verdict,
        exit_code,
    })
}

/// The topology in words, for the report.
fn mode_description(options: &RunOptions) -> String {
    let placement = match options.topology {
        Topology::Loopback => "loopback: local trent processes on 127.0.0.1",
        Topology::Netns => "netns: one network namespace per trent process",
    };
    if options.regions > 1 {
        format!(
            "{placement}; {} linked regions of 3 nodes (us-east-1: e1-e3, us-west-2: w1-w3)",
            options.regions
        )
    } else {
        format!("{placement}; one region of 3 nodes (n1-n3)")
    }
}

/// Whether `availability_during_pause` judges this run: it pauses nodes (`pause`,
/// `pause-leader`) and runs a single-region workload.
pub fn applies_availability_during_pause(options: &RunOptions) -> bool {
    options
        .faults
        .iter()
        .any(|f| matches!(f, Fault::Pause | Fault::PauseLeader))
        && options
            .workloads
            .iter()
            .any(|w| *w != Workload::MultiRegion)
}

/// Which of the `expected` checks did not come out invalid, each with what it was instead
/// (`linearizable: valid`, `set_full: not run`).
pub fn missed_expectations(results: &[CheckResult], expected: &[String]) -> Vec<String> {
    expected
        .iter()
        .filter_map(|name| {
            let verdicts: Vec<Verdict> = results
                .iter()
                .filter(|r| &r.name == name)
                .map(|r| r.verdict)
                .collect();
            if verdicts.contains(&Verdict::Invalid) {
                None
            } else if verdicts.is_empty() {
                Some(format!("{name}: not run"))
            } else {
                Some(format!("{name}: {:?}", Verdict::all(verdicts)).to_lowercase())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_need_the_named_checks_invalid() {
        let r = |name: &str, v| CheckResult::new(name, v, serde_json::Value::Null);
        let results = [
            r("linearizable", Verdict::Invalid),
            r("set_full", Verdict::Valid),
            r("fault_coverage", Verdict::Invalid),
        ];
        let expect = |names: &[&str]| -> Vec<String> {
            missed_expectations(
                &results,
                &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            )
        };
        assert!(expect(&["linearizable"]).is_empty());
        assert_eq!(expect(&["set_full"]), ["set_full: valid"]);
        assert_eq!(expect(&["nonce_unique"]), ["nonce_unique: not run"]);
        assert_eq!(expect(&["linearizable", "set_full"]).len(), 1);
    }
}

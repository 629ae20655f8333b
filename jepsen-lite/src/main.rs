//! `jl`: jepsen-lite, chaos testing of a Trent region (or two linked regions) with recorded
//! histories and checkers. See `jepsen-lite/README.md`.
//!
//! `jl run --workload key-state|create-set|crypto|multi-region|all --nemesis
//! kill,pause,kill-leader,... --time 60 --seed N --concurrency 6 --rate 40 --trent <trent binary>
//! --store <dir> [--regions 2]` exits 0 if every check is valid, 1 if any is invalid, 2 if any
//! is unknown or the harness failed.

use clap::{Parser, Subcommand};
use jepsen_lite::generator::Workload;
use jepsen_lite::nemesis::fault::Fault;
use jepsen_lite::runner::{run, RunOptions};
use jepsen_lite::topology::Topology;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "jl",
    about = "jepsen-lite: Jepsen-style chaos testing of a Trent region (or two linked regions)"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Start a 3-node region, or two linked ones (loopback or netns), run workloads under faults,
    /// check the history.
    Run(Box<RunArgs>),
    /// Remove what `--topology netns` creates (namespaces jl-n1..6 and every process still in
    /// them, veths jl-v1..6, bridge jl-br0), e.g. after the harness itself was SIGKILLed.
    /// `jl run --topology netns` also does this before and after each run.
    TeardownNetns,
    /// Faults on a cluster already running under `trent up`: kill REGION/N, kill-leader (of
    /// REGION, if given), pause REGION/N, pause-leader, partition REGION/N (root), heal, status.
    Nemesis(NemesisArgs),
}

#[derive(clap::Args, Debug)]
struct NemesisArgs {
    /// The running cluster's `cluster.json` (`trent up` writes it in its data directory).
    #[arg(long, default_value = "data/cluster.json")]
    cluster: PathBuf,
    /// kill, kill-leader, pause, pause-leader, partition, heal or status.
    fault: String,
    /// The node (`us-east-1/2`) or, for kill-leader and pause-leader, the region.
    target: Option<String>,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// key-state, create-set, crypto, multi-region (needs --regions 2), big-keys (CreateKey with
    /// a ~30 KB policy and an 8 KB description), a comma-separated list of them, or all (the
    /// three single-region workloads concurrently, plus multi-region with --regions 2).
    #[arg(long, default_value = "key-state")]
    workload: String,
    /// Comma-separated faults: kill, pause, kill-leader, pause-leader, kill-majority, kill-all,
    /// kill-follower, clock-skew, lag-follower, wipe-follower, membership, with --topology netns
    /// partition-isolate-leader,
    /// partition-isolate-follower, partition-bridge, partition-ring, packet-loss, and with
    /// --regions 2 region-split (or none).
    #[arg(long, default_value = "kill,pause,kill-leader")]
    nemesis: String,
    /// 1 (us-east-1) or 2 (us-east-1 and us-west-2, 3 nodes each, linked over mutual TLS).
    #[arg(long, default_value_t = 1)]
    regions: usize,
    /// Seconds the multi-region keys may take to settle after the final heal.
    #[arg(long, default_value_t = 60.0)]
    settle_timeout: f64,
    /// Length of the main phase in seconds.
    #[arg(long, default_value_t = 60.0)]
    time: f64,
    /// Seed of every random choice (default: derived from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Client workers (spread over nodes and workloads).
    #[arg(long, default_value_t = 6)]
    concurrency: usize,
    /// Total client operations per second.
    #[arg(long, default_value_t = 40.0)]
    rate: f64,
    /// The `trent` binary.
    #[arg(long, default_value = "trent")]
    trent: PathBuf,
    /// Root of the store; each run gets STORE/WORKLOAD-NEMESIS/UTC-TIMESTAMP/.
    #[arg(long, default_value = "jepsen-lite/store")]
    store: PathBuf,
    /// Seconds each fault stays installed.
    #[arg(long, default_value_t = 5.0)]
    fault_window: f64,
    /// Seconds of healthy operation between faults (and before the first).
    #[arg(long, default_value_t = 5.0)]
    heal_window: f64,
    /// Per-request deadline in seconds during the main phase.
    #[arg(long, default_value_t = 2.0)]
    request_timeout: f64,
    /// Per-request deadline in seconds for setup and final reads.
    #[arg(long, default_value_t = 10.0)]
    final_timeout: f64,
    /// Seconds the region may take to serve again after the final heal.
    #[arg(long, default_value_t = 60.0)]
    recovery_timeout: f64,
    /// Wall-clock budget in seconds of the linearizability search (then: unknown).
    #[arg(long, default_value_t = 60.0)]
    check_budget: f64,
    /// The nodes' `[raft] snapshot_after_entries` (small = snapshots during the run).
    #[arg(long, default_value_t = 200)]
    snapshot_after_entries: u64,
    /// Seconds a node brought back by a heal may take to apply what its leader had applied
    /// (the catch_up check).
    #[arg(long, default_value_t = 30.0)]
    catch_up_timeout: f64,
    /// catch_up is unknown (not valid) unless a restarted node needed a snapshot while at least
    /// this many MB of big-keys payload were acknowledged (regression runs).
    #[arg(long)]
    expect_snapshot_mb: Option<f64>,
    /// Longest latency (seconds) availability_during_pause accepts for an operation on an
    /// unpaused node invoked after the failover grace (2 x 300 ms election timeout + 2 s).
    #[arg(long, default_value_t = 3.0)]
    failover_latency: f64,
    /// Run the nodes with a planted bug (`stale-reads`, `ack-before-commit`; needs a `trent`
    /// built with the `testing` feature, as workspace builds are). The run should then fail.
    #[arg(long)]
    planted_bug: Option<String>,
    /// Comma-separated checks that must come out invalid (planted-bug runs, e.g. linearizable
    /// or set_full): exit 0 if every one of them is invalid, 1 if any is not.
    #[arg(long)]
    expect_invalid: Option<String>,
    /// Keep the nodes' RocksDB dirs after a valid run (always kept after invalid/unknown).
    #[arg(long)]
    keep_data: bool,
    /// loopback (every node on 127.0.0.1) or netns (one network namespace per node behind a
    /// bridge, 10.77.77.0/24; needs root, iproute2 and nftables; enables the partition-*
    /// and packet-loss nemeses).
    #[arg(long, default_value = "loopback")]
    topology: String,
}

fn secs(value: f64, name: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("--{name} {value}: not a duration"))
}

fn options(args: &RunArgs) -> Result<RunOptions, String> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    if args.concurrency == 0 || args.rate <= 0.0 {
        return Err("--concurrency and --rate must be positive".into());
    }
    let mut command = format!(
        "jl run --workload {} --nemesis {} --time {} --seed {seed} --concurrency {} --rate {} \
         --trent {} --store {}",
        args.workload,
        args.nemesis,
        args.time,
        args.concurrency,
        args.rate,
        args.trent.display(),
        args.store.display(),
    );
    if args.fault_window != 5.0 || args.heal_window != 5.0 {
        command.push_str(&format!(
            " --fault-window {} --heal-window {}",
            args.fault_window, args.heal_window
        ));
    }
    if args.request_timeout != 2.0 {
        command.push_str(&format!(" --request-timeout {}", args.request_timeout));
    }
    if args.snapshot_after_entries != 200 {
        command.push_str(&format!(
            " --snapshot-after-entries {}",
            args.snapshot_after_entries
        ));
    }
    if args.catch_up_timeout != 30.0 {
        command.push_str(&format!(" --catch-up-timeout {}", args.catch_up_timeout));
    }
    if let Some(mb) = args.expect_snapshot_mb {
        command.push_str(&format!(" --expect-snapshot-mb {mb}"));
    }
    if args.failover_latency != 3.0 {
        command.push_str(&format!(" --failover-latency {}", args.failover_latency));
    }
    if let Some(bug) = &args.planted_bug {
        command.push_str(&format!(" --planted-bug {bug}"));
    }
    if let Some(checks) = &args.expect_invalid {
        command.push_str(&format!(" --expect-invalid {checks}"));
    }
    let topology = Topology::parse(&args.topology)?;
    if topology != Topology::Loopback {
        command.push_str(&format!(" --topology {}", topology.name()));
    }
    if !(1..=jepsen_lite::client::REGIONS.len()).contains(&args.regions) {
        return Err(format!("--regions {}: expected 1 or 2", args.regions));
    }
    if args.regions != 1 {
        command.push_str(&format!(" --regions {}", args.regions));
    }
    if args.settle_timeout != 60.0 {
        command.push_str(&format!(" --settle-timeout {}", args.settle_timeout));
    }
    let faults = Fault::parse_list(&args.nemesis)?;
    if topology != Topology::Netns {
        if let Some(fault) = faults.iter().find(|f| f.needs_netns()) {
            return Err(format!("--nemesis {} needs --topology netns", fault.name()));
        }
    }
    if args.regions < 2 {
        if let Some(fault) = faults.iter().find(|f| f.needs_regions()) {
            return Err(format!("--nemesis {} needs --regions 2", fault.name()));
        }
    }
    let workloads = Workload::parse_list_for(&args.workload, args.regions)?;
    if args.regions < 2 && workloads.contains(&Workload::MultiRegion) {
        return Err("--workload multi-region needs --regions 2".into());
    }
    Ok(RunOptions {
        workloads,
        workload_arg: args.workload.clone(),
        faults,
        time: secs(args.time, "time")?,
        seed,
        concurrency: args.concurrency,
        rate: args.rate,
        trent: args.trent.clone(),
        store: args.store.clone(),
        fault_window: secs(args.fault_window, "fault-window")?,
        heal_window: secs(args.heal_window, "heal-window")?,
        request_timeout: secs(args.request_timeout, "request-timeout")?,
        final_timeout: secs(args.final_timeout, "final-timeout")?,
        recovery_timeout: secs(args.recovery_timeout, "recovery-timeout")?,
        check_budget: secs(args.check_budget, "check-budget")?,
        snapshot_after_entries: args.snapshot_after_entries,
        planted_bug: args.planted_bug.clone(),
        keep_data: args.keep_data,
        topology,
        regions: args.regions,
        settle_timeout: secs(args.settle_timeout, "settle-timeout")?,
        catch_up_timeout: secs(args.catch_up_timeout, "catch-up-timeout")?,
        expect_snapshot_bytes: match args.expect_snapshot_mb {
            Some(mb) if mb.is_finite() && mb >= 0.0 => Some((mb * 1e6) as u64),
            Some(mb) => return Err(format!("--expect-snapshot-mb {mb}: not a size")),
            None => None,
        },
        failover_latency: secs(args.failover_latency, "failover-latency")?,
        expect_invalid: args
            .expect_invalid
            .iter()
            .flat_map(|c| c.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        command,
    })
}

fn nemesis(args: NemesisArgs) -> anyhow::Result<String> {
    let action = jepsen_lite::live::Action::parse(&args.fault, args.target)?;
    let cluster = jepsen_lite::live::LiveCluster::open(&args.cluster)?;
    tokio::runtime::Runtime::new()?.block_on(cluster.run(&action))
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Commands::TeardownNetns => {
            jepsen_lite::topology::teardown_netns();
            0
        }
        Commands::Nemesis(args) => match nemesis(args) {
            Ok(done) => {
                println!("{done}");
                0
            }
            Err(e) => {
                eprintln!("jl nemesis: {e:#}");
                1
            }
        },
        Commands::Run(args) => match options(&args) {
            Err(e) => {
                eprintln!("jl: {e}");
                2
            }
            Ok(options) => match tokio::runtime::Runtime::new() {
                Err(e) => {
                    eprintln!("jl: cannot start the runtime: {e}");
                    2
                }
                Ok(runtime) => match runtime.block_on(run(&options)) {
                    Ok(summary) => summary.exit_code,
                    Err(e) => {
                        eprintln!("jl: harness error (verdict unknown): {e:#}");
                        2
                    }
                },
            },
        },
    };
    std::process::exit(code);
}

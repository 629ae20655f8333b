//! `trent-bench`: the load generator behind `make bench` (CLI and orchestration).
//!
//! It measures a ceiling (a bare in-process axum echo server) and then a real 3-node Trent
//! region started with `trent up`: Encrypt of 1 KiB under one key; Sign of 32 bytes with an
//! ECC_NIST_P256 and an RSA_2048 key; Verify of one P-256 signature; GenerateMac of 32 bytes
//! with an HMAC_256 key; and CreateKey; each at 1 and 64 concurrent connections
//! (`--workloads` picks a subset). Every request, echo included, is SigV4-signed by the same
//! client code, so the echo figures are the ceiling for this client on this machine. Results
//! are printed as a table and written to `--out` as JSON.

mod cluster;
mod echo;
mod load;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use load::{RunResult, Signer, Template};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use workload::Workload;

const WARMUP: Duration = Duration::from_secs(1);
const CONCURRENCIES: [usize; 2] = [1, 64];
const PAYLOAD_BYTES: usize = 1024;
const SIGNER: Signer = Signer {
    access_key_id: cluster::ACCESS_KEY_ID,
    secret_access_key: cluster::SECRET_ACCESS_KEY,
    region: cluster::REGION,
};

#[derive(Parser)]
#[command(
    name = "trent-bench",
    about = "Load-test a local 3-node Trent region against a bare HTTP ceiling"
)]
struct Cli {
    /// The `trent` binary (required unless only `echo` runs).
    #[arg(long)]
    trent: Option<PathBuf>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench-results.json")]
    out: PathBuf,
    /// Measured seconds per run (after a 1 s warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Run only the echo ceiling (same as `--workloads echo`).
    #[arg(long, conflicts_with = "workloads")]
    only_echo: bool,
    /// Comma-separated workloads to run (default: all); they run in the order listed under
    /// possible values, whatever the order given.
    #[arg(long, value_delimiter = ',')]
    workloads: Option<Vec<Workload>>,
}

/// The `--out` document.
#[derive(Serialize)]
struct Report {
    started_at: String,
    cores: usize,
    warmup_seconds: u64,
    seconds_per_run: u64,
    payload_bytes: usize,
    runs: Vec<RunResult>,
    encrypt_64_vs_echo_64_ratio: Option<f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let selected: Vec<Workload> = match (&cli.workloads, cli.only_echo) {
        (_, true) => vec![Workload::Echo],
        (Some(chosen), false) => Workload::ALL
            .into_iter()
            .filter(|w| chosen.contains(w))
            .collect(),
        (None, false) => Workload::ALL.to_vec(),
    };
    if selected.is_empty() {
        bail!("--workloads selects nothing");
    }
    let needs_cluster = selected.iter().any(|w| w.needs_cluster());
    let trent = match (&cli.trent, needs_cluster) {
        (Some(path), true) => Some(path.clone()),
        (_, false) => None,
        (None, true) => bail!("--trent <path> is required unless only `echo` runs"),
    };
    let started_at = OffsetDateTime::now_utc().format(&Rfc3339)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let measure = Duration::from_secs(cli.seconds);
    eprintln!(
        "trent-bench: {cores} cores, {} s warm-up + {} s per run",
        WARMUP.as_secs(),
        cli.seconds
    );

    let mut runs = Vec::new();
    if selected.contains(&Workload::Echo) {
        runs.extend(echo_runs(measure).await?);
    }
    if let Some(trent) = trent {
        let cluster = cluster::start(&trent).await?;
        let result = trent_runs(&cluster, &selected, measure).await;
        cluster.stop().await;
        runs.extend(result?);
    }

    let ratio = throughput(&runs, Workload::Encrypt, 64)
        .zip(throughput(&runs, Workload::Echo, 64))
        .filter(|(_, echo)| *echo > 0.0)
        .map(|(encrypt, echo)| encrypt / echo);
    print_table(&runs, ratio, cores);
    let report = Report {
        started_at,
        cores,
        warmup_seconds: WARMUP.as_secs(),
        seconds_per_run: cli.seconds,
        payload_bytes: PAYLOAD_BYTES,
        runs,
        encrypt_64_vs_echo_64_ratio: ratio,
    };
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&cli.out, json + "\n")
        .with_context(|| format!("writing {}", cli.out.display()))?;
    eprintln!("wrote {}", cli.out.display());
    Ok(())
}

/// The ceiling runs against the in-process echo server.
async fn echo_runs(measure: Duration) -> anyhow::Result<Vec<RunResult>> {
    let server = echo::start().await?;
    let template = Template::new(
        server.addr,
        "TrentService.Echo",
        vec![b'x'; PAYLOAD_BYTES],
        SIGNER,
    )?;
    let result = run_each(Workload::Echo, &[template], measure).await;
    server.stop();
    result
}

/// The selected cluster workloads, in order, connections spread over the nodes. Every key
/// (and the signature Verify checks) is set up before the first run.
async fn trent_runs(
    cluster: &cluster::Cluster,
    selected: &[Workload],
    measure: Duration,
) -> anyhow::Result<Vec<RunResult>> {
    let prepared = workload::prepare(cluster, selected).await?;
    let mut runs = Vec::new();
    for (workload, templates) in prepared {
        runs.extend(run_each(workload, &templates, measure).await?);
    }
    Ok(runs)
}

/// Runs `workload` at every concurrency level, logging progress to stderr.
async fn run_each(
    workload: Workload,
    templates: &[Template],
    measure: Duration,
) -> anyhow::Result<Vec<RunResult>> {
    let name = workload.name();
    let mut runs = Vec::new();
    for concurrency in CONCURRENCIES {
        eprintln!("running {name} @ {concurrency} ...");
        let run = load::run(name, templates, concurrency, WARMUP, measure).await?;
        eprintln!("  {:.0} req/s, {} errors", run.throughput_rps, run.errors);
        runs.push(run);
    }
    Ok(runs)
}

fn throughput(runs: &[RunResult], workload: Workload, concurrency: usize) -> Option<f64> {
    runs.iter()
        .find(|r| r.name == workload.name() && r.concurrency == concurrency)
        .map(|r| r.throughput_rps)
}

fn print_table(runs: &[RunResult], ratio: Option<f64>, cores: usize) {
    let width = runs.iter().map(|r| r.name.len()).fold(12, usize::max);
    println!();
    println!(
        "{:<width$} {:>5} {:>10} {:>8} {:>12} {:>9} {:>9}",
        "workload", "conns", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for r in runs {
        println!(
            "{:<width$} {:>5} {:>10} {:>8} {:>12.1} {:>9.3} {:>9.3}",
            r.name, r.concurrency, r.requests, r.errors, r.throughput_rps, r.p50_ms, r.p99_ms
        );
    }
    println!();
    match ratio {
        Some(ratio) => println!("encrypt@64 / echo@64 throughput: {ratio:.3}  ({cores} cores)"),
        None => println!("encrypt@64 / echo@64 throughput: n/a  ({cores} cores)"),
    }
    for r in runs {
        if let Some(error) = &r.first_error {
            println!("first error in {} @ {}: {error}", r.name, r.concurrency);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_is_comma_separated_and_conflicts_with_only_echo() {
        let cli = Cli::try_parse_from(["trent-bench", "--workloads", "verify_ecc_p256,echo"])
            .expect("valid arguments");
        assert_eq!(
            cli.workloads,
            Some(vec![Workload::VerifyEccP256, Workload::Echo])
        );
        assert!(Cli::try_parse_from(["trent-bench", "--workloads", "nope"]).is_err());
        assert!(
            Cli::try_parse_from(["trent-bench", "--only-echo", "--workloads", "echo"]).is_err()
        );
    }
}

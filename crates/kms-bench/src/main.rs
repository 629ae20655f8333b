//! `trent-bench`: the load generator behind `make bench` (CLI and orchestration).
//!
//! It measures a ceiling (a bare in-process axum echo server) and then a real 3-node Trent
//! region started with `trent up`: Encrypt of 1 KiB under one key, and CreateKey, each at 1
//! and 64 concurrent connections. Every request, echo included, is SigV4-signed by the same
//! client code, so the echo figures are the ceiling for this client on this machine. Results
//! are printed as a table and written to `--out` as JSON.

mod cluster;
mod echo;
mod load;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine as _;
use clap::Parser;
use load::{RunResult, Signer, Template};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

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
    /// The `trent` binary (required unless --only-echo).
    #[arg(long)]
    trent: Option<PathBuf>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench-results.json")]
    out: PathBuf,
    /// Measured seconds per run (after a 1 s warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Run only the echo ceiling.
    #[arg(long)]
    only_echo: bool,
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
    let trent = match (&cli.trent, cli.only_echo) {
        (Some(path), false) => Some(path.clone()),
        (_, true) => None,
        (None, false) => bail!("--trent <path> is required unless --only-echo is given"),
    };
    let started_at = OffsetDateTime::now_utc().format(&Rfc3339)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let measure = Duration::from_secs(cli.seconds);
    eprintln!(
        "trent-bench: {cores} cores, {} s warm-up + {} s per run",
        WARMUP.as_secs(),
        cli.seconds
    );

    let mut runs = echo_runs(measure).await?;
    if let Some(trent) = trent {
        let cluster = cluster::start(&trent).await?;
        let result = trent_runs(&cluster, measure).await;
        cluster.stop().await;
        runs.extend(result?);
    }

    let ratio = throughput(&runs, "encrypt", 64)
        .zip(throughput(&runs, "echo", 64))
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
    let result = run_each("echo", &[template], measure).await;
    server.stop();
    result
}

/// Encrypt then CreateKey against the cluster, connections spread over its nodes.
async fn trent_runs(
    cluster: &cluster::Cluster,
    measure: Duration,
) -> anyhow::Result<Vec<RunResult>> {
    let key_id = create_key(cluster).await?;
    let plaintext: Vec<u8> = (0..PAYLOAD_BYTES).map(|i| (i % 251) as u8).collect();
    let encrypt_body = serde_json::json!({
        "KeyId": key_id,
        "Plaintext": base64::engine::general_purpose::STANDARD.encode(plaintext),
    })
    .to_string()
    .into_bytes();
    let encrypt = templates(cluster, "TrentService.Encrypt", &encrypt_body)?;
    let create_key = templates(cluster, "TrentService.CreateKey", b"{}")?;
    let mut runs = run_each("encrypt", &encrypt, measure).await?;
    runs.extend(run_each("create_key", &create_key, measure).await?);
    Ok(runs)
}

/// One template per node for `target` with `body`.
fn templates(
    cluster: &cluster::Cluster,
    target: &'static str,
    body: &[u8],
) -> anyhow::Result<Vec<Template>> {
    cluster
        .endpoints
        .iter()
        .map(|addr| Template::new(*addr, target, body.to_vec(), SIGNER))
        .collect()
}

/// Creates the key Encrypt uses (retrying briefly in case leadership is still settling).
async fn create_key(cluster: &cluster::Cluster) -> anyhow::Result<String> {
    let client = load::client()?;
    let templates = templates(cluster, "TrentService.CreateKey", b"{}")?;
    let mut last_error = None;
    for attempt in 0..10 {
        let template = &templates[attempt % templates.len()];
        match template.send_json(&client).await {
            Ok(response) => {
                return response["KeyMetadata"]["KeyId"]
                    .as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("CreateKey answered without a KeyId: {response}"));
            }
            Err(e) => last_error = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last_error
        .unwrap_or_else(|| anyhow::anyhow!("no attempt made"))
        .context("creating the benchmark key"))
}

/// Runs `name` at every concurrency level, logging progress to stderr.
async fn run_each(
    name: &'static str,
    templates: &[Template],
    measure: Duration,
) -> anyhow::Result<Vec<RunResult>> {
    let mut runs = Vec::new();
    for concurrency in CONCURRENCIES {
        eprintln!("running {name} @ {concurrency} ...");
        let run = load::run(name, templates, concurrency, WARMUP, measure).await?;
        eprintln!("  {:.0} req/s, {} errors", run.throughput_rps, run.errors);
        runs.push(run);
    }
    Ok(runs)
}

fn throughput(runs: &[RunResult], name: &str, concurrency: usize) -> Option<f64> {
    runs.iter()
        .find(|r| r.name == name && r.concurrency == concurrency)
        .map(|r| r.throughput_rps)
}

fn print_table(runs: &[RunResult], ratio: Option<f64>, cores: usize) {
    println!();
    println!(
        "{:<12} {:>5} {:>10} {:>8} {:>12} {:>9} {:>9}",
        "workload", "conns", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for r in runs {
        println!(
            "{:<12} {:>5} {:>10} {:>8} {:>12.1} {:>9.3} {:>9.3}",
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

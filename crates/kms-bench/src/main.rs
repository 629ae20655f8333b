//! `trent-bench`: the load generator behind `make bench` (CLI and orchestration).
//!
//! It measures a ceiling (a bare in-process axum echo server) and then a real 3-node Trent
//! region started with `trent up`: Encrypt of 1 KiB under one key; Sign of 32 bytes with an
//! ECC_NIST_P256 and an RSA_2048 key; Verify of one P-256 signature; GenerateMac of 32 bytes
//! with an HMAC_256 key; and CreateKey; each at 1 and 64 concurrent connections. That region
//! is then stopped and, for the multi-region workloads, a two-region cluster (us-east-1 and
//! us-west-2, 3 nodes each, on the fixed ports of `trent up`'s generated topology) is started:
//! `decrypt_cross_region` measures Decrypt in us-west-2 of ciphertexts made in us-east-1 under
//! a replicated multi-region key, beside same-region Decrypt (`decrypt_same_region`) at 1 and
//! 64 connections, and prints their ratio; `replicate_key` measures the latency from
//! ReplicateKey to the replica being Enabled in us-west-2 (count, p50, p99, max, against a
//! 250 ms p99 target). `--workloads` picks a subset; a cluster starts only if a selected
//! workload needs it. Every request, echo included, is SigV4-signed by the same client code
//! (for the region the request is for), so the echo figures are the ceiling for this client on
//! this machine. Results are printed as a table and written to `--out` as JSON.

mod cluster;
mod echo;
mod load;
mod multi_region;
mod peers;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use load::{RunResult, Signer, Template};
use multi_region::ReplicateResult;
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
/// The same credentials, for requests to the two-region cluster's us-west-2.
const REPLICA_SIGNER: Signer = Signer {
    region: cluster::REPLICA_REGION,
    ..SIGNER
};

#[derive(Parser)]
#[command(
    name = "trent-bench",
    about = "Load-test a local 3-node Trent region (and a two-region cluster) against a bare HTTP ceiling"
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
    /// Also measure as the peers are measured: wrk (an external load generator) replaying one
    /// signed request against the echo ceiling and the Trent region (Encrypt, CreateKey), and
    /// etcd's put on a 3-node etcd started here, with the ratios printed.
    #[arg(long)]
    peers: bool,
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
    /// `encrypt_policy10` over `encrypt` at 64 connections: the cost of a ten-statement policy.
    policy10_vs_default_policy_64_ratio: Option<f64>,
    /// `decrypt_cross_region` over `decrypt_same_region`, per concurrency (empty if not run).
    decrypt_cross_vs_same_region: Vec<CrossRegionRatio>,
    /// The `replicate_key` loop, if run.
    replicate_key: Option<ReplicateResult>,
    /// The wrk runs (`--peers`).
    wrk: Vec<peers::WrkRun>,
    /// Trent's wrk figures over its peers' at 64 connections (`--peers`).
    wrk_ratios: Option<WrkRatios>,
}

/// Trent under wrk against the same generator's echo ceiling and etcd put.
#[derive(Serialize)]
struct WrkRatios {
    /// Encrypt 1 KiB over echo 1 KiB, req/s.
    encrypt_vs_echo: Option<f64>,
    /// CreateKey over etcd put (256 B), req/s.
    create_key_vs_etcd_put: Option<f64>,
}

/// Cross-region over same-region Decrypt in us-west-2 at one concurrency.
#[derive(Serialize)]
struct CrossRegionRatio {
    concurrency: usize,
    throughput_ratio: Option<f64>,
    p99_ratio: Option<f64>,
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
    let needs_one_region = selected
        .iter()
        .any(|w| w.needs_cluster() && !w.needs_two_regions());
    let needs_two_regions = selected.iter().any(|w| w.needs_two_regions());
    let needs_cluster = needs_one_region || needs_two_regions;
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
    let scratch = tempfile::tempdir()?;
    let mut wrk = Vec::new();
    if selected.contains(&Workload::Echo) {
        let (echo, echo_wrk) = echo_runs(measure, cli.peers.then_some(scratch.path())).await?;
        runs.extend(echo);
        wrk.extend(echo_wrk);
    }
    let mut replicate_key = None;
    if let Some(trent) = trent {
        if needs_one_region {
            let cluster = cluster::start(&trent).await?;
            let mut result = trent_runs(&cluster, &selected, measure).await;
            if cli.peers && result.is_ok() {
                match trent_wrk_runs(&cluster, cli.seconds, scratch.path()).await {
                    Ok(w) => wrk.extend(w),
                    Err(e) => result = Err(e),
                }
            }
            cluster.stop().await;
            runs.extend(result?);
        }
        if needs_two_regions {
            eprintln!("starting the two-region cluster ...");
            let cluster = cluster::start_two_regions(&trent).await?;
            let result = multi_region_runs(&cluster, &selected, measure).await;
            cluster.stop().await;
            let (multi_runs, replicate) = result?;
            runs.extend(multi_runs);
            replicate_key = replicate;
        }
    }

    if cli.peers {
        let etcd = peers::start_etcd().await?;
        let put = peers::etcd_put(&etcd.client_urls[0]);
        wrk.push(peers::run(
            "etcd_put",
            &put,
            64,
            cli.seconds,
            scratch.path(),
        )?);
    }
    let wrk_rps = |name: &str| {
        wrk.iter()
            .find(|r| r.name == name && r.connections == 64)
            .map(|r| r.throughput_rps)
    };
    let over =
        |a: Option<f64>, b: Option<f64>| a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b);
    let wrk_ratios = cli.peers.then(|| WrkRatios {
        encrypt_vs_echo: over(wrk_rps("trent_encrypt"), wrk_rps("echo")),
        create_key_vs_etcd_put: over(wrk_rps("trent_create_key"), wrk_rps("etcd_put")),
    });
    let ratio = throughput(&runs, Workload::Encrypt.name(), 64)
        .zip(throughput(&runs, Workload::Echo.name(), 64))
        .filter(|(_, echo)| *echo > 0.0)
        .map(|(encrypt, echo)| encrypt / echo);
    let policy_ratio = throughput(&runs, Workload::EncryptPolicy10.name(), 64)
        .zip(throughput(&runs, Workload::Encrypt.name(), 64))
        .filter(|(_, plain)| *plain > 0.0)
        .map(|(policy10, plain)| policy10 / plain);
    let decrypt_cross_vs_same_region = if selected.contains(&Workload::DecryptCrossRegion) {
        CONCURRENCIES
            .iter()
            .map(|&concurrency| cross_region_ratio(&runs, concurrency))
            .collect()
    } else {
        Vec::new()
    };
    let report = Report {
        started_at,
        cores,
        warmup_seconds: WARMUP.as_secs(),
        seconds_per_run: cli.seconds,
        payload_bytes: PAYLOAD_BYTES,
        runs,
        encrypt_64_vs_echo_64_ratio: ratio,
        policy10_vs_default_policy_64_ratio: policy_ratio,
        decrypt_cross_vs_same_region,
        replicate_key,
        wrk,
        wrk_ratios,
    };
    print_table(&report);
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&cli.out, json + "\n")
        .with_context(|| format!("writing {}", cli.out.display()))?;
    eprintln!("wrote {}", cli.out.display());
    Ok(())
}

/// The ceiling runs against the in-process echo server; with `wrk_scratch`, a wrk run at 64
/// connections too.
async fn echo_runs(
    measure: Duration,
    wrk_scratch: Option<&std::path::Path>,
) -> anyhow::Result<(Vec<RunResult>, Vec<peers::WrkRun>)> {
    let server = echo::start().await?;
    let template = Template::new(
        server.addr,
        "TrentService.Echo",
        vec![b'x'; PAYLOAD_BYTES],
        SIGNER,
    )?;
    let result = run_each(Workload::Echo, std::slice::from_ref(&template), measure).await;
    let mut wrk = Vec::new();
    if let (Ok(_), Some(scratch)) = (&result, wrk_scratch) {
        let request = template.wrk_request();
        // wrk runs on its own threads while this runtime serves the echo.
        let seconds = measure.as_secs();
        let scratch = scratch.to_path_buf();
        let run = tokio::task::spawn_blocking(move || {
            peers::run("echo", &request, 64, seconds, &scratch)
        })
        .await??;
        wrk.push(run);
    }
    server.stop();
    Ok((result?, wrk))
}

/// wrk against node 1 of the region: Encrypt of 1 KiB, then CreateKey, at 64 connections.
async fn trent_wrk_runs(
    cluster: &cluster::Cluster,
    seconds: u64,
    scratch: &std::path::Path,
) -> anyhow::Result<Vec<peers::WrkRun>> {
    let prepared = workload::prepare(cluster, &[Workload::Encrypt, Workload::CreateKey]).await?;
    let mut out = Vec::new();
    for (workload, templates) in prepared {
        let name = match workload {
            Workload::Encrypt => "trent_encrypt",
            _ => "trent_create_key",
        };
        let request = templates.first().context("no template")?.wrk_request();
        let scratch = scratch.to_path_buf();
        out.push(
            tokio::task::spawn_blocking(move || peers::run(name, &request, 64, seconds, &scratch))
                .await??,
        );
    }
    Ok(out)
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

/// The selected two-region workloads, in order: `decrypt_cross_region` (cross- and
/// same-region runs alternating at each concurrency, so both see the same machine state),
/// then the `replicate_key` loop.
async fn multi_region_runs(
    cluster: &cluster::Cluster,
    selected: &[Workload],
    measure: Duration,
) -> anyhow::Result<(Vec<RunResult>, Option<ReplicateResult>)> {
    let mut runs = Vec::new();
    if selected.contains(&Workload::DecryptCrossRegion) {
        let templates = multi_region::prepare_decrypt(cluster).await?;
        for concurrency in CONCURRENCIES {
            let cross = Workload::DecryptCrossRegion.name();
            runs.push(run_at(cross, &templates.cross, concurrency, measure).await?);
            let same = multi_region::SAME_REGION_NAME;
            runs.push(run_at(same, &templates.same, concurrency, measure).await?);
        }
    }
    let mut replicate = None;
    if selected.contains(&Workload::ReplicateKey) {
        eprintln!(
            "running replicate_key ({} s or {} replications) ...",
            measure.as_secs(),
            multi_region::MAX_REPLICATIONS
        );
        let result = multi_region::replicate_key(cluster, WARMUP, measure).await?;
        eprintln!(
            "  {} replications, p99 {:.1} ms, {} errors",
            result.count, result.p99_ms, result.errors
        );
        replicate = Some(result);
    }
    Ok((runs, replicate))
}

/// Runs `workload` at every concurrency level, logging progress to stderr.
async fn run_each(
    workload: Workload,
    templates: &[Template],
    measure: Duration,
) -> anyhow::Result<Vec<RunResult>> {
    let mut runs = Vec::new();
    for concurrency in CONCURRENCIES {
        runs.push(run_at(workload.name(), templates, concurrency, measure).await?);
    }
    Ok(runs)
}

/// One run named `name` at `concurrency`, logging progress to stderr.
async fn run_at(
    name: &'static str,
    templates: &[Template],
    concurrency: usize,
    measure: Duration,
) -> anyhow::Result<RunResult> {
    eprintln!("running {name} @ {concurrency} ...");
    let run = load::run(name, templates, concurrency, WARMUP, measure).await?;
    eprintln!("  {:.0} req/s, {} errors", run.throughput_rps, run.errors);
    Ok(run)
}

fn find<'a>(runs: &'a [RunResult], name: &str, concurrency: usize) -> Option<&'a RunResult> {
    runs.iter()
        .find(|r| r.name == name && r.concurrency == concurrency)
}

fn throughput(runs: &[RunResult], name: &str, concurrency: usize) -> Option<f64> {
    find(runs, name, concurrency).map(|r| r.throughput_rps)
}

/// `decrypt_cross_region` over `decrypt_same_region` at `concurrency` (None where the
/// baseline is zero or missing).
fn cross_region_ratio(runs: &[RunResult], concurrency: usize) -> CrossRegionRatio {
    let cross = find(runs, Workload::DecryptCrossRegion.name(), concurrency);
    let same = find(runs, multi_region::SAME_REGION_NAME, concurrency);
    let ratio = |field: fn(&RunResult) -> f64| {
        cross
            .zip(same)
            .filter(|(_, same)| field(same) > 0.0)
            .map(|(cross, same)| field(cross) / field(same))
    };
    CrossRegionRatio {
        concurrency,
        throughput_ratio: ratio(|r| r.throughput_rps),
        p99_ratio: ratio(|r| r.p99_ms),
    }
}

/// `value` with three decimals, or `n/a`.
fn or_na(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.3}"))
}

fn print_table(report: &Report) {
    let runs = &report.runs;
    let width = runs.iter().map(|r| r.name.len()).fold(13, usize::max);
    if !runs.is_empty() {
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
    }
    if let Some(r) = &report.replicate_key {
        println!();
        println!(
            "{:<width$} {:>5} {:>10} {:>8} {:>9} {:>9} {:>9}  target",
            "workload", "", "count", "errors", "p50 ms", "p99 ms", "max ms"
        );
        println!(
            "{:<width$} {:>5} {:>10} {:>8} {:>9.3} {:>9.3} {:>9.3}  p99 <= {:.0} ms: {}",
            r.name,
            "",
            r.count,
            r.errors,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.target_p99_ms,
            if r.target_met { "met" } else { "MISSED" }
        );
        println!(
            "  (ReplicateKey already answered Enabled for {} of {})",
            r.answered_enabled, r.count
        );
    }
    println!();
    let has = |w: Workload| runs.iter().any(|r| r.name == w.name());
    if has(Workload::Encrypt) || has(Workload::Echo) {
        println!(
            "encrypt@64 / echo@64 throughput: {}  ({} cores)",
            or_na(report.encrypt_64_vs_echo_64_ratio),
            report.cores
        );
    }
    if has(Workload::EncryptPolicy10) {
        println!(
            "encrypt_policy10@64 / encrypt@64 throughput: {}  (target >= 0.90)",
            or_na(report.policy10_vs_default_policy_64_ratio)
        );
    }
    if !report.wrk.is_empty() {
        println!();
        println!("under wrk (-t2, one pre-signed request replayed):");
        println!(
            "{:<18} {:>5} {:>10} {:>8} {:>8} {:>12} {:>9} {:>9} {:>9}",
            "target",
            "conns",
            "requests",
            "errors",
            "non-2xx",
            "req/s",
            "p50 ms",
            "p99 ms",
            "max ms"
        );
        for r in &report.wrk {
            println!(
                "{:<18} {:>5} {:>10} {:>8} {:>8} {:>12.1} {:>9.3} {:>9.3} {:>9.3}",
                r.name,
                r.connections,
                r.requests,
                r.errors,
                r.non_2xx,
                r.throughput_rps,
                r.p50_ms,
                r.p99_ms,
                r.max_ms
            );
        }
        if let Some(ratios) = &report.wrk_ratios {
            println!(
                "wrk: trent encrypt@64 / echo@64: {} (target >= 0.30); trent create_key@64 / etcd put@64: {} (target >= 1.0)",
                or_na(ratios.encrypt_vs_echo),
                or_na(ratios.create_key_vs_etcd_put)
            );
        }
    }
    for ratio in &report.decrypt_cross_vs_same_region {
        println!(
            "decrypt cross-region / same-region in us-west-2 @ {}: throughput {}, p99 {}",
            ratio.concurrency,
            or_na(ratio.throughput_ratio),
            or_na(ratio.p99_ratio)
        );
    }
    for r in runs {
        if let Some(error) = &r.first_error {
            println!("first error in {} @ {}: {error}", r.name, r.concurrency);
        }
    }
    if let Some(error) = report
        .replicate_key
        .as_ref()
        .and_then(|r| r.first_error.as_ref())
    {
        println!("first error in replicate_key: {error}");
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

    #[test]
    fn multi_region_workloads_are_selectable() {
        let cli = Cli::try_parse_from([
            "trent-bench",
            "--workloads",
            "replicate_key,decrypt_cross_region",
        ])
        .expect("valid arguments");
        assert_eq!(
            cli.workloads,
            Some(vec![Workload::ReplicateKey, Workload::DecryptCrossRegion])
        );
    }

    #[test]
    fn cross_region_ratio_divides_cross_by_same() {
        let run = |name, throughput_rps, p99_ms| RunResult {
            name,
            concurrency: 64,
            seconds: 1.0,
            requests: 1,
            errors: 0,
            throughput_rps,
            p50_ms: 1.0,
            p99_ms,
            first_error: None,
        };
        let runs = [
            run(Workload::DecryptCrossRegion.name(), 900.0, 3.0),
            run(multi_region::SAME_REGION_NAME, 1000.0, 2.0),
        ];
        let ratio = cross_region_ratio(&runs, 64);
        assert!((ratio.throughput_ratio.expect("ratio") - 0.9).abs() < 1e-9);
        assert!((ratio.p99_ratio.expect("ratio") - 1.5).abs() < 1e-9);
        assert!(cross_region_ratio(&runs, 1).throughput_ratio.is_none());
    }
}

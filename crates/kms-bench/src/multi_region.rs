//! The two multi-region workloads, against the two-region cluster (us-east-1 holds the
//! multi-region primaries, us-west-2 the replicas). Requests for a region are signed for it
//! and sent to its own nodes.
//!
//! - `decrypt_cross_region`: one multi-region key is created in us-east-1 and replicated to
//!   us-west-2; each us-west-2 node then gets a Decrypt template (signed for us-west-2) of a
//!   1 KiB ciphertext made by Encrypt in us-east-1, and a same-region baseline template of a
//!   ciphertext made by Encrypt in us-west-2 under the same (replica) key. Both sets run
//!   through the ordinary load driver; their cross/same ratio should be about 1, as the replica
//!   holds the key material and nothing is re-encrypted.
//! - `replicate_key`: not a load run but a latency loop. Each iteration creates a
//!   multi-region key in us-east-1 (not timed), then times from sending ReplicateKey (replica
//!   region us-west-2) until a DescribeKey sent to a us-west-2 node, polled every 2 ms from the
//!   moment ReplicateKey is sent, shows the replica Enabled; the ReplicateKey call must succeed
//!   too (its answer may already say Enabled, which is counted but not trusted). Iterations
//!   during the warm-up are discarded; then it loops for the measured time, at most
//!   [`MAX_REPLICATIONS`] times, and reports count, p50, p99 and max against
//!   [`REPLICATE_TARGET_P99_MS`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use reqwest::Client;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::cluster::{Cluster, REGION, REPLICA_REGION};
use crate::load::{self, percentile_ms, Template};
use crate::workload::{call_at, templates_at};
use crate::{PAYLOAD_BYTES, REPLICA_SIGNER, SIGNER};

/// The table and JSON name of the same-region Decrypt baseline run with `decrypt_cross_region`.
pub const SAME_REGION_NAME: &str = "decrypt_same_region";
/// The `replicate_key` p99 target on loopback, in milliseconds.
pub const REPLICATE_TARGET_P99_MS: f64 = 250.0;
/// The most measured `replicate_key` iterations (errors included).
pub const MAX_REPLICATIONS: u64 = 200;

/// How often DescribeKey is polled while waiting for a replica to be Enabled.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// How long one measured replication may take before it counts as an error.
const ENABLED_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the set-up replication of `decrypt_cross_region` may take.
const SETUP_ENABLED_TIMEOUT: Duration = Duration::from_secs(30);

/// The Decrypt templates of `decrypt_cross_region`, one per us-west-2 node in each set.
pub struct DecryptTemplates {
    /// Ciphertexts made in us-east-1.
    pub cross: Vec<Template>,
    /// Ciphertexts made in us-west-2 (the baseline).
    pub same: Vec<Template>,
}

/// The figures of the `replicate_key` loop.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicateResult {
    /// `replicate_key`.
    pub name: &'static str,
    /// Length of the measured loop, in seconds (shorter than asked when the cap was reached).
    pub seconds: f64,
    /// Replications measured (ReplicateKey succeeded and the replica was seen Enabled).
    pub count: u64,
    /// Measured iterations that failed (CreateKey, ReplicateKey, or no Enabled replica within
    /// 10 s).
    pub errors: u64,
    /// Of `count`, the ones whose ReplicateKey answer already said Enabled.
    pub answered_enabled: u64,
    /// Median ReplicateKey-to-Enabled latency, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// Maximum, in milliseconds.
    pub max_ms: f64,
    /// The p99 target, in milliseconds.
    pub target_p99_ms: f64,
    /// Whether `p99_ms <= target_p99_ms` (false when nothing was measured).
    pub target_met: bool,
    /// The first error seen, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// One measured replication.
struct Sample {
    latency: Duration,
    answered_enabled: bool,
}

/// `region`'s API addresses in `cluster`.
fn endpoints<'a>(cluster: &'a Cluster, region: &str) -> anyhow::Result<&'a [SocketAddr]> {
    cluster
        .regions
        .get(region)
        .filter(|e| !e.is_empty())
        .map(Vec::as_slice)
        .with_context(|| format!("the cluster has no endpoints in {region}"))
}

/// Creates and replicates the key, makes the ciphertexts and builds the Decrypt templates.
pub async fn prepare_decrypt(cluster: &Cluster) -> anyhow::Result<DecryptTemplates> {
    let east = endpoints(cluster, REGION)?;
    let west = endpoints(cluster, REPLICA_REGION)?;
    let client = load::client()?;
    let created = call_at(
        east,
        SIGNER,
        &client,
        "TrentService.CreateKey",
        &json!({"MultiRegion": true}),
    )
    .await
    .context("creating the multi-region key")?;
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .with_context(|| format!("CreateKey answered without a KeyId: {created}"))?
        .to_owned();
    let replicate = json!({"KeyId": key_id, "ReplicaRegion": REPLICA_REGION});
    call_at(
        east,
        SIGNER,
        &client,
        "TrentService.ReplicateKey",
        &replicate,
    )
    .await
    .context("replicating the multi-region key")?;
    let describe = describe_template(west[0], &key_id)?;
    wait_enabled(&client, &describe, SETUP_ENABLED_TIMEOUT)
        .await
        .map_err(anyhow::Error::msg)?;

    let plaintext: Vec<u8> = (0..PAYLOAD_BYTES).map(|i| (i % 251) as u8).collect();
    let encrypt = json!({"KeyId": key_id, "Plaintext": BASE64.encode(plaintext)});
    let mut cross = Vec::new();
    let mut same = Vec::new();
    for &node in west {
        let made_east = call_at(east, SIGNER, &client, "TrentService.Encrypt", &encrypt)
            .await
            .context("encrypting in us-east-1")?;
        let made_west = call_at(
            &[node],
            REPLICA_SIGNER,
            &client,
            "TrentService.Encrypt",
            &encrypt,
        )
        .await
        .context("encrypting in us-west-2")?;
        cross.extend(decrypt_templates(node, &made_east)?);
        same.extend(decrypt_templates(node, &made_west)?);
    }
    Ok(DecryptTemplates { cross, same })
}

/// The us-west-2 Decrypt template at `node` for the ciphertext of an Encrypt `response`.
fn decrypt_templates(node: SocketAddr, response: &Value) -> anyhow::Result<Vec<Template>> {
    let blob = response["CiphertextBlob"]
        .as_str()
        .with_context(|| format!("Encrypt answered without a CiphertextBlob: {response}"))?;
    let body = json!({"CiphertextBlob": blob}).to_string();
    templates_at(
        &[node],
        REPLICA_SIGNER,
        "TrentService.Decrypt",
        body.as_bytes(),
    )
}

/// A DescribeKey of `key_id` signed for us-west-2, sent to `node`.
fn describe_template(node: SocketAddr, key_id: &str) -> anyhow::Result<Template> {
    let body = json!({"KeyId": key_id}).to_string().into_bytes();
    Template::new(node, "TrentService.DescribeKey", body, REPLICA_SIGNER)
}

/// Polls `describe` every [`POLL_INTERVAL`] until it shows KeyState Enabled; returns when the
/// answer saying so arrived.
async fn wait_enabled(
    client: &Client,
    describe: &Template,
    timeout: Duration,
) -> Result<Instant, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match describe.send_json(client).await {
            Ok(response) => match response["KeyMetadata"]["KeyState"].as_str() {
                Some("Enabled") => return Ok(Instant::now()),
                state => format!("KeyState {}", state.unwrap_or("missing")),
            },
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            return Err(format!(
                "the replica was not Enabled in {REPLICA_REGION} within {} s; last DescribeKey: {last}",
                timeout.as_secs()
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The `replicate_key` loop: iterations for `warmup` (at least one) are discarded, then it
/// measures for `measure` or [`MAX_REPLICATIONS`] iterations, whichever ends first. Iteration
/// `i` sends to node `i mod 3` of each region.
pub async fn replicate_key(
    cluster: &Cluster,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<ReplicateResult> {
    let east = endpoints(cluster, REGION)?;
    let west = endpoints(cluster, REPLICA_REGION)?;
    let client = load::client()?;
    let node = |i: u64| (east[i as usize % east.len()], west[i as usize % west.len()]);

    let warm_until = Instant::now() + warmup;
    let mut i = 0;
    loop {
        let (east_node, west_node) = node(i);
        i += 1;
        let _ = replicate_once(&client, east_node, west_node).await;
        if Instant::now() >= warm_until {
            break;
        }
    }

    let started = Instant::now();
    let deadline = started + measure;
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut answered_enabled = 0;
    let mut first_error = None;
    while Instant::now() < deadline && latencies.len() as u64 + errors < MAX_REPLICATIONS {
        let (east_node, west_node) = node(i);
        i += 1;
        match replicate_once(&client, east_node, west_node).await {
            Ok(sample) => {
                latencies.push(sample.latency);
                answered_enabled += u64::from(sample.answered_enabled);
            }
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64().min(measure.as_secs_f64());
    latencies.sort_unstable();
    let p99_ms = percentile_ms(&latencies, 0.99);
    Ok(ReplicateResult {
        name: crate::workload::Workload::ReplicateKey.name(),
        seconds,
        count: latencies.len() as u64,
        errors,
        answered_enabled,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms,
        max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        target_p99_ms: REPLICATE_TARGET_P99_MS,
        target_met: !latencies.is_empty() && p99_ms <= REPLICATE_TARGET_P99_MS,
        first_error,
    })
}

/// One iteration: CreateKey (MultiRegion) at `east` untimed, then ReplicateKey at `east` and,
/// at the same time, DescribeKey polling at `west` until Enabled. The latency runs from sending
/// ReplicateKey to the DescribeKey answer showing Enabled; ReplicateKey must succeed too.
async fn replicate_once(
    client: &Client,
    east: SocketAddr,
    west: SocketAddr,
) -> Result<Sample, String> {
    let create = Template::new(
        east,
        "TrentService.CreateKey",
        json!({"MultiRegion": true}).to_string().into_bytes(),
        SIGNER,
    )
    .map_err(|e| format!("{e:#}"))?;
    let created = create
        .send_json(client)
        .await
        .map_err(|e| format!("CreateKey: {e:#}"))?;
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .ok_or_else(|| format!("CreateKey answered without a KeyId: {created}"))?;
    let replicate = Template::new(
        east,
        "TrentService.ReplicateKey",
        json!({"KeyId": key_id, "ReplicaRegion": REPLICA_REGION})
            .to_string()
            .into_bytes(),
        SIGNER,
    )
    .map_err(|e| format!("{e:#}"))?;
    let describe = describe_template(west, key_id).map_err(|e| format!("{e:#}"))?;

    let started = Instant::now();
    let replicated = replicate.send_json(client);
    let enabled = wait_enabled(client, &describe, ENABLED_TIMEOUT);
    tokio::pin!(replicated, enabled);
    let mut answer = None;
    let mut enabled_at = None;
    while answer.is_none() || enabled_at.is_none() {
        tokio::select! {
            result = &mut replicated, if answer.is_none() => {
                answer = Some(result.map_err(|e| format!("ReplicateKey: {e:#}"))?);
            }
            result = &mut enabled, if enabled_at.is_none() => {
                enabled_at = Some(result?);
            }
        }
    }
    let answered_enabled = answer
        .as_ref()
        .is_some_and(|a| a["ReplicaKeyMetadata"]["KeyState"] == "Enabled");
    let latency = enabled_at.map_or(Duration::ZERO, |at| at - started);
    Ok(Sample {
        latency,
        answered_enabled,
    })
}

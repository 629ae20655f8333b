//! The concurrent load driver: SigV4-signed request templates, the per-connection worker loop
//! and the statistics of one run (throughput, p50/p99 latency, errors). The templates (signed
//! for whichever region their [`Signer`] names) and the percentile helper also serve the
//! `replicate_key` latency loop in `multi_region.rs`.
//!
//! A run has `concurrency` workers, each owning one HTTP/1.1 connection (its own client with
//! a one-connection pool) to one endpoint, picked round-robin. Every worker sends requests
//! back to back from the start; the first `warmup` is not counted, then requests completing
//! within the next `measure` are. At the deadline workers stop sending; a request still in
//! flight then is bounded by the 10 s request timeout and is not counted.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use kms_api::sigv4::sign_kms_call;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;

/// The content type of every AWS JSON 1.1 request.
pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The bound on any one request, connection to last body byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an error response body to keep for the report.
const ERROR_SNIPPET: usize = 300;

/// The credentials and region requests are signed with.
#[derive(Debug, Clone, Copy)]
pub struct Signer {
    /// Access key id.
    pub access_key_id: &'static str,
    /// Secret access key.
    pub secret_access_key: &'static str,
    /// Region of the credential scope.
    pub region: &'static str,
}

/// One kind of request to one endpoint, with everything but the signature built up front.
#[derive(Debug, Clone)]
pub struct Template {
    url: Url,
    host: String,
    target: &'static str,
    target_name: HeaderName,
    target_value: HeaderValue,
    date_name: HeaderName,
    body: Vec<u8>,
    signer: Signer,
    /// A top-level JSON field an HTTP 200 response must have set to `true` to count as a
    /// success (e.g. Verify's `SignatureValid`).
    expect_true: Option<&'static str>,
}

impl Template {
    /// A `POST /` to `addr` with `X-Amz-Target: target` and `body`, signed by `signer`.
    pub fn new(
        addr: SocketAddr,
        target: &'static str,
        body: Vec<u8>,
        signer: Signer,
    ) -> anyhow::Result<Self> {
        let host = addr.to_string();
        let url = Url::parse(&format!("http://{host}/")).context("building the endpoint URL")?;
        Ok(Self {
            url,
            host,
            target,
            target_name: HeaderName::from_static("x-amz-target"),
            target_value: HeaderValue::from_static(target),
            date_name: HeaderName::from_static("x-amz-date"),
            body,
            signer,
            expect_true: None,
        })
    }

    /// The same request, counted as a success only if the HTTP 200 response is a JSON object
    /// with `field` set to `true`.
    pub fn expecting_true(mut self, field: &'static str) -> Self {
        self.expect_true = Some(field);
        self
    }

    /// The SigV4 headers of the request for now.
    fn signed_now(&self) -> kms_api::sigv4::SignedHeaders {
        sign_kms_call(
            &self.host,
            self.target,
            &self.body,
            (self.signer.access_key_id, self.signer.secret_access_key),
            self.signer.region,
            OffsetDateTime::now_utc(),
        )
    }

    /// The request signed now, for an external load generator to replay (a SigV4 signature
    /// stays valid for 15 minutes).
    pub fn wrk_request(&self) -> crate::peers::WrkRequest {
        let signed = self.signed_now();
        crate::peers::WrkRequest {
            url: self.url.to_string(),
            headers: vec![
                ("Content-Type".into(), JSON_CONTENT_TYPE.into()),
                ("X-Amz-Target".into(), self.target.into()),
                ("X-Amz-Date".into(), signed.x_amz_date),
                ("Authorization".into(), signed.authorization),
            ],
            body: self.body.clone(),
        }
    }

    /// The request, freshly signed for now.
    fn request(&self, client: &Client) -> RequestBuilder {
        let signed = self.signed_now();
        client
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE))
            .header(self.target_name.clone(), self.target_value.clone())
            .header(self.date_name.clone(), signed.x_amz_date)
            .header(AUTHORIZATION, signed.authorization)
            .body(self.body.clone())
    }

    /// Sends the request and reads the whole response; `Err` describes anything but HTTP 200
    /// (passing the `expecting_true` check, if any).
    async fn send(&self, client: &Client) -> Result<(), String> {
        let response = self
            .request(client)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading the response failed: {e}"))?;
        let snippet = || String::from_utf8_lossy(&body[..body.len().min(ERROR_SNIPPET)]);
        if status != StatusCode::OK {
            return Err(format!("HTTP {status}: {}", snippet()));
        }
        if let Some(field) = self.expect_true {
            let value = serde_json::from_slice::<serde_json::Value>(&body).ok();
            if value.as_ref().and_then(|v| v.get(field)?.as_bool()) != Some(true) {
                return Err(format!("HTTP 200 without \"{field}\": true: {}", snippet()));
            }
        }
        Ok(())
    }

    /// Sends the request once and parses the HTTP 200 response as JSON (for set-up calls).
    pub async fn send_json(&self, client: &Client) -> anyhow::Result<serde_json::Value> {
        let response = self.request(client).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if status != StatusCode::OK {
            bail!(
                "{} answered HTTP {status}: {}",
                self.target,
                String::from_utf8_lossy(&body)
            );
        }
        serde_json::from_slice(&body).context("parsing the response")
    }
}

/// An HTTP/1.1 client keeping at most one idle connection per endpoint.
pub fn client() -> anyhow::Result<Client> {
    Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Workload name (`echo`, `encrypt`, `sign_ecc_p256`, ... as on the command line).
    pub name: &'static str,
    /// Concurrent connections (one request in flight on each).
    pub concurrency: usize,
    /// Length of the measured window, in seconds.
    pub seconds: f64,
    /// Requests completed in the window, errors included.
    pub requests: u64,
    /// Of those, the ones that did not end in HTTP 200, or whose 200 failed the template's
    /// check (timeouts and transport errors too).
    pub errors: u64,
    /// Successful requests per second.
    pub throughput_rps: f64,
    /// Median latency of successful requests, in milliseconds.
    pub p50_ms: f64,
    /// 99th-percentile latency of successful requests, in milliseconds.
    pub p99_ms: f64,
    /// The first error seen, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// What one worker saw inside the measured window.
#[derive(Default)]
struct WorkerStats {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `concurrency` workers over `templates` (round-robin) for `warmup` then `measure`.
pub async fn run(
    name: &'static str,
    templates: &[Template],
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<RunResult> {
    if templates.is_empty() || concurrency == 0 {
        bail!("a run needs at least one endpoint and one connection");
    }
    let clients = (0..concurrency)
        .map(|_| client())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let measure_from = Instant::now() + warmup;
    let deadline = measure_from + measure;
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            let template = templates[i % templates.len()].clone();
            tokio::spawn(worker(client, template, measure_from, deadline))
        })
        .collect();

    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for worker in workers {
        let stats = worker.await.context("a load worker panicked")?;
        latencies.extend(stats.latencies);
        errors += stats.errors;
        if first_error.is_none() {
            first_error = stats.first_error;
        }
    }
    latencies.sort_unstable();
    let ok = latencies.len() as u64;
    let seconds = measure.as_secs_f64();
    Ok(RunResult {
        name,
        concurrency,
        seconds,
        requests: ok + errors,
        errors,
        throughput_rps: ok as f64 / seconds,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        first_error,
    })
}

/// Sends requests back to back until `deadline`, recording those completing after
/// `measure_from`.
async fn worker(
    client: Client,
    template: Template,
    measure_from: Instant,
    deadline: Instant,
) -> WorkerStats {
    let mut stats = WorkerStats::default();
    loop {
        let started = Instant::now();
        if started >= deadline {
            return stats;
        }
        let outcome = template.send(&client).await;
        let finished = Instant::now();
        if finished < measure_from || finished > deadline {
            continue;
        }
        match outcome {
            Ok(()) => stats.latencies.push(finished - started),
            Err(error) => {
                stats.errors += 1;
                stats.first_error.get_or_insert(error);
            }
        }
    }
}

/// The nearest-rank `p` percentile of `sorted`, in milliseconds (0 when empty).
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert!((percentile_ms(&ms, 0.50) - 50.0).abs() < 1e-9);
        assert!((percentile_ms(&ms, 0.99) - 99.0).abs() < 1e-9);
        assert!((percentile_ms(&ms[..1], 0.99) - 1.0).abs() < 1e-9);
        assert!(percentile_ms(&[], 0.5).abs() < 1e-9);
    }

    /// The echo server answers with the request body, so the body is the response checked.
    #[tokio::test]
    async fn expecting_true_needs_the_field_true_in_a_200() {
        let server = crate::echo::start().await.expect("echo server");
        let client = client().expect("client");
        let check = |body: &str| {
            Template::new(
                server.addr,
                "TrentService.Verify",
                body.as_bytes().to_vec(),
                crate::SIGNER,
            )
            .expect("template")
            .expecting_true("SignatureValid")
        };
        assert_eq!(
            check(r#"{"SignatureValid":true}"#).send(&client).await,
            Ok(())
        );
        for body in [r#"{"SignatureValid":false}"#, "{}", "not json"] {
            let error = check(body).send(&client).await.expect_err(body);
            assert!(error.starts_with("HTTP 200 without"), "{error}");
        }
        let unchecked = Template::new(
            server.addr,
            "TrentService.Sign",
            b"{}".to_vec(),
            crate::SIGNER,
        )
        .expect("template");
        assert_eq!(unchecked.send(&client).await, Ok(()));
        server.stop();
    }
}

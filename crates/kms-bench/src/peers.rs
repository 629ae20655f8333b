//! Trent measured the way its peers are: an external load generator (`wrk`, Debian's package)
//! replaying one pre-signed request for a fixed time, against the echo ceiling, a Trent
//! region, and a 3-node etcd (Debian's `etcd-server`, on loopback) doing puts through its JSON
//! gateway, all in one invocation so their figures compare as ratios on the same machine state.
//!
//! A SigV4 signature stays valid for 15 minutes, so one signed request replayed for a run of a
//! few seconds is what an AWS client would send; CreateKey replayed makes a new key each time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

/// One request as wrk sends it.
#[derive(Debug, Clone)]
pub struct WrkRequest {
    /// `http://host:port/path`.
    pub url: String,
    /// Headers, sent as they are (Host comes from the URL).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// What one wrk run measured.
#[derive(Debug, Clone, Serialize)]
pub struct WrkRun {
    /// What was measured (`echo`, `trent_encrypt`, `etcd_put`, ...).
    pub name: String,
    /// Open connections.
    pub connections: usize,
    /// Completed requests.
    pub requests: u64,
    /// Socket errors and timeouts.
    pub errors: u64,
    /// Responses that were not 2xx or 3xx.
    pub non_2xx: u64,
    /// Completed requests per second.
    pub throughput_rps: f64,
    /// Latency percentiles, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// The slowest request, ms.
    pub max_ms: f64,
}

/// A Lua long string holding `bytes` (never closed early: the level grows past any `]=*]`).
fn lua_string(bytes: &[u8]) -> anyhow::Result<String> {
    let text = std::str::from_utf8(bytes).context("wrk bodies must be UTF-8")?;
    let mut level = String::new();
    while text.contains(&format!("]{level}]")) {
        level.push('=');
    }
    Ok(format!("[{level}[{text}]{level}]"))
}

/// The wrk script replaying `request` and printing one JSON summary line when done.
fn script(request: &WrkRequest) -> anyhow::Result<String> {
    let mut lua = String::from("wrk.method = \"POST\"\n");
    lua.push_str(&format!("wrk.body = {}\n", lua_string(&request.body)?));
    for (name, value) in &request.headers {
        lua.push_str(&format!(
            "wrk.headers[ {} ] = {}\n",
            lua_string(name.as_bytes())?,
            lua_string(value.as_bytes())?
        ));
    }
    lua.push_str(
        r#"done = function(summary, latency, requests)
  local e = summary.errors
  local n = function(x) return string.format("%.0f", x) end
  io.write("TRENT-BENCH {\"requests\":" .. n(summary.requests) .. ",\"duration_us\":" .. n(summary.duration)
    .. ",\"errors\":" .. n(e.connect + e.read + e.write + e.timeout) .. ",\"non_2xx\":" .. n(e.status)
    .. ",\"p50_us\":" .. n(latency:percentile(50)) .. ",\"p99_us\":" .. n(latency:percentile(99))
    .. ",\"max_us\":" .. n(latency.max) .. "}\n")
end
"#,
    );
    Ok(lua)
}

/// Runs wrk with `connections` connections on two threads for `seconds` against `request`.
pub fn run(
    name: &str,
    request: &WrkRequest,
    connections: usize,
    seconds: u64,
    scratch: &Path,
) -> anyhow::Result<WrkRun> {
    let script_path = scratch.join(format!("{name}-{connections}.lua"));
    std::fs::write(&script_path, script(request)?)?;
    eprintln!("wrk {name} @ {connections} ...");
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .args(["--timeout", "5s", "-s"])
        .arg(&script_path)
        .arg(&request.url)
        .output()
        .context("running wrk (Debian's wrk package; make deps installs it)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TRENT-BENCH "))
        .with_context(|| format!("wrk printed no summary: {stdout}"))?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    let int = |f: &str| v[f].as_u64().unwrap_or(0);
    let ms = |f: &str| int(f) as f64 / 1000.0;
    let seconds_run = (int("duration_us") as f64 / 1e6).max(1e-9);
    let run = WrkRun {
        name: name.to_string(),
        connections,
        requests: int("requests"),
        errors: int("errors"),
        non_2xx: int("non_2xx"),
        throughput_rps: int("requests") as f64 / seconds_run,
        p50_ms: ms("p50_us"),
        p99_ms: ms("p99_us"),
        max_ms: ms("max_us"),
    };
    eprintln!(
        "  {:.0} req/s, p99 {:.1} ms, {} errors, {} non-2xx",
        run.throughput_rps, run.p99_ms, run.errors, run.non_2xx
    );
    Ok(run)
}

/// A 3-node etcd on loopback, killed on drop.
pub struct Etcd {
    children: Vec<Child>,
    /// Client URLs, member 1 first.
    pub client_urls: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts three etcd members (default durability: fsync on every commit, as Trent) and waits
/// until member 1 reports healthy.
pub async fn start_etcd() -> anyhow::Result<Etcd> {
    let dir = tempfile::tempdir()?;
    let ports: Vec<(u16, u16)> = (0..3)
        .map(|_| Ok((free_port()?, free_port()?)))
        .collect::<anyhow::Result<_>>()?;
    let cluster: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, (_, peer))| format!("e{}=http://127.0.0.1:{peer}", i + 1))
        .collect();
    let mut children = Vec::new();
    let mut client_urls = Vec::new();
    for (i, (client, peer)) in ports.iter().enumerate() {
        let name = format!("e{}", i + 1);
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join(format!("{name}.log")))?;
        let child = Command::new("etcd")
            .args(["--name", &name])
            .arg("--data-dir")
            .arg::<PathBuf>(dir.path().join(&name))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "trent-bench"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting etcd (Debian's etcd-server; make deps installs it)")?;
        children.push(child);
        client_urls.push(client_url);
    }
    let etcd = Etcd {
        children,
        client_urls,
        _dir: dir,
    };
    let health = format!("{}/health", etcd.client_urls[0]);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let healthy = match http.get(&health).send().await {
            Ok(r) => r.text().await.unwrap_or_default().contains("true"),
            Err(_) => false,
        };
        if healthy {
            return Ok(etcd);
        }
        if Instant::now() > deadline {
            bail!("etcd did not become healthy within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// etcd's put of a 256-byte value through the JSON gateway of member `url`.
pub fn etcd_put(url: &str) -> WrkRequest {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let body = serde_json::json!({"key": b64(b"trent-bench"), "value": b64(&[b'v'; 256])});
    WrkRequest {
        url: format!("{url}/v3/kv/put"),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lua_strings_cannot_be_closed_by_their_content() {
        assert_eq!(lua_string(b"abc").unwrap(), "[[abc]]");
        assert_eq!(lua_string(b"a]]b").unwrap(), "[=[a]]b]=]");
        assert_eq!(lua_string(b"]]]=]").unwrap(), "[==[]]]=]]==]");
    }

    #[test]
    fn the_script_sets_every_header_and_prints_a_summary() {
        let request = WrkRequest {
            url: "http://127.0.0.1:1/".into(),
            headers: vec![("X-Amz-Target".into(), "TrentService.Encrypt".into())],
            body: b"{\"KeyId\":\"k\"}".to_vec(),
        };
        let lua = script(&request).unwrap();
        assert!(lua.contains("wrk.headers[ [[X-Amz-Target]] ] = [[TrentService.Encrypt]]"));
        assert!(lua.contains("wrk.body = [[{\"KeyId\":\"k\"}]]"));
        assert!(lua.contains("TRENT-BENCH"));
    }
}

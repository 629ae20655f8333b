//! `trent cluster status`: every node's view of its region, read from the node's `GET /metrics`
//! (seal state, Raft role, term, leader, log, applied and snapshot index, the leader's lag per
//! follower, cross-region outbox depth per peer region, keys), one line per node and a verdict
//! per region: healthy when every node answers, is unsealed, and all agree on one leader.

use std::collections::BTreeMap;
use std::time::Duration;

/// One node to ask: its region and its API endpoint (`http://host:port`).
#[derive(Debug, Clone)]
pub struct Target {
    /// The region the node serves.
    pub region: String,
    /// The node's KMS API endpoint.
    pub endpoint: String,
}

/// The metric samples of one scrape: name (without labels) to `(labels, value)`.
type Samples = BTreeMap<String, Vec<(String, f64)>>;

/// Parses Prometheus text: `name{labels} value` lines; comments and malformed lines skipped.
fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (series, ""),
        };
        samples
            .entry(name.to_string())
            .or_default()
            .push((labels.to_string(), value));
    }
    samples
}

fn single(samples: &Samples, name: &str) -> Option<i64> {
    samples
        .get(name)
        .and_then(|values| values.first())
        .map(|(_, v)| *v as i64)
}

/// `label="x"` pairs of a family as `x=value`, joined.
fn family(samples: &Samples, name: &str) -> String {
    let Some(values) = samples.get(name) else {
        return "-".to_string();
    };
    let parts: Vec<String> = values
        .iter()
        .map(|(labels, v)| {
            let label = labels
                .split_once('=')
                .map_or(labels.as_str(), |(_, x)| x)
                .trim_matches('"');
            format!("{label}={}", *v as i64)
        })
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(",")
    }
}

/// What one node said, or why it said nothing.
struct View {
    target: Target,
    samples: Result<Samples, String>,
}

async fn scrape(http: &reqwest::Client, target: Target) -> View {
    let url = format!("{}/metrics", target.endpoint.trim_end_matches('/'));
    let samples = async {
        let response = http.get(&url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok(parse(&text))
    }
    .await;
    View { target, samples }
}

/// Asks every target and renders the report; the flag says whether every region is healthy.
pub async fn report(targets: Vec<Target>) -> anyhow::Result<(String, bool)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    // One node after another, each within the client's timeout.
    let mut regions: BTreeMap<String, Vec<View>> = BTreeMap::new();
    for target in targets {
        let view = scrape(&http, target).await;
        regions
            .entry(view.target.region.clone())
            .or_default()
            .push(view);
    }
    let mut out = String::new();
    let mut healthy = true;
    for (region, views) in &regions {
        let mut leaders = std::collections::BTreeSet::new();
        let mut problems = Vec::new();
        let mut lines = Vec::new();
        for view in views {
            let endpoint = &view.target.endpoint;
            match &view.samples {
                Err(e) => {
                    problems.push(format!("{endpoint} unreachable"));
                    lines.push(format!("  {endpoint}  unreachable: {e}"));
                }
                Ok(s) if single(s, "trent_sealed") == Some(1) => {
                    problems.push(format!("{endpoint} sealed"));
                    lines.push(format!("  {endpoint}  sealed"));
                }
                Ok(s) => {
                    let leader = single(s, "trent_raft_leader").unwrap_or(-1);
                    leaders.insert(leader);
                    let role = if single(s, "trent_raft_is_leader") == Some(1) {
                        "leader"
                    } else {
                        "follower"
                    };
                    let mut line = format!(
                        "  {endpoint}  role {role:<8}  term {}  leader_id {leader}  log {}  applied {}  \
                         snapshot {}  keys {}  outbox {}",
                        single(s, "trent_raft_term").unwrap_or(-1),
                        single(s, "trent_raft_last_log_index").unwrap_or(-1),
                        single(s, "trent_raft_last_applied_index").unwrap_or(-1),
                        single(s, "trent_raft_snapshot_index")
                            .filter(|i| *i >= 0)
                            .map_or("none".to_string(), |i| i.to_string()),
                        single(s, "trent_keys").unwrap_or(-1),
                        family(s, "trent_outbox_depth"),
                    );
                    if role == "leader" {
                        line.push_str(&format!(
                            "  lag {}",
                            family(s, "trent_raft_replication_lag_entries")
                        ));
                    }
                    lines.push(line);
                }
            }
        }
        match leaders.len() {
            0 => {}
            1 if !leaders.contains(&-1) => {}
            1 => problems.push("no leader".into()),
            _ => problems.push(format!("nodes disagree on the leader: {leaders:?}")),
        }
        let verdict = if problems.is_empty() {
            "healthy".to_string()
        } else {
            healthy = false;
            format!("NOT healthy: {}", problems.join("; "))
        };
        out.push_str(&format!("{region}: {verdict}\n"));
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok((out, healthy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_lines_become_samples_and_families() {
        let text = "# HELP trent_raft_term x\n# TYPE trent_raft_term gauge\ntrent_raft_term 7\n\
                    trent_outbox_depth{region=\"us-west-2\"} 3\n\
                    trent_outbox_depth{region=\"eu-west-1\"} 0\nnot a sample\n";
        let samples = parse(text);
        assert_eq!(single(&samples, "trent_raft_term"), Some(7));
        assert_eq!(single(&samples, "trent_keys"), None);
        assert_eq!(
            family(&samples, "trent_outbox_depth"),
            "us-west-2=3,eu-west-1=0"
        );
        assert_eq!(family(&samples, "trent_raft_replication_lag_entries"), "-");
    }
}

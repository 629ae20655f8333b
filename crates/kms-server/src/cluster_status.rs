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
pub(crate) struct View {
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

/// What one region's nodes said, and what is wrong with the region (empty: healthy).
pub(crate) struct RegionSurvey {
    /// Each node's answer, in the order asked.
    pub(crate) views: Vec<View>,
    /// What is wrong: unreachable or sealed nodes, no leader, disagreement on the leader.
    pub(crate) problems: Vec<String>,
}

/// Asks every target, one after another (each within `timeout`), region by region.
pub(crate) async fn survey(
    targets: Vec<Target>,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<String, RegionSurvey>> {
    let http = reqwest::Client::builder().timeout(timeout).build()?;
    let mut regions: BTreeMap<String, Vec<View>> = BTreeMap::new();
    for target in targets {
        let view = scrape(&http, target).await;
        regions
            .entry(view.target.region.clone())
            .or_default()
            .push(view);
    }
    Ok(regions
        .into_iter()
        .map(|(region, views)| {
            let mut leaders = std::collections::BTreeSet::new();
            let mut problems = Vec::new();
            for view in &views {
                match view.role() {
                    role @ ("unreachable" | "sealed") => {
                        problems.push(format!("{} {role}", view.endpoint()));
                    }
                    _ => {
                        leaders.insert(view.metric("trent_raft_leader").unwrap_or(-1));
                    }
                }
            }
            let wires: std::collections::BTreeSet<String> = views
                .iter()
                .filter_map(|v| v.build_label("raft_wire"))
                .collect();
            if wires.len() > 1 {
                problems.push(format!(
                    "nodes speak different Raft wire versions: {wires:?}"
                ));
            }
            match leaders.len() {
                0 => {}
                1 if !leaders.contains(&-1) => {}
                1 => problems.push("no leader".into()),
                _ => problems.push(format!("nodes disagree on the leader: {leaders:?}")),
            }
            (region, RegionSurvey { views, problems })
        })
        .collect())
}

impl View {
    /// The node's endpoint.
    pub(crate) fn endpoint(&self) -> &str {
        &self.target.endpoint
    }

    /// Why the node said nothing, if it did not.
    pub(crate) fn unreachable(&self) -> Option<&str> {
        self.samples.as_ref().err().map(String::as_str)
    }

    /// One of the node's single-valued metrics.
    pub(crate) fn metric(&self, name: &str) -> Option<i64> {
        self.samples.as_ref().ok().and_then(|s| single(s, name))
    }

    /// One of the node's labelled metric families as `label=value,...`.
    pub(crate) fn family(&self, name: &str) -> String {
        self.samples
            .as_ref()
            .map_or_else(|_| "-".to_string(), |s| family(s, name))
    }

    /// A label of the node's `trent_build_info` (`version`, `raft_wire`, `link_wire`,
    /// `store_format`).
    pub(crate) fn build_label(&self, label: &str) -> Option<String> {
        let samples = self.samples.as_ref().ok()?;
        let (labels, _) = samples.get("trent_build_info")?.first()?;
        labels.split(',').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name.trim() == label).then(|| value.trim().trim_matches('"').to_string())
        })
    }

    /// `leader`, `follower`, `sealed` or `unreachable`.
    pub(crate) fn role(&self) -> &'static str {
        if self.unreachable().is_some() {
            "unreachable"
        } else if self.metric("trent_sealed") == Some(1) {
            "sealed"
        } else if self.metric("trent_raft_is_leader") == Some(1) {
            "leader"
        } else {
            "follower"
        }
    }
}

/// Asks every target and renders the report; the flag says whether every region is healthy.
pub async fn report(targets: Vec<Target>) -> anyhow::Result<(String, bool)> {
    let regions = survey(targets, Duration::from_secs(5)).await?;
    let mut out = String::new();
    let mut healthy = true;
    for (region, survey) in &regions {
        let verdict = if survey.problems.is_empty() {
            "healthy".to_string()
        } else {
            healthy = false;
            format!("NOT healthy: {}", survey.problems.join("; "))
        };
        out.push_str(&format!("{region}: {verdict}\n"));
        for view in &survey.views {
            let endpoint = view.endpoint();
            let line = match view.role() {
                "unreachable" => format!(
                    "  {endpoint}  unreachable: {}",
                    view.unreachable().unwrap_or("")
                ),
                "sealed" => format!("  {endpoint}  sealed"),
                role => {
                    let metric = |name: &str| view.metric(name).unwrap_or(-1);
                    let mut line = format!(
                        "  {endpoint}  role {role:<8}  term {}  leader_id {}  log {}  applied {}  \
                         snapshot {}  keys {}  outbox {}",
                        metric("trent_raft_term"),
                        metric("trent_raft_leader"),
                        metric("trent_raft_last_log_index"),
                        metric("trent_raft_last_applied_index"),
                        view.metric("trent_raft_snapshot_index")
                            .filter(|i| *i >= 0)
                            .map_or("none".to_string(), |i| i.to_string()),
                        metric("trent_keys"),
                        view.family("trent_outbox_depth"),
                    );
                    if role == "leader" {
                        line.push_str(&format!(
                            "  lag {}",
                            view.family("trent_raft_replication_lag_entries")
                        ));
                    }
                    let label = |name: &str| view.build_label(name).unwrap_or("-".into());
                    line.push_str(&format!(
                        "  trent {}  raft-wire {}  link-wire {}  store {}",
                        label("version"),
                        label("raft_wire"),
                        label("link_wire"),
                        label("store_format"),
                    ));
                    line
                }
            };
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

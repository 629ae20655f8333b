//! `report.html`: one self-contained page per run (no scripts, no external files) with
//! hand-written inline SVG:
//!
//! - a latency scatter (x = invoke time in s, y = latency in ms on a log scale; one colour per
//!   `f`; a circle for ok, a cross for fail, a triangle for info), Jepsen's `latency-raw`;
//! - throughput: completions per second, one line per outcome;
//! - fault windows (from the nemesis' `start_*`/`stop_*` events) shaded as translucent bands on
//!   both plots, one colour per fault kind (`region_split` windows too, labelled with the cut
//!   regions);
//! - with the multi-region workload, how long the keys took to settle after the final heal;
//! - the checker table (details folded), counts per `f` and outcome, the exact `jl run` command
//!   that reruns the test, and links to the history, results and node logs.

pub mod table;

use self::table::summary;
use crate::checker::compose::{stats, ScopedResult};
use crate::checker::Verdict;
use crate::generator::Workload;
use crate::history::{pair, Event, EventType, Process};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What the report shows.
pub struct ReportInput<'a> {
    /// Test name (`all-kill+pause`).
    pub title: &'a str,
    /// The topology in words (placement, regions and node names).
    pub mode: &'a str,
    /// The command that reruns the test.
    pub command: &'a str,
    /// The whole history.
    pub events: &'a [Event],
    /// Every check result.
    pub results: &'a [ScopedResult],
    /// The combined verdict.
    pub verdict: Verdict,
    /// Seconds from the final heal until the region served again (`None`: it never did).
    pub recovery_s: Option<f64>,
}

/// d3's category10.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

const FAULT_COLOURS: [(&str, &str); 12] = [
    ("kill", "#e6550d"),
    ("kill_follower", "#fd8d3c"),
    ("pause", "#3182bd"),
    ("kill_leader", "#d62728"),
    ("pause_leader", "#17becf"),
    ("kill_majority", "#756bb1"),
    ("kill_all", "#636363"),
    ("clock_skew", "#31a354"),
    ("packet_loss", "#bcbd22"),
    ("partition", "#e7ba52"),
    ("region_split", "#8c564b"),
    ("lag_follower", "#e377c2"),
];

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 40.0;

/// Escapes text for HTML/SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// A fault window: kind (history name), start and end in seconds, nodes hit.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultWindow {
    /// `kill`, `pause`, `kill_leader`, ...
    pub kind: String,
    /// When it was installed.
    pub start_s: f64,
    /// When it was healed (or the end of the history).
    pub end_s: f64,
    /// Nodes it hit.
    pub nodes: Vec<String>,
}

/// The installed fault windows of a history.
pub fn fault_windows(events: &[Event]) -> Vec<FaultWindow> {
    let end = events.last().map_or(0.0, |e| seconds(e.time_ns));
    let mut windows: Vec<FaultWindow> = Vec::new();
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    for event in events {
        if !matches!(event.process, Process::Nemesis(_)) {
            continue;
        }
        if let Some(kind) = event.f.strip_prefix("start_") {
            if event.value["status"] != "installed" {
                continue;
            }
            let mut nodes: Vec<String> = event.value["nodes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            // A region split is described by the regions it cut off.
            if let Some(regions) = event.value["cut_regions"].as_array() {
                let regions: Vec<&str> = regions.iter().filter_map(|r| r.as_str()).collect();
                nodes.insert(0, format!("cut: {}", regions.join("+")));
            }
            open.insert(kind.to_string(), windows.len());
            windows.push(FaultWindow {
                kind: kind.to_string(),
                start_s: seconds(event.time_ns),
                end_s: end,
                nodes,
            });
        } else if let Some(kind) = event.f.strip_prefix("stop_") {
            if let Some(at) = open.remove(kind) {
                windows[at].end_s = seconds(event.time_ns);
            }
        }
    }
    windows
}

/// When the final phase began (the first `final_*` invoke), in seconds.
pub fn final_phase_start(events: &[Event]) -> Option<f64> {
    events
        .iter()
        .find(|e| e.kind == EventType::Invoke && e.f.starts_with("final_"))
        .map(|e| seconds(e.time_ns))
}

fn fault_colour(kind: &str) -> &'static str {
    FAULT_COLOURS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("#999999", |(_, c)| c)
}

struct Frame {
    t_max: f64,
    final_start: Option<f64>,
}

impl Frame {
    fn x(&self, t: f64) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * (t / self.t_max).clamp(0.0, 1.0)
    }

    fn plot_height() -> f64 {
        HEIGHT - TOP - BOTTOM
    }

    fn open(&self, out: &mut String, title: &str) {
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"11\">\
             <text x=\"{LEFT}\" y=\"15\" font-size=\"13\" font-weight=\"bold\">{}</text>\
             <rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>",
            escape(title),
            WIDTH - LEFT - RIGHT,
            Frame::plot_height()
        );
    }

    fn bands(&self, out: &mut String, windows: &[FaultWindow]) {
        if let Some(start) = self.final_start {
            let x0 = self.x(start);
            let _ = write!(
                out,
                "<rect x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{}\" fill=\"#888\" \
                 fill-opacity=\"0.12\"><title>final reads</title></rect>\
                 <text x=\"{:.1}\" y=\"{}\" fill=\"#555\" font-size=\"9\">final</text>",
                (self.x(self.t_max) - x0).max(1.0),
                Frame::plot_height(),
                x0 + 2.0,
                TOP + 10.0,
            );
        }
        for w in windows {
            let (x0, x1) = (self.x(w.start_s), self.x(w.end_s));
            let _ = write!(
                out,
                "<rect x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\" \
                 fill-opacity=\"0.15\"><title>{} {} {:.1}s-{:.1}s</title></rect>\
                 <text x=\"{:.1}\" y=\"{}\" fill=\"{}\" font-size=\"9\">{}</text>",
                (x1 - x0).max(1.0),
                Frame::plot_height(),
                fault_colour(&w.kind),
                escape(&w.kind),
                escape(&w.nodes.join(",")),
                w.start_s,
                w.end_s,
                x0 + 2.0,
                TOP + 10.0,
                fault_colour(&w.kind),
                escape(&w.kind),
            );
        }
    }

    fn x_axis(&self, out: &mut String) {
        let step = nice_step(self.t_max / 10.0);
        let bottom = HEIGHT - BOTTOM;
        let mut t = 0.0;
        while t <= self.t_max + 1e-9 {
            let x = self.x(t);
            let _ = write!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{bottom}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#444\"/>\
                 <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                bottom + 4.0,
                bottom + 16.0,
                trim_number(t)
            );
            t += step;
        }
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">time (s)</text>",
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
            HEIGHT - 6.0
        );
    }
}

fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * magnitude >= raw {
            return m * magnitude;
        }
    }
    10.0 * magnitude
}

fn trim_number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// One completed client operation: (f, invoke s, latency ms, outcome).
type Point = (String, f64, f64, EventType);

fn points(events: &[Event]) -> Vec<Point> {
    pair(events)
        .into_iter()
        .filter_map(|op| {
            let completion = op.completion.as_ref()?;
            let latency_ms = completion.time_ns.saturating_sub(op.invoke.time_ns) as f64 / 1e6;
            Some((
                op.invoke.f.clone(),
                seconds(op.invoke.time_ns),
                latency_ms,
                completion.kind,
            ))
        })
        .collect()
}

fn marker(out: &mut String, x: f64, y: f64, colour: &str, kind: EventType) {
    let _ = match kind {
        EventType::Fail => write!(
            out,
            "<path d=\"M{:.1} {:.1}l5 5m0 -5l-5 5\" stroke=\"{colour}\" stroke-width=\"1.2\"/>",
            x - 2.5,
            y - 2.5
        ),
        EventType::Info => write!(
            out,
            "<path d=\"M{x:.1} {:.1}l3 5h-6z\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.2\"/>",
            y - 3.0
        ),
        _ => write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2\" fill=\"{colour}\" fill-opacity=\"0.7\"/>"
        ),
    };
}

fn latency_svg(
    points: &[Point],
    colours: &BTreeMap<String, &str>,
    windows: &[FaultWindow],
    frame: &Frame,
) -> String {
    let mut out = String::new();
    frame.open(
        &mut out,
        "Latency (ms, log scale) by operation; ● ok  ✕ fail  △ info",
    );
    frame.bands(&mut out, windows);
    let max_ms = points.iter().map(|p| p.2).fold(1.0, f64::max);
    let lo = -1.0_f64; // 0.1 ms
    let hi = max_ms.log10().ceil().max(lo + 1.0);
    let y = |ms: f64| {
        let l = ms.max(0.1).log10();
        TOP + Frame::plot_height() * (1.0 - (l - lo) / (hi - lo))
    };
    let mut decade = lo;
    while decade <= hi + 1e-9 {
        let ms = 10f64.powf(decade);
        let yy = y(ms);
        let label = if ms < 1.0 {
            format!("{ms:.1}")
        } else {
            format!("{}", ms.round() as i64)
        };
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            yy + 4.0
        );
        decade += 1.0;
    }
    for (f, t, ms, kind) in points {
        let colour = colours.get(f).copied().unwrap_or("#000");
        marker(&mut out, frame.x(*t), y(*ms), colour, *kind);
    }
    frame.x_axis(&mut out);
    out.push_str("</svg>");
    out
}

fn throughput_svg(points: &[Point], windows: &[FaultWindow], frame: &Frame) -> String {
    let buckets = frame.t_max.ceil().max(1.0) as usize;
    let mut counts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (_, t, ms, kind) in points {
        let done = t + ms / 1e3;
        let bucket = (done.floor().max(0.0) as usize).min(buckets - 1);
        let name = match kind {
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            _ => "info",
        };
        counts.entry(name).or_insert_with(|| vec![0; buckets])[bucket] += 1;
    }
    // Scale to the main phase: the final reads run unthrottled and would flatten the rest
    // (their burst is clamped at the top of the plot).
    let main_buckets = frame
        .final_start
        .map_or(buckets, |s| (s.floor().max(1.0) as usize).min(buckets));
    let max = counts
        .values()
        .flat_map(|series| series[..main_buckets].iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut out = String::new();
    frame.open(
        &mut out,
        "Throughput (completions per second; the final-read burst is clipped)",
    );
    frame.bands(&mut out, windows);
    let y = |v: f64| TOP + Frame::plot_height() * (1.0 - (v / max).min(1.0));
    let step = nice_step(max / 5.0);
    let mut v = 0.0;
    while v <= max + 1e-9 {
        let yy = y(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            yy + 4.0,
            trim_number(v)
        );
        v += step;
    }
    let mut legend_x = WIDTH - RIGHT - 150.0;
    for (name, colour) in [("ok", "#2ca02c"), ("fail", "#ff7f0e"), ("info", "#9467bd")] {
        let Some(series) = counts.get(name) else {
            continue;
        };
        let path: Vec<String> = series
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:.1},{:.1}", frame.x(i as f64 + 0.5), y(*c as f64)))
            .collect();
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>\
             <text x=\"{legend_x}\" y=\"15\" fill=\"{colour}\">— {name}</text>",
            path.join(" ")
        );
        legend_x += 50.0;
    }
    frame.x_axis(&mut out);
    out.push_str("</svg>");
    out
}

/// " Multi-region keys settled N s after the final heal." (empty without the workload).
fn settle_text(events: &[Event]) -> String {
    let Some(event) = events
        .iter()
        .rev()
        .find(|e| e.f == crate::checker::mrk::F_SETTLE)
    else {
        return String::new();
    };
    let seconds = event.value["seconds"].as_f64().unwrap_or(0.0);
    if event.value["settled"] == true {
        format!(" Multi-region keys settled {seconds:.1} s after recovery.")
    } else {
        format!(" Multi-region keys did <b class=\"invalid\">not settle</b> within {seconds:.0} s.")
    }
}

fn verdict_cell(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => "<td class=\"valid\">valid</td>",
        Verdict::Invalid => "<td class=\"invalid\">INVALID</td>",
        Verdict::Unknown => "<td class=\"unknown\">unknown</td>",
    }
}

/// Renders the whole page.
pub fn render(input: &ReportInput<'_>) -> String {
    let points = points(input.events);
    let windows = fault_windows(input.events);
    let t_max = input
        .events
        .last()
        .map_or(1.0, |e| seconds(e.time_ns))
        .max(1.0);
    let frame = Frame {
        t_max,
        final_start: final_phase_start(input.events),
    };
    let mut colours: BTreeMap<String, &str> = BTreeMap::new();
    for (f, ..) in &points {
        let next = PALETTE[colours.len() % PALETTE.len()];
        colours.entry(f.clone()).or_insert(next);
    }
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>jepsen-lite {title}</title>\
         <style>body{{font-family:sans-serif;margin:24px;color:#222}}\
         table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ccc;padding:3px 8px;\
         text-align:left;vertical-align:top}}th{{background:#f3f3f3}}.valid{{color:#1a7f37;font-weight:bold}}\
         .invalid{{color:#c62828;font-weight:bold}}.unknown{{color:#b26a00;font-weight:bold}}\
         pre{{background:#f6f8fa;padding:8px;overflow-x:auto;max-width:1100px}}\
         .legend span{{display:inline-block;margin-right:14px}}.sw{{display:inline-block;width:10px;\
         height:10px;margin-right:4px}}</style></head><body>\
         <h1>jepsen-lite: {title}</h1><p>Verdict: <b class=\"{class}\">{verdict}</b> \
         (exit {code}). Mode: {mode}. Final recovery: {recovery}.{settle}</p>\
         <h2>Rerun</h2><pre>{command}</pre>",
        title = escape(input.title),
        mode = escape(input.mode),
        settle = settle_text(input.events),
        class = match input.verdict {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        },
        verdict = match input.verdict {
            Verdict::Valid => "valid",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "unknown",
        },
        code = input.verdict.exit_code(),
        recovery = input
            .recovery_s
            .map_or("the region never served again".to_string(), |s| format!("{s:.2} s after the final heal")),
        command = escape(input.command),
    );
    html.push_str("<h2>Checks</h2><table><tr><th>workload</th><th>check</th><th>verdict</th><th>summary</th><th>details</th></tr>");
    for r in input.results {
        let details = serde_json::to_string_pretty(&r.result.details).unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td>{}<td>{}</td><td><details><summary>json</summary><pre>{}</pre></details></td></tr>",
            r.workload.map_or("run", Workload::name),
            escape(&r.result.name),
            verdict_cell(r.result.verdict),
            escape(&summary(&r.result)),
            escape(&details),
        );
    }
    html.push_str("</table>");
    html.push_str("<h2>Latency</h2><div class=\"legend\">");
    for (f, colour) in &colours {
        let _ = write!(
            html,
            "<span><i class=\"sw\" style=\"background:{colour}\"></i>{}</span>",
            escape(f)
        );
    }
    for (kind, colour) in FAULT_COLOURS {
        if windows.iter().any(|w| w.kind == kind) {
            let _ = write!(
                html,
                "<span><i class=\"sw\" style=\"background:{colour};opacity:0.35\"></i>fault {kind}</span>"
            );
        }
    }
    html.push_str("</div>");
    html.push_str(&latency_svg(&points, &colours, &windows, &frame));
    html.push_str("<h2>Throughput</h2>");
    html.push_str(&throughput_svg(&points, &windows, &frame));
    html.push_str("<h2>Operations</h2><table><tr><th>f</th><th>ok</th><th>fail</th><th>info</th><th>errors</th></tr>");
    let stats = stats(input.events);
    let mut errors: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    for event in input.events {
        if let (Some(error), Process::Client(_)) = (&event.error, &event.process) {
            *errors
                .entry(event.f.as_str())
                .or_default()
                .entry(error.as_str())
                .or_default() += 1;
        }
    }
    for (f, counts) in &stats {
        let get = |k: &str| counts.get(k).copied().unwrap_or(0);
        let errs: Vec<String> = errors
            .get(f.as_str())
            .map(|m| m.iter().map(|(e, n)| format!("{e}: {n}")).collect())
            .unwrap_or_default();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(f),
            get("ok"),
            get("fail"),
            get("info"),
            escape(&errs.join(", "))
        );
    }
    html.push_str("</table><h2>Faults</h2><table><tr><th>kind</th><th>nodes</th><th>from (s)</th><th>to (s)</th></tr>");
    for w in &windows {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            escape(&w.kind),
            escape(&w.nodes.join(", ")),
            w.start_s,
            w.end_s
        );
    }
    html.push_str(
        "</table><h2>Files</h2><ul><li><a href=\"history.jsonl\">history.jsonl</a></li>\
                   <li><a href=\"results.json\">results.json</a></li>",
    );
    let mut nodes: Vec<&str> = input
        .events
        .iter()
        .filter_map(|e| e.node.as_deref())
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    for node in nodes {
        let _ = write!(
            html,
            "<li><a href=\"nodes/{0}.log\">nodes/{0}.log</a></li>",
            escape(node)
        );
    }
    html.push_str("</ul></body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::CheckResult;
    use serde_json::json;

    fn event(
        index: u64,
        time_ns: u64,
        kind: EventType,
        process: Process,
        f: &str,
        value: serde_json::Value,
    ) -> Event {
        Event {
            index,
            time_ns,
            kind,
            process,
            node: Some("n1".into()),
            f: f.into(),
            key: None,
            value,
            error: None,
        }
    }

    #[test]
    fn report_is_self_contained_and_shows_faults_and_checks() {
        let nemesis = || Process::Nemesis("nemesis".into());
        let installed = json!({"nodes": ["n2"], "status": "installed"});
        let events = vec![
            event(
                0,
                0,
                EventType::Invoke,
                Process::Client(0),
                "create_key",
                json!(null),
            ),
            event(
                1,
                3_000_000,
                EventType::Ok,
                Process::Client(0),
                "create_key",
                json!({"key_id": "a"}),
            ),
            event(
                2,
                1_000_000_000,
                EventType::Info,
                nemesis(),
                "start_kill",
                installed.clone(),
            ),
            event(
                3,
                1_100_000_000,
                EventType::Invoke,
                Process::Client(1),
                "create_key",
                json!(null),
            ),
            event(
                4,
                3_100_000_000,
                EventType::Info,
                Process::Client(1),
                "create_key",
                json!(null),
            ),
            event(
                5,
                4_000_000_000,
                EventType::Info,
                nemesis(),
                "stop_kill",
                installed,
            ),
        ];
        let windows = fault_windows(&events);
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].kind, "kill");
        assert!((windows[0].start_s - 1.0).abs() < 1e-9 && (windows[0].end_s - 4.0).abs() < 1e-9);
        let results = vec![ScopedResult {
            workload: Some(Workload::CreateSet),
            result: CheckResult::new(
                "set_full",
                Verdict::Valid,
                json!({"lost": 0, "note": "<x>"}),
            ),
        }];
        let html = render(&ReportInput {
            title: "create-set-kill",
            mode: "loopback",
            command: "jl run --workload create-set --seed 7",
            events: &events,
            results: &results,
            verdict: Verdict::Valid,
            recovery_s: Some(1.5),
        });
        assert!(html.contains("<svg") && html.contains("--seed 7") && html.contains("set_full"));
        assert!(html.contains("&lt;x&gt;") && !html.contains("<x>"));
        assert!(!html.contains("<script") && !html.contains("src="));
        assert_eq!(points(&events).len(), 2);
    }

    #[test]
    fn region_splits_are_shaded_and_settling_is_shown() {
        let nemesis = || Process::Nemesis("nemesis".into());
        let mut settle = event(
            2,
            9_000_000_000,
            EventType::Info,
            Process::Nemesis("harness".into()),
            crate::checker::mrk::F_SETTLE,
            json!({"settled": true, "seconds": 5.4}),
        );
        settle.node = None;
        let events = vec![
            event(
                0,
                1_000_000_000,
                EventType::Info,
                nemesis(),
                "start_region_split",
                json!({"nodes": ["w1", "w2", "w3"], "status": "installed",
                       "cut_regions": ["us-west-2"]}),
            ),
            event(
                1,
                6_000_000_000,
                EventType::Info,
                nemesis(),
                "stop_region_split",
                json!({"nodes": ["w1", "w2", "w3"], "status": "installed"}),
            ),
            settle,
        ];
        let windows = fault_windows(&events);
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].kind, "region_split");
        assert_eq!(windows[0].nodes[0], "cut: us-west-2");
        let html = render(&ReportInput {
            title: "multi-region-region-split",
            mode: "loopback; 2 linked regions",
            command: "jl run --regions 2",
            events: &events,
            results: &[],
            verdict: Verdict::Valid,
            recovery_s: Some(0.1),
        });
        assert!(html.contains("fault region_split"));
        assert!(html.contains(fault_colour("region_split")));
        assert!(html.contains("settled 5.4 s"));
        assert!(html.contains("2 linked regions"));
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(13.0), 20.0);
        assert_eq!(nice_step(4.0), 5.0);
    }
}

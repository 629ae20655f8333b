//! The verdict table `jl run` prints at the end: one line per check with a one-line summary of
//! its details (the same summary the report's check table shows).

use crate::checker::compose::ScopedResult;
use crate::checker::{CheckResult, Verdict};
use crate::generator::Workload;
use serde_json::Value;

/// A one-line summary of a result's details for the table.
pub fn summary(result: &CheckResult) -> String {
    let Some(map) = result.details.as_object() else {
        return String::new();
    };
    let mut parts = Vec::new();
    for (key, value) in map {
        let shown = match value {
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::String(s) if s.len() <= 40 => s.clone(),
            Value::Array(a) if a.is_empty() => continue,
            Value::Array(a) => format!("[{}]", a.len()),
            _ => continue,
        };
        parts.push(format!("{key}={shown}"));
    }
    let mut line = parts.join(" ");
    if line.len() > 100 {
        let cut = (0..=100)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// How a verdict is shown (`INVALID` in capitals, to stand out).
pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => "valid",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "unknown",
    }
}

/// Prints the verdict table to stdout.
pub fn print_table(results: &[ScopedResult], verdict: Verdict) {
    println!();
    println!(
        "{:<12} {:<25} {:<8} summary",
        "workload", "check", "verdict"
    );
    println!("{}", "-".repeat(90));
    for r in results {
        println!(
            "{:<12} {:<25} {:<8} {}",
            r.workload.map_or("run", Workload::name),
            r.result.name,
            verdict_name(r.result.verdict),
            summary(&r.result)
        );
    }
    println!("{}", "-".repeat(90));
    println!(
        "verdict: {} (exit {})",
        verdict_name(verdict),
        verdict.exit_code()
    );
}

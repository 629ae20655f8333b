//! The cluster page: every region's nodes with their role, leader, seal state and lag.

use maud::{html, Markup};

use super::layout;
use crate::node_view::RegionHealth;

fn or_dash(v: Option<i64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

/// The cluster page.
pub fn cluster(csrf: &str, regions: &[RegionHealth]) -> Markup {
    layout(
        "Cluster",
        Some(csrf),
        None,
        html! {
            @if regions.is_empty() { p { "This node knows no regions to ask." } }
            @for r in regions {
                section aria-labelledby={ "region-" (r.region) } {
                    h2 id={ "region-" (r.region) } { (r.region) ": " span.verdict { (r.verdict) } }
                    table { thead { tr { th { "Node" } th { "Role" } th { "Term" } th { "Leader id" } th { "Applied" } th { "Keys" } th { "Lag (entries)" } } }
                        tbody { @for n in &r.nodes { tr {
                            td { (n.endpoint) } td.role { (n.role) @if let Some(p) = &n.problem { ": " (p) } }
                            td { (or_dash(n.term)) } td { (or_dash(n.leader_id)) } td { (or_dash(n.applied)) }
                            td { (or_dash(n.keys)) } td { (n.lag.clone().unwrap_or_default()) }
                        } } }
                    }
                }
            }
        },
    )
}

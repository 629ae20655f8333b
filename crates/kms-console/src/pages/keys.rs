//! The keys list: filters by alias or id, state, spec and regionality; sorting; pages.

use maud::{html, Markup};
use serde_json::Value;

use super::{layout, select};

/// The list's filters and order, as the query string carries them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ListFilter {
    /// Text found in an alias or the key id.
    #[serde(default)]
    pub q: String,
    /// A key state, or empty for any.
    #[serde(default)]
    pub state: String,
    /// A key spec, or empty for any.
    #[serde(default)]
    pub spec: String,
    /// `single`, `multi`, or empty for any.
    #[serde(default)]
    pub regionality: String,
    /// The column to sort by: `alias`, `id`, `state`, `spec` or `created` (the default).
    #[serde(default)]
    pub sort: String,
    /// The ListKeys marker of the page shown.
    pub marker: Option<String>,
}

impl ListFilter {
    /// Whether key `meta` with `aliases` passes the filter.
    pub fn admits(&self, meta: &Value, aliases: &[&str]) -> bool {
        let text = |f: &str| meta[f].as_str().unwrap_or("");
        let q = self.q.to_lowercase();
        let named = q.is_empty()
            || text("KeyId").to_lowercase().contains(&q)
            || aliases.iter().any(|a| a.to_lowercase().contains(&q));
        let multi = meta["MultiRegion"].as_bool() == Some(true);
        named
            && (self.state.is_empty() || text("KeyState") == self.state)
            && (self.spec.is_empty() || text("KeySpec") == self.spec)
            && match self.regionality.as_str() {
                "single" => !multi,
                "multi" => multi,
                _ => true,
            }
    }

    /// The query string of this filter sorted by `sort`.
    fn with_sort(&self, sort: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &self.q)
            .append_pair("state", &self.state)
            .append_pair("spec", &self.spec)
            .append_pair("regionality", &self.regionality)
            .append_pair("sort", sort)
            .finish()
    }
}

/// One row: the key's DescribeKey metadata and its aliases.
pub type Row = (Value, Vec<String>);

/// Sorts `rows` by the filter's column.
pub fn sort_rows(rows: &mut [Row], sort: &str) {
    let text = |row: &Row, f: &str| row.0[f].as_str().unwrap_or("").to_string();
    match sort {
        "alias" => rows.sort_by_key(|r| (r.1.is_empty(), r.1.first().cloned())),
        "id" | "state" | "spec" => {
            let field = match sort {
                "id" => "KeyId",
                "state" => "KeyState",
                _ => "KeySpec",
            };
            rows.sort_by_key(|r| text(r, field));
        }
        _ => rows.sort_by(|a, b| {
            let created = |r: &Row| r.0["CreationDate"].as_f64().unwrap_or(0.0);
            created(b).total_cmp(&created(a))
        }),
    }
}

const STATES: [&str; 9] = [
    "",
    "Enabled",
    "Disabled",
    "PendingDeletion",
    "PendingImport",
    "PendingReplicaDeletion",
    "Unavailable",
    "Creating",
    "Updating",
];

/// The keys list page.
pub fn keys(csrf: &str, rows: &[Row], filter: &ListFilter, next: Option<&str>) -> Markup {
    let header = |label: &str, sort: &str| {
        html! { th scope="col" { a href={ "/console/?" (filter.with_sort(sort)) } { (label) } } }
    };
    layout(
        "Customer managed keys",
        Some(csrf),
        None,
        html! {
            form method="get" action="/console/" aria-label="Filter keys" {
                div.row {
                    div { label for="q" { "Alias or key ID contains" } input id="q" name="q" value=(filter.q); }
                    div { (select("state", "Key state", &STATES, &filter.state)) }
                    div {
                        label for="spec" { "Key spec" }
                        input id="spec" name="spec" value=(filter.spec) placeholder="e.g. SYMMETRIC_DEFAULT";
                    }
                    div {
                        label for="regionality" { "Regionality" }
                        select id="regionality" name="regionality" {
                            option value="" selected[filter.regionality.is_empty()] { "Any" }
                            option value="single" selected[filter.regionality == "single"] { "Single-Region" }
                            option value="multi" selected[filter.regionality == "multi"] { "Multi-Region" }
                        }
                    }
                }
                input type="hidden" name="sort" value=(filter.sort);
                button type="submit" { "Filter" }
            }
            p { (rows.len()) " keys on this page." }
            table {
                thead { tr {
                    (header("Aliases", "alias")) (header("Key ID", "id")) (header("Status", "state"))
                    (header("Key spec", "spec")) th scope="col" { "Key usage" } th scope="col" { "Regionality" }
                } }
                tbody {
                    @for (k, names) in rows {
                        @let id = k["KeyId"].as_str().unwrap_or("");
                        tr {
                            td { (names.join(", ")) }
                            td { a href={ "/console/keys/" (id) } { (id) } }
                            td { (k["KeyState"].as_str().unwrap_or("")) }
                            td { (k["KeySpec"].as_str().unwrap_or("")) }
                            td { (k["KeyUsage"].as_str().unwrap_or("")) }
                            td { @if k["MultiRegion"].as_bool() == Some(true) { "Multi-Region" } @else { "Single-Region" } }
                        }
                    }
                }
            }
            @if let Some(marker) = next {
                @let more = form_urlencoded::Serializer::new(filter.with_sort(&filter.sort)).append_pair("marker", marker).finish();
                a href={ "/console/?" (more) } rel="next" { "Next page" }
            }
        },
    )
}

//! The keys list (ListKeys, then DescribeKey and the aliases of each key on the page, filtered
//! and sorted) and the cluster page (the node's survey of every region).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use crate::pages::{self, ListFilter};
use crate::{call, html, session, to_sign_in, Console};

/// `GET /console/`: the sign-in form, or the keys list.
pub(crate) async fn keys(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(filter): Query<ListFilter>,
) -> Response {
    let Some(s) = session(&console, &headers) else {
        return html(pages::sign_in(&console.config.region, None));
    };
    let mut list = json!({"Limit": 50});
    if let Some(m) = &filter.marker {
        list["Marker"] = json!(m);
    }
    let listed = match call(&console, &s, "ListKeys", list).await {
        Ok(v) => v,
        Err(e) => return html(pages::layout("Keys", Some(&s.csrf), None, pages::error(&e))),
    };
    let aliases: Vec<(String, String)> = call(&console, &s, "ListAliases", json!({"Limit": 100}))
        .await
        .map(|v| {
            v["Aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| {
                    Some((
                        a["AliasName"].as_str()?.to_string(),
                        a["TargetKeyId"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for k in listed["Keys"].as_array().into_iter().flatten() {
        let id = k["KeyId"].as_str().unwrap_or("").to_string();
        let meta = call(&console, &s, "DescribeKey", json!({"KeyId": id}))
            .await
            .map(|v| v["KeyMetadata"].clone())
            .unwrap_or_else(|_| json!({"KeyId": id}));
        let names: Vec<String> = aliases
            .iter()
            .filter(|(_, target)| *target == id)
            .map(|(a, _)| a.clone())
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        if filter.admits(&meta, &refs) {
            rows.push((meta, names));
        }
    }
    pages::keys::sort_rows(&mut rows, &filter.sort);
    let next = listed["NextMarker"].as_str();
    html(pages::keys(&s.csrf, &rows, &filter, next))
}

/// `GET /console/cluster`: every region's nodes, as the node surveys them now.
pub(crate) async fn cluster(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some(s) = session(&console, &headers) else {
        return to_sign_in();
    };
    let regions = console.config.node.cluster().await;
    html(pages::cluster(&s.csrf, &regions))
}

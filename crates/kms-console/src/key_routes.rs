//! The key page and its actions. The page is gathered from ordinary read calls (DescribeKey,
//! GetKeyPolicy, GetKeyRotationStatus, ListKeyRotations, ListAliases, ListResourceTags,
//! ListGrants, and DescribeKey in each other Region of a multi-Region key); each action is one
//! KMS call, after which the browser is sent back to the page (or shown AWS's refusal in the
//! section it concerns).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

use crate::kms_call::AwsError;
use crate::pages::{self, KeyView, RegionState};
use crate::session::Active;
use crate::{call, call_in, checked_form, field, html, session, to_sign_in, Console};

/// How many of the node's audit events the page shows.
const EVENTS_SHOWN: usize = 10;

#[derive(serde::Deserialize)]
pub(crate) struct PageQuery {
    policy: Option<String>,
}

/// `GET /console/keys/{id}` (`?policy=json` for the policy's JSON view).
pub(crate) async fn page(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let Some(s) = session(&console, &headers) else {
        return to_sign_in();
    };
    let as_json = q.policy.as_deref() == Some("json");
    view(&console, &s, &id, as_json, None).await
}

fn strings(v: &Value, list: &str, field: &str) -> Vec<String> {
    v[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x[field].as_str().map(str::to_string))
        .collect()
}

fn items(v: Result<Value, AwsError>, list: &str) -> Vec<Value> {
    v.ok()
        .and_then(|v| v[list].as_array().cloned())
        .unwrap_or_default()
}

/// Every Region of a multi-Region key with its state there.
async fn regions(console: &Console, s: &Active, meta: &Value) -> Vec<RegionState> {
    let mrc = &meta["MultiRegionConfiguration"];
    let primary = mrc["PrimaryKey"]["Region"].as_str().map(|r| (r, "Primary"));
    let replicas = mrc["ReplicaKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["Region"].as_str().map(|r| (r, "Replica")));
    let id = meta["KeyId"].as_str().unwrap_or("");
    let mut out = Vec::new();
    for (region, role) in primary.into_iter().chain(replicas) {
        let answer = if region == s.credentials.region {
            Ok(meta.clone())
        } else {
            call_in(console, s, region, "DescribeKey", json!({"KeyId": id}))
                .await
                .map(|v| v["KeyMetadata"].clone())
        };
        let (state, problem) = match answer {
            Ok(m) => (m["KeyState"].as_str().map(str::to_string), None),
            Err(e) => (None, Some(format!("{}: {}", e.kind, e.message))),
        };
        out.push(RegionState {
            region: region.to_string(),
            role,
            state,
            problem,
        });
    }
    out
}

/// The key page, with `problem` (section, AWS's answer) shown where it belongs.
pub(crate) async fn view(
    console: &Console,
    s: &Active,
    id: &str,
    policy_as_json: bool,
    problem: Option<(String, AwsError)>,
) -> Response {
    let meta = match call(console, s, "DescribeKey", json!({"KeyId": id})).await {
        Ok(v) => v["KeyMetadata"].clone(),
        Err(e) => return html(pages::layout(id, Some(&s.csrf), None, pages::error(&e))),
    };
    let key_id = meta["KeyId"].as_str().unwrap_or(id).to_string();
    let by_id = json!({"KeyId": key_id});
    let policy = call(
        console,
        s,
        "GetKeyPolicy",
        json!({"KeyId": key_id, "PolicyName": "default"}),
    )
    .await
    .ok()
    .and_then(|v| v["Policy"].as_str().map(str::to_string))
    .map(|p| {
        serde_json::from_str::<Value>(&p)
            .map(|v| crate::wizard::policy_text(&v))
            .unwrap_or(p)
    })
    .unwrap_or_default();
    let symmetric = meta["KeySpec"] == "SYMMETRIC_DEFAULT";
    let rotation = if symmetric {
        call(console, s, "GetKeyRotationStatus", by_id.clone())
            .await
            .ok()
    } else {
        None
    };
    let rotations = if rotation.is_some() {
        items(
            call(console, s, "ListKeyRotations", by_id.clone()).await,
            "Rotations",
        )
    } else {
        Vec::new()
    };
    let aliases = call(console, s, "ListAliases", by_id.clone())
        .await
        .map(|v| strings(&v, "Aliases", "AliasName"))
        .unwrap_or_default();
    let tags = items(
        call(console, s, "ListResourceTags", by_id.clone()).await,
        "Tags",
    )
    .iter()
    .filter_map(|t| {
        Some((
            t["TagKey"].as_str()?.to_string(),
            t["TagValue"].as_str()?.to_string(),
        ))
    })
    .collect();
    let grants = items(call(console, s, "ListGrants", by_id).await, "Grants");
    let regions = if meta["MultiRegion"].as_bool() == Some(true) {
        regions(console, s, &meta).await
    } else {
        Vec::new()
    };
    let replica_targets = console
        .config
        .node
        .region_endpoints()
        .into_keys()
        .filter(|r| !regions.iter().any(|known| known.region == *r))
        .collect();
    let arn = meta["Arn"].as_str().unwrap_or("").to_string();
    let events = console.config.node.audit_events(&arn, EVENTS_SHOWN).await;
    html(pages::key(
        &s.csrf,
        &KeyView {
            meta,
            policy,
            policy_as_json,
            rotation,
            rotations,
            aliases,
            tags,
            grants,
            regions,
            replica_targets,
            events,
            problem,
        },
    ))
}

/// `POST /console/keys/{id}`: one action (`action` names the KMS operation).
pub(crate) async fn act(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (s, form) = match checked_form(&console, &headers, &body) {
        Ok(checked) => checked,
        Err(refused) => return *refused,
    };
    let action = field(&form, "action");
    let by_id = json!({"KeyId": id});
    let with = |extra: Value| {
        let mut request = by_id.clone();
        if let (Some(r), Some(e)) = (request.as_object_mut(), extra.as_object()) {
            r.extend(e.clone());
        }
        request
    };
    let number = |name: &str| field(&form, name).trim().parse::<u32>().ok();
    let (section, request) = match action {
        "EnableKey" | "DisableKey" | "CancelKeyDeletion" => ("general", by_id.clone()),
        "ScheduleKeyDeletion" => (
            "general",
            with(json!({"PendingWindowInDays": number("days").unwrap_or(30)})),
        ),
        "EnableKeyRotation" => (
            "rotation",
            with(json!({"RotationPeriodInDays": number("period").unwrap_or(365)})),
        ),
        "DisableKeyRotation" | "RotateKeyOnDemand" => ("rotation", by_id.clone()),
        "PutKeyPolicy" => (
            "policy",
            with(json!({"PolicyName": "default", "Policy": field(&form, "policy")})),
        ),
        "CreateAlias" => {
            let name = field(&form, "alias").trim();
            let name = name.strip_prefix("alias/").unwrap_or(name);
            (
                "aliases",
                json!({"AliasName": format!("alias/{name}"), "TargetKeyId": id}),
            )
        }
        "DeleteAlias" => ("aliases", json!({"AliasName": field(&form, "alias")})),
        "TagResource" => (
            "tags",
            with(
                json!({"Tags": [{"TagKey": field(&form, "tag_key").trim(), "TagValue": field(&form, "tag_value")}]}),
            ),
        ),
        "UntagResource" => ("tags", with(json!({"TagKeys": [field(&form, "tag_key")]}))),
        "RevokeGrant" => ("grants", with(json!({"GrantId": field(&form, "grant_id")}))),
        "ReplicateKey" => (
            "regions",
            with(json!({"ReplicaRegion": field(&form, "replica_region")})),
        ),
        "UpdatePrimaryRegion" => (
            "regions",
            with(json!({"PrimaryRegion": field(&form, "primary_region")})),
        ),
        _ => return (StatusCode::BAD_REQUEST, "unknown action").into_response(),
    };
    let policy_as_json = action == "PutKeyPolicy";
    match call(&console, &s, action, request).await {
        Ok(_) => {
            let back = if policy_as_json { "?policy=json" } else { "" };
            Redirect::to(&format!("/console/keys/{id}{back}")).into_response()
        }
        Err(e) => view(&console, &s, &id, policy_as_json, Some((section.into(), e))).await,
    }
}

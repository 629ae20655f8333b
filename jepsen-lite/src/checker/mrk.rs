//! The multi-region checkers (`--workload multi-region`, `--regions 2`): `mrk_convergence`,
//! `single_primary`, `no_lost_shared_update`, `decrypt_anywhere`, and `nonce_unique` over the
//! workload's ciphertexts (the crypto workload's checker, reused).
//!
//! # Input (the runner's contract)
//!
//! Logical keys `m0`.. come from `ok` `setup_key` events (`{"key_id", "region": "us-east-1"}`):
//! each was created with `MultiRegion: true` in us-east-1 before any client started. Every
//! client op carries `"region"` (where it was sent, signed for that region) in its invoke value.
//!
//! | `f` | invoke value | `ok` value |
//! |---|---|---|
//! | `mrk_describe`, `final_mrk_describe` | `{region}` | `{region, exists, type, primary_region, replica_regions, state, material}` ([`View`]; NotFound = `exists: false`) |
//! | `replicate_key` | `{region, replica_region}` | `{…, replica_state}` |
//! | `update_primary_region` | `{region, primary_region}` | the invoke value |
//! | `rotate_key` | `{region}` | the invoke value |
//! | `mrk_encrypt` | `{region, plaintext_b64}` | `{region, ciphertext_b64, plaintext_b64, key_id}` |
//! | `mrk_decrypt`, `final_mrk_decrypt` | `{region, ciphertext_b64, expected_b64}` | `{region, plaintext_b64, key_id}` |
//! | `list_key_rotations`, `final_list_key_rotations` | `{region}` | `{region, exists, material_ids}` |
//!
//! Mutations (`replicate_key`, `update_primary_region`, `rotate_key`) that time out or get a
//! 5xx are `info`; reads and crypto are `fail` then (they change nothing). After the final heal
//! the runner polls both regions (`mrk_describe`, `list_key_rotations`) until every key passes
//! [`key_problems`] and [`rotation_problems`] with the same answers for a quiet period (or the
//! settle timeout passes), records a harness event `mrk_settle` (`{"settled", "seconds",
//! "rounds", "problems"}`), and then does the final reads: `final_mrk_describe` and
//! `final_list_key_rotations` of every key on every node of both regions, and
//! `final_mrk_decrypt` of every acknowledged ciphertext in every region that holds its key.
//!
//! # The checks
//!
//! - **`mrk_convergence`**: the run settled (`mrk_settle.settled`), and in the final reads,
//!   for every key that was replicated (an `ok` ReplicateKey, or any region showing the
//!   replica): both regions have it, all nodes of a region agree, both regions agree on the
//!   primary region and the replica list, exactly one region says PRIMARY (the one named
//!   primary), the replica list is exactly the other region, both are `Enabled` (not
//!   `Updating`/`Creating`), and both have the same `CurrentKeyMaterialId`. A key never
//!   replicated must be an `Enabled` us-east-1 primary without replicas. Failed final reads
//!   leave a key unresolved (`unknown`; `liveness` reports them).
//! - **`single_primary`**: no two regions are ever seen as *settled* primaries (PRIMARY and
//!   not `Updating`) without a primary move that could lie between the two readings. Why this
//!   shape: Trent does not expose the primary epoch, so "one primary per epoch" cannot be
//!   checked directly; and "two overlapping reads both say PRIMARY" is not sound on its own,
//!   because each read takes effect at some unknown instant inside its interval and a whole
//!   hand-over can fit between those instants. What is sound: if region A is a settled primary
//!   at instant tA, no hand-over from A is in flight then (A is `Updating` from the hand-over's
//!   first step until it is a replica or the hand-over is rolled back), so for region B to be
//!   a settled primary at tB > tA, an UpdatePrimaryRegion naming B must commit its first step
//!   in A between tA and tB, i.e. inside the request's interval [invoke, completion] (or after
//!   its invoke, for an `info` or unfinished one). So a pair of readings (A in [a0, a1], B in
//!   [b0, b1]) is explained if A-then-B is possible (a0 < b1) and some UpdatePrimaryRegion to
//!   B has invoke < b1 and completion > a0, or the same with A and B swapped; an unexplained
//!   pair is invalid. Every UpdatePrimaryRegion counts as a possible move whatever its outcome
//!   (a refused one is rolled back, but counting it only makes the check more lenient). The
//!   key's creation in us-east-1 (the `setup_key` event, before any client ran) is a settled
//!   us-east-1 primary reading, so a region that becomes primary with no UpdatePrimaryRegion
//!   to it is caught too. `Updating` readings are ignored: a new primary legitimately says
//!   PRIMARY while the old one still does (both `Updating`).
//! - **`no_lost_shared_update`**: in the final `ListKeyRotations` of every node in every region
//!   that holds the key, at least as many rotations as RotateKeyOnDemand calls acknowledged
//!   (`lost` otherwise), at most as many as were not definitely refused (`phantom`: the
//!   workload never enables automatic rotation), and the same rotations (material ids, in
//!   order) everywhere (`diverged`).
//! - **`decrypt_anywhere`**: every acknowledged `mrk_encrypt` ciphertext has a
//!   `final_mrk_decrypt` in every region that holds its key (both, once replicated), each `ok`
//!   with the encrypted plaintext and the blob's key id (`missing`, `failed`, `mismatch`,
//!   `wrong_key_id` are invalid; only indeterminate attempts: `unknown`); and no `mrk_decrypt`
//!   during the run returned another plaintext than the one encrypted.

use super::crypto::{decode_b64, parse_blob};
use super::{operation_json, CheckResult, Verdict, MAX_LISTED};
use crate::client::{REGION as EAST, WEST_REGION as WEST};
use crate::history::{pair, Event, EventType, Operation, Process};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// DescribeKey in one region, during the run and while settling.
pub const F_DESCRIBE: &str = "mrk_describe";
/// DescribeKey on every node after settling (judged by `mrk_convergence`).
pub const F_FINAL_DESCRIBE: &str = "final_mrk_describe";
/// ReplicateKey on the primary.
pub const F_REPLICATE: &str = "replicate_key";
/// UpdatePrimaryRegion on the primary.
pub const F_UPDATE_PRIMARY: &str = "update_primary_region";
/// RotateKeyOnDemand on the primary.
pub const F_ROTATE: &str = "rotate_key";
/// Encrypt in one region.
pub const F_ENCRYPT: &str = "mrk_encrypt";
/// Decrypt of an acknowledged ciphertext in one region during the run.
pub const F_DECRYPT: &str = "mrk_decrypt";
/// Decrypt of every acknowledged ciphertext in every region after settling.
pub const F_FINAL_DECRYPT: &str = "final_mrk_decrypt";
/// ListKeyRotations while settling.
pub const F_LIST_ROTATIONS: &str = "list_key_rotations";
/// ListKeyRotations on every node after settling.
pub const F_FINAL_LIST_ROTATIONS: &str = "final_list_key_rotations";
/// The harness event that reports whether the regions settled.
pub const F_SETTLE: &str = "mrk_settle";
/// The `process` of harness events.
pub const HARNESS: &str = "harness";

/// The two regions, in order.
const BOTH: [&str; 2] = [EAST, WEST];

/// The other region of the pair.
pub fn other_region(region: &str) -> &'static str {
    if region == EAST {
        WEST
    } else {
        EAST
    }
}

/// One region's DescribeKey view of a multi-region key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct View {
    /// False if the region answered NotFoundException.
    pub exists: bool,
    /// `PRIMARY` or `REPLICA`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// `MultiRegionConfiguration.PrimaryKey.Region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    /// `MultiRegionConfiguration.ReplicaKeys[].Region`, sorted.
    #[serde(default)]
    pub replica_regions: Vec<String>,
    /// `KeyState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `CurrentKeyMaterialId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
}

impl View {
    /// A key the region does not have.
    pub fn absent() -> View {
        View::default()
    }

    /// The view in a DescribeKey response body.
    pub fn from_describe(response: &Value) -> View {
        let meta = &response["KeyMetadata"];
        let config = &meta["MultiRegionConfiguration"];
        let text = |v: &Value| v.as_str().map(str::to_string);
        let mut replica_regions: Vec<String> = config["ReplicaKeys"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| text(&r["Region"])).collect())
            .unwrap_or_default();
        replica_regions.sort();
        View {
            exists: true,
            key_type: text(&config["MultiRegionKeyType"]),
            primary_region: text(&config["PrimaryKey"]["Region"]),
            replica_regions,
            state: text(&meta["KeyState"]),
            material: text(&meta["CurrentKeyMaterialId"]),
        }
    }

    /// The view recorded in an `ok` describe value (`None` if it is not one).
    pub fn from_value(value: &Value) -> Option<View> {
        serde_json::from_value(value.clone()).ok()
    }

    /// The history value: the view plus the region it was read in.
    pub fn to_value(&self, region: &str) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        value["region"] = region.into();
        value
    }

    /// PRIMARY and not `Updating`: no hand-over from this region is in flight.
    pub fn settled_primary(&self) -> bool {
        self.exists
            && self.key_type.as_deref() == Some("PRIMARY")
            && self.state.as_deref() != Some("Updating")
    }

    fn says(&self, region: &str) -> String {
        if !self.exists {
            return format!("{region}: absent");
        }
        format!(
            "{region}: {} {} primary={} replicas={:?} material={}",
            self.key_type.as_deref().unwrap_or("?"),
            self.state.as_deref().unwrap_or("?"),
            self.primary_region.as_deref().unwrap_or("?"),
            self.replica_regions,
            self.material.as_deref().unwrap_or("?"),
        )
    }
}

/// Why a key's views (region → view) are not a converged multi-region key; empty if they are.
/// `replicated`: a ReplicateKey of it was acknowledged.
pub fn key_problems(views: &BTreeMap<String, View>, replicated: bool) -> Vec<String> {
    let (Some(east), Some(west)) = (views.get(EAST), views.get(WEST)) else {
        return vec!["not read in both regions".into()];
    };
    if !east.exists {
        return vec![format!("absent in {EAST}, where it was created")];
    }
    let mut problems = Vec::new();
    let linked = replicated
        || west.exists
        || east.replica_regions.iter().any(|r| r == WEST)
        || east.primary_region.as_deref() != Some(EAST);
    if !linked {
        // Never replicated: us-east-1 alone, an Enabled primary without replicas.
        if east.key_type.as_deref() != Some("PRIMARY") || east.state.as_deref() != Some("Enabled") {
            problems.push(format!("never replicated, but {}", east.says(EAST)));
        }
        return problems;
    }
    if !west.exists {
        let why = if replicated {
            "ReplicateKey was acknowledged"
        } else {
            "us-east-1 lists it"
        };
        problems.push(format!(
            "absent in {WEST} although {why}; {}",
            east.says(EAST)
        ));
        return problems;
    }
    for (region, view) in [(EAST, east), (WEST, west)] {
        if view.state.as_deref() != Some("Enabled") {
            problems.push(format!(
                "{region} is {}, not Enabled",
                view.state.as_deref().unwrap_or("?")
            ));
        }
    }
    if east.primary_region != west.primary_region {
        problems.push(format!(
            "the regions disagree on the primary region: {} / {}",
            east.says(EAST),
            west.says(WEST)
        ));
    }
    if east.replica_regions != west.replica_regions {
        problems.push(format!(
            "the regions disagree on the replicas: {:?} / {:?}",
            east.replica_regions, west.replica_regions
        ));
    }
    let primaries: Vec<&str> = [(EAST, east), (WEST, west)]
        .iter()
        .filter(|(_, v)| v.key_type.as_deref() == Some("PRIMARY"))
        .map(|(r, _)| *r)
        .collect();
    if primaries.len() != 1 {
        problems.push(format!(
            "{} regions say PRIMARY ({primaries:?})",
            primaries.len()
        ));
    } else if east.primary_region.as_deref() != Some(primaries[0]) {
        problems.push(format!(
            "{} says PRIMARY but the primary region is {}",
            primaries[0],
            east.primary_region.as_deref().unwrap_or("?")
        ));
    }
    if let Some(primary) = &east.primary_region {
        let expected = vec![other_region(primary).to_string()];
        if east.replica_regions != expected {
            problems.push(format!(
                "replica list {:?}, expected {expected:?}",
                east.replica_regions
            ));
        }
    }
    if east.material.is_none() || east.material != west.material {
        problems.push(format!(
            "current key material differs: {} / {}",
            east.material.as_deref().unwrap_or("none"),
            west.material.as_deref().unwrap_or("none")
        ));
    }
    problems
}

/// Why a key's rotation lists (one per region or node that holds the key, labelled) do not show
/// every acknowledged rotation, only possible ones, and the same everywhere; empty if they do.
pub fn rotation_problems(
    lists: &[(String, Vec<String>)],
    acked: usize,
    possible: usize,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (label, list) in lists {
        if list.len() < acked {
            problems.push(format!(
                "lost: {label} lists {} rotations, {acked} were acknowledged",
                list.len()
            ));
        }
        if list.len() > possible {
            problems.push(format!(
                "phantom: {label} lists {} rotations, at most {possible} were requested",
                list.len()
            ));
        }
    }
    if let Some((first_label, first)) = lists.first() {
        for (label, list) in &lists[1..] {
            if list != first {
                problems.push(format!(
                    "diverged: {first_label} lists {first:?}, {label} lists {list:?}"
                ));
            }
        }
    }
    problems
}

/// The material ids in a ListKeyRotations response, in order.
pub fn rotation_ids(response: &Value) -> Vec<String> {
    response["Rotations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["KeyMaterialId"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Logical key → KeyId, from the `setup_key` events.
pub fn setup_keys(events: &[Event]) -> BTreeMap<String, (String, u64)> {
    events
        .iter()
        .filter(|e| e.f == "setup_key" && e.kind == EventType::Ok)
        .filter_map(|e| {
            let key = e.key.clone()?;
            let id = e.value["key_id"].as_str()?.to_string();
            Some((key, (id, e.time_ns)))
        })
        .collect()
}

/// Per key: how many RotateKeyOnDemand were acknowledged, and how many were not definitely
/// refused (acknowledged + indeterminate).
pub fn rotation_counts(ops: &[Operation]) -> BTreeMap<String, (usize, usize)> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.invoke.f == F_ROTATE) {
        let Some(key) = &op.invoke.key else { continue };
        let entry = counts.entry(key.clone()).or_default();
        match op.outcome() {
            EventType::Ok => {
                entry.0 += 1;
                entry.1 += 1;
            }
            EventType::Fail => {}
            EventType::Info | EventType::Invoke => entry.1 += 1,
        }
    }
    counts
}

/// The keys a ReplicateKey was acknowledged for.
pub fn replicated_keys(ops: &[Operation]) -> BTreeSet<String> {
    ops.iter()
        .filter(|op| op.invoke.f == F_REPLICATE && op.outcome() == EventType::Ok)
        .filter_map(|op| op.invoke.key.clone())
        .collect()
}

fn region_of(op: &Operation) -> Option<String> {
    op.completion
        .as_ref()
        .and_then(|c| c.value["region"].as_str())
        .or_else(|| op.invoke.value["region"].as_str())
        .map(str::to_string)
}

fn ok_value(op: &Operation) -> Option<&Value> {
    op.completion
        .as_ref()
        .filter(|c| c.kind == EventType::Ok)
        .map(|c| &c.value)
}

/// Final describes: key → region → [(node, view or the failed op)].
type FinalViews = BTreeMap<String, BTreeMap<String, Vec<(String, Result<View, Value>)>>>;

fn final_views(ops: &[Operation]) -> FinalViews {
    let mut views: FinalViews = BTreeMap::new();
    for op in ops.iter().filter(|op| op.invoke.f == F_FINAL_DESCRIBE) {
        let (Some(key), Some(region)) = (&op.invoke.key, region_of(op)) else {
            continue;
        };
        let node = op.invoke.node.clone().unwrap_or_default();
        let view = ok_value(op)
            .and_then(View::from_value)
            .ok_or_else(|| operation_json(op));
        views
            .entry(key.clone())
            .or_default()
            .entry(region)
            .or_default()
            .push((node, view));
    }
    views
}

/// The regions whose final reads show the key (always us-east-1, where it was created).
fn holding_regions(views: &FinalViews, key: &str, replicated: bool) -> BTreeSet<String> {
    let mut regions: BTreeSet<String> = BTreeSet::from([EAST.to_string()]);
    if replicated {
        regions.insert(WEST.to_string());
    }
    if let Some(by_region) = views.get(key) {
        for (region, reads) in by_region {
            if reads
                .iter()
                .any(|(_, v)| v.as_ref().is_ok_and(|v| v.exists))
            {
                regions.insert(region.clone());
            }
        }
    }
    regions
}

fn settle_event(events: &[Event]) -> Option<&Event> {
    events
        .iter()
        .rev()
        .find(|e| e.f == F_SETTLE && e.process == Process::Nemesis(HARNESS.into()))
}

/// Every multi-region checker.
pub fn check_multi_region(events: &[Event]) -> Vec<CheckResult> {
    vec![
        check_convergence(events),
        check_single_primary(events),
        check_no_lost_shared_update(events),
        check_decrypt_anywhere(events),
        check_nonce_unique(events),
    ]
}

/// `mrk_convergence`: see the module docs.
pub fn check_convergence(events: &[Event]) -> CheckResult {
    let ops = pair(events);
    let keys = setup_keys(events);
    let replicated = replicated_keys(&ops);
    let views = final_views(&ops);
    let settle = settle_event(events);
    let settled = settle.and_then(|e| e.value["settled"].as_bool());
    let mut problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unresolved: Vec<String> = Vec::new();
    let mut summary: BTreeMap<String, Value> = BTreeMap::new();
    for key in keys.keys() {
        let by_region = views.get(key);
        let mut chosen: BTreeMap<String, View> = BTreeMap::new();
        let mut key_problems_list = Vec::new();
        let mut resolved = true;
        for region in BOTH {
            let reads = by_region.and_then(|r| r.get(region));
            let ok: Vec<(&String, &View)> = reads
                .map(|r| {
                    r.iter()
                        .filter_map(|(node, v)| v.as_ref().ok().map(|v| (node, v)))
                        .collect()
                })
                .unwrap_or_default();
            let Some(&(_, first)) = ok.first() else {
                resolved = false;
                continue;
            };
            for (node, view) in &ok[1..] {
                if *view != first {
                    key_problems_list.push(format!(
                        "nodes of {region} disagree: {} vs {node}: {}",
                        first.says(region),
                        view.says(region)
                    ));
                }
            }
            chosen.insert(region.to_string(), first.clone());
        }
        if !resolved {
            unresolved.push(key.clone());
            continue;
        }
        key_problems_list.extend(key_problems(&chosen, replicated.contains(key)));
        summary.insert(
            key.clone(),
            json!({
                "key_id": keys.get(key).map(|k| k.0.clone()),
                "replicated_acked": replicated.contains(key),
                "views": chosen.iter().map(|(r, v)| (r.clone(), v.says(r))).collect::<BTreeMap<_, _>>(),
            }),
        );
        if !key_problems_list.is_empty() {
            problems.insert(key.clone(), key_problems_list);
        }
    }
    let verdict = if settled == Some(false) || !problems.is_empty() {
        Verdict::Invalid
    } else if keys.is_empty() || settle.is_none() || !unresolved.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let mut details = json!({
        "keys": keys.len(),
        "replicated": replicated.len(),
        "settled": settled,
        "settle_s": settle.and_then(|e| e.value["seconds"].as_f64()),
        "problem_keys": problems.len(),
        "unresolved": unresolved,
        "final": summary,
    });
    if !problems.is_empty() {
        details["problems"] = json!(problems);
    }
    if let Some(e) = settle.filter(|_| settled == Some(false)) {
        details["not_settled"] = e.value["problems"].clone();
    }
    if keys.is_empty() {
        details["reason"] = "no multi-region key in the history".into();
    } else if settle.is_none() {
        details["reason"] = "no mrk_settle event (the final phase did not run)".into();
    }
    CheckResult::new("mrk_convergence", verdict, details)
}

/// A reading of a key as a settled primary in `region` somewhere in `[lo, hi]` (ns).
struct Claim {
    region: String,
    lo: u64,
    hi: u64,
    json: Value,
}

/// An UpdatePrimaryRegion to `to` whose first step may commit in `[lo, hi]` (ns).
struct Move {
    to: String,
    lo: u64,
    hi: u64,
}

/// `single_primary`: see the module docs.
pub fn check_single_primary(events: &[Event]) -> CheckResult {
    let ops = pair(events);
    let mut claims: BTreeMap<String, Vec<Claim>> = BTreeMap::new();
    let mut reads = 0usize;
    for (key, (key_id, time_ns)) in setup_keys(events) {
        claims.entry(key).or_default().push(Claim {
            region: EAST.into(),
            lo: time_ns,
            hi: time_ns,
            json: json!({ "setup_key": key_id, "time_ns": time_ns }),
        });
    }
    for op in ops
        .iter()
        .filter(|op| op.invoke.f == F_DESCRIBE || op.invoke.f == F_FINAL_DESCRIBE)
    {
        let (Some(key), Some(value), Some(completion)) =
            (&op.invoke.key, ok_value(op), &op.completion)
        else {
            continue;
        };
        let (Some(view), Some(region)) = (View::from_value(value), region_of(op)) else {
            continue;
        };
        reads += 1;
        if view.settled_primary() {
            claims.entry(key.clone()).or_default().push(Claim {
                region,
                lo: op.invoke.time_ns,
                hi: completion.time_ns,
                json: operation_json(op),
            });
        }
    }
    let mut moves: BTreeMap<String, Vec<Move>> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.invoke.f == F_UPDATE_PRIMARY) {
        let (Some(key), Some(to)) = (&op.invoke.key, op.invoke.value["primary_region"].as_str())
        else {
            continue;
        };
        let hi = match (&op.completion, op.outcome()) {
            (Some(c), EventType::Ok | EventType::Fail) => c.time_ns,
            _ => u64::MAX,
        };
        moves.entry(key.clone()).or_default().push(Move {
            to: to.to_string(),
            lo: op.invoke.time_ns,
            hi,
        });
    }
    let mut violations = Vec::new();
    let mut violation_count = 0usize;
    let mut claim_count = 0usize;
    for (key, claims) in &claims {
        claim_count += claims.len();
        let key_moves = moves.get(key).map(Vec::as_slice).unwrap_or(&[]);
        // For each claim as the later reading: the latest completion of a move to its region
        // invoked before the reading ended. A move lies between `first` and it iff that
        // completion is after `first` began.
        let latest_move: Vec<Option<u64>> = claims
            .iter()
            .map(|c| {
                key_moves
                    .iter()
                    .filter(|m| m.to == c.region && m.lo < c.hi)
                    .map(|m| m.hi)
                    .max()
            })
            .collect();
        let explained = |first: usize, second: usize| {
            claims[first].lo < claims[second].hi
                && latest_move[second].is_some_and(|hi| hi > claims[first].lo)
        };
        for a in 0..claims.len() {
            for b in (a + 1)..claims.len() {
                if claims[a].region == claims[b].region || explained(a, b) || explained(b, a) {
                    continue;
                }
                violation_count += 1;
                if violations.len() < MAX_LISTED {
                    violations.push(json!({
                        "key": key,
                        "first": claims[a].json,
                        "second": claims[b].json,
                        "why": format!(
                            "{} and {} both read as settled primaries with no UpdatePrimaryRegion that could lie between the readings",
                            claims[a].region, claims[b].region
                        ),
                    }));
                }
            }
        }
    }
    let verdict = if violation_count > 0 {
        Verdict::Invalid
    } else if reads == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let mut details = json!({
        "reads": reads,
        "settled_primary_readings": claim_count,
        "primary_moves": moves.values().map(Vec::len).sum::<usize>(),
        "violation_count": violation_count,
    });
    if !violations.is_empty() {
        details["violations"] = violations.into();
    }
    if reads == 0 {
        details["reason"] = "no successful multi-region DescribeKey".into();
    }
    CheckResult::new("single_primary", verdict, details)
}

/// `no_lost_shared_update`: see the module docs.
pub fn check_no_lost_shared_update(events: &[Event]) -> CheckResult {
    let ops = pair(events);
    let keys = setup_keys(events);
    let counts = rotation_counts(&ops);
    let mut lists: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    let mut reads = 0usize;
    for op in ops
        .iter()
        .filter(|op| op.invoke.f == F_FINAL_LIST_ROTATIONS)
    {
        let (Some(key), Some(value)) = (&op.invoke.key, ok_value(op)) else {
            continue;
        };
        reads += 1;
        if value["exists"].as_bool() != Some(true) {
            continue;
        }
        let ids: Vec<String> = value["material_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let label = format!(
            "{}/{}",
            region_of(op).unwrap_or_default(),
            op.invoke.node.as_deref().unwrap_or("?")
        );
        lists.entry(key.clone()).or_default().push((label, ids));
    }
    let mut problems: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unresolved = Vec::new();
    let mut per_key: BTreeMap<String, Value> = BTreeMap::new();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for key in keys.keys() {
        let (acked, possible) = counts.get(key).copied().unwrap_or((0, 0));
        let Some(key_lists) = lists.get(key) else {
            unresolved.push(key.clone());
            continue;
        };
        let found = rotation_problems(key_lists, acked, possible);
        for kind in ["lost", "phantom", "diverged"] {
            if found.iter().any(|p| p.starts_with(kind)) {
                *kinds.entry(kind).or_default() += 1;
            }
        }
        per_key.insert(
            key.clone(),
            json!({
                "acked": acked,
                "possible": possible,
                "listed": key_lists.iter().map(|(l, ids)| (l.clone(), ids.len())).collect::<BTreeMap<_, _>>(),
            }),
        );
        if !found.is_empty() {
            problems.insert(key.clone(), found.into_iter().take(MAX_LISTED).collect());
        }
    }
    let verdict = if !problems.is_empty() {
        Verdict::Invalid
    } else if keys.is_empty() || reads == 0 || !unresolved.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let mut details = json!({
        "keys": keys.len(),
        "acked_rotations": counts.values().map(|c| c.0).sum::<usize>(),
        "final_lists": reads,
        "counts": kinds,
        "unresolved": unresolved,
        "per_key": per_key,
    });
    if !problems.is_empty() {
        details["problems"] = json!(problems);
    }
    if reads == 0 {
        details["reason"] = "no final ListKeyRotations".into();
    }
    CheckResult::new("no_lost_shared_update", verdict, details)
}

/// `decrypt_anywhere`: see the module docs.
pub fn check_decrypt_anywhere(events: &[Event]) -> CheckResult {
    let ops = pair(events);
    let replicated = replicated_keys(&ops);
    let views = final_views(&ops);
    // Final decrypts by (ciphertext, region).
    let mut finals: BTreeMap<(String, String), Vec<&Operation>> = BTreeMap::new();
    for op in ops.iter().filter(|op| op.invoke.f == F_FINAL_DECRYPT) {
        let (Some(ct), Some(region)) = (op.invoke.value["ciphertext_b64"].as_str(), region_of(op))
        else {
            continue;
        };
        finals.entry((ct.to_string(), region)).or_default().push(op);
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut listed: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut note = |kind: &'static str, entry: Value| {
        *counts.entry(kind).or_default() += 1;
        let list = listed.entry(kind).or_default();
        if list.len() < MAX_LISTED {
            list.push(entry);
        }
    };
    let mut acked = 0usize;
    let mut judged = 0usize;
    for op in ops.iter().filter(|op| op.invoke.f == F_ENCRYPT) {
        let Some(value) = ok_value(op) else { continue };
        let (Some(ct), Some(pt)) = (
            value["ciphertext_b64"].as_str(),
            op.invoke.value["plaintext_b64"]
                .as_str()
                .or_else(|| value["plaintext_b64"].as_str()),
        ) else {
            continue;
        };
        acked += 1;
        let key = op.invoke.key.clone().unwrap_or_default();
        let header = decode_b64(ct).as_deref().and_then(parse_blob);
        for region in holding_regions(&views, &key, replicated.contains(&key)) {
            judged += 1;
            let entry = |d: Option<&Operation>| {
                let mut e = json!({
                    "encrypt": operation_json(op),
                    "region": region,
                });
                if let Some(d) = d {
                    e["final_decrypt"] = operation_json(d);
                }
                e
            };
            let attempts = finals
                .get(&(ct.to_string(), region.clone()))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if attempts.is_empty() {
                note("missing", entry(None));
                continue;
            }
            for d in attempts {
                match (d.outcome(), ok_value(d)) {
                    (EventType::Ok, Some(out)) => {
                        if out["plaintext_b64"].as_str() != Some(pt) {
                            note("mismatch", entry(Some(d)));
                        }
                        if let (Some(key_id), Some(h)) = (out["key_id"].as_str(), &header) {
                            if key_id != h.key_id && !key_id.ends_with(&format!("/{}", h.key_id)) {
                                note("wrong_key_id", entry(Some(d)));
                            }
                        }
                    }
                    (EventType::Fail, _) => note("failed", entry(Some(d))),
                    _ => {}
                }
            }
            if attempts.iter().all(|d| d.outcome() == EventType::Info) {
                note("unresolved", entry(None));
            }
        }
    }
    for op in ops.iter().filter(|op| op.invoke.f == F_DECRYPT) {
        let (Some(out), Some(expected)) = (ok_value(op), op.invoke.value["expected_b64"].as_str())
        else {
            continue;
        };
        if out["plaintext_b64"].as_str() != Some(expected) {
            note(
                "mismatch_during_run",
                json!({ "decrypt": operation_json(op) }),
            );
        }
    }
    let invalid = [
        "missing",
        "failed",
        "mismatch",
        "wrong_key_id",
        "mismatch_during_run",
    ]
    .iter()
    .any(|k| counts.contains_key(k));
    let verdict = if invalid {
        Verdict::Invalid
    } else if acked == 0 || counts.contains_key("unresolved") {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let mut details = json!({
        "acked": acked,
        "ciphertext_regions": judged,
        "final_decrypts": finals.values().map(Vec::len).sum::<usize>(),
        "counts": counts,
    });
    for (kind, list) in listed {
        details[kind] = list.into();
    }
    if acked == 0 {
        details["reason"] = "no acknowledged mrk_encrypt".into();
    }
    CheckResult::new("decrypt_anywhere", verdict, details)
}

/// `nonce_unique` over the workload's ciphertexts (both regions encrypt under the same
/// materials): the crypto workload's checker on `mrk_encrypt` read as `encrypt`.
pub fn check_nonce_unique(events: &[Event]) -> CheckResult {
    let renamed: Vec<Event> = events
        .iter()
        .filter(|e| e.f == F_ENCRYPT)
        .map(|e| Event {
            f: "encrypt".into(),
            ..e.clone()
        })
        .collect();
    super::crypto::check_nonce_unique(&renamed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::test_support::H;

    const K: &str = "m0";

    fn setup(h: &mut H) {
        let index = h.events.len() as u64;
        h.events.push(Event {
            index,
            time_ns: index * 1_000,
            kind: EventType::Ok,
            process: Process::Client(0),
            node: Some("e1".into()),
            f: "setup_key".into(),
            key: Some(K.into()),
            value: json!({ "key_id": "mrk-1", "region": EAST }),
            error: None,
        });
    }

    fn settle(h: &mut H, settled: bool) {
        let index = h.events.len() as u64;
        h.events.push(Event {
            index,
            time_ns: index * 1_000,
            kind: EventType::Info,
            process: Process::Nemesis(HARNESS.into()),
            node: None,
            f: F_SETTLE.into(),
            key: None,
            value: json!({ "settled": settled, "seconds": 1.0 }),
            error: None,
        });
    }

    fn view(key_type: &str, primary: &str, state: &str, material: &str) -> View {
        View {
            exists: true,
            key_type: Some(key_type.into()),
            primary_region: Some(primary.into()),
            replica_regions: vec![other_region(primary).to_string()],
            state: Some(state.into()),
            material: Some(material.into()),
        }
    }

    fn describe(h: &mut H, p: u64, f: &str, region: &str, v: &View) {
        h.call(p, f, K, json!({ "region": region }), v.to_value(region));
    }

    fn replicated_history() -> H {
        let mut h = H::new();
        setup(&mut h);
        h.call(
            1,
            F_REPLICATE,
            K,
            json!({ "region": EAST, "replica_region": WEST }),
            json!({ "region": EAST, "replica_region": WEST, "replica_state": "Enabled" }),
        );
        h
    }

    fn converged(h: &mut H, primary: &str, material: &str) {
        settle(h, true);
        describe(
            h,
            50,
            F_FINAL_DESCRIBE,
            primary,
            &view("PRIMARY", primary, "Enabled", material),
        );
        let other = other_region(primary);
        describe(
            h,
            51,
            F_FINAL_DESCRIBE,
            other,
            &view("REPLICA", primary, "Enabled", material),
        );
    }

    #[test]
    fn converged_regions_are_valid() {
        let mut h = replicated_history();
        h.call(
            2,
            F_UPDATE_PRIMARY,
            K,
            json!({ "region": EAST, "primary_region": WEST }),
            json!({}),
        );
        converged(&mut h, WEST, "mat-1");
        let result = check_convergence(&h.events);
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);
    }

    #[test]
    fn two_settled_primaries_at_the_end_are_invalid() {
        let mut h = replicated_history();
        settle(&mut h, true);
        describe(
            &mut h,
            50,
            F_FINAL_DESCRIBE,
            EAST,
            &view("PRIMARY", EAST, "Enabled", "mat-1"),
        );
        describe(
            &mut h,
            51,
            F_FINAL_DESCRIBE,
            WEST,
            &view("PRIMARY", WEST, "Enabled", "mat-1"),
        );
        let result = check_convergence(&h.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        let problems = result.details["problems"][K].to_string();
        assert!(problems.contains("2 regions say PRIMARY"), "{problems}");
        // The same pair, read during the run with no UpdatePrimaryRegion, is a split brain.
        let result = check_single_primary(&h.events);
        assert_eq!(result.verdict, Verdict::Invalid, "{:#}", result.details);
    }

    #[test]
    fn a_key_still_updating_or_never_settled_is_invalid() {
        let mut h = replicated_history();
        settle(&mut h, true);
        describe(
            &mut h,
            50,
            F_FINAL_DESCRIBE,
            EAST,
            &view("PRIMARY", EAST, "Updating", "mat-1"),
        );
        describe(
            &mut h,
            51,
            F_FINAL_DESCRIBE,
            WEST,
            &view("REPLICA", EAST, "Enabled", "mat-1"),
        );
        assert_eq!(check_convergence(&h.events).verdict, Verdict::Invalid);

        let mut h = replicated_history();
        converged(&mut h, EAST, "mat-1");
        h.events.retain(|e| e.f != F_SETTLE);
        settle(&mut h, false);
        assert_eq!(check_convergence(&h.events).verdict, Verdict::Invalid);
    }

    #[test]
    fn acked_replica_missing_or_material_differs_is_invalid() {
        let mut h = replicated_history();
        settle(&mut h, true);
        let mut east = view("PRIMARY", EAST, "Enabled", "mat-1");
        east.replica_regions.clear();
        describe(&mut h, 50, F_FINAL_DESCRIBE, EAST, &east);
        describe(&mut h, 51, F_FINAL_DESCRIBE, WEST, &View::absent());
        assert_eq!(check_convergence(&h.events).verdict, Verdict::Invalid);

        let mut h = replicated_history();
        settle(&mut h, true);
        describe(
            &mut h,
            50,
            F_FINAL_DESCRIBE,
            EAST,
            &view("PRIMARY", EAST, "Enabled", "mat-2"),
        );
        describe(
            &mut h,
            51,
            F_FINAL_DESCRIBE,
            WEST,
            &view("REPLICA", EAST, "Enabled", "mat-1"),
        );
        let result = check_convergence(&h.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert!(result.details["problems"][K]
            .to_string()
            .contains("material differs"));
    }

    #[test]
    fn a_never_replicated_key_alone_in_the_east_is_valid() {
        let mut h = H::new();
        setup(&mut h);
        h.invoke(
            1,
            F_REPLICATE,
            K,
            json!({ "region": EAST, "replica_region": WEST }),
        )
        .fail(1, F_REPLICATE, K, "KMSInvalidStateException");
        settle(&mut h, true);
        let mut east = view("PRIMARY", EAST, "Enabled", "mat-1");
        east.replica_regions.clear();
        describe(&mut h, 50, F_FINAL_DESCRIBE, EAST, &east);
        describe(&mut h, 51, F_FINAL_DESCRIBE, WEST, &View::absent());
        let result = check_convergence(&h.events);
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);
        // No final reads at all: unknown, never valid.
        let mut h = replicated_history();
        settle(&mut h, true);
        assert_eq!(check_convergence(&h.events).verdict, Verdict::Unknown);
    }

    #[test]
    fn a_primary_move_between_the_readings_explains_them() {
        let mut h = replicated_history();
        describe(
            &mut h,
            3,
            F_DESCRIBE,
            EAST,
            &view("PRIMARY", EAST, "Enabled", "m"),
        );
        h.call(
            2,
            F_UPDATE_PRIMARY,
            K,
            json!({ "region": EAST, "primary_region": WEST }),
            json!({}),
        );
        describe(
            &mut h,
            3,
            F_DESCRIBE,
            WEST,
            &view("PRIMARY", WEST, "Enabled", "m"),
        );
        let result = check_single_primary(&h.events);
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);

        // An indeterminate move invoked before the west reading explains it too.
        let mut h = replicated_history();
        h.invoke(
            2,
            F_UPDATE_PRIMARY,
            K,
            json!({ "region": EAST, "primary_region": WEST }),
        )
        .info(2, F_UPDATE_PRIMARY, K);
        describe(
            &mut h,
            3,
            F_DESCRIBE,
            EAST,
            &view("PRIMARY", EAST, "Enabled", "m"),
        );
        describe(
            &mut h,
            3,
            F_DESCRIBE,
            WEST,
            &view("PRIMARY", WEST, "Enabled", "m"),
        );
        assert_eq!(check_single_primary(&h.events).verdict, Verdict::Valid);
    }

    #[test]
    fn overlapping_settled_primaries_without_a_move_are_invalid() {
        let mut h = replicated_history();
        // A move to the west completed before either reading began: it cannot lie between.
        h.call(
            2,
            F_UPDATE_PRIMARY,
            K,
            json!({ "region": EAST, "primary_region": WEST }),
            json!({}),
        );
        h.invoke(3, F_DESCRIBE, K, json!({ "region": EAST }));
        h.invoke(4, F_DESCRIBE, K, json!({ "region": WEST }));
        h.ok(
            3,
            F_DESCRIBE,
            K,
            view("PRIMARY", EAST, "Enabled", "m").to_value(EAST),
        );
        h.ok(
            4,
            F_DESCRIBE,
            K,
            view("PRIMARY", WEST, "Enabled", "m").to_value(WEST),
        );
        let result = check_single_primary(&h.events);
        assert_eq!(result.verdict, Verdict::Invalid, "{:#}", result.details);
        assert_eq!(result.details["violation_count"], 1);

        // With the old primary Updating, both may say PRIMARY: not a violation.
        let mut h = replicated_history();
        h.invoke(
            2,
            F_UPDATE_PRIMARY,
            K,
            json!({ "region": EAST, "primary_region": WEST }),
        );
        h.ok(2, F_UPDATE_PRIMARY, K, json!({}));
        h.invoke(3, F_DESCRIBE, K, json!({ "region": EAST }));
        h.invoke(4, F_DESCRIBE, K, json!({ "region": WEST }));
        h.ok(
            3,
            F_DESCRIBE,
            K,
            view("PRIMARY", EAST, "Updating", "m").to_value(EAST),
        );
        h.ok(
            4,
            F_DESCRIBE,
            K,
            view("PRIMARY", WEST, "Updating", "m").to_value(WEST),
        );
        assert_eq!(check_single_primary(&h.events).verdict, Verdict::Valid);
    }

    #[test]
    fn a_primary_appearing_without_any_move_is_invalid() {
        // Creation in the east is the first reading; the west claims the role from nowhere.
        let mut h = replicated_history();
        describe(
            &mut h,
            3,
            F_DESCRIBE,
            WEST,
            &view("PRIMARY", WEST, "Enabled", "m"),
        );
        assert_eq!(check_single_primary(&h.events).verdict, Verdict::Invalid);
    }

    fn final_list(h: &mut H, p: u64, region: &str, ids: &[&str]) {
        h.call(
            p,
            F_FINAL_LIST_ROTATIONS,
            K,
            json!({ "region": region }),
            json!({ "region": region, "exists": true, "material_ids": ids }),
        );
    }

    fn rotate(h: &mut H, p: u64, outcome: EventType) {
        h.invoke(p, F_ROTATE, K, json!({ "region": EAST }));
        match outcome {
            EventType::Ok => {
                h.ok(p, F_ROTATE, K, json!({ "region": EAST }));
            }
            EventType::Fail => {
                h.fail(p, F_ROTATE, K, "ConflictException");
            }
            _ => {
                h.info(p, F_ROTATE, K);
            }
        }
    }

    #[test]
    fn rotations_must_all_be_there_and_the_same_everywhere() {
        let mut h = replicated_history();
        rotate(&mut h, 2, EventType::Ok);
        rotate(&mut h, 3, EventType::Ok);
        rotate(&mut h, 4, EventType::Fail);
        rotate(&mut h, 5, EventType::Info);
        final_list(&mut h, 10, EAST, &["r1", "r2"]);
        final_list(&mut h, 11, WEST, &["r1", "r2"]);
        let result = check_no_lost_shared_update(&h.events);
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);

        // A lost rotation: two acknowledged, one listed.
        let mut lost = replicated_history();
        rotate(&mut lost, 2, EventType::Ok);
        rotate(&mut lost, 3, EventType::Ok);
        final_list(&mut lost, 10, EAST, &["r1"]);
        final_list(&mut lost, 11, WEST, &["r1"]);
        let result = check_no_lost_shared_update(&lost.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["counts"]["lost"], 1);

        // The regions list different rotations.
        let mut diverged = replicated_history();
        rotate(&mut diverged, 2, EventType::Ok);
        final_list(&mut diverged, 10, EAST, &["r1"]);
        final_list(&mut diverged, 11, WEST, &["r9"]);
        let result = check_no_lost_shared_update(&diverged.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["counts"]["diverged"], 1);

        // More rotations than were ever requested.
        let mut phantom = replicated_history();
        rotate(&mut phantom, 2, EventType::Fail);
        final_list(&mut phantom, 10, EAST, &["r1"]);
        final_list(&mut phantom, 11, WEST, &["r1"]);
        let result = check_no_lost_shared_update(&phantom.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["counts"]["phantom"], 1);
    }

    fn encrypt(h: &mut H, p: u64, region: &str, pt: &str, ct: &str) {
        h.call(
            p,
            F_ENCRYPT,
            K,
            json!({ "region": region, "plaintext_b64": pt }),
            json!({ "region": region, "ciphertext_b64": ct, "plaintext_b64": pt }),
        );
    }

    fn final_decrypt(h: &mut H, p: u64, region: &str, ct: &str, pt: Option<&str>) {
        h.invoke(
            p,
            F_FINAL_DECRYPT,
            K,
            json!({ "region": region, "ciphertext_b64": ct }),
        );
        match pt {
            Some(pt) => {
                h.ok(
                    p,
                    F_FINAL_DECRYPT,
                    K,
                    json!({ "region": region, "plaintext_b64": pt }),
                );
            }
            None => {
                h.fail(p, F_FINAL_DECRYPT, K, "InvalidCiphertextException");
            }
        }
    }

    #[test]
    fn every_acked_ciphertext_must_decrypt_in_both_regions() {
        let mut h = replicated_history();
        encrypt(&mut h, 2, WEST, "cHQx", "Y3Qx");
        encrypt(&mut h, 3, EAST, "cHQy", "Y3Qy");
        final_decrypt(&mut h, 10, EAST, "Y3Qx", Some("cHQx"));
        final_decrypt(&mut h, 11, WEST, "Y3Qx", Some("cHQx"));
        final_decrypt(&mut h, 12, EAST, "Y3Qy", Some("cHQy"));
        final_decrypt(&mut h, 13, WEST, "Y3Qy", Some("cHQy"));
        let result = check_decrypt_anywhere(&h.events);
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);

        // One ciphertext does not decrypt in the west.
        let mut bad = replicated_history();
        encrypt(&mut bad, 2, EAST, "cHQx", "Y3Qx");
        final_decrypt(&mut bad, 10, EAST, "Y3Qx", Some("cHQx"));
        final_decrypt(&mut bad, 11, WEST, "Y3Qx", None);
        let result = check_decrypt_anywhere(&bad.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["counts"]["failed"], 1);

        // Never tried in the west although the key was replicated.
        let mut missing = replicated_history();
        encrypt(&mut missing, 2, EAST, "cHQx", "Y3Qx");
        final_decrypt(&mut missing, 10, EAST, "Y3Qx", Some("cHQx"));
        let result = check_decrypt_anywhere(&missing.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["counts"]["missing"], 1);

        // Another plaintext, during the run.
        let mut mismatch = replicated_history();
        encrypt(&mut mismatch, 2, EAST, "cHQx", "Y3Qx");
        final_decrypt(&mut mismatch, 10, EAST, "Y3Qx", Some("cHQx"));
        final_decrypt(&mut mismatch, 11, WEST, "Y3Qx", Some("cHQx"));
        mismatch.call(
            3,
            F_DECRYPT,
            K,
            json!({ "region": WEST, "ciphertext_b64": "Y3Qx", "expected_b64": "cHQx" }),
            json!({ "region": WEST, "plaintext_b64": "b3RoZXI=" }),
        );
        let result = check_decrypt_anywhere(&mismatch.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["counts"]["mismatch_during_run"], 1);
    }

    #[test]
    fn settle_predicates_name_the_problem() {
        let mut views = BTreeMap::new();
        views.insert(EAST.to_string(), view("PRIMARY", EAST, "Enabled", "a"));
        views.insert(WEST.to_string(), view("REPLICA", EAST, "Creating", "a"));
        let problems = key_problems(&views, true);
        assert_eq!(problems, vec!["us-west-2 is Creating, not Enabled"]);
        views.insert(WEST.to_string(), view("REPLICA", EAST, "Enabled", "a"));
        assert!(key_problems(&views, true).is_empty());
        let lists = vec![
            ("e".to_string(), vec!["x".to_string()]),
            ("w".to_string(), vec!["x".to_string()]),
        ];
        assert!(rotation_problems(&lists, 1, 2).is_empty());
        assert_eq!(rotation_problems(&lists, 2, 2).len(), 2);
        let response = json!({"Rotations": [{"KeyMaterialId": "x"}, {"KeyMaterialId": "y"}]});
        assert_eq!(rotation_ids(&response), vec!["x", "y"]);
        let described = View::from_describe(&json!({"KeyMetadata": {
            "KeyState": "Enabled", "CurrentKeyMaterialId": "x",
            "MultiRegionConfiguration": {"MultiRegionKeyType": "REPLICA",
                "PrimaryKey": {"Region": EAST, "Arn": "a"},
                "ReplicaKeys": [{"Region": WEST, "Arn": "b"}]}}}));
        assert_eq!(described, view("REPLICA", EAST, "Enabled", "x"));
        assert_eq!(
            View::from_value(&described.to_value(WEST)),
            Some(described.clone())
        );
    }
}

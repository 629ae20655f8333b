//! Applying the seed to this node's region.
//!
//! Each round reads the state linearizably and plans: a key this region creates (a
//! single-region key, or a multi-region primary) that is missing is created; a primary lacking
//! a replica the seed names gets it by ReplicateKey (the material crosses sealed to the other
//! region, which wraps it with its own root key); a missing alias is created. A replica waits
//! for its primary's region. Every key present is compared with the seed first: a difference
//! refuses the whole seed before anything is written. Only the leader writes; every node
//! plans, so every node refuses a conflicting seed and every node knows when the seed is in.
//!
//! The node's KMS API holds requests until the seed is in (or, while only waiting for other
//! regions, for [`GATE_WAIT`]).

use crate::keys::new_key_record;
use crate::seed_file::{Role, Seed, SeedKey};
use crate::service::{Kms, DAY_MS};
use kms_core::{Command, ImportedMaterial, KeyRecord, State};
use kms_replication::multi_region::{self, ReplicaProperties};
use kms_types::{KeyState, KmsError, Origin};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the API waits for replicas from other regions before serving anyway.
const GATE_WAIT: Duration = Duration::from_secs(30);
/// Failed writes in a row after which the seed is given up.
const MAX_FAILURES: u32 = 50;

/// One write the seed still needs in this region.
enum Step {
    Create(usize),
    Replicate(usize, String),
    Alias(usize, String),
}

struct Plan {
    steps: Vec<Step>,
    /// Replicas not here yet.
    waiting: Vec<String>,
}

/// How long a node that refuses its seed waits before stopping (its API holds requests
/// meanwhile), so the region's other nodes still have a quorum to read the state and refuse
/// too.
const REFUSAL_GRACE: Duration = Duration::from_secs(3);

/// Resolves only if the node's seed is refused, with the reason (the node then stops).
pub async fn refusal(kms: Arc<Kms>) -> anyhow::Error {
    if let Some(seed) = kms.seed() {
        if let Err(e) = apply(&kms, &seed).await {
            tracing::error!(error = %format!("{e:#}"), "refusing the seed; stopping");
            tokio::time::sleep(REFUSAL_GRACE).await;
            return e;
        }
    }
    std::future::pending().await
}

/// Applies `seed` to this region; `Ok` once everything it declares is here.
pub(crate) async fn apply(kms: &Kms, seed: &Seed) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut failures = 0;
    let mut gate_open = false;
    loop {
        // The state this node has applied shows a conflict even when the region has no
        // quorum (its other nodes already refused and stopped).
        if let Err(conflict) =
            kms.read_applied(|state| plan(seed, state, kms.region(), kms.account_id()))
        {
            anyhow::bail!("{conflict}");
        }
        let planned = kms
            .read(|state| plan(seed, state, kms.region(), kms.account_id()))
            .await;
        let plan = match planned {
            Ok(Ok(plan)) => plan,
            Ok(Err(conflict)) => anyhow::bail!("{conflict}"),
            Err(e) => {
                // No leader yet (start-up) or an election: try again.
                tracing::debug!(error = %e, "seed: waiting for the region");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if plan.steps.is_empty() {
            if plan.waiting.is_empty() {
                if !gate_open {
                    tracing::info!(keys = seed.keys.len(), "the seed is applied");
                }
                kms.set_seeded(true);
                return Ok(());
            }
            if !gate_open && started.elapsed() > GATE_WAIT {
                tracing::warn!(waiting = ?plan.waiting, "seed: replicas have not arrived from their primary regions; serving meanwhile");
                kms.set_seeded(true);
                gate_open = true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        }
        if !kms.is_leader() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        for step in plan.steps {
            if let Err(e) = run(kms, seed, &step).await {
                failures += 1;
                let key = &seed.keys[step_key(&step)].id;
                tracing::debug!(key, error = %e, "seed: a write failed; planning again");
                if failures >= MAX_FAILURES {
                    anyhow::bail!("seed key {key}: {e}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                break;
            }
            failures = 0;
        }
    }
}

fn step_key(step: &Step) -> usize {
    match step {
        Step::Create(i) | Step::Replicate(i, _) | Step::Alias(i, _) => *i,
    }
}

/// What the seed still needs in `region`, or the first conflict with the state.
fn plan(seed: &Seed, state: &State, region: &str, default_account: &str) -> Result<Plan, String> {
    let mut plan = Plan {
        steps: Vec::new(),
        waiting: Vec::new(),
    };
    for (index, key) in seed.keys.iter().enumerate() {
        let Some(role) = key.role_in(region) else {
            continue;
        };
        let account = key.account(default_account);
        for alias in &key.aliases {
            match state.alias(account, alias) {
                Some(existing) if existing.target_key_id != key.id => {
                    return Err(conflict(
                        key,
                        "aliases",
                        &format!("{alias} names key {}", existing.target_key_id),
                        &format!("{alias} names key {}", key.id),
                    ))
                }
                Some(_) => {}
                None if state.key(&key.id).is_some() => {
                    plan.steps.push(Step::Alias(index, alias.clone()))
                }
                None => {}
            }
        }
        let Some(existing) = state.key(&key.id) else {
            match role {
                Role::Creates => plan.steps.push(Step::Create(index)),
                Role::Replica => plan.waiting.push(key.id.clone()),
            }
            continue;
        };
        compare(key, existing, account, role, region)?;
        if role == Role::Creates {
            let listed = existing.mrk.as_ref().map(|m| &m.replicas);
            for replica in key.replica_regions() {
                if !listed.is_some_and(|l| l.contains_key(replica)) {
                    plan.steps.push(Step::Replicate(index, replica.clone()));
                }
            }
        }
    }
    Ok(plan)
}

/// The first field in which `existing` differs from what the seed declares.
fn compare(
    key: &SeedKey,
    existing: &KeyRecord,
    account: &str,
    role: Role,
    region: &str,
) -> Result<(), String> {
    let differs = |field: &str, have: &str, want: &str| Err(conflict(key, field, have, want));
    if existing.account_id != account {
        return differs("account", &existing.account_id, account);
    }
    if existing.key_spec != key.spec {
        return differs("spec", existing.key_spec.as_str(), key.spec.as_str());
    }
    if existing.key_usage != key.usage {
        return differs("usage", existing.key_usage.as_str(), key.usage.as_str());
    }
    let current = existing.current_material().map(|m| m.material_id.as_str());
    match &key.material {
        Some(_) if existing.origin != Origin::External => {
            return differs("material", "generated material", "given material");
        }
        Some(material) if current != Some(material.material_id.as_str()) => {
            return differs(
                "material",
                &format!("material {}", current.unwrap_or("(none)")),
                &format!("material {}", material.material_id),
            );
        }
        None if existing.origin != Origin::AwsKms => {
            return differs(
                "material",
                &format!("origin {}", existing.origin),
                "generated material",
            );
        }
        _ => {}
    }
    if existing.description != key.description {
        return differs("description", &existing.description, &key.description);
    }
    if existing.policy != key.policy_for(account) {
        return differs("policy", "another key policy", "its policy");
    }
    for (tag_key, tag_value) in &key.tags {
        match existing.tags.get(tag_key) {
            Some(value) if value == tag_value => {}
            have => {
                return differs(
                    &format!("tags.{tag_key}"),
                    have.map_or("no such tag", |v| v.as_str()),
                    tag_value,
                )
            }
        }
    }
    if let Some(mrk) = &existing.mrk {
        let primary = match role {
            Role::Creates => region,
            Role::Replica => mrk.primary_region.as_str(),
        };
        if mrk.primary_region != primary {
            return differs("primary_region", &mrk.primary_region, primary);
        }
    }
    if role == Role::Creates && existing.rotation_period_days != key.rotation_period_days {
        let days = |d: Option<u32>| d.map_or("off".to_string(), |d| format!("{d} days"));
        return differs(
            "rotation_period_days",
            &days(existing.rotation_period_days),
            &days(key.rotation_period_days),
        );
    }
    Ok(())
}

fn conflict(key: &SeedKey, field: &str, have: &str, want: &str) -> String {
    format!(
        "the seed conflicts with the cluster's state: key {}, field {field}: the cluster has \
         '{have}', the seed says '{want}'. A seed never overwrites; start with the seed the \
         cluster was created with, or with a new data directory.",
        key.id
    )
}

async fn run(kms: &Kms, seed: &Seed, step: &Step) -> Result<(), KmsError> {
    match step {
        Step::Create(index) => create(kms, &seed.keys[*index]).await,
        Step::Replicate(index, replica_region) => {
            let key = &seed.keys[*index];
            let account = key.account(kms.account_id()).to_string();
            let record = kms
                .read(|state| state.key(&key.id).cloned())
                .await?
                .ok_or_else(|| KmsError::NotFound(format!("Key '{}' does not exist", key.id)))?;
            let properties = ReplicaProperties {
                description: key.description.clone(),
                policy: key.policy_for(&account),
                tags: key.tags.clone(),
            };
            multi_region::replicate_key(
                kms,
                kms.replication(),
                &record,
                replica_region.clone(),
                properties,
            )
            .await
            .map(|_| ())
        }
        Step::Alias(index, alias_name) => {
            let key = &seed.keys[*index];
            kms.write(Command::CreateAlias {
                alias_name: alias_name.clone(),
                target_key_id: key.id.clone(),
                now_ms: kms.now_ms(),
            })
            .await
            .map(|_| ())
        }
    }
}

/// CreateKey's record for a seed key: with given material, the key ImportKeyMaterial would
/// leave (origin EXTERNAL, material that does not expire); without, generated material.
async fn create(kms: &Kms, key: &SeedKey) -> Result<(), KmsError> {
    let now_ms = kms.now_ms();
    let account = key.account(kms.account_id()).to_string();
    let origin = match key.material {
        Some(_) => Origin::External,
        None => Origin::AwsKms,
    };
    let properties = (
        key.description.clone(),
        key.policy_for(&account),
        key.tags.clone(),
    );
    let mut record = new_key_record(
        kms.region(),
        &account,
        key.id.clone(),
        now_ms,
        (key.spec, key.usage, origin),
        key.id.starts_with("mrk-"),
        properties,
        Vec::new(),
    );
    let material = match &key.material {
        Some(given) => kms.imported_material(
            &record,
            &given.bytes,
            now_ms,
            ImportedMaterial {
                imported: true,
                valid_to_ms: None,
                description: String::new(),
            },
        )?,
        None => kms.fresh_material(key.spec, &key.id, now_ms).await?,
    };
    record.materials.push(material);
    record.key_state = KeyState::Enabled;
    if let Some(days) = key.rotation_period_days {
        record.rotation_period_days = Some(days);
        record.next_rotation_ms = Some(now_ms + i64::from(days) * DAY_MS);
    }
    kms.write(Command::CreateKey { record }).await.map(|_| ())
}

/// Applies the seed again after a reset; a failure is logged (the API serves anyway).
pub(crate) async fn reapply(kms: &Kms) {
    if let Some(seed) = kms.seed() {
        if let Err(e) = apply(kms, &seed).await {
            tracing::error!(error = %format!("{e:#}"), "re-applying the seed after a reset");
        }
    }
    kms.set_seeded(true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_core::WrappedMaterial;

    const ID: &str = "5eed0001-0000-4000-8000-000000000001";
    const MRK: &str = "mrk-5eed0000000040008000000000000004";
    const ACCOUNT: &str = "111122223333";

    fn seed(description: &str) -> Seed {
        let text = format!(
            "keys:\n  - {{id: {ID}, description: {description}, aliases: [alias/a], material: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}}\n  - {{id: {MRK}, primary_region: us-east-1, replica_regions: [us-west-2]}}\n"
        );
        Seed::parse(&text, &["us-east-1".into(), "us-west-2".into()]).unwrap()
    }

    /// The state after the seed's symmetric key was created as `create` would.
    fn state_with(seed: &Seed, description: &str) -> State {
        let key = &seed.keys[0];
        let mut record = new_key_record(
            "us-east-1",
            ACCOUNT,
            ID.into(),
            1,
            (key.spec, key.usage, Origin::External),
            false,
            (description.into(), key.policy_for(ACCOUNT), Vec::new()),
            Vec::new(),
        );
        record.materials.push(WrappedMaterial {
            material_id: key.material.as_ref().unwrap().material_id.clone(),
            wrapped: vec![1, 2, 3],
            created_ms: 1,
            public_key: None,
            import: Some(ImportedMaterial {
                imported: true,
                valid_to_ms: None,
                description: String::new(),
            }),
        });
        record.key_state = KeyState::Enabled;
        let mut state = State::default();
        assert!(state.apply(&Command::CreateKey { record }).0.is_ok());
        state
    }

    fn kinds(plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .map(|step| match step {
                Step::Create(i) => format!("create {i}"),
                Step::Replicate(i, r) => format!("replicate {i} {r}"),
                Step::Alias(i, a) => format!("alias {i} {a}"),
            })
            .collect()
    }

    #[test]
    fn an_empty_region_creates_what_it_owns_and_waits_for_replicas() {
        let seed = seed("d");
        let east = plan(&seed, &State::default(), "us-east-1", ACCOUNT).unwrap();
        assert_eq!(kinds(&east), ["create 0", "create 1"]);
        let west = plan(&seed, &State::default(), "us-west-2", ACCOUNT).unwrap();
        assert_eq!(kinds(&west), ["create 0"]);
        assert_eq!(west.waiting, [MRK]);
    }

    #[test]
    fn a_present_key_gets_only_what_is_missing() {
        let seed = seed("d");
        let state = state_with(&seed, "d");
        let east = plan(&seed, &state, "us-east-1", ACCOUNT).unwrap();
        assert_eq!(kinds(&east), ["alias 0 alias/a", "create 1"]);
    }

    #[test]
    fn a_difference_refuses_the_seed_naming_key_and_field() {
        let seed = seed("d");
        let state = state_with(&seed, "other");
        let refused = plan(&seed, &state, "us-east-1", ACCOUNT).err().unwrap();
        assert!(
            refused.contains(&format!("key {ID}, field description")),
            "{refused}"
        );
        // Another account's key of that id is a conflict too.
        let refused = plan(&seed, &state_with(&seed, "d"), "us-east-1", "000000000002")
            .err()
            .unwrap();
        assert!(refused.contains("field account"), "{refused}");
    }

    #[test]
    fn an_alias_naming_another_key_refuses_the_seed() {
        let seed = seed("d");
        let mut state = state_with(&seed, "d");
        let other = new_key_record(
            "us-east-1",
            ACCOUNT,
            "5eed0009-0000-4000-8000-000000000009".into(),
            1,
            (seed.keys[0].spec, seed.keys[0].usage, Origin::AwsKms),
            false,
            (String::new(), String::new(), Vec::new()),
            vec![WrappedMaterial {
                material_id: "00".repeat(32),
                wrapped: vec![1],
                created_ms: 1,
                public_key: None,
                import: None,
            }],
        );
        assert!(state.apply(&Command::CreateKey { record: other }).0.is_ok());
        let alias = Command::CreateAlias {
            alias_name: "alias/a".into(),
            target_key_id: "5eed0009-0000-4000-8000-000000000009".into(),
            now_ms: 1,
        };
        assert!(state.apply(&alias).0.is_ok());
        let refused = plan(&seed, &state, "us-east-1", ACCOUNT).err().unwrap();
        assert!(refused.contains("field aliases"), "{refused}");
    }
}

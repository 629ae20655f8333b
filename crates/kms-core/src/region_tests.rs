//! The multi-region protocol between several [`State`]s joined by a simulated network that can
//! delay, drop answers and deliver twice; the proptest drives random operations and schedules
//! and checks the invariants of `docs/0001-multi-region-keys.md`.

use crate::{
    Command, CommandOutput, KeyRecord, MultiRegionState, RegionMessage, RegionReply, State,
    WrappedMaterial,
};
use kms_types::{key_arn, KeyState, KmsError, RotationType};
use proptest::prelude::*;
use std::collections::BTreeMap;

const KEY: &str = "mrk-0123456789abcdef0123456789abcdef";
const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

fn material(n: u64) -> WrappedMaterial {
    WrappedMaterial {
        material_id: format!("{n:064x}"),
        wrapped: vec![n as u8; 8],
        created_ms: n as i64,
        public_key: None,
        import: None,
    }
}

struct World {
    regions: BTreeMap<String, State>,
    next_material: u64,
}

impl World {
    fn new() -> World {
        let mut regions: BTreeMap<String, State> = REGIONS
            .iter()
            .map(|r| (r.to_string(), State::default()))
            .collect();
        let primary = REGIONS[0];
        let record = KeyRecord {
            arn: key_arn(primary, "111122223333", KEY),
            multi_region: true,
            materials: vec![material(1)],
            mrk: Some(MultiRegionState::new_primary(primary)),
            pending_rotation: None,
            key_store: None,
            ..crate::tests::record(KEY)
        };
        let created = regions
            .get_mut(primary)
            .unwrap()
            .apply(&Command::CreateKey { record });
        assert!(created.0.is_ok());
        World {
            regions,
            next_material: 2,
        }
    }

    fn state(&self, region: &str) -> &State {
        &self.regions[region]
    }

    fn apply(&mut self, region: &str, command: Command) -> Result<CommandOutput, KmsError> {
        self.regions.get_mut(region).unwrap().apply(&command).0
    }

    fn key(&self, region: &str) -> Option<&KeyRecord> {
        self.state(region).key(KEY)
    }

    /// Every region's pending outbox entries.
    fn pending(&self) -> Vec<(String, u64)> {
        self.regions
            .iter()
            .flat_map(|(r, s)| s.outbox().map(move |(seq, _)| (r.clone(), seq)))
            .collect()
    }

    /// Sends entry `seq` of `from`; the receiver commits its answer; the answer reaches the
    /// sender only if `answer_arrives`.
    fn deliver(&mut self, from: &str, seq: u64, answer_arrives: bool) {
        let to = self
            .state(from)
            .outbox()
            .find(|(s, _)| *s == seq)
            .map(|(_, e)| e.to_region.clone())
            .unwrap();
        let reply = match self.state(from).outbound_message(seq) {
            None => RegionReply::Rejected {
                error: KmsError::KmsInternal("obsolete".into()),
            },
            Some(message) => {
                match self.apply(
                    &to,
                    Command::ApplyRegionMessage {
                        from_region: from.to_string(),
                        seq,
                        region: to.clone(),
                        now_ms: 1_000,
                        message,
                    },
                ) {
                    Ok(CommandOutput::Region(reply)) => reply,
                    other => panic!("unexpected {other:?}"),
                }
            }
        };
        if answer_arrives {
            let acked = self.apply(
                from,
                Command::OutboxAck {
                    seq,
                    reply,
                    now_ms: 1_000,
                },
            );
            assert!(acked.is_ok());
        }
    }

    /// Delivers everything until no region has anything to send.
    fn settle(&mut self) {
        for _ in 0..200 {
            let pending = self.pending();
            if pending.is_empty() {
                return;
            }
            for (from, seq) in pending {
                self.deliver(&from, seq, true);
            }
        }
        panic!("the regions never settled: {:?}", self.pending());
    }

    fn primary(&self) -> String {
        self.key(REGIONS[0])
            .and_then(|k| k.mrk.as_ref())
            .map(|m| m.primary_region.clone())
            .unwrap()
    }

    fn fresh_material(&mut self) -> WrappedMaterial {
        self.next_material += 1;
        material(self.next_material)
    }

    fn rotate(&mut self, region: &str) -> Result<CommandOutput, KmsError> {
        let current = self
            .key(region)
            .and_then(|k| k.current_material())
            .map(|m| m.material_id.clone())
            .unwrap_or_default();
        let material = self.fresh_material();
        self.apply(
            region,
            Command::RotateKey {
                key_id: KEY.into(),
                expected_current: current,
                material,
                rotation_type: RotationType::OnDemand,
                next_rotation_ms: None,
            },
        )
    }

    fn replicate(&mut self, from: &str, to: &str) -> Result<CommandOutput, KmsError> {
        self.apply(
            from,
            Command::ReplicateKey {
                key_id: KEY.into(),
                replica_region: to.into(),
                description: format!("replica in {to}"),
                policy: "{}".into(),
                tags: BTreeMap::new(),
            },
        )
    }

    /// Regions that consider themselves primary, with their epochs.
    fn claimed_primaries(&self) -> Vec<(String, u64)> {
        self.regions
            .iter()
            .filter_map(|(region, state)| {
                let key = state.key(KEY)?;
                key.is_mrk_primary()
                    .then(|| (region.clone(), key.mrk.as_ref().map_or(0, |m| m.epoch)))
            })
            .collect()
    }

    fn assert_one_primary_per_epoch(&self) {
        let claims = self.claimed_primaries();
        for (i, (a, ea)) in claims.iter().enumerate() {
            for (b, eb) in &claims[i + 1..] {
                assert_ne!(ea, eb, "{a} and {b} are both primary at epoch {ea}");
            }
        }
    }
}

#[test]
fn replicate_key_copies_every_material_version_and_both_regions_agree() {
    let mut world = World::new();
    assert!(world.rotate(REGIONS[0]).is_ok());
    let queued = world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    assert!(matches!(queued, CommandOutput::Queued { .. }));
    // Not there until delivered.
    assert!(world.key(REGIONS[1]).is_none());
    world.settle();
    let primary = world.key(REGIONS[0]).unwrap();
    let replica = world.key(REGIONS[1]).unwrap();
    assert_eq!(replica.materials, primary.materials);
    assert_eq!(replica.materials.len(), 2);
    assert_eq!(replica.key_state, KeyState::Enabled);
    assert_eq!(replica.description, "replica in us-west-2");
    assert_eq!(replica.arn, key_arn(REGIONS[1], "111122223333", KEY));
    let (p, r) = (
        primary.multi_region_configuration().unwrap(),
        replica.multi_region_configuration().unwrap(),
    );
    assert_eq!(p.primary_key, r.primary_key);
    assert_eq!(p.replica_keys, r.replica_keys);
    assert_eq!(r.replica_keys.len(), 1);
    // A second replica into the same region, or into the primary's, is refused.
    assert!(matches!(
        world.replicate(REGIONS[0], REGIONS[1]),
        Err(KmsError::AlreadyExists(_))
    ));
    assert!(matches!(
        world.replicate(REGIONS[0], REGIONS[0]),
        Err(KmsError::AlreadyExists(_))
    ));
    // Only the primary replicates.
    assert!(matches!(
        world.replicate(REGIONS[1], REGIONS[2]),
        Err(KmsError::UnsupportedOperation(_))
    ));
}

#[test]
fn rotated_material_becomes_current_only_after_every_replica_has_it() {
    let mut world = World::new();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.settle();
    let before = world.key(REGIONS[0]).unwrap().current_material().cloned();
    world.rotate(REGIONS[0]).unwrap();
    // Staged: still encrypting with the old material, and a second rotation waits.
    assert_eq!(
        world.key(REGIONS[0]).unwrap().current_material().cloned(),
        before
    );
    assert!(matches!(
        world.rotate(REGIONS[0]),
        Err(KmsError::Conflict(_))
    ));
    // Replicas cannot rotate.
    assert!(matches!(
        world.rotate(REGIONS[1]),
        Err(KmsError::UnsupportedOperation(_))
    ));
    world.settle();
    let primary = world.key(REGIONS[0]).unwrap();
    let replica = world.key(REGIONS[1]).unwrap();
    assert_ne!(primary.current_material().cloned(), before);
    assert_eq!(primary.current_material(), replica.current_material());
    assert_eq!(primary.rotations, replica.rotations);
}

#[test]
fn update_primary_region_swaps_roles_and_survives_a_lost_answer() {
    let mut world = World::new();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.settle();
    world
        .apply(
            REGIONS[0],
            Command::StartPrimaryHandover {
                key_id: KEY.into(),
                to_region: REGIONS[1].into(),
            },
        )
        .unwrap();
    assert_eq!(world.key(REGIONS[0]).unwrap().key_state, KeyState::Updating);
    // The new primary commits, its answer is lost.
    let (from, seq) = world.pending()[0].clone();
    world.deliver(&from, seq, false);
    assert!(world.key(REGIONS[1]).unwrap().is_mrk_primary());
    assert_eq!(world.key(REGIONS[1]).unwrap().key_state, KeyState::Updating);
    world.assert_one_primary_per_epoch();
    world.settle();
    let old = world.key(REGIONS[0]).unwrap();
    let new = world.key(REGIONS[1]).unwrap();
    assert!(old.is_mrk_replica() && new.is_mrk_primary());
    assert_eq!(old.key_state, KeyState::Enabled);
    assert_eq!(new.key_state, KeyState::Enabled);
    assert_eq!(
        old.multi_region_configuration().unwrap().replica_keys,
        new.multi_region_configuration().unwrap().replica_keys
    );
    // The old primary's messages are now stale: a late sync from it changes nothing.
    assert_eq!(world.primary(), REGIONS[1]);
}

#[test]
fn update_primary_region_to_a_disabled_replica_is_rolled_back() {
    let mut world = World::new();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.settle();
    world
        .apply(
            REGIONS[1],
            Command::SetKeyEnabled {
                key_id: KEY.into(),
                enabled: false,
            },
        )
        .unwrap();
    world
        .apply(
            REGIONS[0],
            Command::StartPrimaryHandover {
                key_id: KEY.into(),
                to_region: REGIONS[1].into(),
            },
        )
        .unwrap();
    world.settle();
    let key = world.key(REGIONS[0]).unwrap();
    assert!(key.is_mrk_primary());
    assert_eq!(key.key_state, KeyState::Enabled);
    assert!(matches!(
        key.mrk.as_ref().unwrap().last_handover_error,
        Some(KmsError::Disabled(_))
    ));
}

#[test]
fn a_primary_with_replicas_waits_for_their_deletion() {
    let mut world = World::new();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.settle();
    let schedule = |deletion_ms| Command::ScheduleKeyDeletion {
        key_id: KEY.into(),
        deletion_ms,
        pending_window_days: 7,
    };
    world.apply(REGIONS[0], schedule(5_000)).unwrap();
    let primary = world.key(REGIONS[0]).unwrap();
    assert_eq!(primary.key_state, KeyState::PendingReplicaDeletion);
    assert_eq!(primary.metadata().deletion_date, None);
    world.apply(REGIONS[1], schedule(2_000)).unwrap();
    world
        .apply(REGIONS[1], Command::DeleteDueKeys { now_ms: 2_000 })
        .unwrap();
    assert!(world.key(REGIONS[1]).is_none());
    world.settle();
    let primary = world.key(REGIONS[0]).unwrap();
    assert_eq!(primary.key_state, KeyState::PendingDeletion);
    assert_eq!(primary.deletion_ms, Some(1_000 + 7 * 24 * 3_600_000));
    assert!(primary.mrk.as_ref().unwrap().replicas.is_empty());
    // The deleted replica can be made again.
    world
        .apply(
            REGIONS[0],
            Command::CancelKeyDeletion { key_id: KEY.into() },
        )
        .unwrap();
    world
        .apply(
            REGIONS[0],
            Command::SetKeyEnabled {
                key_id: KEY.into(),
                enabled: true,
            },
        )
        .unwrap();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.settle();
    assert_eq!(world.key(REGIONS[1]).unwrap().key_state, KeyState::Enabled);
}

#[derive(Debug, Clone)]
enum Step {
    Replicate(usize),
    Rotate,
    Handover(usize),
    /// Deliver the n-th pending entry; the answer is lost if the flag is false.
    Deliver(usize, bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3usize).prop_map(Step::Replicate),
        Just(Step::Rotate),
        (0..3usize).prop_map(Step::Handover),
        (0..8usize, any::<bool>()).prop_map(|(n, ok)| Step::Deliver(n, ok)),
        (0..8usize).prop_map(|n| Step::Deliver(n, true)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the interleaving of operations, lost answers and repeated deliveries: never two
    /// primaries at one epoch, and after the network heals every region agrees on the primary,
    /// the replicas and the material, with nothing left Updating.
    #[test]
    fn regions_converge_with_one_primary_per_epoch(steps in prop::collection::vec(step(), 1..60)) {
        let mut world = World::new();
        let mut rotations_acknowledged = 0usize;
        for step in steps {
            match step {
                Step::Replicate(i) => {
                    let primary = world.primary_anywhere();
                    let _ = world.replicate(&primary, REGIONS[i]);
                }
                Step::Rotate => {
                    let primary = world.primary_anywhere();
                    if world.rotate(&primary).is_ok() {
                        rotations_acknowledged += 1;
                    }
                }
                Step::Handover(i) => {
                    let primary = world.primary_anywhere();
                    let _ = world.apply(&primary, Command::StartPrimaryHandover {
                        key_id: KEY.into(),
                        to_region: REGIONS[i].into(),
                    });
                }
                Step::Deliver(n, answer_arrives) => {
                    let pending = world.pending();
                    if !pending.is_empty() {
                        let (from, seq) = pending[n % pending.len()].clone();
                        world.deliver(&from, seq, answer_arrives);
                    }
                }
            }
            world.assert_one_primary_per_epoch();
        }
        world.settle();
        world.assert_one_primary_per_epoch();
        let holders: Vec<&KeyRecord> = REGIONS.iter().filter_map(|r| world.key(r)).collect();
        let primaries: Vec<&&KeyRecord> = holders.iter().filter(|k| k.is_mrk_primary()).collect();
        prop_assert_eq!(primaries.len(), 1);
        let primary = primaries[0];
        let mrk = primary.mrk.as_ref().unwrap();
        prop_assert_eq!(holders.len(), mrk.replicas.len() + 1);
        // Every acknowledged rotation is there, and current everywhere.
        prop_assert_eq!(primary.rotations.len(), rotations_acknowledged);
        for key in &holders {
            prop_assert_eq!(key.key_state, KeyState::Enabled);
            prop_assert_eq!(&key.materials, &primary.materials);
            let config = key.multi_region_configuration().unwrap();
            prop_assert_eq!(config, primary.multi_region_configuration().map(|mut c| {
                c.multi_region_key_type = key.multi_region_configuration().unwrap().multi_region_key_type;
                c
            }).unwrap());
            prop_assert_eq!(key.mrk.as_ref().unwrap().epoch, mrk.epoch);
        }
    }
}

impl World {
    /// The region holding the highest-epoch primary claim.
    fn primary_anywhere(&self) -> String {
        self.claimed_primaries()
            .into_iter()
            .max_by_key(|(_, epoch)| *epoch)
            .map(|(region, _)| region)
            .unwrap_or_else(|| REGIONS[0].to_string())
    }
}

#[test]
fn messages_are_well_formed_for_every_outbox_kind() {
    let mut world = World::new();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    let (_, seq) = world.pending()[0].clone();
    let message = world.state(REGIONS[0]).outbound_message(seq).unwrap();
    assert!(matches!(message, RegionMessage::CreateReplica { .. }));
    assert_eq!(message.key_id(), KEY);
}

// A region restored from a backup has lost what reached it after the backup, while its peers
// count that as delivered. `ResyncWith` (committed after the restore) asks them again.

impl World {
    /// Replaces `region`'s state by a restore of `backup` (the real restore path, parts and
    /// all), then commits the resync with every other region.
    fn restore(&mut self, region: &str, backup: &State) {
        let mut restored = State::default();
        let parts = backup.split_for_restore(1 << 20);
        let count = parts.len() as u32;
        for (part, image) in parts.into_iter().enumerate() {
            let done = restored.apply(&Command::Restore {
                backup_id: "backup".into(),
                part: part as u32,
                parts: count,
                image,
                restore_ms: 5_000,
            });
            assert!(done.0.is_ok(), "{done:?}");
        }
        self.regions.insert(region.to_string(), restored);
        let others: Vec<String> = REGIONS
            .iter()
            .filter(|r| **r != region)
            .map(|r| r.to_string())
            .collect();
        self.apply(region, Command::ResyncWith { regions: others })
            .unwrap();
    }

    fn material_ids(&self, region: &str) -> Vec<String> {
        self.key(region)
            .map(|k| k.materials.iter().map(|m| m.material_id.clone()).collect())
            .unwrap_or_default()
    }
}

#[test]
fn a_restored_primary_takes_back_a_rotation_from_its_replica_and_never_forks() {
    let mut world = World::new();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.settle();
    let backup = world.state(REGIONS[0]).clone();
    world.rotate(REGIONS[0]).unwrap();
    world.settle();
    let rotated = world.material_ids(REGIONS[1]);
    assert_eq!(rotated.len(), 2);

    world.restore(REGIONS[0], &backup);
    assert_eq!(
        world.material_ids(REGIONS[0]).len(),
        1,
        "the backup predates the rotation"
    );
    world.settle();
    let primary = world.key(REGIONS[0]).unwrap();
    assert!(primary.is_mrk_primary());
    assert_eq!(world.material_ids(REGIONS[0]), rotated);
    assert_eq!(
        primary.current_material(),
        world.key(REGIONS[1]).unwrap().current_material()
    );
    assert_eq!(primary.rotations.len(), 1);

    // The next rotation builds on what the replica holds: one history, three versions.
    world.rotate(REGIONS[0]).unwrap();
    world.settle();
    let ids = world.material_ids(REGIONS[0]);
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[..2], rotated[..]);
    assert_eq!(ids, world.material_ids(REGIONS[1]));
    world.assert_one_primary_per_epoch();
}

#[test]
fn a_restored_replica_gets_what_its_primary_sent_after_the_backup() {
    let mut world = World::new();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.settle();
    let backup = world.state(REGIONS[1]).clone();
    world.rotate(REGIONS[0]).unwrap();
    world.settle();

    world.restore(REGIONS[1], &backup);
    assert_eq!(world.material_ids(REGIONS[1]).len(), 1);
    world.settle();
    assert_eq!(
        world.material_ids(REGIONS[1]),
        world.material_ids(REGIONS[0])
    );
    assert_eq!(
        world.key(REGIONS[1]).unwrap().description,
        "replica in us-west-2",
        "a replica the restore kept keeps its own properties"
    );
}

#[test]
fn a_replica_made_after_the_backup_comes_back() {
    let mut world = World::new();
    let backup = world.state(REGIONS[2]).clone();
    world.replicate(REGIONS[0], REGIONS[2]).unwrap();
    world.rotate(REGIONS[0]).unwrap();
    world.settle();

    world.restore(REGIONS[2], &backup);
    assert!(world.key(REGIONS[2]).is_none());
    world.settle();
    let replica = world.key(REGIONS[2]).expect("the replica is back");
    assert!(replica.is_mrk_replica());
    assert_eq!(replica.key_state, KeyState::Enabled);
    assert_eq!(
        world.material_ids(REGIONS[2]),
        world.material_ids(REGIONS[0])
    );
    let primary = world.key(REGIONS[0]).unwrap();
    assert_eq!(replica.policy, primary.policy);
    assert!(primary
        .mrk
        .as_ref()
        .unwrap()
        .replicas
        .contains_key(REGIONS[2]));
}

#[test]
fn a_restored_region_learns_that_the_primary_moved_after_the_backup() {
    let mut world = World::new();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.settle();
    let backup = world.state(REGIONS[0]).clone();
    world
        .apply(
            REGIONS[0],
            Command::StartPrimaryHandover {
                key_id: KEY.into(),
                to_region: REGIONS[1].into(),
            },
        )
        .unwrap();
    world.settle();
    assert!(world.key(REGIONS[1]).unwrap().is_mrk_primary());

    world.restore(REGIONS[0], &backup);
    // Until the resync lands, the restored region still believes in the old epoch.
    assert!(world.key(REGIONS[0]).unwrap().is_mrk_primary());
    world.settle();
    let old = world.key(REGIONS[0]).unwrap();
    assert!(old.is_mrk_replica(), "{:?}", old.mrk);
    assert_eq!(old.mrk.as_ref().unwrap().epoch, 2);
    assert_eq!(world.claimed_primaries().len(), 1);
    assert_eq!(world.claimed_primaries()[0].0, REGIONS[1]);
}

#[test]
fn a_primary_the_restore_lost_entirely_comes_back_from_its_replica() {
    let mut world = World::new();
    // Backed up before the key existed.
    let backup = State::default();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.rotate(REGIONS[0]).unwrap();
    world.settle();
    let before = world.material_ids(REGIONS[0]);

    world.restore(REGIONS[0], &backup);
    assert!(world.key(REGIONS[0]).is_none());
    world.settle();
    let primary = world.key(REGIONS[0]).expect("the primary is back");
    assert!(primary.is_mrk_primary());
    assert_eq!(primary.key_state, KeyState::Enabled);
    assert_eq!(world.material_ids(REGIONS[0]), before);
    assert!(primary
        .mrk
        .as_ref()
        .unwrap()
        .replicas
        .contains_key(REGIONS[1]));
    // It leads again: a rotation reaches the replica.
    world.rotate(REGIONS[0]).unwrap();
    world.settle();
    assert_eq!(world.material_ids(REGIONS[1]).len(), 3);
    assert_eq!(
        world.material_ids(REGIONS[0]),
        world.material_ids(REGIONS[1])
    );
}

#[test]
fn a_resync_asked_twice_changes_nothing_more() {
    let mut world = World::new();
    world.replicate(REGIONS[0], REGIONS[1]).unwrap();
    world.settle();
    let regions = vec![REGIONS[1].to_string()];
    world
        .apply(
            REGIONS[0],
            Command::ResyncWith {
                regions: regions.clone(),
            },
        )
        .unwrap();
    world
        .apply(REGIONS[0], Command::ResyncWith { regions })
        .unwrap();
    assert_eq!(world.pending().len(), 1, "one request per region");
    world.settle();
    let primary = world.key(REGIONS[0]).unwrap();
    let replica = world.key(REGIONS[1]).unwrap();
    assert_eq!(primary.materials, replica.materials);
    assert_eq!(replica.description, "replica in us-west-2");
    world.assert_one_primary_per_epoch();
}

//! Seeded operation streams: a small PRNG (SplitMix64), the workload names, and one
//! [`Generator`] per client worker that yields the next history-level [`Op`].
//!
//! Every op is described exactly as it is recorded in the history (`f`, `key`, invoke `value`);
//! the runner turns it into KMS requests. Per-worker streams are forked from the run's seed, so
//! the sequence of ops each worker *draws* is reproducible; how they interleave with faults
//! depends on timing and is not.

use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to pick ops and targets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0; the modulo bias is irrelevant at these sizes).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An index into a slice of length `len` (> 0).
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }

    /// A new, independent stream derived from this one's seed and `stream`.
    pub fn fork(&self, stream: u64) -> Rng {
        let mut mixer = Rng(self.0 ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        Rng(mixer.next_u64())
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

/// A workload: which operations the clients issue and which checker judges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// Per-key register of `{state, description}` (linearizability).
    KeyState,
    /// CreateKey set: lost / phantom / duplicate keys.
    CreateSet,
    /// Durability of Encrypt results: every acked ciphertext decrypts after heal.
    Crypto,
    /// Multi-region keys across two regions (`--regions 2`): replication, primary moves,
    /// rotation, crypto in either region; convergence after heal.
    MultiRegion,
    /// CreateKey with a ~30 KB key policy and an 8192-character description: grows the
    /// replicated state by ~38 KB per key, so restarted nodes need multi-megabyte snapshots
    /// (checked like `create-set`).
    BigKeys,
}

impl Workload {
    /// The single-region workloads, in the order `--workload all` runs them.
    pub const ALL: [Workload; 3] = [Workload::KeyState, Workload::CreateSet, Workload::Crypto];

    /// The CLI / store-directory name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::KeyState => "key-state",
            Workload::CreateSet => "create-set",
            Workload::Crypto => "crypto",
            Workload::MultiRegion => "multi-region",
            Workload::BigKeys => "big-keys",
        }
    }

    /// Whether the workload's keys are judged by the set checkers (`set_full`, `unique_ids`),
    /// so it gets its own `final_list_keys` on every node.
    pub fn lists_keys(self) -> bool {
        matches!(self, Workload::CreateSet | Workload::BigKeys)
    }

    /// Parses `key-state`, `create-set`, `crypto`, `multi-region`, `big-keys`, `all`, or a
    /// comma-separated list of them. `all` is the three single-region workloads, plus
    /// `multi-region` when `regions` > 1 (never `big-keys`, which is opt-in).
    pub fn parse_list_for(text: &str, regions: usize) -> Result<Vec<Workload>, String> {
        let mut workloads = Vec::new();
        for part in text.split(',').map(str::trim) {
            let named: Vec<Workload> = match part {
                "all" if regions > 1 => Workload::ALL
                    .into_iter()
                    .chain([Workload::MultiRegion])
                    .collect(),
                "all" => Workload::ALL.to_vec(),
                "key-state" => vec![Workload::KeyState],
                "create-set" => vec![Workload::CreateSet],
                "crypto" => vec![Workload::Crypto],
                "multi-region" => vec![Workload::MultiRegion],
                "big-keys" => vec![Workload::BigKeys],
                other => {
                    return Err(format!(
                        "unknown workload {other:?}: expected key-state, create-set, crypto, \
                         multi-region, big-keys or all"
                    ))
                }
            };
            for workload in named {
                if !workloads.contains(&workload) {
                    workloads.push(workload);
                }
            }
        }
        Ok(workloads)
    }

    /// [`Workload::parse_list_for`] with one region.
    pub fn parse_list(text: &str) -> Result<Vec<Workload>, String> {
        Workload::parse_list_for(text, 1)
    }
}

/// The logical keys of the key-state workload.
pub const KEY_STATE_KEYS: [&str; 5] = ["k0", "k1", "k2", "k3", "k4"];
/// The logical key of the crypto workload.
pub const CRYPTO_KEY: &str = "c0";
/// The plaintext key-state `encrypt` probes send (only the success or error matters).
pub const PROBE_PLAINTEXT: &[u8] = b"jepsen-lite probe";
/// The logical multi-region keys (created in us-east-1 with `MultiRegion: true`).
pub const MRK_KEYS: [&str; 6] = ["m0", "m1", "m2", "m3", "m4", "m5"];
/// Length of a `big-keys` description (Trent's and AWS's maximum).
pub const BIG_DESCRIPTION_CHARS: usize = 8192;
/// Length of the `Sid` of a `big-keys` policy; the whole policy stays under the 32 KB limit.
pub const BIG_SID_CHARS: usize = 30_000;

/// The description of `big-keys` key `name` (`jl-big-<n>`): the name, padded to
/// [`BIG_DESCRIPTION_CHARS`].
pub fn big_description(name: &str) -> String {
    let mut description = format!("{name}-");
    let pad = BIG_DESCRIPTION_CHARS.saturating_sub(description.len());
    description.extend(std::iter::repeat_n('d', pad));
    description
}

/// The key policy of `big-keys` key `name`: one statement allowing `kms:*` to every AWS
/// principal (so the lockout check passes), whose alphanumeric `Sid` is padded to
/// [`BIG_SID_CHARS`].
pub fn big_policy(name: &str) -> String {
    let mut sid: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    let pad = BIG_SID_CHARS.saturating_sub(sid.len());
    sid.extend(std::iter::repeat_n('x', pad));
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid,
            "Effect": "Allow",
            "Principal": { "AWS": "*" },
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
    .to_string()
}

/// One operation as it is recorded at invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// The history `f` (`enable_key`, `create_key`, `encrypt`, ...).
    pub f: &'static str,
    /// The logical key it targets, if any.
    pub key: Option<String>,
    /// The invoke value.
    pub value: Value,
}

/// Counters shared by all workers, so generated values are unique across the run.
#[derive(Debug, Default)]
pub struct Counters {
    description: AtomicU64,
    create: AtomicU64,
    plaintext: AtomicU64,
    big: AtomicU64,
}

/// One worker's op stream.
#[derive(Debug)]
pub struct Generator {
    workload: Workload,
    rng: Rng,
    counters: Arc<Counters>,
}

impl Generator {
    /// A stream for `workload` drawing from `rng`, sharing `counters` with the other workers.
    pub fn new(workload: Workload, rng: Rng, counters: Arc<Counters>) -> Generator {
        Generator {
            workload,
            rng,
            counters,
        }
    }

    /// The next op.
    pub fn next_op(&mut self) -> Op {
        match self.workload {
            Workload::KeyState => self.key_state(),
            Workload::CreateSet => {
                let n = self.counters.create.fetch_add(1, Ordering::Relaxed);
                Op {
                    f: "create_key",
                    key: None,
                    value: json!({ "description": format!("jl-{n}") }),
                }
            }
            Workload::Crypto => {
                let n = self.counters.plaintext.fetch_add(1, Ordering::Relaxed);
                let plaintext = format!("jl-pt-{n}-{:016x}", self.rng.next_u64());
                Op {
                    f: "encrypt",
                    key: Some(CRYPTO_KEY.to_string()),
                    value: json!({
                        "plaintext_b64": base64::engine::general_purpose::STANDARD.encode(plaintext)
                    }),
                }
            }
            Workload::MultiRegion => self.multi_region(),
            Workload::BigKeys => {
                let n = self.counters.big.fetch_add(1, Ordering::Relaxed);
                let name = format!("jl-big-{n}");
                // The history records the sizes; the runner rebuilds the bodies from the name.
                let policy_bytes = big_policy(&name).len();
                Op {
                    f: "create_key",
                    key: None,
                    value: json!({
                        "description": name,
                        "description_chars": BIG_DESCRIPTION_CHARS,
                        "policy_bytes": policy_bytes,
                    }),
                }
            }
        }
    }

    /// A multi-region op. `region` is where it is sent; for `replicate_key`,
    /// `update_primary_region` and `rotate_key` it is where the runner first reads the key
    /// (`mrk_describe`) to learn the primary and the replica, which pick the real target.
    /// `mrk_describe_both` reads the key in us-east-1 and then us-west-2; `mrk_decrypt`
    /// carries `pick`, which the runner maps onto the ciphertexts acknowledged so far.
    fn multi_region(&mut self) -> Op {
        let key = MRK_KEYS[self.rng.index(MRK_KEYS.len())].to_string();
        let region = crate::client::REGIONS[self.rng.index(crate::client::REGIONS.len())];
        // Weights out of 100: reads 25, crypto 42, ReplicateKey 4 (once a key is replicated it
        // only exercises AlreadyExistsException), UpdatePrimaryRegion 25, RotateKeyOnDemand 4
        // (Trent allows 25 on-demand rotations per key: 4% of 40 ops/s over 6 keys stays
        // under that for about 90 s).
        let roll = self.rng.below(100);
        let (f, value) = match roll {
            0..=14 => ("mrk_describe", json!({ "region": region })),
            15..=24 => ("mrk_describe_both", Value::Null),
            25..=50 => {
                let n = self.counters.plaintext.fetch_add(1, Ordering::Relaxed);
                let plaintext = format!("jl-mrk-{n}-{:016x}", self.rng.next_u64());
                (
                    "mrk_encrypt",
                    json!({
                        "region": region,
                        "plaintext_b64": base64::engine::general_purpose::STANDARD.encode(plaintext),
                    }),
                )
            }
            51..=66 => (
                "mrk_decrypt",
                json!({ "region": region, "pick": self.rng.next_u64() }),
            ),
            67..=70 => ("replicate_key", json!({ "region": region })),
            71..=95 => ("update_primary_region", json!({ "region": region })),
            _ => ("rotate_key", json!({ "region": region })),
        };
        Op {
            f,
            key: Some(key),
            value,
        }
    }

    fn key_state(&mut self) -> Op {
        let key = KEY_STATE_KEYS[self.rng.index(KEY_STATE_KEYS.len())].to_string();
        // Weights out of 100: reads 45, enable/disable 30, descriptions 15, deletion 10. Cancel
        // is likelier than schedule so keys do not sit in PendingDeletion for most of the run.
        let roll = self.rng.below(100);
        let (f, value) = match roll {
            0..=24 => ("describe_key", Value::Null),
            25..=44 => ("encrypt", Value::Null),
            45..=59 => ("enable_key", Value::Null),
            60..=74 => ("disable_key", Value::Null),
            75..=89 => {
                let n = self.counters.description.fetch_add(1, Ordering::Relaxed);
                (
                    "update_description",
                    json!({ "description": format!("d-{n}") }),
                )
            }
            90..=93 => ("schedule_deletion", json!({ "pending_window_in_days": 30 })),
            _ => ("cancel_deletion", Value::Null),
        };
        Op {
            f,
            key: Some(key),
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_forks_differ() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        let root = Rng::new(7);
        assert_ne!(root.fork(1).next_u64(), root.fork(2).next_u64());
        let mut r = Rng::new(1);
        assert!((0..1000).all(|_| r.below(6) < 6));
        let mut items: Vec<u32> = (0..10).collect();
        r.shuffle(&mut items);
        items.sort_unstable();
        assert_eq!(items, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn key_state_ops_cover_every_f_with_unique_descriptions() {
        let counters = Arc::new(Counters::default());
        let mut g = Generator::new(Workload::KeyState, Rng::new(3), counters.clone());
        let ops: Vec<Op> = (0..2000).map(|_| g.next_op()).collect();
        for f in [
            "describe_key",
            "encrypt",
            "enable_key",
            "disable_key",
            "update_description",
            "schedule_deletion",
            "cancel_deletion",
        ] {
            assert!(ops.iter().any(|op| op.f == f), "{f} never generated");
        }
        let mut descriptions: Vec<&str> = ops
            .iter()
            .filter_map(|op| op.value["description"].as_str())
            .collect();
        let total = descriptions.len();
        descriptions.sort_unstable();
        descriptions.dedup();
        assert_eq!(descriptions.len(), total);
        let mut other = Generator::new(Workload::CreateSet, Rng::new(3), counters);
        assert_eq!(other.next_op().value["description"], "jl-0");
        assert_eq!(other.next_op().value["description"], "jl-1");
    }

    #[test]
    fn big_keys_carry_large_policies_and_descriptions() {
        let mut g = Generator::new(Workload::BigKeys, Rng::new(1), Arc::default());
        let op = g.next_op();
        assert_eq!(op.f, "create_key");
        assert_eq!(op.value["description"], "jl-big-0");
        let policy = big_policy("jl-big-0");
        assert_eq!(op.value["policy_bytes"], policy.len());
        // Under Trent's 32 KB policy limit, and valid JSON with the padded Sid.
        assert!(
            policy.len() > 30_000 && policy.len() < 32 * 1024,
            "{}",
            policy.len()
        );
        let parsed: Value = serde_json::from_str(&policy).unwrap();
        let sid = parsed["Statement"][0]["Sid"].as_str().unwrap();
        assert!(sid.starts_with("jlbig0x") && sid.len() == BIG_SID_CHARS);
        let description = big_description("jl-big-0");
        assert!(description.starts_with("jl-big-0-"));
        assert_eq!(description.chars().count(), BIG_DESCRIPTION_CHARS);
        assert_eq!(g.next_op().value["description"], "jl-big-1");
        assert_eq!(
            Workload::parse_list("key-state,big-keys"),
            Ok(vec![Workload::KeyState, Workload::BigKeys])
        );
        assert!(Workload::BigKeys.lists_keys() && !Workload::Crypto.lists_keys());
    }

    #[test]
    fn workload_lists_parse() {
        assert_eq!(Workload::parse_list("all").map(|w| w.len()), Ok(3));
        assert_eq!(Workload::parse_list("crypto"), Ok(vec![Workload::Crypto]));
        assert!(Workload::parse_list("bank").is_err());
        assert_eq!(Workload::parse_list_for("all", 2).map(|w| w.len()), Ok(4));
        assert_eq!(
            Workload::parse_list("multi-region,crypto,crypto"),
            Ok(vec![Workload::MultiRegion, Workload::Crypto])
        );
    }

    #[test]
    fn multi_region_ops_cover_every_kind() {
        let counters = Arc::new(Counters::default());
        let mut g = Generator::new(Workload::MultiRegion, Rng::new(5), counters);
        let ops: Vec<Op> = (0..3000).map(|_| g.next_op()).collect();
        for f in [
            "mrk_describe",
            "mrk_describe_both",
            "mrk_encrypt",
            "mrk_decrypt",
            "replicate_key",
            "update_primary_region",
            "rotate_key",
        ] {
            assert!(ops.iter().any(|op| op.f == f), "{f} never generated");
        }
        for region in crate::client::REGIONS {
            assert!(ops.iter().any(|op| op.value["region"] == region));
        }
        assert!(ops
            .iter()
            .all(|op| op.key.as_deref().is_some_and(|k| MRK_KEYS.contains(&k))));
    }
}

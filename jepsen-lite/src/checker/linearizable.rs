//! A generic linearizability checker: the Wing & Gong search with Lowe's memoization of
//! (linearized-set bitset, model state), as in Knossos `wgl` and Porcupine `checkSingle`.
//!
//! Semantics, per partition (one logical key):
//!
//! - operations that completed `fail` are dropped: they did not happen;
//! - `ok` operations must be linearized at one point inside their closed interval
//!   `[invoke, completion]`;
//! - `info` and never-completed operations have a completion time of +infinity and are
//!   *optional*: each may be linearized at any point after its invoke, or not at all;
//! - real-time order is the order of the history's event `index` (one total order of recording,
//!   so an operation whose completion was recorded before another's invoke precedes it).
//!
//! Indeterminate operations stay pending forever and would multiply the search (Knossos and
//! Porcupine degrade badly with many of them), so the search adds sound prunings. Call the
//! linearized `ok` operations R, the linearized optional operations O, and the model state s:
//!
//! - **dominance memo** (generalizing Lowe's exact-match cache): (R, s, O) is skipped if some
//!   (R, s, O') with O' ⊆ O was explored (`Memo`);
//! - **shadows**: a sequence is not extended if dropping one of its optional operations would
//!   reach the same state (the operation was a no-op, or its effect was overwritten unobserved);
//!   each stack frame carries, per optional operation used, the state without it (`Frame`);
//! - **symmetry**: among pending optional operations with the same function, input and
//!   completion, only the earliest is tried (see the [`Model`] contract);
//! - **order**: candidates are tried required first, then optional ones that let a required one
//!   step at once, then the rest (`Pass`), so optional operations are used when needed.
//!
//! Completeness: if a linearization exists, take one σ with the fewest optional operations. Each
//! prefix of σ is explored unless pruned, and every pruning above either points to a reachable
//! configuration with the same R and s and strictly fewer optional operations (impossible by the
//! choice of σ) or to an equivalent configuration from which the rest of σ (or its symmetric
//! image) still completes; by induction on the remaining length the search succeeds. The
//! randomized tests compare the verdict with an exhaustive search.
//!
//! The search is exponential in the worst case; a [`Budget`] (steps and/or wall time) turns an
//! unfinished search into [`Verdict::Unknown`] rather than a guess.
//!
//! On failure the report names the operation that could not be linearized at the deepest point
//! the search reached (the longest partial linearization), the model state there, the last
//! operations of that partial linearization and the operations concurrent with the culprit.

use super::{operation_json, CheckResult, Verdict, MAX_LISTED};
use crate::history::{EventType, Operation};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A sequential specification of one partition (for example one key).
pub trait Model: Clone + Eq + Hash + Debug {
    /// The state after `op` takes effect in this state, or `None` if the op's observed completion
    /// is inconsistent with this state. For `info` / never-completed operations (no observed
    /// output) return the state if the op had taken effect, or `None` if it could not have.
    ///
    /// Contract: the result may depend only on `invoke.f`, `invoke.value` and the completion's
    /// kind, value and error (not on process, node, times or indices), so that operations equal
    /// in those are interchangeable.
    fn step(&self, op: &Operation) -> Option<Self>;
}

/// Limits on the search. `max_steps` applies to each partition; `time` is for the whole check,
/// shared out so that each remaining partition gets `remaining time / remaining partitions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Maximum search steps (candidate linearizations tried + backtracks) per partition.
    pub max_steps: Option<u64>,
    /// Wall-clock limit for the whole check.
    pub time: Option<Duration>,
}

impl Budget {
    /// No limits (use only in tests or for tiny histories).
    pub const UNLIMITED: Budget = Budget {
        max_steps: None,
        time: None,
    };

    /// A wall-clock limit plus [`DEFAULT_MAX_STEPS`] per partition (which bounds memory).
    pub fn time(time: Duration) -> Budget {
        Budget {
            max_steps: Some(DEFAULT_MAX_STEPS),
            time: Some(time),
        }
    }

    /// A step limit per partition only.
    pub fn steps(max_steps: u64) -> Budget {
        Budget {
            max_steps: Some(max_steps),
            time: None,
        }
    }
}

/// Default per-partition step limit, which also caps memory (the memo grows by at most one entry
/// per step). Measured on simulated key-state histories (6 clients, 5% indeterminate): 6,000
/// operations on one key are found linearizable in 8-20 M steps, 1-3 s, ~200 MB; refuting a bad
/// read at the end of 1,000 operations takes ~1-5 M steps (several million steps a second).
pub const DEFAULT_MAX_STEPS: u64 = 50_000_000;

/// Why a linearizability search failed: the deepest partial linearization and who broke it.
#[derive(Debug, Clone, PartialEq)]
pub struct Counterexample {
    /// Position (in the checked slice) of the operation that could not be linearized.
    pub op: usize,
    /// Positions of the operations of the longest partial linearization, in linearization order.
    pub linearized: Vec<usize>,
    /// `Debug` rendering of the model state after that partial linearization.
    pub state: String,
}

/// The result of searching one partition.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A linearization exists.
    Linearizable {
        /// Search steps taken.
        steps: u64,
    },
    /// No linearization exists.
    NotLinearizable {
        /// Search steps taken.
        steps: u64,
        /// The deepest failure.
        counterexample: Box<Counterexample>,
    },
    /// The budget ran out first.
    Unknown {
        /// Search steps taken.
        steps: u64,
        /// Which limit was hit.
        reason: String,
    },
}

impl Outcome {
    /// The verdict this outcome stands for.
    pub fn verdict(&self) -> Verdict {
        match self {
            Outcome::Linearizable { .. } => Verdict::Valid,
            Outcome::NotLinearizable { .. } => Verdict::Invalid,
            Outcome::Unknown { .. } => Verdict::Unknown,
        }
    }

    /// Search steps taken.
    pub fn steps(&self) -> u64 {
        match self {
            Outcome::Linearizable { steps }
            | Outcome::NotLinearizable { steps, .. }
            | Outcome::Unknown { steps, .. } => *steps,
        }
    }
}

/// A fixed-size bitset over operation positions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Bits(Box<[u64]>);

impl Bits {
    fn new(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)].into_boxed_slice())
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn subset_of(&self, other: &Bits) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }
}

/// One node of the doubly linked event list: a call or return of operation `op`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// For a call, its return entry (and vice versa).
    partner: usize,
    prev: usize,
    next: usize,
}

/// The event list with a head sentinel (index 0) and a tail sentinel (last index).
struct List {
    entries: Vec<Entry>,
}

impl List {
    const HEAD: usize = 0;

    fn tail(&self) -> usize {
        self.entries.len() - 1
    }

    /// Removes a call entry and its return from the list.
    fn lift(&mut self, call: usize) {
        for e in [call, self.entries[call].partner] {
            let Entry { prev, next, .. } = self.entries[e];
            self.entries[prev].next = next;
            self.entries[next].prev = prev;
        }
    }

    /// The required operations among the candidates (the calls before the first return).
    fn required_candidates(&self, optional: &[bool]) -> Vec<usize> {
        let mut candidates = Vec::new();
        let mut e = self.entries[List::HEAD].next;
        while e != self.tail() && self.entries[e].is_call {
            if !optional[self.entries[e].op] {
                candidates.push(self.entries[e].op);
            }
            e = self.entries[e].next;
        }
        candidates
    }

    /// Undoes [`List::lift`] (entries keep their own prev/next, so reinsertion is exact when
    /// lifts are undone in reverse order).
    fn unlift(&mut self, call: usize) {
        for e in [self.entries[call].partner, call] {
            let Entry { prev, next, .. } = self.entries[e];
            self.entries[prev].next = e;
            self.entries[next].prev = e;
        }
    }
}

/// The order in which a node's candidates (the calls before the first return) are tried. Any
/// order is complete; this one linearizes indeterminate operations lazily, when something needs
/// them, rather than as early as possible, and tries first those that let a required operation
/// proceed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Required (`ok`) operations.
    Required,
    /// Optional operations after which some required candidate can step.
    Enabling,
    /// The other optional operations (needed only in chains).
    Other,
}

impl Pass {
    fn following(self) -> Option<Pass> {
        match self {
            Pass::Required => Some(Pass::Enabling),
            Pass::Enabling => Some(Pass::Other),
            Pass::Other => None,
        }
    }
}

/// The memo table. A configuration is (linearized required ops R, model state, linearized
/// optional ops O). (R, s, O) is *dominated* by (R, s, O') when O' ⊆ O: every completion from the
/// former is also one from the latter, which has the same obligations and more options. So a
/// configuration is explored only if no explored (or ancestor) configuration dominates it. This
/// subsumes Lowe's exact-match memoization, and is sound by induction on the length of the
/// shortest completion: a pruned configuration's dominator is no farther from success.
#[derive(Default)]
struct Memo {
    /// R → state id → antichain of the O sets seen.
    seen: HashMap<Bits, HashMap<u32, Vec<Bits>>>,
}

impl Memo {
    /// Records the configuration unless it is dominated; true if it is new (explore it).
    fn insert(&mut self, required: &Bits, state: u32, optional: &Bits) -> bool {
        if let Some(sets) = self.seen.get_mut(required) {
            let sets = sets.entry(state).or_default();
            if sets.iter().any(|o| o.subset_of(optional)) {
                return false;
            }
            sets.retain(|o| !optional.subset_of(o));
            sets.push(optional.clone());
        } else {
            self.seen.insert(
                required.clone(),
                HashMap::from([(state, vec![optional.clone()])]),
            );
        }
        true
    }
}

/// What makes two optional operations interchangeable: same function, input and completion.
/// (The [`Model`] contract: `step` depends on nothing else.)
fn class_key(op: &Operation) -> String {
    let completion = op.completion.as_ref().map(|c| (c.kind, &c.value, &c.error));
    serde_json::to_string(&(&op.invoke.f, &op.invoke.value, completion)).unwrap_or_default()
}

/// Searches for a linearization of `ops` (one partition) starting from `initial`.
/// `fail` operations are ignored; positions in the result refer to `ops`.
pub fn check_operations<M: Model>(
    initial: &M,
    ops: &[Operation],
    max_steps: Option<u64>,
    deadline: Option<Instant>,
) -> Outcome {
    // Build the entry list: (time, is_return, op) sorted; closed intervals, so at equal times
    // calls come before returns (treated as concurrent).
    let mut points: Vec<(u64, bool, usize)> = Vec::new();
    let mut optional = vec![false; ops.len()];
    let mut required = 0usize;
    for (i, op) in ops.iter().enumerate() {
        let return_time = match (op.outcome(), &op.completion) {
            (EventType::Fail, _) => continue,
            (EventType::Ok, Some(completion)) => {
                required += 1;
                completion.index
            }
            _ => {
                optional[i] = true;
                u64::MAX
            }
        };
        points.push((op.invoke.index, false, i));
        points.push((return_time, true, i));
    }
    points.sort_unstable();
    let mut entries = Vec::with_capacity(points.len() + 2);
    entries.push(Entry {
        op: usize::MAX,
        is_call: false,
        partner: 0,
        prev: 0,
        next: 1,
    });
    let mut call_entry = vec![usize::MAX; ops.len()];
    for (position, &(_, is_return, op)) in points.iter().enumerate() {
        let e = position + 1;
        let partner = if is_return {
            call_entry[op]
        } else {
            usize::MAX
        };
        if is_return {
            entries[partner].partner = e;
        } else {
            call_entry[op] = e;
        }
        entries.push(Entry {
            op,
            is_call: !is_return,
            partner,
            prev: e - 1,
            next: e + 1,
        });
    }
    let tail = entries.len();
    entries.push(Entry {
        op: usize::MAX,
        is_call: false,
        partner: 0,
        prev: tail - 1,
        next: tail,
    });
    let mut list = List { entries };

    // Symmetry: among interchangeable pending optional operations only the earliest (by call
    // entry) is a candidate; the others would lead to equivalent configurations.
    let mut class_ids: HashMap<String, usize> = HashMap::new();
    let mut class_of = vec![usize::MAX; ops.len()];
    let mut class_members: Vec<BTreeSet<usize>> = Vec::new();
    for (i, op) in ops.iter().enumerate().filter(|&(i, _)| optional[i]) {
        let next_class = class_ids.len();
        let class = *class_ids.entry(class_key(op)).or_insert(next_class);
        if class == class_members.len() {
            class_members.push(BTreeSet::new());
        }
        class_of[i] = class;
        class_members[class].insert(call_entry[i]);
    }

    let mut states = Interner::new(initial.clone());
    let mut memo = Memo::default();
    let mut required_bits = Bits::new(ops.len());
    let mut optional_bits = Bits::new(ops.len());
    let mut state: u32 = 0;
    let mut stack: Vec<Frame> = Vec::new();
    let mut remaining = required;
    let mut best: Option<Counterexample> = None;
    let mut steps: u64 = 0;
    let mut iterations: u64 = 0;
    let mut entry = list.entries[List::HEAD].next;
    let mut pass = Pass::Required;
    // The required candidates of the current node, for the `Enabling` test (None = stale).
    let mut required_candidates: Option<Vec<usize>> = None;

    loop {
        if remaining == 0 {
            return Outcome::Linearizable { steps };
        }
        iterations += 1;
        if iterations.is_multiple_of(256) && deadline.is_some_and(|d| Instant::now() >= d) {
            return Outcome::Unknown {
                steps,
                reason: "time budget exhausted".into(),
            };
        }
        let current = list.entries[entry];
        if entry != list.tail() && current.is_call {
            let op = current.op;
            let candidate = if optional[op] {
                pass != Pass::Required && class_members[class_of[op]].first() == Some(&entry)
            } else {
                pass == Pass::Required
            };
            if candidate {
                steps += 1;
                if max_steps.is_some_and(|max| steps > max) {
                    return Outcome::Unknown {
                        steps,
                        reason: "step budget exhausted".into(),
                    };
                }
                let mut next = states.get(state).step(&ops[op]);
                if pass != Pass::Required {
                    if let Some(after) = &next {
                        let candidates = required_candidates
                            .get_or_insert_with(|| list.required_candidates(&optional));
                        let enabling = candidates.iter().any(|&r| after.step(&ops[r]).is_some());
                        if enabling != (pass == Pass::Enabling) {
                            next = None;
                        }
                    }
                }
                let extension = next.and_then(|next| {
                    let next_id = states.intern(next);
                    let parent = stack.last().map_or(&[][..], |f| &f.shadows[..]);
                    let shadows = shadow_step(&mut states, parent, &ops[op], next_id)?;
                    let mut shadows = shadows;
                    if optional[op] {
                        if next_id == state {
                            return None; // a no-op: not using it dominates using it
                        }
                        shadows.push(state);
                    }
                    Some((next_id, shadows))
                });
                if let Some((next_id, shadows)) = extension {
                    let bits = if optional[op] {
                        &mut optional_bits
                    } else {
                        &mut required_bits
                    };
                    bits.set(op);
                    if memo.insert(&required_bits, next_id, &optional_bits) {
                        stack.push(Frame {
                            call: entry,
                            before: state,
                            pass,
                            shadows,
                        });
                        state = next_id;
                        if optional[op] {
                            class_members[class_of[op]].remove(&entry);
                        } else {
                            remaining -= 1;
                        }
                        list.lift(entry);
                        required_candidates = None;
                        entry = list.entries[List::HEAD].next;
                        pass = Pass::Required;
                        continue;
                    }
                    let bits = if optional[op] {
                        &mut optional_bits
                    } else {
                        &mut required_bits
                    };
                    bits.clear(op);
                }
            }
            entry = current.next;
            continue;
        }
        // A return (the end of the list is only reachable with required operations left if
        // the list is malformed): the candidates before it are exhausted for this pass.
        if let Some(following) = pass.following() {
            pass = following;
            entry = list.entries[List::HEAD].next;
            continue;
        }
        // The pending operation cannot be linearized after this prefix: backtrack.
        if entry != list.tail()
            && best
                .as_ref()
                .is_none_or(|b| stack.len() > b.linearized.len())
        {
            best = Some(Counterexample {
                op: current.op,
                linearized: stack.iter().map(|f| list.entries[f.call].op).collect(),
                state: format!("{:?}", states.get(state)),
            });
        }
        let Some(frame) = stack.pop() else {
            let counterexample = best.unwrap_or(Counterexample {
                op: usize::MAX,
                linearized: Vec::new(),
                state: format!("{initial:?}"),
            });
            return Outcome::NotLinearizable {
                steps,
                counterexample: Box::new(counterexample),
            };
        };
        steps += 1;
        let op = list.entries[frame.call].op;
        if optional[op] {
            optional_bits.clear(op);
            class_members[class_of[op]].insert(frame.call);
        } else {
            required_bits.clear(op);
            remaining += 1;
        }
        state = frame.before;
        pass = frame.pass;
        list.unlift(frame.call);
        required_candidates = None;
        entry = list.entries[frame.call].next;
    }
}

/// One linearized operation on the search stack.
struct Frame {
    /// Its call entry.
    call: usize,
    /// The state id before it.
    before: u32,
    /// The pass it was chosen in (backtracking resumes there).
    pass: Pass,
    /// Shadow states: for each optional operation o linearized so far whose removal is still
    /// consistent, the state the same sequence without o reaches (deduplicated).
    shadows: Vec<u32>,
}

/// Advances the parent's shadow states by `op`. `None` if one of them reaches `next`: then the
/// sequence without some optional operation reaches the same state with the same required
/// operations, so this configuration is dominated (see `Memo`) and need not be explored.
fn shadow_step<M: Model>(
    states: &mut Interner<M>,
    parent: &[u32],
    op: &Operation,
    next: u32,
) -> Option<Vec<u32>> {
    let mut shadows = Vec::with_capacity(parent.len() + 1);
    for &shadow in parent {
        if let Some(after) = states.get(shadow).step(op) {
            let id = states.intern(after);
            if id == next {
                return None;
            }
            if !shadows.contains(&id) {
                shadows.push(id);
            }
        }
    }
    Some(shadows)
}

/// Interned model states, so the memo and the stack hold small ids.
struct Interner<M> {
    states: Vec<M>,
    ids: HashMap<M, u32>,
}

impl<M: Model> Interner<M> {
    fn new(initial: M) -> Interner<M> {
        Interner {
            states: vec![initial.clone()],
            ids: HashMap::from([(initial, 0)]),
        }
    }

    fn get(&self, id: u32) -> &M {
        &self.states[id as usize]
    }

    fn intern(&mut self, state: M) -> u32 {
        if let Some(&id) = self.ids.get(&state) {
            return id;
        }
        let id = u32::try_from(self.states.len()).unwrap_or(u32::MAX);
        self.states.push(state.clone());
        self.ids.insert(state, id);
        id
    }
}

/// Checks `ops` for linearizability per key (grouped by `invoke.key`, missing key = ""), each key
/// from `initial(key)`, and returns a [`CheckResult`] named `name`.
pub fn check_linearizable<M: Model>(
    name: &str,
    ops: &[Operation],
    initial: impl Fn(&str) -> M,
    budget: Budget,
) -> CheckResult {
    let start = Instant::now();
    let mut by_key: BTreeMap<String, Vec<Operation>> = BTreeMap::new();
    for op in ops {
        by_key
            .entry(op.invoke.key.clone().unwrap_or_default())
            .or_default()
            .push(op.clone());
    }
    let key_count = by_key.len();
    let mut verdicts = Vec::new();
    let mut per_key = serde_json::Map::new();
    let mut failures = Vec::new();
    let mut unknown = Vec::new();
    let mut total_steps = 0u64;
    for (done, (key, key_ops)) in by_key.iter().enumerate() {
        // Split what is left of the time budget evenly among the keys still to check.
        let deadline = budget.time.map(|time| {
            let left = time.saturating_sub(start.elapsed());
            let share = u32::try_from(key_count - done).unwrap_or(u32::MAX).max(1);
            Instant::now() + left / share
        });
        let outcome = check_operations(&initial(key), key_ops, budget.max_steps, deadline);
        total_steps += outcome.steps();
        verdicts.push(outcome.verdict());
        let mut summary = serde_json::json!({
            "verdict": outcome.verdict(),
            "ops": key_ops.len(),
            "steps": outcome.steps(),
        });
        match &outcome {
            Outcome::Linearizable { .. } => {}
            Outcome::Unknown { reason, .. } => {
                summary["reason"] = reason.clone().into();
                unknown.push(serde_json::json!({ "key": key, "reason": reason }));
            }
            Outcome::NotLinearizable { counterexample, .. } => {
                failures.push(failure_json(key, key_ops, counterexample));
            }
        }
        per_key.insert(key.clone(), summary);
    }
    let verdict = Verdict::all(verdicts);
    let mut details = serde_json::json!({
        "keys": key_count,
        "ops": ops.len(),
        "steps": total_steps,
        "elapsed_ms": u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        "per_key": per_key,
    });
    if !failures.is_empty() {
        details["failures"] = failures.into();
    }
    if !unknown.is_empty() {
        details["unknown"] = unknown.into();
    }
    CheckResult::new(name, verdict, details)
}

/// The report of one key's failure: the culprit, the tail of the longest partial linearization
/// and the operations concurrent with the culprit (a short window, nearest invokes first).
fn failure_json(key: &str, ops: &[Operation], cx: &Counterexample) -> serde_json::Value {
    let Some(culprit) = ops.get(cx.op) else {
        return serde_json::json!({ "key": key, "state": cx.state });
    };
    let interval = |op: &Operation| {
        let end = match (op.outcome(), &op.completion) {
            (EventType::Ok | EventType::Fail, Some(c)) => c.index,
            _ => u64::MAX,
        };
        (op.invoke.index, end)
    };
    let (start, end) = interval(culprit);
    let mut concurrent: Vec<&Operation> = ops
        .iter()
        .enumerate()
        .filter(|&(i, op)| {
            let (s, e) = interval(op);
            i != cx.op && op.outcome() != EventType::Fail && s <= end && e >= start
        })
        .map(|(_, op)| op)
        .collect();
    concurrent.sort_by_key(|op| op.invoke.index.abs_diff(start));
    let concurrent_total = concurrent.len();
    concurrent.truncate(2 * MAX_LISTED);
    concurrent.sort_by_key(|op| op.invoke.index);
    let prefix_start = cx.linearized.len().saturating_sub(MAX_LISTED);
    serde_json::json!({
        "key": key,
        "op": operation_json(culprit),
        "explanation": "no order of the operations concurrent with `op` explains its result; \
                        `linearized_tail` ends the longest partial linearization found, \
                        leaving the model in `state`",
        "state": cx.state,
        "linearized_count": cx.linearized.len(),
        "linearized_tail": cx.linearized[prefix_start..]
            .iter()
            .filter_map(|&i| ops.get(i).map(operation_json))
            .collect::<Vec<_>>(),
        "concurrent_count": concurrent_total,
        "concurrent": concurrent.into_iter().map(operation_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
/// Exhaustive reference for the linearizability checker: is there an order of all `ok` ops
/// and some `info`/never-completed ops that respects real time and the model?
pub(crate) fn brute_force<M: Model>(initial: &M, ops: &[Operation]) -> bool {
    let ops: Vec<&Operation> = ops
        .iter()
        .filter(|o| o.outcome() != EventType::Fail)
        .collect();
    let end = |o: &Operation| match (o.outcome(), &o.completion) {
        (EventType::Ok, Some(c)) => c.index,
        _ => u64::MAX,
    };
    fn go<M: Model>(
        ops: &[&Operation],
        end: &dyn Fn(&Operation) -> u64,
        used: &mut Vec<bool>,
        state: &M,
    ) -> bool {
        if ops
            .iter()
            .zip(used.iter())
            .all(|(o, &u)| u || o.outcome() != EventType::Ok)
        {
            return true;
        }
        for i in 0..ops.len() {
            // Next: an unused op no unused required op returned before.
            let blocked = (0..ops.len()).any(|j| {
                !used[j] && ops[j].outcome() == EventType::Ok && end(ops[j]) < ops[i].invoke.index
            });
            if used[i] || blocked {
                continue;
            }
            if let Some(next) = state.step(ops[i]) {
                used[i] = true;
                if go(ops, end, used, &next) {
                    return true;
                }
                used[i] = false;
            }
        }
        false
    }
    go(&ops, &end, &mut vec![false; ops.len()], initial)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::test_support::{Rng, H};
    use crate::history::pair;
    use serde_json::json;

    /// A read/write integer register: `write` {"v": n}, `read` ok {"v": n}.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    struct Register(i64);

    impl Model for Register {
        fn step(&self, op: &Operation) -> Option<Register> {
            match op.invoke.f.as_str() {
                "write" => op.invoke.value["v"].as_i64().map(Register),
                "read" => match op.completion.as_ref().filter(|c| c.kind == EventType::Ok) {
                    Some(c) => (c.value["v"].as_i64() == Some(self.0)).then(|| self.clone()),
                    None => Some(self.clone()),
                },
                _ => None,
            }
        }
    }

    fn run(h: &H) -> Outcome {
        check_operations(&Register(0), &pair(&h.events), None, None)
    }

    #[test]
    fn sequential_and_concurrent_register_histories() {
        let mut h = H::new();
        h.call(1, "write", "k", json!({"v": 1}), json!(null));
        h.call(1, "read", "k", json!(null), json!({"v": 1}));
        assert!(matches!(run(&h), Outcome::Linearizable { .. }));

        // Two concurrent writes; later reads see 2 then... 1 is impossible after 2 was read.
        let mut h = H::new();
        h.invoke(1, "write", "k", json!({"v": 1}));
        h.invoke(2, "write", "k", json!({"v": 2}));
        h.ok(1, "write", "k", json!(null))
            .ok(2, "write", "k", json!(null));
        h.call(3, "read", "k", json!(null), json!({"v": 1}));
        assert!(matches!(run(&h), Outcome::Linearizable { .. }));
        h.call(3, "read", "k", json!(null), json!({"v": 2}));
        match run(&h) {
            Outcome::NotLinearizable { counterexample, .. } => {
                // The culprit is the second read (position 3 in pair order).
                assert_eq!(counterexample.op, 3);
            }
            other => panic!("expected not linearizable, got {other:?}"),
        }
    }

    #[test]
    fn failed_ops_are_dropped_and_info_ops_are_optional() {
        let mut h = H::new();
        h.invoke(1, "write", "k", json!({"v": 5}))
            .fail(1, "write", "k", "X");
        h.call(2, "read", "k", json!(null), json!({"v": 0}));
        assert!(matches!(run(&h), Outcome::Linearizable { .. }));

        // An info write may take effect late (after a read that did not see it) ...
        let mut h = H::new();
        h.invoke(1, "write", "k", json!({"v": 7}))
            .info(1, "write", "k");
        h.call(2, "read", "k", json!(null), json!({"v": 0}));
        h.call(2, "read", "k", json!(null), json!({"v": 7}));
        assert!(matches!(run(&h), Outcome::Linearizable { .. }));
        // ... or never.
        let mut h = H::new();
        h.invoke(1, "write", "k", json!({"v": 7}));
        h.call(2, "read", "k", json!(null), json!({"v": 0}));
        assert!(matches!(run(&h), Outcome::Linearizable { .. }));
        // But not before its invoke.
        let mut h = H::new();
        h.call(2, "read", "k", json!(null), json!({"v": 7}));
        h.invoke(1, "write", "k", json!({"v": 7}))
            .info(1, "write", "k");
        assert!(matches!(run(&h), Outcome::NotLinearizable { .. }));
    }

    #[test]
    fn per_key_result_reports_the_failing_window() {
        let mut h = H::new();
        h.call(1, "write", "a", json!({"v": 1}), json!(null));
        h.invoke(2, "write", "b", json!({"v": 3}));
        h.call(1, "read", "b", json!(null), json!({"v": 4}));
        h.ok(2, "write", "b", json!(null));
        let result =
            check_linearizable("reg", &pair(&h.events), |_| Register(0), Budget::UNLIMITED);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["per_key"]["a"]["verdict"], "valid");
        let failure = &result.details["failures"][0];
        assert_eq!(failure["key"], "b");
        assert_eq!(failure["op"]["f"], "read");
        assert_eq!(failure["concurrent"][0]["f"], "write");
    }

    #[test]
    fn exhausted_step_budget_is_unknown() {
        // 14 concurrent acknowledged writes and a concurrent read of a value none wrote:
        // refuting it means trying the read after every subset of the writes.
        let mut h = H::new();
        for p in 0..14 {
            h.invoke(p, "write", "k", json!({"v": p + 1}));
        }
        h.invoke(100, "read", "k", json!(null));
        for p in 0..14 {
            h.ok(p, "write", "k", json!(null));
        }
        h.ok(100, "read", "k", json!({"v": 99}));
        let ops = pair(&h.events);
        let outcome = check_operations(&Register(0), &ops, Some(1_000), None);
        assert!(matches!(outcome, Outcome::Unknown { .. }), "{outcome:?}");
        let result = check_linearizable("reg", &ops, |_| Register(0), Budget::steps(1_000));
        assert_eq!(result.verdict, Verdict::Unknown);
        // Given enough steps it is decided.
        let outcome = check_operations(&Register(0), &ops, None, None);
        assert!(
            matches!(outcome, Outcome::NotLinearizable { .. }),
            "{outcome:?}"
        );
    }

    #[test]
    fn pending_indeterminate_writes_do_not_multiply_the_search() {
        // 40 concurrent indeterminate writes, then reads: refuting a read of a value none
        // wrote, or finding the one write a read needs, must not enumerate subsets of writes.
        for (read, linearizable) in [(17, true), (99, false)] {
            let mut h = H::new();
            for p in 0..40 {
                h.invoke(p, "write", "k", json!({ "v": p + 1 }));
            }
            h.call(100, "read", "k", json!(null), json!({ "v": 0 }));
            h.call(100, "read", "k", json!(null), json!({ "v": read }));
            let outcome = check_operations(&Register(0), &pair(&h.events), Some(20_000), None);
            let expected = if linearizable {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            assert_eq!(outcome.verdict(), expected, "{outcome:?}");
        }
    }

    #[test]
    fn agrees_with_brute_force_on_random_small_histories() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut valid, mut invalid) = (0, 0);
        for _ in 0..3_000 {
            let mut h = H::new();
            let mut busy: Vec<Option<&str>> = vec![None; 4];
            let mut process: Vec<u64> = vec![0, 1, 2, 3];
            let mut next_process = 4;
            let mut invoked = 0;
            while invoked < 9 || busy.iter().any(Option::is_some) {
                let p = rng.below(4) as usize;
                match busy[p] {
                    None if invoked < 9 => {
                        let f = if rng.below(2) == 0 { "write" } else { "read" };
                        h.invoke(process[p], f, "k", json!({"v": rng.below(3)}));
                        busy[p] = Some(f);
                        invoked += 1;
                    }
                    None => {}
                    Some(f) => {
                        match rng.below(10) {
                            0 | 1 => {
                                h.info(process[p], f, "k");
                                process[p] = next_process;
                                next_process += 1;
                            }
                            2 => {
                                h.fail(process[p], f, "k", "E");
                            }
                            _ => {
                                h.ok(process[p], f, "k", json!({"v": rng.below(3)}));
                            }
                        }
                        busy[p] = None;
                    }
                }
            }
            let ops = pair(&h.events);
            let expected = brute_force(&Register(0), &ops);
            let outcome = check_operations(&Register(0), &ops, None, None);
            assert_eq!(
                matches!(outcome, Outcome::Linearizable { .. }),
                expected,
                "{outcome:?} for {:#?}",
                h.events
            );
            if expected {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
        assert!(
            valid > 300 && invalid > 300,
            "{valid} valid, {invalid} invalid"
        );
    }
}

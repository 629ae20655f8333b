//! jepsen-lite: a Jepsen-style harness for Trent. It observes the system only through the
//! public KMS API and process/network control, records a history and checks it. One region of
//! three nodes, or two linked regions (`--regions 2`) for the multi-region key workload.
//!
//! Modules, lowest layer first (each uses only modules above it in this list, so there are no
//! import cycles; `tests/module_graph.rs` checks that):
//!
//! | module | Jepsen's | holds |
//! |---|---|---|
//! | [`history`] | history | event and operation types, the JSONL writer and reader |
//! | [`topology`] | net | loopback / netns placement, netns partitions |
//! | [`proxy`] | net | loopback TCP proxies in front of each node's Raft port (`lag-follower`) |
//! | [`client`] | client (transport) | raw SigV4 KMS client and the ok / fail / info rules |
//! | [`generator`] | generator | seeded op streams and the workload names |
//! | [`recorder`] | interpreter (journal) | the one history writer and clock of a run |
//! | [`checker`] | checker | history → valid / invalid / unknown, and [`checker::compose`] |
//! | [`db`] | db | the `trent serve` processes: configs, start, kill, pause, heal |
//! | [`nemesis`] | nemesis | fault kinds, the fault/heal loop, catch-up probes |
//! | [`workload`] | client + interpreter | what each op sends, the workers, setup, final reads |
//! | [`report`] | checker/perf, timeline | `report.html` and the verdict table |
//! | [`store`] | store | run directories |
//! | [`runner`] | core/run! | one `jl run`: the sequence of the above |
//! | [`live`] | nemesis (by hand) | `jl nemesis`: faults on a running `trent up` cluster |
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod checker;
pub mod client;
pub mod db;
pub mod generator;
pub mod history;
pub mod live;
pub mod nemesis;
pub mod proxy;
pub mod recorder;
pub mod report;
pub mod runner;
pub mod store;
pub mod topology;
pub mod workload;

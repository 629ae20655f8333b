//! The fault injector. It alternates heal and fault windows (default 5 s each) until the
//! workload's deadline. Which fault comes next is drawn from the seed: the requested kinds are
//! shuffled into a bag and drawn without replacement, so every kind is installed once per
//! `kinds` windows (which keeps the coverage check meaningful on short runs).
//!
//! Process faults (both topologies): `kill` (SIGKILL one random node), `pause` (SIGSTOP one
//! random node), `kill-leader`, `pause-leader`, `kill-majority` (two of three), `kill-all`,
//! `kill-follower` (SIGKILL a random node that is not the leader; skipped without a leader). A
//! heal resumes every paused node and restarts every dead one (same config and data).
//!
//! Catch-up probes (`crate::catch_up`): before a kill the nemesis reads each victim's
//! `/raft/status` (its `last_log_index`, so the probe can tell whether it needed a snapshot);
//! after every heal it starts one probe per node the heal touched, which records a `catch_up`
//! harness event. A probe still running when the next fault is installed ends `interrupted`.
//! [`Nemesis::run`](injector::Nemesis::run) hands the running probes back to the runner, which waits for them.
//!
//! Each fault is recorded as `info` events from `process = "nemesis"`: `start_<kind>` when
//! installed (value `{"nodes": [...], "status": "installed" | "skipped"}`) and `stop_<kind>`
//! when healed (value `{"nodes": [healed nodes], "status": "installed"}`). `<kind>` uses
//! underscores: `start_kill_leader`.
//!
//! Partitions (`--topology netns` only; see `topology`): `partition-isolate-leader` (the leader
//! cut from both followers), `partition-isolate-follower` (one follower cut from the others),
//! `partition-bridge` (one node sees both others, which cannot see each other),
//! `partition-ring` (one-way ring: each node drops packets from the next one). Clients can
//! still reach every node. They are recorded as `start_partition` (value `{"nodes": [affected],
//! "status", "shape": "isolate-leader" | ..., "grudge": {"n1": ["n2", "n3"], ...}}`, grudge =
//! node -> peers whose packets it drops) and `stop_partition` at the heal; coverage counts
//! them per shape (`partition_isolate_leader`, ...).
//!
//! `clock-skew` (both topologies): writes seeded random offsets to the clock-offset files of
//! one or more nodes (`TRENT_TEST_CLOCK_OFFSET_FILE`, read by a `testing` build of the server on
//! every reading of its service clock: CreationDate, deletion dates, rotation schedules; not
//! SigV4). Mostly up to ±10 minutes, one offset in four up to ±3 days. The heal resets every
//! file to 0. Recorded as `start_clock_skew` / `stop_clock_skew` with `"offsets_ms": {"n1":
//! -123456, ...}` (the stop event lists the reset offsets, all 0).
//!
//! With two regions (`--regions 2`) every process fault first draws (from the seed) the region
//! it hits: `kill`/`pause` hit a random node of that region, `kill-leader`/`pause-leader` its
//! leader, `kill-majority` two of its three nodes, partitions and packet loss are among its
//! nodes; `kill-all` kills all six nodes and `clock-skew` skews any of the six. Their `start_*`
//! events then carry `"region"`.
//!
//! `region-split` (`--regions 2` only, both topologies): cuts the link between the regions
//! through the nodes' link fault files (`TRENT_TEST_LINK_FAULT_FILE`; a cut node neither sends
//! to nor accepts from the other region): the seed picks whether us-east-1's nodes, us-west-2's,
//! or both are cut (each is a full split). The heal empties every file. Recorded as
//! `start_region_split` / `stop_region_split` with `"cut_regions": ["us-east-1"]`; coverage
//! counts `region_split`. Clients still reach every node of both regions.
//!
//! `packet-loss` (`--topology netns` only): one or more nodes each drop a random
//! [`PACKET_LOSS_PERCENT`](fault::PACKET_LOSS_PERCENT)% of the input packets from both peers (nft `numgen random`, in the
//! partitions' `table inet jl`; healed with them). Recorded as `start_packet_loss` /
//! `stop_packet_loss` with `"percent"` and `"lossy": {"n1": ["n2", "n3"], ...}` (node -> peers
//! whose packets it thins).

//!
//! `lag-follower` (both topologies): a random follower of a (seeded) region gets no Raft
//! traffic from its peers until the heal, so it falls behind while its API still answers
//! (loopback: its Raft proxy blackholes, see `crate::proxy`; netns: its namespace drops its
//! peers' packets). Recorded as `start_lag_follower` / `stop_lag_follower` with `"leader"` and
//! `"mechanism": "proxy" | "nft"`; skipped without a leader.
//!
//! `wipe-follower` (both topologies): a random follower is SIGKILLed and its Raft store deleted
//! (RocksDB's files and the snapshot files; its config, sealed root key and audit trail stay,
//! as with a replaced disk). The heal restarts it empty, as the same member; the leader, whose
//! log is purged behind its snapshot, streams it the snapshot. Recorded as
//! `start_wipe_follower` / `stop_wipe_follower`; the catch-up probes check it comes back.
//!
//! `membership` (both topologies): changes the membership of a (seeded) region through its
//! leader's `/raft/members`, with the operator certificate, as `trent cluster` does. The seed
//! picks a live follower and an action: `remove` takes it out of the region while it keeps
//! running; `replace` takes it out, SIGKILLs it and deletes its Raft store (a dead disk; never
//! the region's bootstrap node, which would form a region of its own). The heal restarts it
//! and adds it back (`/raft/members/add`: a learner, then a voter once caught up, retried
//! through leader changes for up to 150 s). Recorded as `start_membership` (`"action"`,
//! `"leader"`, `"voters"` after the removal) and `stop_membership` (`"voters"` after the
//! re-add, `"status": "failed"` with `"error"` if it could not be made); the `membership`
//! checker judges that the node is a voter again, `catch_up` that it caught up.
//!
//! Files: [`fault`] (the kinds), [`injector`] (the loop that installs and heals them) and
//! [`catch_up`] (the probes after each heal).

pub mod catch_up;
pub mod fault;
pub mod injector;

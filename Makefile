# Trent's make targets. `make run` and `make test` are the two set-up commands.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/trent-target
BIN := $(CARGO_TARGET_DIR)/debug

.PHONY: run test build deps verify fix bench clean-data jepsen jepsen-smoke jepsen-partitions jepsen-multi-region jepsen-planted-stale-reads jepsen-planted-ack-before-commit jepsen-planted-smoke jepsen-regression-snapshot-install jepsen-regression-paused-leader jepsen-wipe-follower jepsen-membership fuzz

# Install what a fresh Debian machine lacks (RocksDB's bindgen needs libclang).
deps:
	@bash cluster/install-deps.sh

# One build of everything (binaries, tests, benches) in the one profile we use, then the test
# build `trent-test` (the test hooks: kms-server's `testing` feature) in a cargo invocation of
# its own, so the feature never reaches `trent`; the build fails if `trent` names a hook.
build: deps
	cargo build --workspace --all-targets
	cargo build -p kms-server --features testing --bin trent-test
	bash cluster/check-shipped-binary.sh $(BIN)/trent

run: build
	$(BIN)/trent up --data-dir data

test: build
	cargo test --workspace --all-targets
	$(MAKE) --no-print-directory jepsen-smoke
	$(MAKE) --no-print-directory jepsen-planted-smoke
	$(MAKE) --no-print-directory jepsen-wipe-follower
	$(MAKE) --no-print-directory jepsen-membership

# Static gates: formatting, the crypto-backend boundary, no module import cycles, unused dependencies, licences/bans/
# sources (and advisories where a local database exists), lints, and warning-free docs.
verify: deps
	cargo fmt --all -- --check
	bash cluster/check-crypto-backend.sh
	python3 cluster/check-module-cycles.py
	cargo machete
	bash cluster/check-deps.sh
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p kms-server --features testing --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

fix:
	cargo fmt --all

bench: build
	$(BIN)/trent-bench --trent $(BIN)/trent --peers --out bench-results.json

clean-data:
	rm -rf data

# jepsen-lite (loopback mode): a 3-node region under process faults, all three workloads,
# checked histories; exit 0 valid / 1 invalid / 2 unknown. Runs land in jepsen-lite/store/.
# `make jepsen` then also runs the two-region multi-region-key scenario (jepsen-multi-region)
# and fails if either run is not valid.
JEPSEN_STORE ?= jepsen-lite/store
# Runs that need the server's test hooks (planted bugs, the clock-offset file of clock-skew, the
# link fault file of region-split) use the test-only build of the server; the others use `trent`,
# the binary users run.
TRENT_TEST ?= $(BIN)/trent-test
comma := ,
JEPSEN_MRK_NEMESIS := region-split,kill,pause,kill-leader
JEPSEN_MRK_RUN = $(BIN)/jl run --regions 2 --workload multi-region --nemesis $(JEPSEN_MRK_NEMESIS) --time 90 --trent $(TRENT_TEST) --store $(JEPSEN_STORE)
JEPSEN_MRK_REPORT = $(JEPSEN_STORE)/multi-region-$(subst $(comma),+,$(JEPSEN_MRK_NEMESIS))/latest/report.html

jepsen: build
	$(BIN)/jl run --workload all --nemesis kill,pause,kill-leader,kill-majority,kill-all,clock-skew,membership --time 120 --trent $(TRENT_TEST) --store $(JEPSEN_STORE); \
	first=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/all-kill+pause+kill-leader+kill-majority+kill-all+clock-skew+membership/latest/report.html"; \
	$(JEPSEN_MRK_RUN); \
	second=$$?; echo "jepsen-lite report (two regions): $(JEPSEN_MRK_REPORT)"; \
	if [ $$first -ne 0 ]; then exit $$first; fi; exit $$second

# Two linked regions (us-east-1, us-west-2; 3 nodes each) and the multi-region key workload
# under region splits and process faults in either region (loopback; ~2 minutes).
jepsen-multi-region: build
	$(JEPSEN_MRK_RUN); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_MRK_REPORT)"; exit $$status

jepsen-smoke: build
	$(BIN)/jl run --workload all --nemesis kill,pause,kill-leader --time 30 --trent $(BIN)/trent --store $(JEPSEN_STORE); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/all-kill+pause+kill-leader/latest/report.html"; exit $$status

# jepsen-lite netns mode: one network namespace per node (10.77.77.0/24, bridge jl-br0) and
# nftables partitions and packet loss. Needs root, iproute2 and nftables; not part of `make test`.
JEPSEN_PARTITIONS := partition-isolate-leader,partition-isolate-follower,partition-bridge,partition-ring,packet-loss,kill,pause-leader
jepsen-partitions: build
	$(BIN)/jl run --topology netns --workload all --nemesis $(JEPSEN_PARTITIONS) --time 90 --trent $(BIN)/trent --store $(JEPSEN_STORE); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/all-$(subst $(comma),+,$(JEPSEN_PARTITIONS))/latest/report.html"; exit $$status

# Planted bugs (hooks of the test-only server build): each run must make its bug's checker come
# out INVALID. `--expect-invalid CHECK` makes jl exit 0 only if that check is invalid (any other
# failing check does not count as catching the bug), so a blind checker fails the target.
# - stale-reads: reads skip the read-index barrier. lag-follower blackholes every peer's Raft
#   traffic to one follower (loopback: through its Raft proxy), which falls behind for the whole
#   fault window while it still answers reads (three 5 s windows), so its reads are stale
#   however fast the machine is; `linearizable` must catch them.
# - ack-before-commit: CreateKey answers 200 ms before it writes; four kills (leader or any node)
#   each lose the creates the victim acknowledged in its last 200 ms; `set_full` must see them lost.
# - jepsen-planted-smoke (part of `make test`, ~40 s): both bugs and both faults in one run;
#   fails unless both linearizable and set_full are invalid.
JEPSEN_PLANTED_STALE = $(BIN)/jl run --workload key-state --nemesis lag-follower --time 25 --heal-window 3 --fault-window 5 --seed 7 --trent $(TRENT_TEST) --store $(JEPSEN_STORE) --planted-bug stale-reads --expect-invalid linearizable
JEPSEN_PLANTED_ACK = $(BIN)/jl run --workload create-set --nemesis kill-leader,kill --time 25 --heal-window 3 --fault-window 3 --seed 7 --trent $(TRENT_TEST) --store $(JEPSEN_STORE) --planted-bug ack-before-commit --expect-invalid set_full
JEPSEN_PLANTED_SMOKE = $(BIN)/jl run --workload key-state,create-set --nemesis lag-follower,kill-leader --time 20 --heal-window 3 --fault-window 4 --seed 7 --trent $(TRENT_TEST) --store $(JEPSEN_STORE) --planted-bug stale-reads,ack-before-commit --expect-invalid linearizable,set_full

jepsen-planted-stale-reads: build
	$(JEPSEN_PLANTED_STALE); \
	status=$$?; if [ $$status -eq 0 ]; then echo "planted stale-reads bug caught"; else echo "planted stale-reads bug NOT caught (exit $$status)"; exit 1; fi

jepsen-planted-ack-before-commit: build
	$(JEPSEN_PLANTED_ACK); \
	status=$$?; if [ $$status -eq 0 ]; then echo "planted ack-before-commit bug caught"; else echo "planted ack-before-commit bug NOT caught (exit $$status)"; exit 1; fi

jepsen-planted-smoke: build
	$(JEPSEN_PLANTED_SMOKE); \
	status=$$?; if [ $$status -eq 0 ]; then echo "planted bugs caught"; else echo "planted bugs NOT caught (exit $$status)"; exit 1; fi

# Regression runs, one per real bug jepsen-lite found (both fixed in kms-raft): each must come
# out valid (exit 0), and would be INVALID (exit 1) if its bug came back. ~1 minute each.
# - snapshot install refused: a 413 from the 2 MB default body limit on /raft/* kept a node that
#   needed a multi-megabyte snapshot from ever rejoining. big-keys grows the state by ~38 KB per
#   key; kill-follower keeps a follower down for 25 s while >5 MB is written; it must catch up
#   (catch_up, which is unknown unless a restarted node really needed a snapshot of >= 5 MB).
# - paused leader stalls reads everywhere: with the leader SIGSTOPped, the other nodes waited the
#   full 5 s forwarding timeout. With a 1 s request timeout every stalled op is a timeout, which
#   availability_during_pause flags once the election has had 2.6 s.
JEPSEN_REGRESSION_SNAPSHOT = $(BIN)/jl run --workload key-state,big-keys --nemesis kill-follower --time 45 --heal-window 5 --fault-window 25 --snapshot-after-entries 100 --concurrency 6 --rate 30 --seed 1 --expect-snapshot-mb 5 --trent $(BIN)/trent --store $(JEPSEN_STORE)
JEPSEN_REGRESSION_PAUSE = $(BIN)/jl run --workload key-state,crypto --nemesis pause-leader --time 45 --heal-window 3 --fault-window 6 --request-timeout 1 --failover-latency 1 --seed 1 --trent $(BIN)/trent --store $(JEPSEN_STORE)

# A wiped follower (`wipe-follower`): SIGKILL a follower, delete its Raft store (log, vote,
# snapshot files), restart it empty at the heal. With a snapshot every 100 entries the leader has
# purged the log it lacks, so it must catch up from a streamed snapshot; catch_up checks that it
# does, and the usual checkers that nothing acknowledged was lost. ~45 s; part of `make test`.
JEPSEN_WIPE_FOLLOWER = $(BIN)/jl run --workload key-state,create-set --nemesis wipe-follower --time 30 --heal-window 5 --fault-window 6 --snapshot-after-entries 100 --seed 3 --trent $(BIN)/trent --store $(JEPSEN_STORE)

jepsen-wipe-follower: build
	$(JEPSEN_WIPE_FOLLOWER); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/key-state,create-set-wipe-follower/latest/report.html"; exit $$status

# Membership changes under load (`membership`): the leader removes a follower, which keeps
# running, or removes one whose disk is then wiped; the heal adds it back as an operator would
# (`/raft/members/add`). `membership` checks each node is a voter again, `catch_up` that it
# caught up (a wiped one from a snapshot), the workload checkers that nothing acknowledged was
# lost. ~45 s; part of `make test`.
JEPSEN_MEMBERSHIP = $(BIN)/jl run --workload key-state,create-set --nemesis membership --time 30 --heal-window 4 --fault-window 5 --snapshot-after-entries 100 --seed 11 --trent $(BIN)/trent --store $(JEPSEN_STORE)

jepsen-membership: build
	$(JEPSEN_MEMBERSHIP); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/key-state,create-set-membership/latest/report.html"; exit $$status

jepsen-regression-snapshot-install: build
	$(JEPSEN_REGRESSION_SNAPSHOT); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/key-state,big-keys-kill-follower/latest/report.html"; exit $$status

jepsen-regression-paused-leader: build
	$(JEPSEN_REGRESSION_PAUSE); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/key-state,crypto-pause-leader/latest/report.html"; exit $$status

# Fuzz the request front end with cargo-fuzz (fuzz/README.md): each target for FUZZ_SECONDS, one
# after another, one summary line each; fails if any target finds a crash. Needs the nightly
# toolchain; builds in its own target dir. Not part of `make test`.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= sigv4 router policy request_json
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_TARGET_DIR=$(HOME)/.cache/trent-target-fuzz bash fuzz/scripts/run.sh

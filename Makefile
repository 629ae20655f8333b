# Trent's make targets. `make run` and `make test` are the two set-up commands.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/trent-target
BIN := $(CARGO_TARGET_DIR)/debug

.PHONY: run test build deps verify fix bench clean-data jepsen jepsen-smoke jepsen-partitions jepsen-planted-stale-reads jepsen-planted-ack-before-commit

# Install what a fresh Debian machine lacks (RocksDB's bindgen needs libclang).
deps:
	@bash cluster/install-deps.sh

# One build of everything (binaries, tests, benches) in the one profile we use.
build: deps
	cargo build --workspace --all-targets

run: build
	$(BIN)/trent up --data-dir data

test: build
	cargo test --workspace --all-targets
	$(MAKE) --no-print-directory jepsen-smoke

verify: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fix:
	cargo fmt --all

bench: build
	$(BIN)/trent-bench --trent $(BIN)/trent --out bench-results.json

clean-data:
	rm -rf data

# jepsen-lite (loopback mode): a 3-node region under process faults, all three workloads,
# checked histories; exit 0 valid / 1 invalid / 2 unknown. Runs land in jepsen-lite/store/.
JEPSEN_STORE ?= jepsen-lite/store
comma := ,

jepsen: build
	$(BIN)/jl run --workload all --nemesis kill,pause,kill-leader,kill-majority,kill-all,clock-skew --time 120 --trent $(BIN)/trent --store $(JEPSEN_STORE); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/all-kill+pause+kill-leader+kill-majority+kill-all+clock-skew/latest/report.html"; exit $$status

jepsen-smoke: build
	$(BIN)/jl run --workload all --nemesis kill,pause,kill-leader --time 30 --trent $(BIN)/trent --store $(JEPSEN_STORE); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/all-kill+pause+kill-leader/latest/report.html"; exit $$status

# jepsen-lite netns mode: one network namespace per node (10.77.77.0/24, bridge jl-br0) and
# nftables partitions and packet loss. Needs root, iproute2 and nftables; not part of `make test`.
JEPSEN_PARTITIONS := partition-isolate-leader,partition-isolate-follower,partition-bridge,partition-ring,packet-loss,kill,pause-leader
jepsen-partitions: build
	$(BIN)/jl run --topology netns --workload all --nemesis $(JEPSEN_PARTITIONS) --time 90 --trent $(BIN)/trent --store $(JEPSEN_STORE); \
	status=$$?; echo "jepsen-lite report: $(JEPSEN_STORE)/all-$(subst $(comma),+,$(JEPSEN_PARTITIONS))/latest/report.html"; exit $$status

# Planted bugs (server `testing` feature): each run must come out INVALID (exit 1), which these
# targets turn into success; a valid or unknown verdict means the checkers missed the bug.
jepsen-planted-stale-reads: build
	$(BIN)/jl run --workload key-state --nemesis kill,pause --time 30 --seed 7 --trent $(BIN)/trent --store $(JEPSEN_STORE) --planted-bug stale-reads; \
	status=$$?; if [ $$status -eq 1 ]; then echo "planted stale-reads bug caught"; else echo "planted stale-reads bug NOT caught (exit $$status)"; exit 1; fi

jepsen-planted-ack-before-commit: build
	$(BIN)/jl run --workload create-set --nemesis kill-leader,kill --time 30 --seed 7 --trent $(BIN)/trent --store $(JEPSEN_STORE) --planted-bug ack-before-commit; \
	status=$$?; if [ $$status -eq 1 ]; then echo "planted ack-before-commit bug caught"; else echo "planted ack-before-commit bug NOT caught (exit $$status)"; exit 1; fi

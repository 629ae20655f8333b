# Trent's make targets. `make run` and `make test` are the two set-up commands.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/trent-target
BIN := $(CARGO_TARGET_DIR)/debug

.PHONY: run test build deps verify fix bench clean-data

# Install what a fresh Debian machine lacks (RocksDB's bindgen needs libclang).
deps:
	@bash cluster/install-deps.sh

# One build of everything (binaries, tests, benches) in the one profile we use.
build: deps
	cargo build --workspace --all-targets

run: build
	$(BIN)/trent up --cluster-dir cluster --data-dir data

test: build
	cargo test --workspace --all-targets

verify: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fix:
	cargo fmt --all

bench: build
	$(BIN)/trent-bench --trent $(BIN)/trent --out bench-results.json

clean-data:
	rm -rf data

#!/usr/bin/env bash
# `make fuzz`: runs each cargo-fuzz target for FUZZ_SECONDS, one after another, prints one summary
# line per target and exits non-zero if any target found a crash (libFuzzer exits non-zero).
#
#   FUZZ_SECONDS     libFuzzer's -max_total_time per target (default 60)
#   FUZZ_TARGETS     which targets (default: sigv4 router policy request_json)
#   FUZZ_TARGET_DIR  the cargo target dir for fuzz builds (default ~/.cache/trent-target-fuzz;
#                    nightly + sanitizer flags, so never the main build's target dir)
#
# New inputs libFuzzer finds go to $FUZZ_TARGET_DIR/fuzz-corpus/<target> (kept between runs), so
# the checked-in seeds in fuzz/corpus/<target> stay small; crash reproducers go to
# fuzz/artifacts/<target>/ (cargo-fuzz's default) and full logs to $FUZZ_TARGET_DIR/fuzz-logs/.
set -uo pipefail

cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-sigv4 router policy request_json}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/trent-target-fuzz}

if ! command -v rustup >/dev/null 2>&1 || ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "make fuzz: needs the nightly Rust toolchain (cargo-fuzz builds with -Zsanitizer)." >&2
    echo "           Install it with: rustup toolchain install nightly" >&2
    exit 2
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "make fuzz: installing cargo-fuzz"
    env -u CARGO_TARGET_DIR cargo install cargo-fuzz --locked ||
        env -u CARGO_TARGET_DIR cargo install cargo-fuzz || {
        echo "make fuzz: could not install cargo-fuzz (cargo install cargo-fuzz)" >&2
        exit 2
    }
fi

echo "make fuzz: building ${targets// /, } (target dir $CARGO_TARGET_DIR)"
for target in $targets; do
    cargo +nightly fuzz build "$target" || {
        echo "make fuzz: building $target failed" >&2
        exit 2
    }
done

logs=$CARGO_TARGET_DIR/fuzz-logs
mkdir -p "$logs"
failed=()
summaries=()
for target in $targets; do
    corpus=$CARGO_TARGET_DIR/fuzz-corpus/$target
    log=$logs/$target.log
    mkdir -p "$corpus"
    echo "make fuzz: running $target for ${seconds}s (log: $log)"
    started=$(date +%s)
    cargo +nightly fuzz run "$target" "$corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 >"$log" 2>&1
    status=$?
    elapsed=$(( $(date +%s) - started ))
    stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 |
        grep -oE 'cov: [0-9]+|corp: [0-9]+' | tr '\n' ' ' | sed 's/ $//')
    if [ "$status" -eq 0 ]; then
        done_line=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second\(s\)' "$log" | tail -n 1)
        runs=$(sed -E 's/Done ([0-9]+) runs in ([0-9]+) .*/\1 runs in \2 s/' <<<"$done_line")
        summaries+=("$target: ok, ${runs:-? runs}, $stats (wall ${elapsed}s)")
    else
        failed+=("$target")
        what=$(grep -m 1 -A 1 'panicked at' "$log" | tr '\n' ' ')
        [ -n "$what" ] || what=$(grep -m 1 -E '^==[0-9]+== ?ERROR|ERROR: libFuzzer' "$log")
        artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/Test unit written to //')
        summaries+=("$target: CRASH (exit $status) after ${elapsed}s: ${what:-see log}; reproducer: ${artifact:-none}; log: $log")
    fi
    echo "  ${summaries[-1]}"
done

echo
echo "make fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summaries[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "make fuzz: crash found in: ${failed[*]} (reproduce: cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>)" >&2
    exit 1
fi

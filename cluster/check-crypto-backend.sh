#!/usr/bin/env bash
# Architecture invariant 2: kms-crypto is the only crate that names the crypto backend.
# Fails, listing each place, when the code (comments are skipped) of any other crate of ours
# names it: in Rust source `aws_lc_rs`, `aws_lc_sys` or a `ring::` path; in a Cargo.toml
# `aws-lc-rs`, `aws-lc-sys` (either spelling) or a dependency or feature `ring`.
# The workspace Cargo.toml is not a crate: it pins the versions and features kms-crypto uses.
set -euo pipefail
cd "$(dirname "$0")/.."
backend='aws[-_]lc[-_](rs|sys)'
offenders=0
report() {
  while IFS= read -r hit; do
    echo "$hit"
    offenders=$((offenders + 1))
  done
}
# Every crate of ours but kms-crypto: each tracked directory holding a Cargo.toml.
while IFS= read -r manifest; do
  dir=$(dirname "$manifest")
  report < <(sed -E 's/#.*$//' "$manifest" | grep -nE "$backend|(^|[^A-Za-z0-9_-])ring([^A-Za-z0-9_-]|$)" | sed "s|^|$manifest:|" || true)
  while IFS= read -r source; do
    report < <(sed -E 's|//.*$||' "$source" | grep -nE "$backend|(^|[^A-Za-z0-9_])ring::" | sed "s|^|$source:|" || true)
  done < <(git ls-files --cached --others --exclude-standard -- "$dir/*.rs")
done < <(git ls-files --cached --others --exclude-standard -- '*Cargo.toml' ':!:Cargo.toml' ':!:crates/kms-crypto/*')
if [ "$offenders" -gt 0 ]; then
  echo "check-crypto-backend: $offenders place(s) outside kms-crypto name the crypto backend" >&2
  exit 1
fi
echo "check-crypto-backend: only kms-crypto names the crypto backend"

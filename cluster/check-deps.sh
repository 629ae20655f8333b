#!/usr/bin/env bash
# cargo-deny (deny.toml): licences, bans and sources on every run. Advisories need the RustSec
# advisory database, a GitHub repository this workplace cannot fetch: they are checked against a
# local copy when one exists (TRENT_ADVISORY_DB, else cargo-deny's $CARGO_HOME/advisory-dbs),
# and otherwise this says plainly that they were not checked.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo deny check licenses bans sources
db_root=${TRENT_ADVISORY_DB:-${CARGO_HOME:-$HOME/.cargo}/advisory-dbs}
if compgen -G "$db_root/*/crates" >/dev/null; then
  echo "checking advisories against the local database in $db_root"
  cargo deny check --disable-fetch advisories
else
  echo "ADVISORIES NOT CHECKED: no local RustSec advisory database under $db_root, and it cannot be"
  echo "fetched here (it is a git repository, not a package). Put a clone of the RustSec advisory-db there, or"
  echo "point TRENT_ADVISORY_DB at a directory holding one, to check them."
fi

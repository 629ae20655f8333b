#!/usr/bin/env bash
# Fails if the `trent` binary that users run names any test hook: the hooks live only in
# `trent-test` (kms-server's `testing` feature). Usage: check-shipped-binary.sh PATH/TO/trent
set -euo pipefail
binary=$1
found=0
for hook in TRENT_PLANTED_BUG TRENT_TEST_CLOCK_OFFSET_FILE TRENT_TEST_LINK_FAULT_FILE \
  TRENT_TEST_RAFT_WIRE_VERSION TRENT_TEST_LINK_WIRE_VERSION; do
  if grep -qaF "$hook" "$binary"; then
    echo "error: $binary contains the test hook $hook (the testing feature reached it)" >&2
    found=1
  fi
done
exit $found

#!/usr/bin/env bash
# Keeps the shared cargo target dir from filling the disk. Runs reuse one target dir outside the
# clone, and it only grows: incremental caches for every clone's path, stale dependency builds.
# A full disk kills the linker (SIGBUS) half-way through a build. When the target dir's
# filesystem has less than TRENT_MIN_FREE_GIB free (default 25), drop the incremental caches;
# if that is not enough, drop the whole target dir (the next build is cold, 20-25 minutes).
set -euo pipefail
target="${CARGO_TARGET_DIR:?CARGO_TARGET_DIR must be set}"
min_gib="${TRENT_MIN_FREE_GIB:-25}"
[ -d "$target" ] || exit 0
free_gib() { df -P -BG "$target" | awk 'NR == 2 { sub("G", "", $4); print $4 }'; }
if [ "$(free_gib)" -ge "$min_gib" ]; then
  exit 0
fi
echo "prune-target: $(free_gib) GiB free (< $min_gib); removing incremental caches"
rm -rf "$target"/*/incremental
if [ "$(free_gib)" -lt "$min_gib" ]; then
  echo "prune-target: still $(free_gib) GiB free; removing $target (the next build is cold)"
  rm -rf "$target"
  mkdir -p "$target"
fi
echo "prune-target: $(free_gib) GiB free"

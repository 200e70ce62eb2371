#!/usr/bin/env bash
# The soak: the fault suite at full size (1,000 kills; 4 producers x 25,000 rows with a 30 s lock
# holder; 10,000 rows through each network and Target fault; 100,000 hostile rows), in a release
# build, one case at a time. Prints each case's figures; the whole log goes to the file named by
# the first argument (default soak.log). Needs root for the full-disk case (it mounts a tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
log=${1:-soak.log}
start=$(date +%s)
PROFILE_OUTBOX_SOAK=1 cargo test --release --locked --test daemon faults:: -- --nocapture --test-threads=1 \
    >"$log" 2>&1 || { grep -E "^fault case|panicked|FAILED|test result" "$log"; exit 1; }
grep -E "^fault case|SKIPPED|test result" "$log"
echo "soak finished in $(( $(date +%s) - start )) s"

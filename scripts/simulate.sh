#!/usr/bin/env bash
# The simulation soak: many seeded histories (default 10,000) in a release build, all invariants
# checked, a line per invariant with how many histories broke it. Arguments: how many histories
# (default 10000) and the first seed (default 1). See docs/simulation.md.
set -euo pipefail
cd "$(dirname "$0")/.."
histories=${1:-10000}
first=${2:-1}
start=$(date +%s)
SIM_HISTORIES=$histories SIM_FIRST_SEED=$first \
    cargo test --release --locked --test simulation seeded -- --nocapture
echo "simulation soak: $histories histories from seed $first in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# How long `plainsight demo` takes after the build (target: under 20 s on 2 cores).
# Usage (as root): scripts/bench-demo.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
runs=${1:-3}
for i in $(seq "$runs"); do
  out=$(mktemp -d)
  /usr/bin/time -f "run $i: %e s wall, %U s user, %S s system, peak %M KiB" \
    target/release/plainsight demo --quiet --lab plainsight-bench --out "$out" > /dev/null
  rm -rf "$out"
done

#!/usr/bin/env bash
# The hand-written JSON writer (src/analysis/report/json.rs) against serde_json's and
# sonic-rs's own writers, on a busy gateway's capture with `analyze --format jsonl
# --reveal` (every record and every finding): three builds of the same source (features
# json-serde, json-sonic), run in turns, round after round; best CPU time (user + system)
# of each, and whether their outputs are byte for byte the same.
# Usage: scripts/bench-json.sh [TRANSACTIONS] [TLS] [DIR]   (RUNS=5 rounds by default)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}; T=${2:-10000}; DIR=${3:-$(mktemp -d)}; RUNS=${RUNS:-5}
command -v /usr/bin/time >/dev/null || { echo "bench-json: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
declare -A BIN=([hand]=target/release/plainsight [serde_json]=target/bench-json-serde/release/plainsight [sonic-rs]=target/bench-json-sonic/release/plainsight)
cargo build --release --quiet --locked
cargo build --release --quiet --locked --features json-serde --target-dir target/bench-json-serde
cargo build --release --quiet --locked --features json-sonic --target-dir target/bench-json-sonic
FILE=$DIR/busy-$N-$T.pcap
[ -f "$FILE" ] || ${BIN[hand]} synth --out "$FILE" --transactions "$N" --tls "$T" --interleave 5000 --spread
echo "capture: $FILE ($(($(stat -c %s "$FILE") / 1048576)) MiB), $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
declare -A BEST
for round in $(seq "$RUNS"); do
  for w in hand serde_json sonic-rs; do
    /usr/bin/time -f '%U %S' -o "$DIR/t" "${BIN[$w]}" analyze "$FILE" --format jsonl --reveal >"$DIR/out-$w"
    cpu=$(awk '{printf "%.2f", $1 + $2}' "$DIR/t")
    if [ -z "${BEST[$w]:-}" ] || awk -v a="$cpu" -v b="${BEST[$w]}" 'BEGIN{exit !(a < b)}'; then BEST[$w]=$cpu; fi
  done
done
for w in serde_json sonic-rs; do
  if cmp -s "$DIR/out-hand" "$DIR/out-$w"; then same="identical"; else same="DIFFERENT ($(cmp "$DIR/out-hand" "$DIR/out-$w" | head -1))"; fi
  echo "output of $w: $same"
done
echo "lines: $(wc -l <"$DIR/out-hand"), bytes: $(stat -c %s "$DIR/out-hand")"
for w in hand serde_json sonic-rs; do
  awk -v w="$w" -v c="${BEST[$w]}" -v h="${BEST[hand]}" 'BEGIN{printf "%-10s best CPU %6.2f s  (%.2fx the hand-written writer)\n", w, c, c / h}'
done

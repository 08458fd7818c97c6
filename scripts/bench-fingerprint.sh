#!/usr/bin/env bash
# Times `plainsight fingerprint` in a lab of its own (root): learning every article (3 loads
# each, from the intruder host), evaluating 50 visits, guessing the evaluation's capture
# again with `guess`, plainly and with the site padding. Prints one line per figure; the
# figures go to docs/performance.md. Usage: scripts/bench-fingerprint.sh [VISITS]
set -Eeuo pipefail
cd "$(dirname "$0")/.."
VISITS=${1:-50}
LAB=psbench-fp
P=./target/release/plainsight
[ -x $P ] || cargo build --release --locked >/dev/null
trap '$P lab down --name $LAB >/dev/null 2>&1 || true' EXIT
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); python3 -c "print(f'{$t1 - $t0:.2f}')"; }
for pad in "" --pad; do
  $P lab down --name $LAB >/dev/null 2>&1 || true
  $P lab up --name $LAB $pad >/dev/null
  learn=$(secs $P fingerprint learn --lab $LAB --loads 3)
  json=$(mktemp)
  ev=$(secs $P fingerprint eval --lab $LAB --visits "$VISITS" --seed 1 --json "$json")
  cap=/run/plainsight/$LAB/fingerprint/visitor.pcapng
  guess=$(secs $P fingerprint guess --lab $LAB --gap 0.3 "$cap")
  size=$(stat -c %s "$cap")
  python3 - "$json" "${pad:-no padding}" "$learn" "$ev" "$guess" "$size" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
pad, learn, ev, guess, size = sys.argv[2:7]
print(f"{pad}: learn 36 page loads {learn} s; eval {e['visits']} visits {ev} s (0.5 s of reading each); "
      f"guess {e['visits']} loads from a {int(size) // 1024} KiB capture {guess} s; "
      f"right {e['correct']} of {e['visits']} (chance {e['chance']:.1%}); overhead {e['overhead_bytes']} B per load ({e['overhead_percent']:.0f}%)")
EOF
  rm -f "$json"
done

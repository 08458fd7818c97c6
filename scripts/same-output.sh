#!/usr/bin/env bash
# Whether two builds of plainsight write the same bytes: `analyze` in every format on both
# benchmark captures (sequential, and a busy gateway's: interleaved and spread) and on
# every capture of ../shared/corpus. For refactorings that must not change any output.
# Usage: scripts/same-output.sh BEFORE_BINARY AFTER_BINARY [TRANSACTIONS] [TLS]
# Exit 1 and the first differences when any output differs.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2; N=${3:-20000}; T=${4:-2000}
DIR=$(mktemp -d); trap 'rm -rf "$DIR"' EXIT
"$B" synth --out "$DIR/seq.pcap" --transactions "$N" --tls "$T" --interleave 1 >/dev/null
"$B" synth --out "$DIR/busy.pcap" --transactions "$N" --tls "$T" --interleave 5000 --spread >/dev/null
CAPTURES=("$DIR/seq.pcap" "$DIR/busy.pcap")
if [ -d ../shared/corpus ]; then
  while IFS= read -r f; do CAPTURES+=("$f"); done < <(find ../shared/corpus -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) | sort)
fi
bad=0; runs=0
for f in "${CAPTURES[@]}"; do
  for fmt in text jsonl json fields; do
    for reveal in "" --reveal; do
      runs=$((runs + 1))
      ra=0; rb=0
      "$A" analyze "$f" --format "$fmt" $reveal >"$DIR/a" 2>"$DIR/ae" || ra=$?
      "$B" analyze "$f" --format "$fmt" $reveal >"$DIR/b" 2>"$DIR/be" || rb=$?
      if [ $ra != $rb ] || ! cmp -s "$DIR/a" "$DIR/b"; then
        bad=$((bad + 1)); echo "DIFFERS: $f --format $fmt $reveal (exit $ra / $rb)"
        diff "$DIR/a" "$DIR/b" | head -5
      fi
    done
  done
  runs=$((runs + 1))
  rm -rf "$DIR/za" "$DIR/zb"
  ra=0; rb=0
  "$A" analyze "$f" --format zeek --out "$DIR/za" >/dev/null 2>&1 || ra=$?
  "$B" analyze "$f" --format zeek --out "$DIR/zb" >/dev/null 2>&1 || rb=$?
  if [ $ra != $rb ] || ! diff -r "$DIR/za" "$DIR/zb" >/dev/null 2>&1; then
    bad=$((bad + 1)); echo "DIFFERS: $f --format zeek (exit $ra / $rb)"
  fi
done
echo "same-output: ${#CAPTURES[@]} captures, $runs runs, $bad differ"
[ $bad = 0 ]

#!/usr/bin/env bash
# Benchmark of `plainsight analyze` against tshark and against libpcap walking the file.
# Generates a capture (default 100,000 HTTP transactions + 10,000 TLS handshakes, ~1 GB),
# extracts HTTP host, method, URI, Cookie, Authorization and TLS SNI and ALPN with both
# tools (`analyze --format fields` against `tshark -T fields`), checks that they agree, and
# prints CPU time, peak memory and the ratios; also the full reports (jsonl, json with
# findings), which do more than tshark is asked to.
# Usage: scripts/bench-analyze.sh [TRANSACTIONS] [TLS] [DIR]
#   INTERLEAVE=5000 SPREAD=1 scripts/bench-analyze.sh   a busy gateway's capture: 5,000
#   keep-alive connections open at once, addresses spread over the IPv4 space
#   RUNS=5 TSHARK_RUNS=3   best of RUNS runs of each plainsight run and of tcpdump (taking
#   turns), best of TSHARK_RUNS of tshark (default 3 and 1): this machine's speed drifts
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}; T=${2:-10000}; DIR=${3:-$(mktemp -d)}
BIN=target/release/plainsight
cargo build --release --quiet
SHAPE=(--interleave "${INTERLEAVE:-1}"); [ -z "${SPREAD:-}" ] || SHAPE+=(--spread)
FILE=$DIR/bench-$N-${INTERLEAVE:-1}${SPREAD:+-spread}.pcap
[ -f "$FILE" ] || $BIN synth --out "$FILE" --transactions "$N" --tls "$T" "${SHAPE[@]}"
SIZE=$(stat -L -c %s "$FILE")
echo "capture: $FILE ($((SIZE / 1048576)) MiB), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

try_once() { # label, output file, command...: one run, kept if it is the label's best
  local label=$1 out=$2; shift 2
  /usr/bin/time -f "%U %S %M %e" -o "$DIR/time.try" "$@" > "$out"
  read -r u s _ _ < "$DIR/time.try"
  local now; now=$(echo "$u + $s" | bc)
  if [ ! -f "$DIR/time.$label" ] || [ "$(echo "$now < $(cpu "$label")" | bc)" = 1 ]; then cp "$DIR/time.try" "$DIR/time.$label"; fi
}
show() { # label, the file the command read
  local u s m e size; read -r u s m e < "$DIR/time.$1"; size=$(stat -L -c %s "$2" 2>/dev/null || echo 0)
  printf '%-10s cpu %7.2fs  wall %7.2fs  peak %6d MiB  %7.1f MB/s (cpu)\n' "$1" "$(echo "$u + $s" | bc)" "$e" $((m / 1024)) "$(echo "$size / ($u + $s + 0.001) / 1000000" | bc -l)"
}
cpu() { read -r u s _ _ < "$DIR/time.$1"; echo "$u + $s" | bc; }
measure() { # label, output file, command...  (best of RUNS runs: the machine is shared)
  local label=$1; rm -f "$DIR/time.$label"
  for _ in $(seq "${RUNS:-3}"); do try_once "$@"; done
  show "$label" "${@: -1}"
}

# The runs compared with each other take turns, round after round, so that a slow spell of
# the machine (or the capture's pages evicted from the cache) falls on all of them alike.
rm -f "$DIR"/time.{plainsight,jsonl,findings,tcpdump}
for _ in $(seq "${RUNS:-3}"); do
  try_once plainsight "$DIR/ps.tsv" $BIN analyze --format fields --reveal --no-progress "$FILE"
  try_once jsonl /dev/null $BIN analyze --format jsonl --reveal --no-progress "$FILE"
  try_once findings /dev/null $BIN analyze --format json --no-progress "$FILE"
  try_once tcpdump /dev/null tcpdump -nn -r "$FILE" udp 2>/dev/null
done
for label in plainsight jsonl findings tcpdump; do show $label "$FILE"; done
RUNS=${TSHARK_RUNS:-1} measure tshark "$DIR/ts.tsv" tshark -n -r "$FILE" -Y 'http.request || tls.handshake.type == 1' -T fields \
  -E separator=/t -e http.host -e http.request.method -e http.request.uri -e http.cookie \
  -e http.authorization -e tls.handshake.extensions_server_name -e tls.handshake.extensions_alpn_str

python3 - "$DIR" <<'PY'
import json, sys, collections
d = sys.argv[1]
ours = collections.Counter()
for line in open(f"{d}/ps.tsv"):
    f = line.rstrip("\n").split("\t")
    ours[tuple(f)] += 1
theirs = collections.Counter()
for line in open(f"{d}/ts.tsv"):
    f = line.rstrip("\n").split("\t")
    if f[1]:
        theirs[("http", f[0], f[1], f[2], f[3], f[4])] += 1
    elif f[5]:
        theirs[("tls", f[5], f[6])] += 1
print(f"records: plainsight {sum(ours.values())}, tshark {sum(theirs.values())}, agree: {ours == theirs}")
if ours != theirs:
    print("only plainsight:", list((ours - theirs).items())[:3]); print("only tshark:", list((theirs - ours).items())[:3]); sys.exit(1)
PY
echo "field extraction: tshark/plainsight cpu $(echo "$(cpu tshark) / $(cpu plainsight)" | bc -l | cut -c1-6)x, plainsight/tcpdump $(echo "$(cpu plainsight) / $(cpu tcpdump)" | bc -l | cut -c1-6)x"
echo "full report (findings, --format json): tshark/plainsight $(echo "$(cpu tshark) / $(cpu findings)" | bc -l | cut -c1-6)x, plainsight/tcpdump $(echo "$(cpu findings) / $(cpu tcpdump)" | bc -l | cut -c1-6)x"
echo "every record and finding (--format jsonl --reveal) against field extraction: $(echo "$(cpu jsonl) / $(cpu plainsight)" | bc -l | cut -c1-6)x"

# Shapes that must not cost much more per byte: 1-byte segments (at most 3x the time of the
# same transactions in normal segments), addresses spread over the whole IPv4 space versus
# packed into two /16s (hash quality), and time per GB at a larger size (linear).
if [ "${SHAPES:-1}" = 1 ]; then
  small=$((N / 10)); smallt=$((T / 10))
  [ -f "$DIR/seg-$small.pcap" ] || $BIN synth --out "$DIR/seg-$small.pcap" --transactions $small --tls $smallt --body 2000
  [ -f "$DIR/one-$small.pcap" ] || $BIN synth --out "$DIR/one-$small.pcap" --transactions $small --tls $smallt --body 2000 --one-byte
  [ -f "$DIR/spread-$N.pcap" ] || $BIN synth --out "$DIR/spread-$N.pcap" --transactions "$N" --tls "$T" --spread
  measure seg /dev/null $BIN analyze --format json --no-progress "$DIR/seg-$small.pcap"
  measure onebyte /dev/null $BIN analyze --format json --no-progress "$DIR/one-$small.pcap"
  measure packed /dev/null $BIN analyze --format json --no-progress "$FILE"
  measure spread /dev/null $BIN analyze --format json --no-progress "$DIR/spread-$N.pcap"
  frames() { $BIN analyze --format json --no-progress "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["counters"]["frames"])'; }
  fs=$(frames "$DIR/seg-$small.pcap"); fo=$(frames "$DIR/one-$small.pcap")
  echo "1-byte segments: $fo frames vs $fs for the same transactions ($(echo "$fo / $fs" | bc) x as many); CPU per frame $(echo "$(cpu onebyte) * 1000000000 / $fo" | bc) ns vs $(echo "$(cpu seg) * 1000000000 / $fs" | bc) ns"
  echo "spread / packed addresses: $(echo "$(cpu spread) / $(cpu packed)" | bc -l | cut -c1-6)x"
  if [ -n "${BIG:-}" ]; then
    [ -f "$DIR/big.pcap" ] || $BIN synth --out "$DIR/big.pcap" --transactions $((N * 3)) --tls $((T * 3))
    measure big /dev/null $BIN analyze --format json --no-progress "$DIR/big.pcap"
    gb() { echo "$(stat -L -c %s "$1") / 1000000000" | bc -l; }
    echo "CPU s per GB: $(echo "$(cpu packed) / $(gb "$FILE")" | bc -l | cut -c1-5) at $(gb "$FILE" | cut -c1-4) GB, $(echo "$(cpu big) / $(gb "$DIR/big.pcap")" | bc -l | cut -c1-5) at $(gb "$DIR/big.pcap" | cut -c1-4) GB"
  fi
fi

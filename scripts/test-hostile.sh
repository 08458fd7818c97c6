#!/usr/bin/env bash
# The lab's servers under hostile clients (issue 12), in a lab of their own, bounded in count
# and time (about a minute): scripts/hostile-clients.py runs the clients inside the lab's
# hosts, this script starts the servers, measures them from /proc and checks each result.
#   site alone (from the intruder host, not intercepted) and the proxy (from the visitor):
#     a CL+TE request written in twelve pieces, 300 times: 300 answers;
#     a stalled head, body and chunk-size line: 408 within the idle limit (4 s here);
#     a silent connection: closed within the idle limit;
#     an idle kept-alive connection: closed within the idle limit, without a 408;
#   the proxy: 3 rounds of 5,000 concurrent slow requests, all answered, and its memory
#     back under 64 MB within 3 s; 60,000 connections one after another, none refused for
#     want of a local port; with its descriptor limit reached, under 5% of a core, a log
#     line, and service again once descriptors are free;
#   the proxy under --tls mitm: 4,000 server names, under 64 MB.
# Prints each figure. Needs root. Usage: scripts/test-hostile.sh
set -Eeuo pipefail
trap 'rc=$?; echo "test-hostile.sh: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2' ERR
cd "$(dirname "$0")/.."
skip() {
  echo "hostile clients: SKIPPED — $1" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  [ -z "${PLAINSIGHT_SKIPS:-}" ] || echo "hostile clients (test-hostile.sh): SKIPPED — $1" >>"$PLAINSIGHT_SKIPS"
  exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (it builds a lab)"
command -v prlimit >/dev/null || skip "needs prlimit (util-linux)"

cargo build --release --locked --quiet
P=$PWD/target/release/plainsight
LAB=ps-hostile
IDLE=4
SITE=198.51.100.10
WORK=$(mktemp -d)
proxy=
cleanup() {
  [ -z "$proxy" ] || kill "$proxy" 2>/dev/null || true
  $P lab down --name $LAB >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
$P lab down --name $LAB >/dev/null 2>&1 || true
$P lab up --name $LAB --no-redirect --idle-timeout $IDLE >/dev/null

failures=0
fail() { echo "test-hostile: FAILED: $1" >&2; failures=$((failures + 1)); }
client() { local host=$1; shift; timeout 300 ip netns exec "$LAB-$host" python3 scripts/hostile-clients.py "$@"; }
# A JSON field of a result line: field LINE EXPRESSION (Python, on `r`).
field() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
rss_mb() { awk '/VmRSS/ {printf "%d", $2/1024}' "/proc/$1/status"; }
peak_mb() { awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$1/status"; }

# Starts the proxy with ARGS; sets $proxy once it intercepts.
start_proxy() {
  rm -f "$WORK/ready"
  $P inject --lab $LAB --ready-file "$WORK/ready" "$@" >"$WORK/inject.jsonl" 2>"$WORK/inject.log" &
  proxy=$!
  for _ in $(seq 200); do [ -e "$WORK/ready" ] && return; kill -0 $proxy 2>/dev/null || break; sleep 0.05; done
  echo "test-hostile: the proxy did not start:" >&2; cat "$WORK/inject.log" >&2; exit 1
}
stop_proxy() { kill "$proxy"; wait "$proxy" 2>/dev/null || true; proxy=; }

# clte and stall against one server.
framing() {
  local who=$1 host=$2 r
  r=$(client "$host" clte $SITE:80 --count 300)
  echo "$who: CL+TE in 12 pieces: $(field "$r" 'r["answered"]') of 300 answered"
  [ "$(field "$r" 'r["answered"]')" = 300 ] || fail "$who: CL+TE requests without an answer: $r"
  r=$(client "$host" stall $SITE:80 --give-up 30)
  echo "$who: stalls: $(field "$r" '", ".join("%s %s after %s s" % (c["case"], c["status"] or "closed", c["closed_after_s"]) for c in r["cases"])')"
  # The idle limit, plus a second of slack for a busy machine.
  [ "$(field "$r" 'all(c["closed_after_s"] <= '$IDLE' + 1 for c in r["cases"])')" = True ] || fail "$who: a stalled connection outlived the ${IDLE} s limit: $r"
  [ "$(field "$r" 'all(c["status"] == "408" for c in r["cases"] if c["case"] in ("head", "body", "chunk"))')" = True ] || fail "$who: a stalled request got no 408: $r"
  [ "$(field "$r" '[c["statuses"] for c in r["cases"] if c["case"] == "kept"] == [["200"]]')" = True ] || fail "$who: an idle kept-alive connection got more than its one answer: $r"
}

framing "site alone" intruder
start_proxy --idle-timeout $IDLE
framing "proxy" visitor
stop_proxy

# Load, at the default limits.
start_proxy
for round in 1 2 3; do
  r=$(client visitor slow $SITE:80 --count 5000)
  peak=$(peak_mb $proxy)
  [ "$(field "$r" 'r["answered"]')" = 5000 ] || fail "5,000 slow requests, round $round: $r; the proxy says: $(grep -o '"detail":"[^"]*"' "$WORK/inject.jsonl" | grep -v advertisement | sort | uniq -c | head -5 | tr '\n' ' ')"
  settled=
  for _ in $(seq 30); do sleep 0.1; [ "$(rss_mb $proxy)" -lt 64 ] && settled=yes && break; done
  echo "proxy: 5,000 concurrent slow requests, round $round: $(field "$r" 'r["answered"]') answered in $(field "$r" 'r["seconds"]') s; memory at most $peak MB (VmHWM), $(rss_mb $proxy) MB after"
  [ -n "$settled" ] || fail "the proxy kept $(rss_mb $proxy) MB (64 MB at most) 3 s after round $round"
done
r=$(client visitor many $SITE:80 --count 60000)
echo "proxy: 60,000 connections in a row: $(field "$r" 'r["statuses"]') in $(field "$r" 'r["seconds"]') s; 'Cannot assign requested address': $(field "$r" 'r["cannot_assign"]')"
[ "$(field "$r" 'r["statuses"].get("200", 0)')" = 60000 ] || fail "60,000 connections: $r"

# Out of descriptors: 200 allowed, 400 visitors holding connections open.
prlimit --pid "$proxy" --nofile=200:200
coproc HOLD { client visitor hold $SITE:80 --count 400; }
read -r held <&"${HOLD[0]}"
r=$(python3 scripts/hostile-clients.py cpu "$proxy" --seconds 3)
share=$(field "$r" 'r["core_share"]')
echo "proxy: out of descriptors ($(field "$held" 'r["held"]') connections held, limit 200): $(field "$r" 'round(r["core_share"] * 100, 1)')% of a core over 3 s"
[ "$(field "$r" 'r["core_share"] < 0.05')" = True ] || fail "the proxy used $share of a core with no descriptors left"
grep -q "backing off" "$WORK/inject.log" || fail "the proxy did not say it ran out of descriptors"
eval "exec ${HOLD[1]}>&-"
wait "$HOLD_PID" || true
recovered=
for _ in $(seq 20); do
  if [ "$(ip netns exec $LAB-visitor curl -s -m 1 -o /dev/null -w '%{http_code}' http://$SITE/)" = 200 ]; then recovered=yes; break; fi
done
echo "proxy: serving again once descriptors are free: ${recovered:-no}"
[ -n "$recovered" ] || fail "the proxy did not serve again after descriptors were freed"
prlimit --pid "$proxy" --nofile=20000:20000 2>/dev/null || true
stop_proxy

start_proxy --tls mitm
r=$(client visitor sni $SITE:443 --count 4000)
mb=$(rss_mb $proxy)
echo "proxy --tls mitm: 4,000 server names: $(field "$r" 'r["handshakes"]') handshakes, memory $mb MB"
[ "$(field "$r" 'r["handshakes"]')" = 4000 ] || fail "4,000 server names: $r"
[ "$mb" -lt 64 ] || fail "the proxy holds $mb MB after 4,000 server names (64 MB at most)"
stop_proxy

if [ "$failures" -gt 0 ]; then
  echo "test-hostile: $failures check(s) failed" >&2
  exit 1
fi
echo "test-hostile: every check passed"

#!/usr/bin/env bash
# Throughput and latency of the injecting proxy, in the lab (as root), in one run:
# wrk in the visitor host against the site directly, through a bare hyper relay (the
# ceiling, examples/bare_relay.rs), through `plainsight inject
# --pass-through`, through `plainsight inject` injecting into every HTML page, and through
# mitmdump (transparent mode) with an equivalent addon. Then 10,000 idle connections held
# open through the proxy: its memory, and throughput on other connections meanwhile.
# Bounded: every load runs for DURATION seconds against the lab's own site only.
# Usage (as root): scripts/bench-proxy.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-10}
LAB=plainsight-bench
P=$PWD/target/release/plainsight
cargo build --release --quiet
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
$P lab down --name $LAB >/dev/null 2>&1 || true
$P lab up --name $LAB --no-redirect >/dev/null
trap '$P lab down --name $LAB >/dev/null 2>&1 || true' EXIT
V="ip netns exec $LAB-visitor"
I="ip netns exec $LAB-intruder"
URL=http://198.51.100.10/
load() { $V wrk -t2 -c16 -d${D}s "$URL" | awk '/Requests\/sec/ {print $2}'; }
median() { $V wrk -t1 -c1 -d5s --latency "$URL" | awk '$1=="50%" {print $2}'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
direct=$(load); direct_lat=$(median)
echo "direct                 $direct req/s   median latency (1 conn) $direct_lat"
# The ceiling: a bare hyper relay (examples/bare_relay.rs), same redirect.
cargo build --release --quiet --example bare_relay
redirect() { $I nft add table ip relaybench; $I nft "add chain ip relaybench pre { type nat hook prerouting priority -100; }"; $I nft add rule ip relaybench pre iifname lan0 tcp dport 80 redirect to :8080; }
redirect
$I target/release/examples/bare_relay 8080 198.51.100.10:80 & RP=$!; sleep 1
bare=$(load); bare_lat=$(median)
kill $RP; wait $RP 2>/dev/null || true
$I nft delete table ip relaybench
echo "bare hyper relay       $bare req/s   median latency $bare_lat"
run_inject() { $P inject --lab $LAB "$@" > /dev/null 2>&1 & PID=$!; sleep 1; }
run_inject --pass-through
pass=$(load); pass_lat=$(median); kill $PID; wait $PID 2>/dev/null || true
echo "inject --pass-through  $pass req/s   median latency $pass_lat"
run_inject
inj=$(load); inj_lat=$(median)
# 10,000 idle connections through the proxy, then load on other connections.
before=$(ps -o rss= -p $PID)
$V python3 - <<'PY' &
import resource, socket, time
resource.setrlimit(resource.RLIMIT_NOFILE, (12000, 12000))
socks = []
for i in range(10000):
    s = socket.socket(); s.setblocking(False)
    try: s.connect(("198.51.100.10", 80))
    except BlockingIOError: pass
    socks.append(s)
time.sleep(25)
PY
HOLD=$!
sleep 6
after=$(ps -o rss= -p $PID)
held=$(( $(ls /proc/$PID/fd | wc -l) - 10 ))
idle_load=$(load)
kill $HOLD 2>/dev/null || true; wait $HOLD 2>/dev/null || true
sleep 2
inj_again=$(load)
kill $PID; wait $PID 2>/dev/null || true
echo "inject (injecting)     $inj req/s   median latency $inj_lat"
echo "  with 10,000 idle connections opened ($held held by the proxy): RSS $((before/1024)) -> $((after/1024)) MiB, throughput $idle_load req/s"
echo "  (injecting again once they closed: $inj_again req/s; with them / without, mean of both: $(echo "2 * $idle_load / ($inj + $inj_again)" | bc -l | cut -c1-5))"
if command -v mitmdump >/dev/null; then
  redirect
  $I mitmdump -q --mode transparent --listen-port 8080 -s scripts/bench/mitm_inject.py > /dev/null 2>&1 & MP=$!
  sleep 4
  mitm=$(load); mitm_lat=$(median)
  kill $MP; wait $MP 2>/dev/null || true
  $I nft delete table ip relaybench
  echo "mitmdump (injecting)   $mitm req/s   median latency $mitm_lat"
  echo "ratios: injecting/direct $(echo "$inj / $direct" | bc -l | cut -c1-5), pass-through/direct $(echo "$pass / $direct" | bc -l | cut -c1-5), bare relay/direct $(echo "$bare / $direct" | bc -l | cut -c1-5), plainsight/mitmdump $(echo "$inj / $mitm" | bc -l | cut -c1-6)"
else
  echo "mitmdump not installed (pip install mitmproxy): no comparison"
fi

#!/usr/bin/env bash
# A classroom of N participants on this machine (default 30): how long `workshop up`
# takes, the memory of every bot and site, their CPU while the room is idle (only the bots
# visiting, every 10-20 s), and that `workshop down` leaves nothing. Figures go to
# docs/performance.md. Needs root; uses the workshop name `psbench` (its labs psbench-01...).
# Usage: scripts/bench-workshop.sh [PARTICIPANTS] [IDLE_SECONDS]
set -Eeuo pipefail
trap 'rc=$?; echo "bench-workshop.sh: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2' ERR
cd "$(dirname "$0")/.."
n=${1:-30}
idle=${2:-60}
w=psbench
cargo build --release --locked --quiet
ps=target/release/plainsight
$ps workshop down --name $w >/dev/null 2>&1 || true

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
start=$(date +%s.%N)
$ps workshop up --name $w --participants "$n" >/dev/null
end=$(date +%s.%N)
echo "workshop up, $n participants: $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s"

# Every process in the workshop's namespaces (sites, bots).
pids() { for ns in $(ip netns list | awk '{print $1}' | grep "^$w-"); do ip netns pids "$ns"; done | sort -u; }
# RSS counts the binary's shared pages once per process; PSS shares them out (the real total).
mem_kib() { local t=0; for p in $(pids); do t=$((t + $(awk -v k="$1:" '$1 == k {print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0))); done; echo $t; }
ticks() { local t=0; for p in $(pids); do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0))); done; echo $t; }
hz=$(getconf CLK_TCK)

echo "processes: $(pids | wc -l) ($(pids | xargs -r -I{} cat /proc/{}/comm | sort | uniq -c | tr '\n' ' '))"
t0=$(ticks); s0=$(date +%s.%N)
sleep "$idle"
t1=$(ticks); s1=$(date +%s.%N)
echo "memory of every site and bot after ${idle} s: $(( $(mem_kib Pss) / 1024 )) MiB PSS in all ($(( $(mem_kib Rss) / 1024 )) MiB RSS, counting shared pages in each process)"
echo "CPU while idle (bots visiting every 10-20 s): $(awk -v t="$((t1 - t0))" -v hz="$hz" -v a="$s0" -v b="$s1" 'BEGIN {printf "%.1f", 100 * t / hz / (b - a)}') % of one core"
visits=0
for p in $(seq -w 1 "$n"); do visits=$((visits + $(wc -l < /run/plainsight/$w-$(printf %02d $((10#$p)))/bot-visits.jsonl))); done
echo "bot visits recorded: $visits"

start=$(date +%s.%N)
$ps workshop down --name $w >/dev/null
end=$(date +%s.%N)
echo "workshop down: $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s"
left_ns=$(ip netns list | grep -c "^$w-" || true)
left_state=$(find /run/plainsight -maxdepth 1 -name "$w*" | wc -l)
left_proc=$(pgrep -fc "workshop bot --name $w" || true)
rm -rf "/var/lib/plainsight/$w"     # this benchmark's own progress
echo "left after down: $left_ns namespaces, $left_state state folders, $left_proc bots"

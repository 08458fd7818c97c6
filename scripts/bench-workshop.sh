#!/usr/bin/env bash
# A classroom of N participants on this machine (default 30), with sandboxes and SSH: how
# long `workshop up --ssh` takes, the memory of everything it started (sites, bots,
# sandboxes, the gate, the sshd), the time from `ssh` to a shell's first command, their
# CPU while the room is idle (only the bots visiting, every 10-20 s), and that `workshop
# down` leaves no account, sshd, cgroup, mount or namespace. Figures go to
# docs/performance.md. Needs root, sshpass and openssh-server; uses the workshop name
# `psbench` (its labs psbench-01...) and port 2298 on loopback.
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
$ps workshop up --name $w --participants "$n" --ssh --ssh-port 2298 --ssh-listen 127.0.0.1 >/dev/null
end=$(date +%s.%N)
echo "workshop up, $n participants: $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s"

# Every process in the workshop's namespaces (sites, bots, sandboxes), the gate and the sshd.
pids() {
  { for ns in $(ip netns list | awk '{print $1}' | grep "^$w-"); do ip netns pids "$ns"; done
    for f in /run/plainsight-workshop/$w/gate.pid /run/plainsight-workshop/$w/sshd/sshd.pid; do cat "$f" 2>/dev/null; echo; done; } | grep . | sort -u
}
# RSS counts the binary's shared pages once per process; PSS shares them out (the real total).
mem_kib() { local t=0; for p in $(pids); do t=$((t + $(awk -v k="$1:" '$1 == k {print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0))); done; echo $t; }
ticks() { local t=0; for p in $(pids); do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0))); done; echo $t; }
hz=$(getconf CLK_TCK)

echo "processes: $(pids | wc -l) ($(pids | xargs -r -I{} cat /proc/{}/comm | sort | uniq -c | tr '\n' ' '))"
t0=$(ticks); s0=$(date +%s.%N)
sleep "$idle"
t1=$(ticks); s1=$(date +%s.%N)
echo "memory of everything it started (sites, bots, sandboxes, gate, sshd) after ${idle} s: $(( $(mem_kib Pss) / 1024 )) MiB PSS in all ($(( $(mem_kib Rss) / 1024 )) MiB RSS, counting shared pages in each process)"
echo "CPU while idle (bots visiting every 10-20 s): $(awk -v t="$((t1 - t0))" -v hz="$hz" -v a="$s0" -v b="$s1" 'BEGIN {printf "%.1f", 100 * t / hz / (b - a)}') % of one core"
visits=0
for p in $(seq -w 1 "$n"); do visits=$((visits + $(wc -l < /run/plainsight/$w-$(printf %02d $((10#$p)))/bot-visits.jsonl))); done
echo "bot visits recorded: $visits"

# From `ssh` to the first command's answer in the sandbox, for ten participants in turn.
$ps workshop handout --name $w --json --host 127.0.0.1 > /tmp/psbench-cards.json
login_ms=()
for p in $(seq 1 $(( n < 10 ? n : 10 ))); do
  user=$(python3 -c "import json; print(json.load(open('/tmp/psbench-cards.json'))[$p - 1]['user'])")
  pw=$(python3 -c "import json; print(json.load(open('/tmp/psbench-cards.json'))[$p - 1]['password'])")
  a=$(date +%s%N)
  out=$(sshpass -p "$pw" ssh -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR -p 2298 "$user@127.0.0.1" 'echo $PLAINSIGHT_LAB')
  b=$(date +%s%N)
  [ "$out" = "$w-$(printf %02d "$p")" ] || { echo "login $p landed in $out" >&2; exit 1; }
  login_ms+=($(( (b - a) / 1000000 )))
done
rm -f /tmp/psbench-cards.json
echo "ssh to a command's answer in the sandbox (ms, ${#login_ms[@]} logins): $(printf '%s\n' "${login_ms[@]}" | sort -n | tr '\n' ' ')"

start=$(date +%s.%N)
$ps workshop down --name $w >/dev/null
end=$(date +%s.%N)
echo "workshop down: $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s"
left_ns=$(ip netns list | grep -c "^$w-" || true)
left_state=$(find /run/plainsight -maxdepth 1 -name "$w*" | wc -l)
left_proc=$(pgrep -fc -- "--name $w |plainsight-workshop/$w/" || true)
left_users=$(grep -c "^ps-$w-" /etc/passwd || true)
left_cgroups=$(find /sys/fs/cgroup -maxdepth 2 -name "plainsight-$w" | wc -l)
left_mounts=$(grep -c -- "$w" /proc/self/mountinfo || true)
rm -rf "/var/lib/plainsight/$w"     # this benchmark's own progress
echo "left after down: $left_ns namespaces, $left_state state folders, $left_proc processes, $left_users accounts, $left_cgroups cgroups, $left_mounts mounts"

#!/usr/bin/env bash
# The trainer's view under a room: N participants (default 30) with their bots, VIEWS open
# grids and VIEWS open lab views (event streams read by a script, as a browser would),
# every participant passing a checkpoint one after another. Measures the delay from each
# checkpoint passing (its time in the progress database) to each open grid receiving it,
# and the view's CPU and memory (with the sniffers it runs for the open lab views).
# Figures go to docs/performance.md. Needs root; uses the workshop name `psview`.
# Usage: scripts/bench-view.sh [PARTICIPANTS] [VIEWS]
set -Eeuo pipefail
trap 'rc=$?; echo "bench-view.sh: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2' ERR
cd "$(dirname "$0")/.."
n=${1:-30}
views=${2:-3}
w=psview
cargo build --release --locked --quiet
ps=target/release/plainsight
work=$(mktemp -d)
cleanup() { kill "$(cat "$work/serve.pid" 2>/dev/null)" 2>/dev/null || true; $ps workshop down --name $w >/dev/null 2>&1 || true; rm -rf "/var/lib/plainsight/$w" "$work"; }
trap cleanup EXIT
$ps workshop down --name $w >/dev/null 2>&1 || true
rm -rf "/var/lib/plainsight/$w"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
$ps workshop up --name $w --participants "$n" >/dev/null
for p in $(seq "$n"); do $ps workshop show password --name $w --participant "$p" >/dev/null; done
$ps workshop serve --name $w --listen 127.0.0.1:0 >"$work/serve.out" 2>/dev/null &
echo $! >"$work/serve.pid"
for _ in $(seq 100); do grep -q '^view: ' "$work/serve.out" && break; sleep 0.1; done
url=$(sed -n 's/^view: \([^ ]*\).*/\1/p' "$work/serve.out")
pid=$(cat "$work/serve.pid")

python3 - "$url" "$n" "$views" "$w" "$ps" "$pid" <<'PY'
import json, os, subprocess, sys, threading, time, urllib.request
url, n, views, w, ps, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6])
seen = [dict() for _ in range(views)]  # participant -> arrival ms, per grid
def grid(i):
    with urllib.request.urlopen(url + "events") as r:
        data = None
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                data = line[6:]
            elif line == "" and data:
                now = time.time() * 1000
                for row in json.loads(data)["participants"]:
                    c = row["cells"].get("password")
                    if c and c["passed"] and row["participant"] not in seen[i]:
                        seen[i][row["participant"]] = now - c["at_ms"]
                data = None
def lab(i):
    with urllib.request.urlopen(f"{url}lab/{w}-{i + 1:02d}/events") as r:
        for _ in r:
            pass
for i in range(views):
    threading.Thread(target=grid, args=(i,), daemon=True).start()
    threading.Thread(target=lab, args=(i,), daemon=True).start()
time.sleep(1)
hz = os.sysconf("SC_CLK_TCK")
def family():
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True).stdout.split()
    return [pid] + [int(p) for p in out]
def cpu(p):
    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
def pss(p):
    for l in open(f"/proc/{p}/smaps_rollup"):
        if l.startswith("Pss:"):
            return int(l.split()[1])
    return 0
t0, c0 = time.time(), sum(cpu(p) for p in family())
for p in range(1, n + 1):
    persona = json.load(open(f"/run/plainsight/{w}-{p:02d}/persona.json"))
    subprocess.run([ps, "workshop", "check", "password", "--name", w, "--participant", str(p), "--answer", persona["password"]], check=True, capture_output=True)
deadline = time.time() + 30
while time.time() < deadline and any(len(s) < n for s in seen):
    time.sleep(0.1)
time.sleep(max(0, 60 - (time.time() - t0)))
t1, c1 = time.time(), sum(cpu(p) for p in family())
lat = sorted(v for s in seen for v in s.values())
print(f"checkpoints passed: {n}, seen by {views} open grids: {len(lat)} of {n * views}")
print(f"delay from a checkpoint passing to a grid receiving it: median {lat[len(lat) // 2]:.0f} ms, max {lat[-1]:.0f} ms")
print(f"the view's CPU over {t1 - t0:.0f} s ({views} grids and {views} lab views open, checks passing): {100 * (c1 - c0) / hz / (t1 - t0):.1f} % of one core (the view and the {len(family()) - 1} sniffers it runs)")
print(f"the view's memory: {pss(pid) / 1024:.1f} MiB PSS; with its sniffers: {sum(pss(p) for p in family()) / 1024:.1f} MiB")
PY

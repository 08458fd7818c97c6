#!/usr/bin/env bash
# Tests the container lab (lab/compose.yaml, lab/Dockerfile) for real, offline:
#  - installs docker.io, docker-compose and debootstrap if missing, starts dockerd if it
#    is not running;
#  - builds a local Debian bookworm base image with debootstrap (once, cached by tag),
#    from the mirror in this machine's apt sources, since no registry can be reached;
#  - builds the lab image from lab/Dockerfile with that base and the binary built here;
#  - runs the compose demo, checks lab/out/summary.json, and checks that its outcomes
#    equal those of `plainsight demo` in network namespaces;
#  - removes the containers, networks and volume, and stops the daemon it started,
#    undoing what dockerd changed in the machine's own namespace (docker0, its nftables
#    tables, forwarding).
# Needs root. Usage: scripts/test-compose.sh
set -Eeuo pipefail
trap 'rc=$?; echo "test-compose.sh: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2' ERR
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  if [ -n "${CI:-}" ]; then echo "test-compose: needs root" >&2; exit 1; fi
  echo "test-compose: skipped (needs root: it starts dockerd)" >&2
  [ -z "${PLAINSIGHT_SKIPS:-}" ] || echo "container lab (test-compose.sh): SKIPPED — needs root (it starts dockerd)" >>"$PLAINSIGHT_SKIPS"
  exit 0
fi

need=()
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's client, the daemon's own version (another `docker` may come first on PATH).
docker=/usr/bin/docker
project=plainsight-test
compose=(docker-compose -p "$project" -f lab/compose.yaml)

# What dockerd changes in the machine's own namespace, as it is now.
had_docker0=$(ip link show docker0 >/dev/null 2>&1 && echo yes || echo no)
had_nat=$(nft list table ip nat >/dev/null 2>&1 && echo yes || echo no)
had_filter=$(nft list table ip filter >/dev/null 2>&1 && echo yes || echo no)
forward=$(sysctl -n net.ipv4.ip_forward)
started=no
work=$(mktemp -d)

cleanup() {
  trap - ERR
  set +e
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1
  if [ "$started" = yes ]; then
    kill "$(cat "$work/dockerd.pid")" 2>/dev/null
    for _ in $(seq 100); do [ -e /proc/"$(cat "$work/dockerd.pid")" ] || break; sleep 0.1; done
    [ "$had_docker0" = yes ] || ip link del docker0 2>/dev/null
    [ "$had_nat" = yes ] || nft delete table ip nat 2>/dev/null
    [ "$had_filter" = yes ] || nft delete table ip filter 2>/dev/null
    sysctl -qw net.ipv4.ip_forward="$forward"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if ! "$docker" info >/dev/null 2>&1; then
  dockerd >"$work/dockerd.log" 2>&1 &
  echo $! >"$work/dockerd.pid"
  started=yes
  for _ in $(seq 300); do "$docker" info >/dev/null 2>&1 && break; sleep 0.1; done
  "$docker" info >/dev/null 2>&1 || { echo "test-compose: dockerd did not start:" >&2; tail -20 "$work/dockerd.log" >&2; exit 1; }
fi

base=plainsight-base:bookworm
if ! "$docker" image inspect "$base" >/dev/null 2>&1; then
  # Ask apt itself (deb822 `.sources` and one-line `.list` files alike): the main archive
  # of bookworm, not its security or updates suites.
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(CODENAME)' | awk '$2 == "bookworm" { print $1; exit }')
  [ -n "$mirror" ] || mirror=$(apt-get indextargets --format '$(REPO_URI)' | grep -v -- -security | head -1)
  [ -n "$mirror" ] || { echo "test-compose: apt knows no bookworm archive (apt-get indextargets); run apt-get update" >&2; exit 1; }
  echo "test-compose: building $base with debootstrap from $mirror" >&2
  debootstrap --variant=minbase --include=iproute2,nftables,libpcap0.8,ca-certificates,curl \
    bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/rootfs" -c . | "$docker" import - "$base" >/dev/null
  rm -rf "$work/rootfs"
fi

cargo build --release --locked
"$docker" build -q -f lab/Dockerfile -t plainsight-lab:latest \
  --build-arg BUILD_IMAGE="$base" --build-arg BASE_IMAGE="$base" \
  --build-arg PREBUILT=target/release/plainsight . >/dev/null

rm -rf lab/out
"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
echo "test-compose: running the compose demo" >&2
timeout 600 "${compose[@]}" up --no-build --no-color >"$work/compose.log" 2>&1 \
  || { tail -40 "$work/compose.log" >&2; echo "test-compose: docker-compose up failed" >&2; exit 1; }
grep -E 'visitor_1 +\| ' "$work/compose.log" | sed -E 's/^[^|]*\| //' >&2 || true
[ -f lab/out/summary.json ] || { tail -40 "$work/compose.log" >&2; echo "test-compose: no lab/out/summary.json" >&2; exit 1; }
[ -f lab/out/report.html ] || { echo "test-compose: no lab/out/report.html" >&2; exit 1; }

# The same demo in network namespaces, for comparison.
./target/release/plainsight demo --quiet --lab pstest-compose --out "$work/ns" >/dev/null
python3 - lab/out/summary.json "$work/ns/summary.json" <<'EOF'
import json, sys
c, n = (json.load(open(p)) for p in sys.argv[1:3])
assert c["all_as_expected"], [(o["scenario"], o["mismatches"]) for o in c["scenarios"] if not o["as_expected"]]
def view(s):
    return {o["scenario"]: (o["visitor"], {k: v["yes"] for k, v in o["intruder"].items()}, o["site_pages"]["yes"], o["replay"]["state"]) for o in s["scenarios"]}
cv, nv = view(c), view(n)
assert len(cv) == 15, sorted(cv)
bad = [(k, cv[k], nv.get(k)) for k in cv if cv[k] != nv.get(k)]
assert not bad, f"containers and namespaces differ: {bad}"
print(f"test-compose: {len(cv)} scenarios in containers, all as expected, same outcomes as in namespaces")
EOF

# A one-participant workshop in the containers (README, "The lab in containers"): the lab
# kept up after its demo, the workshop run in the intruder's container.
echo "test-compose: a workshop for one participant in the containers" >&2
"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1
PLAINSIGHT_KEEP=1 timeout 120 "${compose[@]}" up -d --no-build >"$work/keep.log" 2>&1 \
  || { cat "$work/keep.log" >&2; echo "test-compose: docker-compose up -d failed" >&2; exit 1; }
# Each output is read whole before it is searched: under pipefail, `cmd | grep -q` fails
# when grep stops reading at its match while cmd is still writing (SIGPIPE).
kept_up() { "${compose[@]}" logs visitor >"$work/visitor.log" 2>/dev/null; grep -q 'the lab stays up for exercises' "$work/visitor.log"; }
for _ in $(seq 600); do kept_up && break; sleep 0.5; done
kept_up || { "${compose[@]}" logs 2>&1 | tail -30 >&2; echo "test-compose: the kept lab did not come up" >&2; exit 1; }
in_intruder() { "${compose[@]}" exec -T intruder "$@"; }
ws_fail() { echo "test-compose: workshop in containers: $1" >&2; "${compose[@]}" logs 2>&1 | tail -20 >&2; exit 1; }
in_intruder plainsight workshop up --participants 1 --bot-interval 1-2 >"$work/ws.log" 2>&1 || { cat "$work/ws.log" >&2; ws_fail "workshop up failed"; }
in_intruder plainsight workshop show password --participant 1 >/dev/null || ws_fail "workshop show failed"
line=$(in_intruder sh -c "plainsight sniff --reveal --duration 40 | grep -m1 'form field \"password\"'" 2>/dev/null || true)
[ -n "$line" ] || ws_fail "the participant's sniffer did not read the bot's password"
answer=${line##*POST /login: }
grep -q '^PASSED password' <<<"$(in_intruder plainsight workshop check password --participant 1 --answer "$answer")" || ws_fail "the sniffed password did not pass"
if in_intruder plainsight workshop check password --participant 1 --answer 'not it' >/dev/null; then ws_fail "a wrong answer passed"; fi
grep -q 'bot running' <<<"$(in_intruder plainsight workshop status)" || ws_fail "workshop status does not show the bot"
grep -q -E '^plainsight +done ' <<<"$(in_intruder plainsight workshop progress)" || ws_fail "progress does not show the exercise done"
in_intruder plainsight workshop down >/dev/null || ws_fail "workshop down failed"
echo "test-compose: one participant's workshop in the containers: password sniffed from the bot, checked, progress kept"

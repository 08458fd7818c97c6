#!/usr/bin/env bash
# The proxy's memory after bursts, by allocator: ROUNDS rounds of 5,000 concurrent slow
# requests through `plainsight inject` in the lab (as root), with glibc's malloc (the
# default build), mimalloc and jemalloc (cargo features alloc-mimalloc, alloc-jemalloc).
# Prints the proxy's resident memory after each round and 5 s after the last, and the CPU
# seconds the proxy used. Bounded: ROUNDS x 5,000 requests to the lab's own site.
# Usage (as root): scripts/bench-alloc.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-6}
LAB=ps-alloc
P=$PWD/target/release/plainsight
OUT=$(mktemp -d)
for a in glibc mimalloc jemalloc; do
  case $a in glibc) f=() ;; *) f=(--features "alloc-$a") ;; esac
  cargo build --release --quiet "${f[@]}"
  cp "$P" "$OUT/plainsight-$a"
done
cargo build --release --quiet
$P lab down --name $LAB >/dev/null 2>&1 || true
$P lab up --name $LAB --no-redirect >/dev/null
trap '$P lab down --name $LAB >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT
rss() { awk '/VmRSS/ {printf "%d", $2/1024}' "/proc/$1/status"; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); split($0, f, " "); printf "%.2f", (f[12]+f[13])/hz}' "/proc/$1/stat"; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for a in glibc mimalloc jemalloc; do
  rm -f "$OUT/ready"
  "$OUT/plainsight-$a" inject --lab $LAB --ready-file "$OUT/ready" >/dev/null 2>"$OUT/inject-$a.log" &
  pid=$!
  for _ in $(seq 100); do [ -e "$OUT/ready" ] && break; sleep 0.1; done
  line="$a: start $(rss $pid) MB; after each round:"
  for _ in $(seq "$ROUNDS"); do
    r=$(ip netns exec $LAB-visitor python3 scripts/hostile-clients.py slow 198.51.100.10:80 --count 5000)
    grep -q '"failed": 0,' <<<"$r" || echo "$a: not every request was answered: $r" >&2
    line="$line $(rss $pid)"
  done
  sleep 5
  echo "$line MB; 5 s later $(rss $pid) MB; CPU $(cpu $pid) s"
  kill $pid; wait $pid 2>/dev/null || true
  while pgrep -f "plainsight-$a inject" >/dev/null; do sleep 0.1; done
done

#!/usr/bin/env bash
# First command of the README. Installs what plainsight needs on a fresh Debian machine,
# builds it, and shows the eavesdropper's view of a sample visit (a login over plain HTTP,
# then a visit over HTTPS). The full lab demo (`plainsight demo`) is not built yet.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! dpkg -s libpcap-dev >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then echo "need libpcap-dev: sudo apt-get install libpcap-dev" >&2; exit 2; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libpcap-dev pkg-config >/dev/null
fi
cargo build --release --locked --quiet
out=$(mktemp -d)
target/release/plainsight synth --sample --out "$out/sample.pcap" 2>/dev/null
target/release/plainsight analyze "$out/sample.pcap" "$@"

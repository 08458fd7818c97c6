#!/usr/bin/env bash
# First command of the README: installs what plainsight needs on a fresh Debian machine
# (as root; for workshops too), builds it, puts `plainsight` on the PATH (a link in /usr/local/bin), and runs
# `plainsight demo`: the same visit over HTTP and HTTPS while an intruder sniffs and
# attacks, in network namespaces it builds and removes.
# Arguments go to `plainsight demo` (e.g. --step, --scenario http, --out DIR).
set -Eeuo pipefail
trap 'rc=$?; echo "demo.sh: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2' ERR
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "the demo builds network namespaces: run it as root (as root: bash scripts/demo.sh)" >&2
  exit 2
fi
need=()
dpkg -s libpcap-dev >/dev/null 2>&1 || need+=(libpcap-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
# For `plainsight workshop up --ssh`: Debian's OpenSSH server (the workshop starts its own
# sshd, on its own port), util-linux's setpriv and passwd's useradd for the sandboxes.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v setpriv >/dev/null || need+=(util-linux)
command -v useradd >/dev/null || need+=(passwd)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release --locked --quiet
ln -sf "$PWD/target/release/plainsight" /usr/local/bin/plainsight
echo "demo.sh: plainsight is on the PATH (/usr/local/bin/plainsight -> $PWD/target/release/plainsight)" >&2
exec target/release/plainsight demo "$@"

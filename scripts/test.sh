#!/usr/bin/env bash
# The project's test command: installs what the tests need on a fresh Debian machine
# (apt packages; Rust is expected to be there already), builds, and runs every test.
# Usage: scripts/test.sh            (as root, from anywhere inside the repository)
# Checks that cannot run here (no corpus, no root, a missing tool) are listed at the end;
# in CI (CI=true) each of them is a failure instead.
set -Eeuo pipefail
trap 'rc=$?; echo "test.sh: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2' ERR
cd "$(dirname "$0")/.."

need=()
command -v tshark >/dev/null || need+=(tshark)
command -v tcpdump >/dev/null || need+=(tcpdump)
dpkg -s libpcap-dev >/dev/null 2>&1 || need+=(libpcap-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v curl >/dev/null || need+=(curl)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
command -v setpriv >/dev/null || need+=(util-linux)
command -v chromium >/dev/null || need+=(chromium)
# The report in a second browser, and its PDF handout read back.
command -v firefox-esr >/dev/null || need+=(firefox-esr)
command -v pdfinfo >/dev/null || need+=(poppler-utils)
command -v python3 >/dev/null || need+=(python3)
# The workshop's SSH logins: Debian's OpenSSH server (the workshop runs its own sshd on
# its own port; installing the package does not change what the workshop touches) and a
# scripted client; util-linux's setpriv and nsenter, passwd's useradd.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v sshpass >/dev/null || need+=(sshpass)
command -v useradd >/dev/null || need+=(passwd)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing packages: ${need[*]} (run as root so that it can apt-get install them)" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

export PLAINSIGHT_CORPUS="${PLAINSIGHT_CORPUS:-$(cd .. && pwd)/shared/corpus}"
# Tests append a line here for every check they could not run (tests/common/mod.rs).
PLAINSIGHT_SKIPS=$(mktemp)
export PLAINSIGHT_SKIPS
cargo build --release --locked
# The code's habits: rustfmt (rustfmt.toml) and clippy with its lints (Cargo.toml),
# warnings as errors.
if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then
  cargo fmt --check
  cargo clippy --release --all-targets --locked -- -D warnings
else
  [ -z "${CI:-}" ] || { echo "test.sh: cargo fmt and cargo clippy are needed (rustup component add rustfmt clippy)" >&2; exit 1; }
  echo "fmt and clippy (test.sh): SKIPPED — rustfmt or clippy is not installed (rustup component add rustfmt clippy)" >>"$PLAINSIGHT_SKIPS"
fi
cargo test --release --locked -- --test-threads=2
# The fuzz targets (run with cargo-fuzz, which needs nightly) still build against the code.
cargo check --locked --manifest-path fuzz/Cargo.toml
# The README's workshop steps, run as a participant would paste them.
bash scripts/test-workshop.sh
# The servers under hostile clients, load and descriptor exhaustion (a lab of its own).
bash scripts/test-hostile.sh
# The container lab, built offline and compared with the namespace demo.
bash scripts/test-compose.sh

if [ -s "$PLAINSIGHT_SKIPS" ]; then
  echo "test.sh: these checks did NOT run:"
  grep -v '^$' "$PLAINSIGHT_SKIPS" | sort -u | sed 's/^/  /'
else
  echo "test.sh: every check ran"
fi
rm -f "$PLAINSIGHT_SKIPS"

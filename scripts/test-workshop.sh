#!/usr/bin/env bash
# Runs the README's workshop step 3 (scripts/workshop-explore.sh, shown verbatim in the
# README) as a participant would, with plainsight on the PATH, and checks what each step
# shows. Needs root (it builds the lab).
set -Eeuo pipefail
trap 'rc=$?; echo "test-workshop.sh: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc)" >&2' ERR
cd "$(dirname "$0")/.."
skip() {
  echo "workshop steps: SKIPPED — $1" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  [ -z "${PLAINSIGHT_SKIPS:-}" ] || echo "workshop steps (test-workshop.sh): SKIPPED — $1" >>"$PLAINSIGHT_SKIPS"
  exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (it builds the lab)"
# The participant's lab is named `plainsight`: never touch one that is in use.
[ ! -e /run/netns/plainsight-visitor ] || skip "a lab named plainsight is up on this machine (plainsight lab down)"

# The README shows the script itself, line for line.
body=$(grep -v -E '^(#!|# )' scripts/workshop-explore.sh)
python3 - "$body" <<'PY'
import sys
want = [l.strip() for l in sys.argv[1].strip().splitlines()]
have = [l.strip() for l in open("README.md").read().splitlines()]
found = any(have[i:i + len(want)] == want for i in range(len(have)))
assert found, "README.md does not show scripts/workshop-explore.sh as it is"
PY

cargo build --release --locked --quiet
out=$(mktemp)
PATH="$PWD/target/release:$PATH" timeout 120 bash scripts/workshop-explore.sh >"$out" 2>&1 || true
fail() { echo "test-workshop: $1" >&2; sed 's/^/  | /' "$out" >&2; exit 1; }
grep -q 'site: http redirects to https: no' "$out" || fail "lab up did not keep the site on plain HTTP"
grep -q 'AD INJECTED' "$out" || fail "the visitor did not get the injected ad"
grep -q 'logged in: true, read the article: true, saw the account: true' "$out" || fail "the visit did not sign in, read and see the account"
grep -q '^SPECIAL OFFER from your Wi-Fi provider$' "$out" || fail "curl over HTTP did not show the ad"
grep -qx '0' "$out" || fail "curl over HTTPS did not get an intact page"
grep -q 'form field "password" in POST /login: correct horse battery staple' "$out" || fail "the sniffer did not read the password"
grep -q 'What an eavesdropper learned' "$out" || fail "analyze did not read the capture"
grep -q 'lab plainsight removed' "$out" || fail "lab down did not run"
[ ! -e /run/netns/plainsight-visitor ] || fail "the lab is still up"
rm -f "$out"
echo "test-workshop: the README's workshop steps show what they say (ad over HTTP, intact over HTTPS, the password read)"

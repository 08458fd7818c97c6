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

# The README shows each script itself, line for line.
shown_in_readme() {
  python3 - "$(grep -v -E '^(#!|# )' "$1")" "$1" <<'PY'
import sys
want = [l.strip() for l in sys.argv[1].strip().splitlines()]
have = [l.strip() for l in open("README.md").read().splitlines()]
found = any(have[i:i + len(want)] == want for i in range(len(have)))
assert found, "README.md does not show %s as it is" % sys.argv[2]
PY
}
shown_in_readme scripts/workshop-explore.sh
shown_in_readme scripts/workshop-session.sh

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

# The trainer's session: a workshop named `workshop` (the default). Never touch one in use,
# nor the progress of a real one; what this run creates it removes.
[ ! -e /run/plainsight-workshop/workshop ] || skip "a workshop named workshop is up on this machine (plainsight workshop down)"
[ ! -e /var/lib/plainsight/workshop ] || skip "a workshop named workshop has progress on this machine (/var/lib/plainsight/workshop)"
out=$(mktemp)
ss -ltn | grep -q ':2222 ' && skip "port 2222 is taken on this machine (the README's session uses the default port)"
PATH="$PWD/target/release:$PATH" timeout 300 bash scripts/workshop-session.sh >"$out" 2>&1 || true
rm -rf /var/lib/plainsight/workshop
grep -q '^workshop-01: lab up, bot .* visiting$' "$out" || fail "workshop up did not start participant 1's lab and bot"
grep -q '^sshd for the participants on port 2222' "$out" || fail "workshop up --ssh did not start the sshd"
[ "$(grep -c -E '^(password|cookie|inject|https|forged|sslstrip|hsts|capture|article) ' "$out")" -eq 9 ] || fail "workshop exercises did not list the nine exercises"
grep -q '^  log in:     ssh -p 2222 ps-workshop-01@127.0.0.1$' "$out" || fail "the handout did not print participant 1's login"
grep -q '^# password — Sniff the password sent over plain HTTP$' "$out" || fail "the participant's show did not print the exercise"
grep -q 'credential     form field "password" in POST /login: ' "$out" || fail "the participant's sniffer did not read the bot's password"
grep -q '^PASSED password: that is the password .* typed$' "$out" || fail "the right answer did not pass"
grep -q '^NOT YET password: that is not the password .* typed in this exercise$' "$out" || fail "another participant's answer passed"
grep -q 'cat: /run/plainsight-workshop/workshop/key: No such file or directory' "$out" || fail "the participant read the workshop key"
grep -q -E '^workshop-01 +done ' "$out" || fail "progress does not show participant 1 done"
grep -q -E '^workshop-02 +1 tries ' "$out" || fail "progress does not show participant 2's failed try"
grep -q 'workshop workshop removed (2 labs' "$out" || fail "workshop down did not run"
! grep -q '^workshop-' <<<"$(ip netns list)" || fail "namespaces left after workshop down"
! grep -q '^ps-workshop-' /etc/passwd || fail "accounts left after workshop down"
rm -f "$out"
echo "test-workshop: the README's trainer session works as written (sshd, handout, participants over SSH: exercise shown, password sniffed, checked, key refused; progress, down)"

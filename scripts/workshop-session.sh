#!/usr/bin/env bash
# "Running a workshop" (README), as a trainer pastes it into a root shell, with the
# participants' SSH logins scripted (sshpass types the password from the handout).
# scripts/test-workshop.sh runs this very file and checks what each step shows.
cd "$(mktemp -d)"                                           # a scratch folder
plainsight workshop up --participants 2 --ssh               # a lab, bot, account and sandbox per participant; sshd on port 2222
plainsight workshop exercises                               # id and title, one a line
plainsight workshop handout --host 127.0.0.1 | head -5      # participant 1's card
plainsight workshop handout --host 127.0.0.1 --json > cards.json
card() { python3 -c "import json,sys; print(json.load(open('cards.json'))[$1 - 1][sys.argv[1]])" "$2"; }
as() { sshpass -p "$(card "$1" password)" ssh -o UserKnownHostsFile=known_hosts -o StrictHostKeyChecking=accept-new -p 2222 "$(card "$1" user)@127.0.0.1" "${@:2}"; }
as 1 > sniffed.txt <<'EOT'                                  # participant 1 logs in: a shell on their lab's gateway
plainsight workshop show password | head -4
plainsight sniff --reveal --duration 45 | grep -m1 'form field "password"'
EOT
cat sniffed.txt
answer=$(grep 'form field "password"' sniffed.txt | sed 's/.*POST \/login: //')
as 1 plainsight workshop check password --answer "'$answer'"        # PASSED
as 2 plainsight workshop show password > /dev/null
as 2 plainsight workshop check password --answer "'$answer'"        # NOT YET: not their bot's password
as 1 cat /run/plainsight-workshop/workshop/key                      # refused: not theirs to read
plainsight workshop progress
plainsight workshop down                                    # labs, bots, accounts, sshd go; progress stays

#!/usr/bin/env bash
# "Running a workshop" (README), as a trainer pastes it into a root shell, with a
# participant's shell fed from a here-document instead of typed. scripts/test-workshop.sh
# runs this very file and checks what each step shows.
cd "$(mktemp -d)"                                           # a scratch folder
plainsight workshop up --participants 2                     # a lab and a visitor bot per participant
plainsight workshop exercises                               # id and title, one a line
plainsight workshop show password --participant 1 | head -4 # what participant 1 reads; sets their lab up
plainsight workshop shell 1 > sniffed.txt <<'EOF'           # participant 1, on their lab's gateway
plainsight sniff --reveal --duration 45 | grep -m1 'form field "password"'
EOF
cat sniffed.txt
answer=$(sed 's/.*POST \/login: //' sniffed.txt)
plainsight workshop check password --participant 1 --answer "$answer"     # PASSED
plainsight workshop show password --participant 2 > /dev/null
plainsight workshop check password --participant 2 --answer "$answer"     # NOT YET: not their bot's password
plainsight workshop progress
plainsight workshop down                                    # labs and bots go; progress stays

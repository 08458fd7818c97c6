#!/usr/bin/env bash
# Workshop step 3 (README): a live lab to explore, as participants paste it into a root
# shell. scripts/test-workshop.sh runs this very file and checks what each step shows.
cd "$(mktemp -d)"                                     # a scratch folder for the captures
plainsight lab up --no-redirect      # the default site sends http:// to https:// with HSTS; here it stays plain
plainsight sniff --reveal -w gateway.pcapng > sniff.log &            # the gateway eavesdrops
sniff=$!
plainsight inject --tls passthrough > inject.jsonl 2> inject.log &   # ... and injects ads into HTTP
inject=$!
for _ in $(seq 100); do grep -q intercepting inject.log && [ -s gateway.pcapng ] && break; sleep 0.1; done
plainsight visit http://clinic.test/                                 # the visitor: sign in, article, account
plainsight lab exec visitor -- curl -s http://clinic.test/ | grep -o 'SPECIAL OFFER[^:]*'   # the ad, in plain HTTP
plainsight lab exec visitor -- curl -s --cacert /run/plainsight/plainsight/ca.pem https://clinic.test/ \
  | grep -c plainsight-ad                                            # 0: over HTTPS the page arrives intact
kill $sniff $inject; wait
grep -E 'credential|session-cookie' sniff.log                        # what the gateway read
plainsight analyze gateway.pcapng | head -5                          # the capture, for Wireshark or analyze
plainsight lab down

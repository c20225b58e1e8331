#!/usr/bin/env bash
# The routing mesh in a 1+1 lab (m1, w1): `service create --publish
# 8080:8000` answers on every node, on each node's address and on its
# 127.0.0.1, also on the node with no task of the service, spreading
# connections over all tasks; a published port another service holds is
# refused; without a number one is chosen from 30000-32767 and shown;
# service rm leaves no rule, namespace or link behind. Traffic only inside
# the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

ready_nodes() { on m1 node ls --format '{{.Status}}' | grep -c Ready || true; }
all_ready() { [ "$(ready_nodes)" = "$1" ]; }
running() {
  on m1 service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running' || true
}
running_eq() { [ "$(running "$1")" = "$2" ]; }
get() { lab exec "$1" -- curl -s -m 3 "http://$2/" 2>/dev/null | head -1; }  # get NODE HOST:PORT
answers() { [[ "$(get "$1" "$2")" == "I'm "* ]]; }
hostnames() {  # hostnames NODE HOST:PORT N: distinct hostnames of N fetches
  for _ in $(seq "$3"); do get "$1" "$2"; echo; done | awk '/^I.m / {print $2}' | sort -u | wc -l
}
hostnames_eq() { [ "$(hostnames "$1" "$2" "$3")" = "$4" ]; }

log "lab up --managers 1 --workers 1"
lab up --managers 1 --workers 1 >/dev/null
check "2 nodes Ready within 15 s" wait_for "2 nodes Ready" 15 all_ready 2
for n in m1 w1; do on "$n" image load -i "$IMAGES_DIR/whoami.tar" >/dev/null; done
M1=$(node_field m1 address)
W1=$(node_field w1 address)

on m1 service create -d --name web --publish 8080:8000 --constraint node.hostname==m1 whoami >/dev/null
check "web runs (on m1 only)" wait_for "web running" 60 running_eq web 1
for n in m1 w1; do
  for target in "127.0.0.1:8080" "$M1:8080" "$W1:8080"; do
    check "from $n, $target answers" wait_for "$target from $n" 15 answers "$n" "$target"
  done
done

err=$(on m1 service create -d --name clash --publish 8080:80 whoami 2>&1 || true)
expect_contains "a published port in use is refused with the holder" "port '8080' is already in use by service 'web'" "$err"
check "the refused service was not created" eval '! on m1 service inspect clash >/dev/null 2>&1'

on m1 service update -d --constraint-rm node.hostname==m1 --replicas 3 web >/dev/null
check "web scaled to 3" wait_for "3 running" 60 running_eq web 3
check "the mesh spreads over the 3 tasks from w1's localhost" wait_for "3 hostnames" 20 hostnames_eq w1 127.0.0.1:8080 9 3

on m1 service create -d --name auto --publish target=8000 whoami >/dev/null
AUTO=$(on m1 service inspect auto --format '{{json .Endpoint.Ports}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["PublishedPort"])')
check "a port without a number gets one of 30000-32767 ($AUTO)" eval '((AUTO >= 30000 && AUTO <= 32767))'
check "auto running" wait_for "auto running" 60 running_eq auto 1
check "and answers on it from w1" wait_for "auto on w1" 15 answers w1 "127.0.0.1:$AUTO"

on m1 service rm web auto >/dev/null
clean() {
  for n in m1 w1; do
    [ "$(lab exec "$n" -- nft list tables | grep -c shoal || true)" = 0 ] || return 1
    [ "$(lab exec "$n" -- ip -o link show | grep -cE ': (vx-|gw-|shoal_)' || true)" = 0 ] || return 1
  done
}
check "after service rm no mesh rule or link is left on either node" wait_for "clean" 30 clean
check "the port no longer answers" eval '! answers w1 127.0.0.1:8080'

finish

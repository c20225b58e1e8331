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

get() { lab exec "$1" -- curl -s -m 3 "http://$2/" 2>/dev/null | head -1; }  # get NODE HOST:PORT
answers() { [[ "$(get "$1" "$2")" == "I'm "* ]]; }
hostnames() {  # hostnames NODE HOST:PORT N: distinct hostnames of N fetches
  for _ in $(seq "$3"); do get "$1" "$2"; echo; done | awk '/^I.m / {print $2}' | sort -u | wc -l
}
hostnames_eq() { [ "$(hostnames "$1" "$2" "$3")" = "$4" ]; }

log "lab up --managers 1 --workers 1"
lab up --managers 1 --workers 1 >/dev/null
check "2 nodes Ready within 15 s" wait_for "2 nodes Ready" 15 lab_ready_eq 2
for n in m1 w1; do on "$n" image load -i "$IMAGES_DIR/whoami.tar" >/dev/null; done
M1=$(node_field m1 address)
W1=$(node_field w1 address)

on m1 service create -d --name web --publish 8080:8000 --constraint node.hostname==m1 whoami >/dev/null
check "web runs (on m1 only)" wait_for "web running" 60 lab_running_eq web 1
for n in m1 w1; do
  for target in "127.0.0.1:8080" "$M1:8080" "$W1:8080"; do
    check "from $n, $target answers" wait_for "$target from $n" 15 answers "$n" "$target"
  done
done

err=$(on m1 service create -d --name clash --publish 8080:80 whoami 2>&1 || true)
expect_contains "a published port in use is refused with the holder" "port '8080' is already in use by service 'web'" "$err"
check "the refused service was not created" eval '! on m1 service inspect clash >/dev/null 2>&1'

on m1 service update -d --constraint-rm node.hostname==m1 --replicas 3 web >/dev/null
check "web scaled to 3" wait_for "3 running" 60 lab_running_eq web 3
check "the mesh spreads over the 3 tasks from w1's localhost" wait_for "3 hostnames" 20 hostnames_eq w1 127.0.0.1:8080 9 3

err=$(on m1 service create -d --name takeover --publish 2377:80 whoami 2>&1 || true)
expect_contains "the swarm's own port cannot be published" "on every node: publish another one" "$err"

# The fence around the node's own ingress interface: a task on ingress
# reaches no service of a node through it, and the node's local users reach
# no task's port but through the mesh. A listener on all of m1's addresses
# (ours, ended by pid) shows what a task could otherwise reach.
if command -v docker >/dev/null; then
  dkn() { DOCKER_HOST="unix://$(sock "$1")" docker "${@:2}"; }
  lab exec m1 -- python3 -m http.server 9999 --bind 0.0.0.0 >/dev/null 2>&1 &
  listener=$!
  check "m1's own listener answers on its address" wait_for "listener" 15 eval 'lab exec m1 -- curl -s -o /dev/null -m 2 "http://$M1:9999/"'
  cid=$(dkn w1 ps -q --filter label=com.docker.swarm.service.name=web | head -1)
  M1_INGRESS=$(lab exec m1 -- ip -4 -o addr show shoal_ingress | awk '{print $4}' | cut -d/ -f1)
  TASK_IP=$(dkn w1 exec "$cid" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
  check "m1 has an ingress address ($M1_INGRESS) and w1's task one ($TASK_IP)" eval '[[ -n "$M1_INGRESS" && -n "$TASK_IP" ]]'
  # from_task HOST PORT: an HTTP answer from there, asked from w1's web task (busybox nc).
  from_task() { dkn w1 exec "$cid" sh -c "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 $1 $2" 2>/dev/null | grep -q '^HTTP/1'; }
  check "a task reaches m1's published port at m1's address" wait_for "task to M1:8080" 10 from_task "$M1" 8080
  check "and m1's listener there" wait_for "task to M1:9999" 10 from_task "$M1" 9999
  check "but no service of m1 at its ingress address" eval '! from_task "$M1_INGRESS" 9999'
  mcid=$(dkn m1 ps -q --filter label=com.docker.swarm.service.name=web | head -1)
  check "m1's own task reaches w1's task at its address over ingress (the address and port are right)" \
    wait_for "m1 task to w1 task" 10 eval 'dkn m1 exec "$mcid" sh -c "printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 3 $TASK_IP 8000" | grep -q "^HTTP/1"'
  check "m1's local users reach w1's task only through the mesh, not at its address" \
    eval '! lab exec m1 -- curl -s -o /dev/null -m 3 "http://$TASK_IP:8000/"'
  kill "$listener" 2>/dev/null || true
  wait "$listener" 2>/dev/null || true
else
  echo "# no docker CLI: the fence checks (exec into tasks) are skipped"
fi

on m1 service create -d --name auto --publish target=8000 whoami >/dev/null
AUTO=$(on m1 service inspect auto --format '{{json .Endpoint.Ports}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["PublishedPort"])')
check "a port without a number gets one of 30000-32767 ($AUTO)" eval '((AUTO >= 30000 && AUTO <= 32767))'
check "auto running" wait_for "auto running" 60 lab_running_eq auto 1
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

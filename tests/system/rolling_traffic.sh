#!/usr/bin/env bash
# A rolling update under steady load fails no request, in a 1+1 lab (m1,
# w1): `service update --force` replaces web's 3 tasks one by one while a
# client on w1 fetches through the routing mesh (127.0.0.1:8080) and a
# client task fetches web's VIP by name, each with a new connection per
# request. Each old task leaves every node's DNS answers and rotations
# before it gets its stop signal (the dispatcher holds the stop until the
# nodes applied their views), so no request meets a task that is going.
# Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

tasks_json() {
  curl -s --unix-socket "$(sock m1)" -G "http://localhost/v1.41/tasks" \
    --data-urlencode "filters={\"service\":{\"$1\":true},\"desired-state\":{\"running\":true}}"
}
running_ids() {  # running_ids SERVICE: ids of its running tasks (desired running), sorted
  tasks_json "$1" | python3 -c 'import json,sys
print(" ".join(sorted(t["ID"] for t in json.load(sys.stdin) if t["Status"]["State"]=="running")))'
}
running() { local ids; ids=$(running_ids "$1"); wc -w <<<"$ids"; }
running_eq() { [ "$(running "$1")" = "$2" ]; }
task_pid() {
  tasks_json "$1" | python3 -c 'import json,sys
ts=[t for t in json.load(sys.stdin) if t["Status"]["State"]=="running"]
print(ts[0]["Status"]["ContainerStatus"]["PID"] if ts else "")'
}
count() { grep -c "^$1\$" "$2" || true; }  # count WORD FILE

log "lab up --managers 1 --workers 1"
lab up --managers 1 --workers 1 >/dev/null
check "2 nodes Ready within 15 s" wait_for "2 nodes Ready" 15 lab_ready_eq 2
for n in m1 w1; do
  on "$n" image load -i "$IMAGES_DIR/whoami.tar" >/dev/null
  on "$n" image import "$IMAGES_DIR/busybox.tar" busybox:latest >/dev/null
done
on m1 network create --driver overlay net >/dev/null
on m1 service create -d --name web --network net --publish 8080:8000 --replicas 3 whoami >/dev/null
on m1 service create -d --name client --network net busybox sleep 100000 >/dev/null
check "web runs 3 tasks" wait_for "web running" 60 running_eq web 3
check "client runs" wait_for "client running" 60 running_eq client 1
check "web answers through the mesh on w1" wait_for "mesh" 20 eval \
  'lab exec w1 -- curl -s -m 2 http://127.0.0.1:8080/ | grep -q "^I.m "'
CPID=$(task_pid client)
in_client() { timeout -k 2 "$1" nsenter -t "$CPID" -m -n "${@:2}"; }
check "web answers at its VIP by name from the client task" wait_for "vip" 20 eval \
  'in_client 5 sh -c "printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc -w 2 web 8000" | grep -q "I.m "'

before=$(running_ids web)
MESH_OUT=$T_DIR/mesh.out VIP_OUT=$T_DIR/vip.out STOP=$T_DIR/stop
# Both loops start now and end once told (the stop file; inside the client
# task, /tmp/stop), or after 240 s if this script ends early: each line is
# one request, ok or fail.
lab exec w1 -- bash -c "while [ ! -e $STOP ] && ((SECONDS < 240)); do
  if curl -s -m 2 http://127.0.0.1:8080/ | grep -q '^I.m '; then echo ok; else echo fail; fi; done" >"$MESH_OUT" 2>/dev/null &
mesh_loop=$!
in_client 240 sh -c 'rm -f /tmp/stop; while [ ! -e /tmp/stop ]; do
  r=$(printf "GET / HTTP/1.0\r\n\r\n" | nc -w 2 web 8000); case "$r" in *"I'"'"'m "*) echo ok ;; *) echo fail ;; esac; done' \
  >"$VIP_OUT" 2>/dev/null &
vip_loop=$!
check "both loads run before the update" wait_for "load" 10 eval \
  '[ "$(count ok "$MESH_OUT")" -ge 5 ] && [ "$(count ok "$VIP_OUT")" -ge 5 ]'

log "service update --force web, under load"
rc=0
on m1 service update --force web >/dev/null || rc=$?
expect_eq "the update completes" 0 "$rc"
check "web runs 3 tasks again" wait_for "3 running" 60 running_eq web 3
after=$(running_ids web)
check "every task of web was replaced" python3 -c 'import sys
print(sys.argv[1], "->", sys.argv[2]); sys.exit(0 if not set(sys.argv[1].split()) & set(sys.argv[2].split()) else 1)' \
  "$before" "$after"
sleep_until=$((SECONDS + 2))  # a little load after the last replacement too
wait_for "2 s of load after the update" 5 eval '((SECONDS >= sleep_until))' || true
touch "$STOP"
in_client 5 touch /tmp/stop || true
wait "$mesh_loop" 2>/dev/null || true
wait "$vip_loop" 2>/dev/null || true

log "through the mesh: $(count ok "$MESH_OUT") ok, $(count fail "$MESH_OUT") failed"
log "through the VIP: $(count ok "$VIP_OUT") ok, $(count fail "$VIP_OUT") failed"
check "the mesh's load ran through the update (50 requests or more)" eval '[ "$(count ok "$MESH_OUT")" -ge 50 ]'
check "the VIP's load ran through the update (50 requests or more)" eval '[ "$(count ok "$VIP_OUT")" -ge 50 ]'
expect_eq "no request through the mesh failed during the update" 0 "$(count fail "$MESH_OUT")"
expect_eq "no request through the VIP failed during the update" 0 "$(count fail "$VIP_OUT")"

on m1 service rm web client >/dev/null
check "network rm once the tasks are gone" wait_for "network rm" 30 on m1 network rm net
finish

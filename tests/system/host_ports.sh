#!/usr/bin/env bash
# Host-mode published ports in a 1+1 lab (m1, w1): `--publish
# mode=host,target=8000,published=8081` answers on the nodes where a task
# runs (on the node's address and its 127.0.0.1) with that node's task, and
# nowhere else; two tasks publishing the port never share a node (a third
# stays Pending saying why); `service ps` shows the port; a host-mode port
# without a number, or one the mesh holds, is refused; service rm leaves no
# rule behind. Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

get() { lab exec "$1" -- curl -s -m 3 "http://$2/" 2>/dev/null | head -1; }  # get NODE HOST:PORT
# task_host NODE: the hostname (container id prefix) of hp's running task on NODE
task_host() {
  curl -s --unix-socket "$(sock m1)" -G "http://localhost/v1.41/tasks" \
    --data-urlencode "filters={\"service\":{\"hp\":true},\"node\":{\"$1\":true},\"desired-state\":{\"running\":true}}" |
    python3 -c 'import json,sys
ts=[t for t in json.load(sys.stdin) if t["Status"]["State"]=="running"]
print(ts[0]["Status"]["ContainerStatus"]["ContainerID"][:12] if ts else "")'
}
answers_with() { [[ "$(get "$1" "$2")" == "I'm $3" ]]; }
has_table() { lab exec "$1" -- nft list table ip shoal-mesh >/dev/null 2>&1; }

log "lab up --managers 1 --workers 1"
lab up --managers 1 --workers 1 >/dev/null
check "2 nodes Ready within 15 s" wait_for "2 nodes Ready" 15 lab_ready_eq 2
for n in m1 w1; do on "$n" image load -i "$IMAGES_DIR/whoami.tar" >/dev/null; done
M1=$(node_field m1 address)
W1=$(node_field w1 address)

err=$(on m1 service create -d --name nonum --publish mode=host,target=8000 whoami 2>&1 || true)
expect_contains "a host-mode port without a number is refused" "has no published port: give one" "$err"

on m1 service create -d --name hp --publish mode=host,target=8000,published=8081 --replicas 2 whoami >/dev/null
check "hp runs 2 tasks" wait_for "2 running" 60 lab_running_eq hp 2
nodes=$(on m1 service ps hp --filter desired-state=running --format '{{.Node}}' | sort -u | tr '\n' ' ')
expect_eq "one task on each node" "m1 w1 " "$nodes"
HM=$(task_host m1)
HW=$(task_host w1)
check "each node's task has a container ($HM, $HW)" eval '[[ -n "$HM" && -n "$HW" && "$HM" != "$HW" ]]'
for n in m1 w1; do
  check "from $n, m1:8081 answers with m1's task" wait_for "m1:8081 from $n" 15 answers_with "$n" "$M1:8081" "$HM"
  check "from $n, w1:8081 answers with w1's task" wait_for "w1:8081 from $n" 15 answers_with "$n" "$W1:8081" "$HW"
done
check "m1's 127.0.0.1:8081 is m1's task" answers_with m1 127.0.0.1:8081 "$HM"
check "w1's 127.0.0.1:8081 is w1's task" answers_with w1 127.0.0.1:8081 "$HW"
ports=$(on m1 service ps hp --filter desired-state=running --format '{{.Ports}}' | sort -u)
expect_eq "service ps shows the host-mode port" "*:8081->8000/tcp" "$ports"

if command -v docker >/dev/null; then
  dports=$(DOCKER_HOST="unix://$(sock w1)" docker ps --filter label=com.docker.swarm.service.name=hp --format '{{.Ports}}')
  expect_eq "docker ps on w1 shows its task's port" "0.0.0.0:8081->8000/tcp" "$dports"
else
  echo "# no docker CLI: the docker ps check is skipped"
fi

err=$(on m1 service create -d --name clash --publish 8081:8000 whoami 2>&1 || true)
expect_contains "the mesh cannot take a host-mode port" "already in use by service 'hp' as a host-mode port" "$err"

on m1 service scale -d hp=3 >/dev/null
pending_err() { on m1 service ps hp --no-trunc --filter desired-state=running --format '{{.CurrentState}}|{{.Error}}' | grep '^Pending'; }
check "a third task stays Pending: no node has the port free" wait_for "pending reason" 20 eval \
  'pending_err | grep -q "host-mode port already in use on 2 nodes"'

on m1 service update -d --replicas 1 --constraint-add node.hostname==m1 hp >/dev/null
check "hp is down to m1's task" wait_for "1 running" 60 lab_running_eq hp 1

check "w1 no longer answers 8081 (host mode binds only where tasks run)" wait_for "w1 quiet" 20 eval \
  '! lab exec m1 -- curl -s -m 2 -o /dev/null "http://$W1:8081/"'
check "w1 holds no mapping table any more" wait_for "w1 table gone" 20 eval '! has_table w1'
HM=$(task_host m1)
check "m1 still answers with its task" wait_for "m1" 15 answers_with w1 "$M1:8081" "$HM"

on m1 service rm hp >/dev/null
check "after service rm no mapping table is left on m1" wait_for "m1 table gone" 30 eval '! has_table m1'
check "8081 no longer answers on m1" eval '! lab exec w1 -- curl -s -m 2 -o /dev/null "http://$M1:8081/"'
finish

#!/usr/bin/env bash
# Node availability, labels and placement across the nodes of a 1+2 lab
# (m1, w1, w2): 3 replicas spread one per node; constraints on node.id,
# node.hostname, node.role, node.platform.os/arch, node.labels.* and
# engine.labels.* with == and !=; a task that fits nowhere stays Pending
# with the reason; node update --label-add/--label-rm; a global service runs
# one task per eligible node; drain shuts down every task on the node and
# replaces the replicated ones elsewhere (node ls shows Drain, node ps the
# shut-down tasks); pause keeps the node's tasks and places no new ones; a
# reactivated node gets its global task back; swarm leave on a manager is
# refused without --force. Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

ready_nodes() { on m1 node ls --format '{{.Status}}' | grep -c Ready || true; }
all_ready() { [ "$(ready_nodes)" = "$1" ]; }
node_id() { on "$1" info --format '{{.Swarm.NodeID}}'; }
# running_on SERVICE NODE-HOSTNAME: tasks of SERVICE running on the node
running_on() {
  on m1 service ps "$1" --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' |
    awk -v n="$2" '$1==n && $2=="Running"' | wc -l
}
# running SERVICE: tasks of SERVICE running (desired running), on any node
running() {
  on m1 service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running' || true
}
running_eq() { [ "$(running "$1")" = "$2" ]; }
# placement SERVICE: "NODE:N ..." of its running tasks, sorted by node
placement() {
  on m1 service ps "$1" --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' |
    awk '$2=="Running" {c[$1]++} END {for (n in c) print n":"c[n]}' | sort | tr '\n' ' ' | sed 's/ $//'
}
placement_eq() { [ "$(placement "$1")" = "$2" ]; }
# pending_why SERVICE: its task is Pending with "no suitable node (...)" in ERROR
pending_why() {
  local out
  out=$(on m1 service ps "$1" --no-trunc --format '{{.CurrentState}}|{{.Error}}') || return 1
  [[ "$out" == Pending*'|"no suitable node ('* ]]  # docker quotes ERROR
}

log "lab up --managers 1 --workers 2"
lab up --managers 1 --workers 2 >/dev/null
check "3 nodes Ready within 15 s" wait_for "3 nodes Ready" 15 all_ready 3
for n in m1 w1 w2; do on "$n" image import "$IMAGES_DIR/busybox.tar" busybox:latest >/dev/null; done
W1=$(node_id w1)

# Spread: 3 replicas on 3 nodes, one each.
on m1 service create -d --name spread --replicas 3 busybox sleep 1000 >/dev/null
check "spread: 3 replicas, one on each of m1, w1, w2" wait_for "one per node" 30 placement_eq spread "m1:1 w1:1 w2:1"

# Labels.
on m1 node update --label-add zone=east --label-add disk=ssd w1 >/dev/null
expect_eq "node update --label-add: w1's labels" 'map[disk:ssd zone:east]' \
  "$(on m1 node inspect w1 --format '{{.Spec.Labels}}')"
on m1 node update --label-rm disk w1 >/dev/null
expect_eq "node update --label-rm: disk removed, zone kept" 'map[zone:east]' \
  "$(on m1 node inspect w1 --format '{{.Spec.Labels}}')"
on m1 node update --label-add zone=west w2 >/dev/null

# Constraints, each checked by where its tasks run.
OS=$(on m1 node inspect w2 --format '{{.Description.Platform.OS}}')
ARCH=$(on m1 node inspect w2 --format '{{.Description.Platform.Architecture}}')
cons() {  # cons NAME REPLICAS EXPECTED-PLACEMENT CONSTRAINT...
  local name=$1 reps=$2 want=$3; shift 3
  local args=()
  for c in "$@"; do args+=(--constraint "$c"); done
  on m1 service create -d --name "$name" --replicas "$reps" "${args[@]}" busybox sleep 1000 >/dev/null
  check "constraint $*: $want" wait_for "$name placed" 30 placement_eq "$name" "$want"
}
cons c-id 2 "w1:2" "node.id==$W1"
cons c-host 2 "w2:2" "node.hostname==w2"
cons c-mgr 2 "m1:2" "node.role==manager"
cons c-worker 2 "w1:1 w2:1" "node.role!=manager"
cons c-label 2 "w1:2" "node.labels.zone==east"
cons c-nlabel 2 "m1:1 w2:1" "node.labels.zone!=east"
cons c-two 1 "w2:1" "node.role==worker" "node.hostname!=w1"
cons c-os 3 "m1:1 w1:1 w2:1" "node.platform.os==$OS"
cons c-arch 1 "w2:1" "node.platform.arch==$ARCH" "node.hostname==w2"
cons c-engine 3 "m1:1 w1:1 w2:1" "engine.labels.tier!=db"

# Nothing fits: Pending, with the reason in service ps.
on m1 service create -d --name nowhere --constraint node.labels.zone==north busybox sleep 1000 >/dev/null
check "a constraint no node satisfies: Pending with 'no suitable node'" wait_for "nowhere pending" 15 pending_why nowhere
why=$(on m1 service ps nowhere --format '{{.Error}}' --no-trunc)
expect_contains "the reason counts the nodes the constraints ruled out" "scheduling constraints not satisfied on 3 nodes" "$why"
on m1 node update --label-add zone=north w2 >/dev/null
check "labelling w2 zone=north places the pending task there" wait_for "nowhere on w2" 20 placement_eq nowhere "w2:1"
on m1 service create -d --name engine-none --constraint engine.labels.tier==db busybox sleep 1000 >/dev/null
check "engine.labels.tier==db (no node has engine labels): Pending" wait_for "engine-none pending" 15 pending_why engine-none
out=$(on m1 service create -d --name badc --constraint 'node.colour==red' busybox sleep 1 2>&1 || true)
expect_contains "an unknown constraint key is refused, naming the keys" "engine.labels.<name>" "$out"

# Global: one task on every eligible node.
on m1 service create -d --name glob --mode global busybox sleep 1000 >/dev/null
check "global: one task on each node" wait_for "glob on every node" 30 placement_eq glob "m1:1 w1:1 w2:1"
on m1 service create -d --name glob-w --mode global --constraint node.role==worker busybox sleep 1000 >/dev/null
check "global with node.role==worker: one on each worker" wait_for "glob-w on workers" 30 placement_eq glob-w "w1:1 w2:1"

# Pause w1: its tasks keep running, no new task goes there.
on m1 node update --availability pause w1 >/dev/null
expect_eq "node ls shows w1 Pause" "Pause" "$(on m1 node ls --filter name=w1 --format '{{.Availability}}')"
on m1 service scale -d spread=6 >/dev/null
check "spread scaled to 6 with w1 paused: 6 running" wait_for "spread 6" 30 running_eq spread 6
expect_eq "paused w1 keeps its one spread task and gets none of the new ones" "1" "$(running_on spread w1)"
expect_eq "paused w1 still runs its global task" "1" "$(running_on glob w1)"
on m1 service create -d --name on-paused --constraint node.hostname==w1 busybox sleep 1000 >/dev/null
check "a task only w1 could take stays Pending while w1 is paused" wait_for "on-paused pending" 15 pending_why on-paused
on m1 node update --availability active w1 >/dev/null
check "w1 active again: the pending task runs there" wait_for "on-paused on w1" 20 placement_eq on-paused "w1:1"

# Drain w2: every task leaves it; the replicated ones run elsewhere.
on m1 node update --availability drain w2 >/dev/null
expect_eq "node ls shows w2 Drain" "Drain" "$(on m1 node ls --filter name=w2 --format '{{.Availability}}')"
none_on_w2() {
  local live here
  live=$(on m1 node ps w2 --filter desired-state=running -q) || return 1
  here=$(on w2 ps -q) || return 1
  [ -z "$live" ] && [ -z "$here" ]
}
check "drain: no task of any service desired running on w2, no container left on it" wait_for "w2 empty" 30 none_on_w2
check "drain: spread's 6 replicas run on m1 and w1" wait_for "spread moved" 30 running_eq spread 6
expect_eq "drain: no spread task on w2" "0" "$(running_on spread w2)"
check "drain: c-host (node.hostname==w2) waits Pending" wait_for "c-host pending" 15 \
  bash -c "[ \"\$($SHOAL -H unix://$(sock m1) service ps c-host --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Pending')\" = 2 ]"
check "drain: the global service lost its w2 task" wait_for "glob off w2" 20 placement_eq glob "m1:1 w1:1"
ps_out=$(on m1 node ps w2)
echo "$ps_out" | head -5
expect_eq "node ps w2: docker's columns" "ID NAME IMAGE NODE DESIRED STATE CURRENT STATE ERROR PORTS" \
  "$(echo "$ps_out" | head -1 | tr -s ' ' | sed 's/ $//')"
expect_contains "node ps w2 lists its shut-down tasks" "Shutdown" "$ps_out"
expect_eq "node ps (self) on m1 lists m1's tasks" "1" "$(( $(on m1 node ps --filter desired-state=running -q | wc -l) >= 5 ))"
# The stock docker CLI (optional here: skipped where it is not installed): node ps and node update --availability/--label-add.
if command -v docker >/dev/null; then
  dock() { DOCKER_HOST="unix://$(sock m1)" docker "$@"; }
  expect_eq "docker node ps w2: no task desired running" "" "$(dock node ps w2 --filter desired-state=running -q)"
  expect_eq "docker node ps w1 lists w1's tasks" "1" "$(( $(dock node ps w1 --filter desired-state=running -q | wc -l) >= 5 ))"
  dock node update --label-add rack=r1 w1 >/dev/null
  expect_eq "docker node update --label-add" "map[rack:r1 zone:east]" "$(dock node inspect w1 --format '{{.Spec.Labels}}')"
  expect_eq "docker node ls shows w2 Drain" "Drain" "$(dock node ls --filter name=w2 --format '{{.Availability}}')"
fi
out=$(on m1 node update --availability sleepy w2 2>&1 || true)
expect_contains "a bad availability is refused" "invalid availability" "$out"

# Active again: the global service is back on w2; replicated tasks stay put.
on m1 node update --availability active w2 >/dev/null
check "w2 active again: the global service runs on it again" wait_for "glob on w2" 30 placement_eq glob "m1:1 w1:1 w2:1"
expect_eq "replicated tasks are not moved back (no rebalancing, as Docker)" "0" "$(running_on spread w2)"

# swarm leave on the manager: refused without --force.
out=$(on m1 swarm leave 2>&1 || true)
expect_contains "swarm leave on a manager without --force is refused" "Use \`--force\` to ignore this message" "$out"
expect_eq "m1 is still in the swarm" "active" "$(on m1 info --format '{{.Swarm.LocalNodeState}}')"

# A node that joins later gets the global service's task.
old_w2=$(node_id w2)
on w2 swarm leave >/dev/null
on m1 node rm --force "$old_w2" >/dev/null
M1=$(node_field m1 address)
on w2 swarm join --token "$(on m1 swarm join-token -q worker)" "$M1:2377" >/dev/null
new_w2=$(node_id w2)
check "w2 joined again with a new node id" test "$old_w2" != "$new_w2"
check "the newly joined w2 gets the global service's task" wait_for "glob on the new w2" 30 placement_eq glob "m1:1 w1:1 w2:1"
check "... and glob-w's (node.role==worker)" wait_for "glob-w on the new w2" 30 placement_eq glob-w "w1:1 w2:1"

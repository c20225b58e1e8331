#!/usr/bin/env bash
# Node failure (issue 6 point 7) on a 3+2 lab: a replicated service spread
# over the five nodes, then
#  1. `lab kill w1` (SIGKILL of its shoald; its containers live on): w1 goes
#     Down and its tasks run elsewhere within 16 s (the target, default 5 s
#     heartbeat) x 1.5 for a loaded machine; `lab start w1`: it gets no task
#     back and the containers of its replaced tasks are stopped within 1 s of
#     its session opening (target; the test allows 3 s);
#  2. `lab kill m1`, the leader: its tasks run elsewhere within 20 s (x 1.5);
#     `lab start m1`: the same as for w1;
#  3. `swarm update --dispatcher-heartbeat 1s`; `lab kill w2`: its tasks run
#     elsewhere within 4 s (x 1.5); `lab start w2`: the same as for w1.
# Throughout: at most one task per slot observed running with desired state
# running. Each figure is printed. Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

REPLICAS=10
SLACK=1.5  # a loaded CI machine: each bound is the target times this

ready_nodes() { on "$1" node ls --format '{{.Status}}' | grep -c Ready || true; }
all_ready() { [ "$(ready_nodes "$1")" = "$2" ]; }
# running_tasks API-NODE: "slot node" of each task of nf observed running
# with desired running.
running_tasks() {
  on "$1" service ps nf --filter desired-state=running --format '{{.Name}} {{.Node}} {{.CurrentState}}' |
    awk '$3=="Running"{print $1, $2}' | sort
}
# placement API-NODE: "NODE:N ..." of nf's running tasks
placement() { running_tasks "$1" | awk '{c[$2]++} END {for (n in c) print n":"c[n]}' | sort | tr '\n' ' '; }
# runc_running NODE: containers runc runs in NODE's data root now.
runc_running() {
  runc --root "$LAB/$1/data/runc" list 2>/dev/null | awk 'NR > 1 && $3 == "running"' | wc -l
}
now() { date +%s.%N; }
ms_since() { python3 -c "print(int(($(now)-$1)*1000))"; }
bound_ms() { python3 -c "print(int($1*1000*$SLACK))"; }
DUPS=""  # slots seen running twice by any poll

# replaced API-NODE LOST-NODE: true once REPLICAS tasks run, none on LOST-NODE;
# records any slot observed running twice on the way.
replaced() {
  local ts d
  ts=$(running_tasks "$1") || return 1
  d=$(echo "$ts" | awk 'NF{print $1}' | uniq -d | tr '\n' ' ')
  [ -n "$d" ] && DUPS="$DUPS $d"
  [ "$(echo "$ts" | awk -v n="$2" 'NF && $2!=n' | wc -l)" = "$REPLICAS" ]
}

# lose NODE API-NODE TARGET-SECONDS: kills NODE, measures the time until its
# tasks run elsewhere, checks the node is Down.
lose() {
  local node=$1 api=$2 target=$3 t0 ms
  local before; before=$(runc_running "$node")
  check "$node runs tasks before it is killed ($before containers)" test "$before" -gt 0
  log "lab kill $node"
  lab kill "$node" >/dev/null
  t0=$(now)
  if wait_for "$node's tasks running elsewhere" 60 replaced "$api" "$node"; then
    ms=$(ms_since "$t0")
    log "node failure: kill of $node -> its $before tasks running elsewhere in $ms ms (target ${target} s)"
    check "$node's tasks run elsewhere within ${target} s x $SLACK ($ms ms)" test "$ms" -lt "$(bound_ms "$target")"
  else
    check "$node's tasks run elsewhere within 60 s" false
  fi
  expect_eq "$node is Down" down "$(on "$api" node inspect "$node" --format '{{.Status.State}}')"
  expect_eq "the lost node's containers outlive its shoald ($node's runc)" "$before" "$(runc_running "$node")"
  expect_eq "no slot was seen running twice" "" "$DUPS"
}

# come_back NODE API-NODE: starts NODE again; it gets no task, and the
# containers of its replaced tasks stop within 1 s x SLACK of its session.
come_back() {
  local node=$1 api=$2 lines opened t1 ms
  lines=$(wc -l <"$LAB/$node/shoald.log")
  log "lab start $node"
  lab start "$node" >/dev/null
  none_left() { [ "$(runc_running "$node")" = 0 ]; }
  # Polled every 50 ms (wait_for's 0.2 s would add up to that to the figure).
  local deadline=$((SECONDS + 60))
  local gone=0
  until ((SECONDS >= deadline)); do
    if none_left; then gone=1; break; fi
    sleep 0.05
  done
  t1=$(now)
  if ((gone)); then
    # When its agent's session opened: the first such line since the start.
    opened=$(tail -n +"$((lines + 1))" "$LAB/$node/shoald.log" | grep -m1 'agent: session .* opened with' |
      awk '{print $1}')
    ms=$(python3 -c 'import sys, datetime
s=sys.argv[1]; head, frac = s.rstrip("Z").split(".")
t=datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc).timestamp() + float("0."+frac)
print(int((float(sys.argv[2]) - t) * 1000))' "$opened" "$t1")
    log "reconnect: $node's session opened at $opened; its stale containers all stopped $ms ms later"
    # The target is 1 s (bench/node_failure.sh measures it); on a loaded CI
    # machine the runc poll alone lags by up to a second, so the test allows 3.
    check "$node's stale containers stopped within 3 s of its session opening ($ms ms; target 1 s)" \
      test "$ms" -lt 3000
  else
    check "$node's stale containers stopped within 60 s of its start" false
  fi
  check "$node is Ready again" wait_for "$node Ready" 20 bash -c \
    "[ \"\$($SHOAL -H unix://$(sock "$api") node inspect $node --format '{{.Status.State}}')\" = ready ]"
  expect_eq "$node gets no task back (no rebalancing, as in Docker)" "" \
    "$(on "$api" node ps "$node" --filter desired-state=running -q)"
  expect_eq "$node runs no container" "0" "$(runc_running "$node")"
  check "still $REPLICAS running, one per slot" replaced "$api" "$node"
  expect_eq "no slot was seen running twice" "" "$DUPS"
}

log "lab up --managers 3 --workers 2"
lab up --managers 3 --workers 2 >/dev/null
check "5 nodes Ready within 15 s" wait_for "5 nodes Ready" 15 all_ready m1 5
for n in m1 m2 m3 w1 w2; do on "$n" image load -i "$IMAGES_DIR/whoami.tar" >/dev/null; done
# Every worker knows every manager (join.json), so a worker whose session
# was on m1 can move when m1 goes.
check "w1 and w2 know the 3 managers within 15 s" wait_for "workers know 3 managers" 15 knows_managers
expect_eq "m1 leads (it ran init)" "m1" \
  "$(on m1 node ls --format '{{.Hostname}} {{.ManagerStatus}}' | awk '$2=="Leader"{print $1}')"

# whoami exits at SIGTERM, so a stop takes no grace period.
on m1 service create -d --name nf --replicas "$REPLICAS" whoami >/dev/null
placement_eq() { [ "$(placement m1)" = "$1" ]; }
check "$REPLICAS replicas, two on each node" wait_for "spread" 40 placement_eq "m1:2 m2:2 m3:2 w1:2 w2:2 "

log "1. a worker lost, default heartbeat (5 s)"
lose w1 m1 16
come_back w1 m1

log "2. the leader lost"
lose m1 m2 20
come_back m1 m2

log "3. a worker lost with a 1 s heartbeat"
out=$(on m2 swarm update --dispatcher-heartbeat 1s 2>&1) || true
expect_eq "swarm update --dispatcher-heartbeat 1s is accepted" "Swarm updated." "$out"
hb=$(curl -s --unix-socket "$(sock m2)" http://localhost/v1.41/swarm |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Spec"]["Dispatcher"]["HeartbeatPeriod"])')
expect_eq "swarm update --dispatcher-heartbeat 1s: the spec holds 1 s" "1000000000" "$hb"
if command -v docker >/dev/null; then  # the stock CLI shows it too (docker is optional here)
  expect_eq "docker info shows the 1s heartbeat" "1s" \
    "$(DOCKER_HOST="unix://$(sock m2)" docker info --format '{{.Swarm.Cluster.Spec.Dispatcher.HeartbeatPeriod}}')"
fi
# w2's agent beats with the new period once a heartbeat answer told it so.
w2_fast() { grep -q 'agent: heartbeat period now 1s' "$LAB/w2/shoald.log"; }
check "w2's agent heartbeats every 1 s within 10 s" wait_for "w2 at 1 s" 10 w2_fast
lose w2 m2 4
come_back w2 m2

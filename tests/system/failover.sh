#!/usr/bin/env bash
# Leader failover on a 3+2 lab (issue 6 point 5): `lab kill` of the leading
# manager (SIGKILL of its shoald and etcd). The other managers find that it
# no longer answers their probes and revoke its lease; one of them leads and
# its control loops act: a `service scale` written right after the kill is
# carried out within 5 s (the time is printed). The tasks that ran before run
# on, same ids, one per slot; the API answers through the other managers;
# agents whose session was on the killed manager move to another one (every
# node Ready again); after `lab start` the killed manager is Reachable.
# Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

ready_nodes() { on "$1" node ls --format '{{.Status}}' | grep -c Ready || true; }
all_ready() { [ "$(ready_nodes "$1")" = "$2" ]; }
leader_of() { on "$1" node ls --format '{{.Hostname}} {{.ManagerStatus}}' 2>/dev/null | awk '$2=="Leader"{print $1}'; }
# tasks NODE SERVICE: "slot id" of each task observed running with desired running
running_tasks() {
  on "$1" service ps "$2" --no-trunc --filter desired-state=running --format '{{.Name}} {{.ID}} {{.CurrentState}}' |
    awk '$3=="Running"{print $1, $2}' | sort
}
running_n() { running_tasks "$1" "$2" | wc -l; }
running_eq() { [ "$(running_n "$1" "$2")" = "$3" ]; }
dup_slots() { running_tasks "$1" "$2" | awk '{print $1}' | uniq -d | tr '\n' ' '; }
statuses() { on "$1" node ls --format '{{.ManagerStatus}}' | grep . | sort | tr '\n' ' '; }
statuses_eq() { [ "$(statuses "$1")" = "$2" ]; }

log "lab up --managers 3 --workers 2"
lab up --managers 3 --workers 2 >/dev/null
check "5 nodes Ready within 10 s" wait_for "5 nodes Ready" 10 all_ready m1 5
for n in m1 m2 m3 w1 w2; do on "$n" image import "$IMAGES_DIR/busybox.tar" busybox:latest >/dev/null; done

# Every worker knows every manager before the kill (its join.json, updated
# from register and heartbeat answers): a worker that knew only m1 could not
# move its session, would be marked Down, and the scale (constrained to
# workers) could never be carried out.
check "w1 and w2 know the 3 managers within 15 s" wait_for "workers know 3 managers" 15 knows_managers

OLD=$(leader_of m1)
expect_eq "m1 leads (it ran init)" "m1" "$OLD"
# On the workers: their sessions are on m1 (the killed leader), so the scale
# below runs only once they moved to another manager.
on m1 service create -d --name fo --replicas 6 --constraint node.role==worker busybox sleep 3600 >/dev/null
check "6 replicas running within 20 s" wait_for "6 running" 20 running_eq m1 fo 6
BEFORE=$(running_tasks m1 fo)

# The live leader answered every probe (GET /_shoal/leader/v1/probe, on its
# swarm listener's I/O thread) through the lab's start and the 6 tasks' start.
expect_eq "no manager suspected the live leader before the kill" "" \
  "$(grep -l 'probes in a row: suspected' "$LAB"/m*/shoald.log 2>/dev/null | tr '\n' ' ')"

# etcd runs with a 500 ms election timeout (etcd_member.h): on this loaded
# machine it must not call elections while the raft leader lives.
expect_eq "no etcd follower called an election before the kill" "" \
  "$(grep -l 'became candidate' "$LAB"/m2/data/etcd.log "$LAB"/m3/data/etcd.log 2>/dev/null | tr '\n' ' ')"

SURVIVOR=m2
log "lab kill $OLD"
lab kill "$OLD"
t0=$(date +%s.%N)
# The scale is written through a surviving manager at once (-d: the write
# only; the store needs only etcd's quorum, a write that lands while etcd
# elects its new raft leader fails fast and is sent again); only a leader's
# orchestrator carries it out.
scale_ok() { scale_out=$(on "$SURVIVOR" service scale -d fo=8 2>&1); }
wait_for "the scale accepted" 20 scale_ok || true
ts=$(date +%s.%N)
expect_contains "service scale through $SURVIVOR right after the kill is accepted" "fo scaled to 8" "$scale_out"
ws=$(python3 -c "print(int(($ts-$t0)*1000))")
log "failover: the scale written through $SURVIVOR $ws ms after the kill"
# A write sent right after the kill waits its whole deadline (it is forwarded
# to the dead raft leader): 1 s now, then the store's retry goes through; with
# the old 2 s deadline it landed 2.0 s after the kill.
check "the scale accepted within 1.9 s of the kill ($ws ms)" test "$ws" -lt 1900
check "a new leader's control loops run 8 replicas within 20 s" wait_for "8 running" 20 running_eq "$SURVIVOR" fo 8
t1=$(date +%s.%N)
ms=$(python3 -c "print(int(($t1-$t0)*1000))")
log "failover: kill of $OLD -> the new leader's scale carried out in $ms ms"
check "carried out within 5 s of the kill ($ms ms)" test "$ms" -lt 5000
NEW=$(leader_of "$SURVIVOR")
expect_contains "another manager leads" "$NEW" "m2 m3"
expect_eq "m3 names the same leader" "$NEW" "$(leader_of m3)"

AFTER=$(running_tasks "$SURVIVOR" fo)
expect_eq "the 6 tasks that ran before still run, same ids" "" \
  "$(comm -23 <(echo "$BEFORE") <(echo "$AFTER") | tr '\n' ' ')"
expect_eq "no slot has two running tasks" "" "$(dup_slots "$SURVIVOR" fo)"
expect_eq "the API answers through m3 too" "fo" "$(on m3 service ls --format '{{.Name}}')"

node_state() { on "$SURVIVOR" node inspect "$1" --format '{{.Status.State}}'; }
others_ready() { for n in m2 m3 w1 w2; do [ "$(node_state "$n")" = ready ] || return 1; done; }
check "$OLD (killed) is marked down within 40 s" wait_for "$OLD down" 40 bash -c \
  "[ \"\$($SHOAL -H unix://$(sock $SURVIVOR) node inspect $OLD --format '{{.Status.State}}')\" = down ]"
check "m2, m3, w1, w2 stay Ready meanwhile (the workers' sessions moved off $OLD)" others_ready
# last_session WORKER: the manager address of its agent's last session
last_session() { grep -o 'opened with https://[0-9.]*' "$LAB/$1/shoald.log" | tail -1 | sed 's|.*https://||'; }
for w in w1 w2; do
  s=$(last_session "$w")
  check "$w's session is on a surviving manager ($s)" test -n "$s" -a "$s" != "$(node_field "$OLD" address)"
done
on "$SURVIVOR" node ls

log "lab start $OLD"
lab start "$OLD" >/dev/null
check "$OLD comes back Reachable, one Leader within 20 s" \
  wait_for "statuses" 20 statuses_eq "$SURVIVOR" "Leader Reachable Reachable "
check "every node Ready within 20 s" wait_for "5 Ready" 20 all_ready "$SURVIVOR" 5
expect_eq "still 8 running, no slot twice" "8 " "$(running_n "$SURVIVOR" fo) $(dup_slots "$SURVIVOR" fo)"
on "$SURVIVOR" node ls

#!/usr/bin/env bash
# The README's first command (issue 6 point 12, issue 7 points 7 and 9):
# scripts/demo.sh runs the tutorial's cluster part on a 3+2 lab -- a service
# spread over the 5 nodes, a killed container replaced, a killed node's task
# rescheduled, a drain, a manager demoted that leaves (and joins again), a
# leader failover -- then its network part -- Web published on 80 answering
# on all 5 nodes' addresses and localhosts, foo reaching bar by name with 3
# hostnames in turn, 5 after a scale-up -- each step waiting with a
# deadline, and leaves the lab running. Here it runs with
# --no-build (the build dir's shoal, no install; scripts/test.sh has built
# it) in the test's lab dir, which lab_cleanup removes. Also: a lab the demo
# did not make is refused (non-zero, the step named) and left alone; a
# previous demo lab is removed first. About 90 s. Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab
demo() { SHOAL=$SHOAL timeout -k 5 400 "$SRC_DIR/scripts/demo.sh" --no-build --dir "$LAB" "$@"; }

# A lab that is not the demo's: refused, left as it is.
lab up --managers 1 --workers 0 >/dev/null
rc=0; out=$(demo 2>&1) || rc=$?
expect_eq "a lab the demo did not make: the demo exits non-zero" "1" "$rc"
expect_contains "... naming the step and what to do" \
  "demo FAILED in step 1/9 a 5-node lab: 3 managers, 2 workers: $LAB holds a lab the demo did not make: remove it" "$out"
check "... and leaves that lab alone" test -n "$(on m1 node ls -q)"

# Marked as the demo's (as the demo marks its own): removed first, then the demo.
touch "$LAB.demo"
rc=0
demo >"$T_DIR/demo.out" 2>&1 || rc=$?
cat "$T_DIR/demo.out"
out=$(cat "$T_DIR/demo.out")
expect_eq "scripts/demo.sh --no-build exits 0" "0" "$rc"
expect_contains "the previous demo lab is removed first" "# removing the previous demo lab first" "$out"
for s in "1/9 a 5-node lab" "2/9 a replicated service spread" "3/9 a killed container is replaced" \
  "4/9 a node killed: its tasks rescheduled" "5/9 a node drained" "6/9 a manager demoted, leaving" "7/9 a leader failover" \
  "8/9 the routing mesh: Web on port 80 of every node" "9/9 services find each other by name"; do
  expect_contains "step $s ran" "==== $s" "$out"
done
for w in "5 replicas running, one on each of m1 m2 m3 w1 w2" "the killed task is Failed and 5 replicas run again" \
  "w1's task running on another node: 5 replicas" "no web task on w2, 5 replicas elsewhere" "m3 Down" \
  "m3 Reachable again" "a new leader" "m1 Unreachable" "m1 Reachable, one Leader" "Web: 3 replicas running" \
  "w2's localhost:80 answers" "bar's 3 hostnames in turn from foo" "5 hostnames from foo after the scale-up"; do
  expect_contains "the demo saw: $w" "ok: $w" "$out"
done
for n in m1 m2 m3 w1 w2; do
  expect_contains "Web answered on $n's address" "ok: $n's address" "$out"
  expect_contains "Web answered on $n's localhost" "ok: $n's localhost:80 answers" "$out"
done
expect_contains "it ends with how to use and remove the lab" "Remove it all with: shoal lab down" "$out"

# The lab is left running: 3 managers (one Leader), 2 workers, web converged.
expect_eq "lab ls: 5 nodes running" "5" "$(lab ls | awk 'NR>1 && $6=="running"' | wc -l)"
leader=$(lab ls | awk 'NR>1 && $2=="manager" {print $1}' | while read -r n; do
  on "$n" node ls --format '{{.Hostname}} {{.ManagerStatus}}' 2>/dev/null | awk '$2=="Leader" {print $1}' && break; done)
check "a manager leads ($leader)" test -n "$leader"
expect_eq "node ls: Leader Reachable Reachable" "Leader Reachable Reachable " \
  "$(on "$leader" node ls --format '{{.ManagerStatus}}' | grep . | sort | tr '\n' ' ')"
expect_eq "web: 6 tasks running" "6" "$(on "$leader" service ps web --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running')"

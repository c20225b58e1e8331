#!/usr/bin/env bash
# A demote cut short (review, demote windows) on a 3+1 lab:
#   - node demote m3, then m3's shoald killed before it completes its new
#     role: m3 stays "being demoted" (role worker, its etcd member left, its
#     manager status too unless m3 cleared it first); node demote m3 again
#     re-drives it (was: nothing done): m3 does not answer, so m1 removes its
#     etcd member and clears its status;
#   - node promote w1, node demote w1, w1 killed likewise, and nobody asks
#     again: the leader's janitor finds the dead voter whose node is a worker
#     and Down, and removes it (quorum kept), and w1's manager status goes.
# Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

statuses() { on "$1" node ls --format '{{.Hostname}}={{.ManagerStatus}}' | grep -v '=$' | sort | tr '\n' ' '; }
statuses_eq() { [ "$(statuses "$1")" = "$2" ]; }
role_and_status() { on m1 node inspect "$1" --format '{{.Spec.Role}} {{if .ManagerStatus}}manager-status{{else}}none{{end}}'; }

log "lab up --managers 3 --workers 1"
lab up --managers 3 --workers 1 >/dev/null
check "m1 leads, m2 and m3 Reachable" wait_for "3 managers" 30 statuses_eq m1 "m1=Leader m2=Reachable m3=Reachable "
check "m1's etcd: 3 voting members" wait_for "3 voters" 30 voters_eq m1 3

# ---- The target dies right after its role is stored; a second demote re-drives it.
out=$(on m1 node demote m3 2>&1)
lab kill m3 >/dev/null
expect_contains "node demote m3" "demoted in the swarm" "$out"
# The kill races m3's own demote: it lands before m3 acted (manager status
# left) or after m3 cleared its status but before it removed its etcd
# member (CI saw both); either way the member is left for the re-drive.
M3_STATE=$(role_and_status m3)
m3_mid_demote() { [ "$M3_STATE" = "worker manager-status" ] || [ "$M3_STATE" = "worker none" ]; }
check "m3 killed mid-demote: role worker, manager status left or just cleared ($M3_STATE)" m3_mid_demote
out=$(on m1 node demote m3 2>&1)
expect_contains "node demote m3 again is accepted" "already a worker" "$out"
check "m1's etcd: 2 voting members within 8 s (the re-drive, not the janitor's 10 s)" wait_for "2 voters" 8 voters_eq m1 2
check "m3 has no manager status" wait_for "m3 worker" 8 statuses_eq m1 "m1=Leader m2=Reachable "

# ---- Nobody asks again: the janitor removes the dead voter of a worker.
out=$(on m1 node promote w1 2>&1)
expect_contains "node promote w1" "promoted to a manager" "$out"
check "w1 is Reachable within 40 s" wait_for "w1 reachable" 40 statuses_eq m1 "m1=Leader m2=Reachable w1=Reachable "
check "m1's etcd: 3 voting members" wait_for "3 voters" 20 voters_eq m1 3
out=$(on m1 node demote w1 2>&1)
lab kill w1 >/dev/null
expect_contains "node demote w1" "demoted in the swarm" "$out"
# Killed mid-demote: before it acted (manager status left) or after it
# cleared its status but before it removed its own member; either way its
# member is still a voter, which is what the janitor must clean up.
W1_STATE=$(role_and_status w1)
mid_demote() { [ "$W1_STATE" = "worker manager-status" ] || [ "$W1_STATE" = "worker none" ]; }
check "w1 killed mid-demote: role worker, manager status left or just cleared ($W1_STATE)" mid_demote
expect_eq "... and its etcd member still a voter (nobody removed it yet)" "3" "$(voters m1)"
W1_ID=$(on m1 node inspect w1 --format '{{.ID}}')
# The janitor waits for w1's Node to be Down (its agent's session gone)
# plus its 10 s margin: an up node may still be removing its own member.
check "the janitor removes w1's member within 45 s" wait_for "2 voters" 45 voters_eq m1 2
janitor_logged() { grep -q "removed etcd member .* ($W1_ID): its node is a worker" "$LAB/m1/shoald.log"; }
check "... and m1's log says the janitor did it (not a re-drive)" wait_for "janitor log" 5 janitor_logged
check "and w1's manager status goes" wait_for "w1 worker" 10 statuses_eq m1 "m1=Leader m2=Reachable "
expect_eq "w1 is a worker without a manager status" "worker none" "$(role_and_status w1)"
check "the swarm still writes (quorum kept)" on m1 node update --label-add after=demotes m2

finish

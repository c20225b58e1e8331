#!/usr/bin/env bash
# Manager membership changes on a 3+2 lab (issue 6 points 4 and 6):
#   - a demotion that would lose quorum is refused (m3 stopped, demote m2);
#   - node promote w1: its shoald gets a manager certificate and an etcd
#     member (learner, then voter), node ls shows it Reachable; a second
#     change while it is in progress is refused (one at a time);
#   - docker node demote w1: its etcd member is removed and its member data
#     erased, it goes on as a worker (worker certificate); swarm leave on it
#     then works without --force;
#   - quorum loss (lab stop m2 m3): running tasks keep running, an API write
#     fails fast with 503 saying quorum is lost; swarm init
#     --force-new-cluster on m1 recovers a one-manager swarm with every
#     service, task and worker kept; the removed m2 coming back is refused;
#     the unreachable managers are demoted and removed, and a new manager
#     joins.
# After each step: running tasks = replicas, at most one running task per
# slot. Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

ready_nodes() { on m1 node ls --format '{{.Status}}' | grep -c Ready || true; }
ready_eq() { [ "$(ready_nodes)" = "$1" ]; }
node_id() { on "$1" info --format '{{.Swarm.NodeID}}'; }
statuses() { on "$1" node ls --format '{{.Hostname}}={{.ManagerStatus}}' | grep -v '=$' | sort | tr '\n' ' '; }
statuses_eq() { [ "$(statuses "$1")" = "$2" ]; }
cert_ou() { openssl x509 -in "$(dirname "$(sock "$1")")/data/swarm-tls/node.crt" -noout -subject 2>&1 | grep -o 'swarm-[a-z]*'; }
check_tasks() {  # check_tasks STEP REPLICAS [VIA]
  local via=${3:-m1}
  check "$1: svc has $2 running tasks, at most one per slot" wait_for "$2 running, one per slot" 40 \
    bash -c "[ \"\$($SHOAL -H unix://$(sock "$via") service ps svc --filter desired-state=running \
      --format '{{.Name}} {{.CurrentState}}' | awk '\$2==\"Running\" {n++; c[\$1]++} END {m=0; for (s in c) if (c[s]>m) m=c[s]; print n+0, m+0}')\" = '$2 1' ]"
}

log "lab up --managers 3 --workers 2"
lab up --managers 3 --workers 2 >/dev/null
check "5 nodes Ready within 15 s" wait_for "5 nodes Ready" 15 ready_eq 5
check "m1 leads, m2 and m3 Reachable" wait_for "3 managers" 30 statuses_eq m1 "m1=Leader m2=Reachable m3=Reachable "
check "m1's etcd: 3 voting members" wait_for "3 voters" 30 voters_eq m1 3
for n in m1 m2 m3 w1 w2; do on "$n" image import "$IMAGES_DIR/busybox.tar" busybox:latest >/dev/null; done
W1=$(node_id w1)
on m1 service create -d --name svc --replicas 5 busybox sleep 100000 >/dev/null
check_tasks "start" 5

# ---- A demotion that would lose quorum is refused.
lab stop m3 >/dev/null
check "m3 stopped: Unreachable" wait_for "m3 unreachable" 30 statuses_eq m1 "m1=Leader m2=Reachable m3=Unreachable "
out=$(on m1 node demote m2 2>&1) || true
expect_contains "demoting m2 with m3 down is refused (Docker's words)" \
  "can't remove member from the raft: this would result in a loss of quorum" "$out"
expect_eq "m2 is still a manager" "manager" "$(on m1 node inspect m2 --format '{{.Spec.Role}}')"
lab start m3 >/dev/null
check "m3 back: Reachable" wait_for "m3 reachable" 30 statuses_eq m1 "m1=Leader m2=Reachable m3=Reachable "
check_tasks "after the refused demote" 5

# ---- Promote w1; a second change meanwhile is refused.
out=$(on m1 node promote w1 2>&1)
expect_contains "node promote w1" "promoted to a manager" "$out"
out=$(on m1 node promote w2 2>&1) || true
expect_contains "promoting w2 while w1's promotion runs is refused (one at a time)" "one at a time" "$out"
check "w1 is Reachable within 30 s" wait_for "w1 reachable" 30 \
  statuses_eq m1 "m1=Leader m2=Reachable m3=Reachable w1=Reachable "
check "m1's etcd: 4 voting members" wait_for "4 voters" 10 voters_eq m1 4
expect_eq "w1's node certificate is a manager's now, same node id" "swarm-manager $W1" \
  "$(cert_ou w1) $(node_id w1)"
control_on() { [ "$(on "$1" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')" = "active true" ]; }
check "w1 answers the API as a manager (control available) within 30 s" wait_for "w1 control" 30 control_on w1
expect_eq "w2 stayed a worker" "worker" "$(on m1 node inspect w2 --format '{{.Spec.Role}}')"
check_tasks "after promote" 5

# ---- docker node demote w1, then swarm leave on it.
if command -v docker >/dev/null; then  # the stock CLI where it is installed
  out=$(DOCKER_HOST="unix://$(sock m1)" docker node demote w1 2>&1)
else
  out=$(on m1 node demote w1 2>&1)
fi
expect_contains "node demote w1 (docker's CLI if installed)" "demoted in the swarm" "$out"
check "w1 has no manager status within 30 s" wait_for "w1 demoted" 30 \
  statuses_eq m1 "m1=Leader m2=Reachable m3=Reachable "
check "m1's etcd: 3 voting members again" wait_for "3 voters" 10 voters_eq m1 3
check "w1's certificate is a worker's again" wait_for "w1 worker cert" 10 bash -c "[ \"\$(openssl x509 -in $(dirname "$(sock w1)")/data/swarm-tls/node.crt -noout -subject | grep -o 'swarm-[a-z]*')\" = swarm-worker ]"
expect_eq "w1's etcd member data is erased" "absent" \
  "$([[ -e $(dirname "$(sock w1)")/data/etcd ]] && echo present || echo absent)"
check "w1 is Ready as a worker" wait_for "w1 ready" 20 bash -c "[ \"\$($SHOAL -H unix://$(sock m1) node inspect w1 --format '{{.Status.State}} {{.Spec.Role}}')\" = 'ready worker' ]"
check_tasks "after demote" 5
out=$(on w1 swarm leave 2>&1)
expect_contains "swarm leave on the demoted w1 works without --force" "left the swarm" "$out"
check_tasks "after w1 left" 5

# ---- Quorum loss: 2 of 3 managers down.
running_w2=$(on w2 ps -q | sort | tr '\n' ' ')
lab stop m2 >/dev/null
lab stop m3 >/dev/null
t0=$(date +%s.%N)
out=$(on m1 service scale svc=6 2>&1) && scaled=yes || scaled=no
t1=$(date +%s.%N)
expect_eq "with quorum lost an API write fails" "no" "$scaled"
secs=$(python3 -c "print(round($t1-$t0, 2))")
log "the write failed after $secs s: $out"
check "it fails within 5 s" python3 -c "import sys; sys.exit(0 if $secs < 5 else 1)"
expect_contains "and says quorum is lost" "quorum" "$out"
# Each container w2 ran before the loss still runs (a replacement that was
# starting when they were listed may have joined them: not a lost task).
now_w2=" $(on w2 ps -q | sort | tr '\n' ' ')"
kept=yes
for c in $running_w2; do [[ "$now_w2" == *" $c "* ]] || kept=no; done
expect_eq "w2's containers keep running (${running_w2% })" "yes" "$kept"

# ---- Recovery: swarm init --force-new-cluster on m1.
out=$(on m1 swarm init --force-new-cluster --advertise-addr "$(node_field m1 address)" 2>&1)
expect_contains "swarm init --force-new-cluster on m1" "Swarm initialized" "$out"
check "m1's etcd: 1 voting member" wait_for "1 voter" 20 voters_eq m1 1
expect_eq "the service is kept" "svc" "$(on m1 service ls --format '{{.Name}}')"
check "writes work again: scale to 6" wait_for "scale accepted" 20 on m1 service scale -d svc=6
check_tasks "after --force-new-cluster" 6
expect_eq "w2 is still in the swarm, Ready" "ready" "$(on m1 node inspect w2 --format '{{.Status.State}}')"

# A removed member that comes back is refused.
lab start m2 >/dev/null 2>&1 || true
check "m2's shoald refuses to rejoin (its etcd member was removed)" wait_for "m2 refused" 40 \
  grep -q "removed from the swarm's etcd cluster" "$LAB/m2/shoald.log"
expect_eq "m1's etcd still has 1 voting member" "1" "$(voters m1)"

# The lost managers go; a new manager joins.
for n in m2 m3; do
  check "node demote $n (unreachable)" on m1 node demote "$n"
  check "node rm --force $n" on m1 node rm --force "$n"
done
M1=$(node_field m1 address)
out=$(on w1 swarm join --token "$(on m1 swarm join-token -q manager)" --advertise-addr "$(node_field w1 address)" "$M1:2377" 2>&1)
expect_contains "w1 joins again, as a manager" "manager" "$out"
check "m1's etcd: 2 voting members" wait_for "2 voters" 30 voters_eq m1 2
check "the new manager is Reachable" wait_for "2 managers" 30 statuses_eq m1 "m1=Leader w1=Reachable "
check_tasks "at the end" 6


# ---- --force-new-cluster while another manager still answers would split
# the swarm in two (m1 alone, w1 keeping the old one): refused, naming w1.
check "w1 serves as a manager" wait_for "w1 control" 30 control_on w1
out=$(on m1 swarm init --force-new-cluster 2>&1) && forced=yes || forced=no
expect_eq "swarm init --force-new-cluster on m1 is refused while w1 answers" "no" "$forced"
expect_contains "the refusal names w1" "managers w1 ($(node_id w1)) still answer" "$out"
expect_contains "and says to use node demote" "node demote" "$out"
expect_eq "m1's etcd still has 2 voting members" "2" "$(voters m1)"
out=$(on m1 swarm init --force-new-cluster --advertise-addr 198.18.254.254 2>&1) || true
expect_contains "an advertise address other than m1's is refused, not ignored" \
  "keeps this manager's advertise address" "$out"
check_tasks "after the refused --force-new-cluster" 6

finish

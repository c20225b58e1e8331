#!/usr/bin/env bash
# Managers joining over mTLS on a 3+2 lab: m2 and m3 join with the manager
# token (swarm-manager certificates, etcd members added as learners and
# promoted), so m1's etcd lists 3 voting members; node ls shows one Leader and
# two Reachable managers and 2 workers, every node Ready; every manager
# answers the API and sees what another wrote; a joined manager got the data
# key (0600) but not the etcd CA's key, and its etcd certificate names its own
# address. Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

ready_nodes() { on m1 node ls --format '{{.Status}}' | grep -c Ready || true; }
all_ready() { [ "$(ready_nodes)" = "$1" ]; }
statuses() { on "$1" node ls --format '{{.ManagerStatus}}' | grep . | sort | tr '\n' ' '; }
statuses_eq() { [ "$(statuses "$1")" = "$2" ]; }

log "lab up --managers 3 --workers 2"
t0=$(date +%s.%N)
up_out=$(lab up --managers 3 --workers 2)
echo "$up_out"
expect_contains "lab up joins m2 as a manager" "m2 joined the swarm as a manager" "$up_out"
expect_contains "lab up joins m3 as a manager" "m3 joined the swarm as a manager" "$up_out"
check "5 nodes Ready in m1's node ls within 10 s" wait_for "5 nodes Ready" 10 all_ready 5
t1=$(date +%s.%N)
log "3+2 lab: every node Ready $(python3 -c "print(round($t1-$t0, 2))") s after lab up started"
on m1 node ls

expect_eq "m1's etcd: 3 voting members, no learner" "3 voters, 0 learners" \
  "$(voters m1) voters, $(etcd_members m1 | grep -c '^learner ' || true) learners"
expect_eq "m3's etcd sees the same 3 voting members" "3" "$(voters m3)"
expect_eq "the members are named after the managers' node ids" \
  "$(for n in m1 m2 m3; do on m1 node inspect "$n" --format '{{.ID}}'; done | sort | tr '\n' ' ')" \
  "$(etcd_members m1 | awk '{print $2}' | sort | tr '\n' ' ')"

check "node ls on m1: one Leader, two Reachable" wait_for "manager statuses" 10 statuses_eq m1 "Leader Reachable Reachable "
for n in m2 m3; do
  expect_eq "node ls on $n (the API answers on every manager): one Leader, two Reachable" \
    "Leader Reachable Reachable " "$(statuses "$n")"
done
expect_eq "m2's node inspect: ManagerStatus Reachability reachable, not the leader, at its address" \
  "reachable false $(node_field m2 address):2377" \
  "$(on m1 node inspect m2 --format '{{.ManagerStatus.Reachability}} {{.ManagerStatus.Leader}} {{.ManagerStatus.Addr}}')"
expect_eq "w1 is a worker (no manager status)" "" "$(on m1 node inspect w1 --format '{{if .ManagerStatus}}manager{{end}}')"
expect_eq "m2's info: a manager (control available)" "active true" \
  "$(on m2 info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')"

# The joined manager's credentials.
M2_DATA=$(dirname "$(sock m2)")/data
expect_contains "m2's node certificate is a manager's" "OU=swarm-manager" \
  "$(openssl x509 -in "$M2_DATA/swarm-tls/node.crt" -noout -subject -nameopt sep_multiline 2>&1 | tr -s ' ' | tr '\n' ' ')"
expect_eq "m2 received the data key, 0600" "600" "$(stat -c %a "$M2_DATA/manager/seal.key" 2>&1)"
expect_eq "m2's data key is m1's" "$(sha256sum < "$(dirname "$(sock m1)")/data/manager/seal.key")" \
  "$(sha256sum < "$M2_DATA/manager/seal.key")"
expect_eq "m2 holds no etcd CA key (it stays sealed in etcd)" "absent" \
  "$([[ -e $M2_DATA/certs/etcd-ca.key ]] && echo present || echo absent)"
expect_eq "m1, which ran init, keeps no clear etcd CA key either (only the sealed copy in etcd)" "absent" \
  "$([[ -e $(dirname "$(sock m1)")/data/certs/etcd-ca.key ]] && echo present || echo absent)"
expect_contains "m2's etcd member certificate names its own address" "IP Address:$(node_field m2 address)" \
  "$(openssl x509 -in "$M2_DATA/certs/member.crt" -noout -ext subjectAltName 2>&1)"
expect_eq "m2's etcd keys are its own, 0600" "600 600" \
  "$(stat -c %a "$M2_DATA/certs/member.key" "$M2_DATA/certs/client.key" | tr '\n' ' ' | sed 's/ $//')"

# One cluster state: what one manager writes, the others show.
on m2 service create -d --name from-m2 --replicas 1 busybox:latest sleep 3600 >/dev/null
expect_eq "a service created on m2 is listed on m3" "from-m2" "$(on m3 service ls --format '{{.Name}}')"
expect_eq "and on m1" "from-m2" "$(on m1 service ls --format '{{.Name}}')"
on m3 service rm from-m2 >/dev/null
check "removed on m3, gone on m1" wait_for "from-m2 gone on m1" 5 bash -c "[ -z \"\$($SHOAL -H unix://$(sock m1) service ls -q)\" ]"

# ---- An orphaned etcd learner: its admitting manager died (kill -9) before
# its promoter promoted or removed it. Made here with etcdctl against m1's
# etcd, with a peer URL in the lab's subnet that nothing listens on. While
# it exists every membership change is refused (one at a time); the
# managers' learner janitors remove it (60 s promote deadline + 10 s margin,
# counted from when they first saw it), and the changes work again.
M1_CERTS=$(dirname "$(sock m1)")/data/certs
ORPHAN_IP=$(node_field m1 address | awk -F. '{print $1"."$2"."$3".250"}')
learners() { etcd_members "$1" | grep -c '^learner' || true; }
learners_eq() { [ "$(learners "$1")" = "$2" ]; }
out=$(lab exec m1 -- etcdctl --endpoints https://127.0.0.1:2379 --cacert "$M1_CERTS/ca.crt" \
  --cert "$M1_CERTS/client.crt" --key "$M1_CERTS/client.key" \
  member add orphan --learner --peer-urls "https://$ORPHAN_IP:2380" 2>&1)
expect_contains "etcdctl adds a learner at $ORPHAN_IP that no manager admitted" "added" "$out"
expect_eq "m1's etcd lists that learner" "1" "$(learners m1)"
out=$(on m1 node promote w1 2>&1) || true
expect_contains "node promote w1 is refused while it exists (one change at a time)" "one at a time" "$out"
out=$(on m2 node demote m3 2>&1) || true
expect_contains "node demote m3 is refused too" "one at a time" "$out"
t0=$SECONDS
check "the learner janitors remove it within 100 s" wait_for "no learner" 100 learners_eq m1 0
log "the orphan learner was gone $((SECONDS - t0)) s after the refused changes"
check "a manager's log says it removed the learner" \
  bash -c "grep -l 'removed learner .*$ORPHAN_IP' $LAB/m*/shoald.log"
out=$(on m1 node promote w1 2>&1)
expect_contains "node promote w1 works then" "promoted to a manager" "$out"
check "w1 is Reachable within 30 s" wait_for "w1 reachable" 30 \
  statuses_eq m1 "Leader Reachable Reachable Reachable "
check "m1's etcd: 4 voting members" wait_for "4 voters" 20 voters_eq m1 4

# ---- node demote of a manager just killed (its session key outlives it by
# the presence lease, so it still looked reachable and was left to demote
# itself, which a dead shoald never does: stuck as "being demoted", every
# other change refused). Now the serving manager sees that it does not
# answer, removes its etcd member and makes it a worker at once.
lab kill m3 >/dev/null
M3=$(on m1 node inspect m3 --format '{{.ID}}')
t0=$SECONDS
out=$(on m1 node demote m3 2>&1)
expect_contains "node demote m3 right after lab kill m3" "demoted in the swarm" "$out"
m3_worker() { [ "$(on m1 node inspect m3 --format '{{.Spec.Role}} {{if .ManagerStatus}}manager{{else}}none{{end}}')" = "worker none" ]; }
check "m3 is a worker without a manager status within 10 s" wait_for "m3 demoted" 10 m3_worker
check "m1's etcd: 3 voting members (m3's removed) within 10 s" wait_for "3 voters" 10 voters_eq m1 3
log "the demotion of the killed m3 was complete $((SECONDS - t0)) s after the kill"
expect_eq "m3's member is gone from etcd" "" "$(etcd_members m1 | awk -v id="$M3" '$2 == id')"
out=$(on m1 node promote w2 2>&1) || true
expect_contains "and the next change is accepted (nothing left in progress)" "promoted to a manager" "$out"

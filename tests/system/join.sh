#!/usr/bin/env bash
# swarm join over mTLS on a 1+2 lab: the workers join at lab up and are
# Ready; a 4-replica service runs tasks on the workers (their agents hold
# their sessions over TLS with their node certificates); a wrong token, a
# token of another CA, a malformed and a rotated-away token are refused with
# clear errors, a worker certificate gets no manager's etcd material (403); leaving and joining again gives a
# new node id; the swarm port speaks only TLS and its sessions need a node
# certificate; the node's key is 0600; a worker's node certificate does not
# open m1's etcd; a node removed with `node rm` gets no session with its old
# certificate. Traffic only inside the lab.
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

log "lab up --managers 1 --workers 2"
t0=$(date +%s.%N)
up_out=$(lab up --managers 1 --workers 2)
echo "$up_out"
expect_contains "lab up joins w1" "w1 joined the swarm as a worker" "$up_out"
expect_contains "lab up joins w2" "w2 joined the swarm as a worker" "$up_out"
check "3 nodes Ready in m1's node ls within 10 s" wait_for "3 nodes Ready" 10 all_ready 3
t1=$(date +%s.%N)
log "1+2 lab: every node Ready $(python3 -c "print(round($t1-$t0, 2))") s after lab up started"
M1=$(node_field m1 address)

ls_out=$(on m1 node ls)
echo "$ls_out"
expect_eq "node ls: w1 is a worker (no manager status)" "" \
  "$(on m1 node inspect w1 --format '{{if .ManagerStatus}}manager{{end}}' 2>&1)"
expect_eq "w1's info: a worker of the swarm" "active false" "$(on w1 info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')"

# The node's credentials: its own key, 0600, a certificate naming its id.
W1_DATA=$(dirname "$(sock w1)")/data
expect_eq "w1's node key is 0600" "600" "$(stat -c %a "$W1_DATA/swarm-tls/node.key")"
expect_contains "w1's certificate: CN = its node id, OU = swarm-worker" "CN=$(node_id w1)" \
  "$(openssl x509 -in "$W1_DATA/swarm-tls/node.crt" -noout -subject -nameopt sep_multiline 2>&1 | tr -s ' ' | tr '\n' ' ')"
expect_contains "w1's certificate is a worker's" "OU=swarm-worker" \
  "$(openssl x509 -in "$W1_DATA/swarm-tls/node.crt" -noout -subject -nameopt sep_multiline 2>&1 | tr -s ' ' | tr '\n' ' ')"

# The swarm port: TLS only; sessions need a node certificate of this swarm.
plain=$(lab exec w1 -- curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$M1:2377/_shoal/ca/v1/root-ca" 2>&1 || true)
expect_eq "plain HTTP on the swarm port gets no answer" "000" "$plain"
anon=$(lab exec w1 -- curl -sk -m 10 -o /dev/null -w '%{http_code}' -X POST -d '{}' \
  "https://$M1:2377/_shoal/dispatcher/v1/session" 2>&1 || true)
expect_eq "a session without a node certificate is refused (403)" "403" "$anon"
with_cert=$(lab exec w1 -- curl -s -m 10 -o /dev/null -w '%{http_code}' --cacert "$W1_DATA/swarm-tls/ca.crt" \
  --cert "$W1_DATA/swarm-tls/node.crt" --key "$W1_DATA/swarm-tls/node.key" --resolve "swarm-manager:2377:$M1" \
  -X POST -d '{"NodeID":"someone-else"}' "https://swarm-manager:2377/_shoal/dispatcher/v1/session" 2>&1 || true)
expect_eq "w1's certificate cannot register another node id (403)" "403" "$with_cert"

# etcd trusts only its own CA: a worker's node certificate (signed by the
# swarm's CA) does not open m1's etcd client port; shoald's client certificate does.
M1_CERTS=$(dirname "$(sock m1)")/data/certs
etcd_range() {  # etcd_range CERT KEY: HTTP code of a range read on m1's etcd
  lab exec m1 -- curl -s -m 10 -o /dev/null -w '%{http_code}' --cacert "$M1_CERTS/ca.crt" --cert "$1" --key "$2" \
    -X POST -d '{"key":"L3Nob2FsLw==","range_end":"L3Nob2FsMA==","count_only":true}' \
    https://127.0.0.1:2379/v3/kv/range 2>&1 || true
}
expect_eq "shoald's etcd client certificate reads m1's etcd (200)" "200" \
  "$(etcd_range "$M1_CERTS/client.crt" "$M1_CERTS/client.key")"
expect_eq "w1's node certificate is refused by m1's etcd (no TLS session: 000)" "000" \
  "$(etcd_range "$W1_DATA/swarm-tls/node.crt" "$W1_DATA/swarm-tls/node.key")"
# ... and refused in the TLS handshake, not for another reason (a wrong path
# would give 000 too): curl's exit code is 35 (handshake), 55 or 56 (send or receive
# failure: etcd's alert after the TLS 1.3 handshake), never 58 (a bad local cert).
[[ -s "$W1_DATA/swarm-tls/node.crt" && -s "$W1_DATA/swarm-tls/node.key" ]] || echo "missing w1 cert files" >&2
etcd_rc=0
lab exec m1 -- curl -s -m 10 -o /dev/null --cacert "$M1_CERTS/ca.crt" --cert "$W1_DATA/swarm-tls/node.crt" \
  --key "$W1_DATA/swarm-tls/node.key" -X POST -d '{"key":"L3Nob2FsLw=="}' https://127.0.0.1:2379/v3/kv/range \
  >/dev/null 2>&1 || etcd_rc=$?
expect_contains "w1's node certificate: the refusal is etcd's TLS handshake (curl exit 35, 55 or 56)" " $etcd_rc " " 35 55 56 "

# Tasks on the workers.
for n in m1 w1 w2; do on "$n" image import "$IMAGES_DIR/busybox.tar" busybox:latest >/dev/null; done
on m1 service create -d --name spread --replicas 4 busybox sleep 1000 >/dev/null
running_total() { [ "$(on m1 service ps spread --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running')" = 4 ]; }
check "4 replicas running within 20 s" wait_for "4 running" 20 running_total
expect_eq "w1 runs a task of spread" "1" "$(( $(running_on spread w1) >= 1 ))"
expect_eq "w2 runs a task of spread" "1" "$(( $(running_on spread w2) >= 1 ))"

# Refusals, each with a clear message.
W=$(on m1 swarm join-token -q worker)
old_w2=$(node_id w2)
OLD_W2=$T_DIR/old-w2  # w2's credentials as it leaves: still valid for 90 days
mkdir -m 700 "$OLD_W2"
cp "$(dirname "$(sock w2)")/data/swarm-tls/"{ca.crt,node.crt,node.key} "$OLD_W2/"
on w2 swarm leave >/dev/null
# node rm: the removed node's certificate gets no session again.
on m1 node rm --force "$old_w2" >/dev/null
removed=$(lab exec w2 -- curl -sS -m 10 --cacert "$OLD_W2/ca.crt" --cert "$OLD_W2/node.crt" --key "$OLD_W2/node.key" \
  --resolve "swarm-manager:2377:$M1" -X POST -d '{}' "https://swarm-manager:2377/_shoal/dispatcher/v1/session" 2>&1 || true)
expect_contains "after node rm, w2's old certificate is refused" "was removed from the swarm; leave and join again" "$removed"
expect_eq "the removed node is not created again" "" "$(on m1 node ls -q | grep -x "$old_w2" || true)"
set +e
out=$(on w2 swarm join --token "${W:0:60}0000000000000000000000000" "$M1:2377" 2>&1); rc=$?
set -e
expect_eq "a wrong secret is refused" "1" "$((rc != 0))"
expect_contains "a wrong secret: Docker's message" "A valid join token is necessary to join this cluster" "$out"
set +e
out=$(on w2 swarm join --token "SWMTKN-1-$(printf '0%.0s' {1..50})-${W:60}" "$M1:2377" 2>&1); rc=$?
set -e
expect_eq "a token pinning another CA is refused" "1" "$((rc != 0))"
expect_contains "another CA: the fingerprint mismatch is named" "remote CA does not match fingerprint" "$out"
out=$(on w2 swarm join --token nonsense "$M1:2377" 2>&1 || true)
expect_contains "a malformed token is refused" "invalid join token" "$out"
# A manager's etcd material (data key included) only for a manager certificate:
# w1's worker certificate is refused (manager joins: tests/system/managers.sh).
code=$(lab exec w1 -- curl -s -m 10 -o /dev/null -w '%{http_code}' --cacert "$W1_DATA/swarm-tls/ca.crt" \
  --cert "$W1_DATA/swarm-tls/node.crt" --key "$W1_DATA/swarm-tls/node.key" --resolve "swarm-manager:2377:$M1" \
  -X POST -d '{"MemberCSR":"x","ClientCSR":"x","AdvertiseAddr":"1.2.3.4:2377"}' \
  "https://swarm-manager:2377/_shoal/ca/v1/manager-join" 2>&1 || true)
expect_eq "manager-join with a worker's certificate is refused (403)" "403" "$code"
on m1 swarm join-token --rotate worker >/dev/null
out=$(on w2 swarm join --token "$W" "$M1:2377" 2>&1 || true)
expect_contains "a rotated-away token is refused" "A valid join token is necessary to join this cluster" "$out"
expect_eq "w2 is not in a swarm after the refusals" "inactive" "$(on w2 info --format '{{.Swarm.LocalNodeState}}')"

# Leave and join again: a new node id.
out=$(on w2 swarm join --token "$(on m1 swarm join-token -q worker)" "$M1:2377" 2>&1)
expect_contains "w2 joins again with the current token" "This node joined a swarm as a worker." "$out"
new_w2=$(node_id w2)
check "w2 has a new node id after leaving and joining again ($old_w2 -> $new_w2)" test "$old_w2" != "$new_w2"
new_ready() { [ "$(on m1 node inspect "$new_w2" --format '{{.Status.State}}' 2>/dev/null)" = ready ]; }
check "the new w2 is Ready" wait_for "new w2 Ready" 10 new_ready
expect_eq "the new w2's certificate names its new id" "1" \
  "$(openssl x509 -in "$(dirname "$(sock w2)")/data/swarm-tls/node.crt" -noout -subject 2>&1 | grep -c "$new_w2")"

on m1 service rm spread >/dev/null

# Restarts: the worker rejoins from its files, and after the manager's
# restart (its swarm listener opens again from its own) the worker's agent
# holds a new session: a task placed on w1 then runs.
lab stop w1 >/dev/null; lab start w1 >/dev/null
lab stop m1 >/dev/null; lab start m1 >/dev/null
on m1 service create -d --name on-w1 --constraint node.hostname==w1 busybox sleep 1000 >/dev/null
w1_runs() { [ "$(running_on on-w1 w1)" = 1 ]; }
check "after w1 and m1 restarted, a task placed on w1 runs" wait_for "on-w1 running" 30 w1_runs

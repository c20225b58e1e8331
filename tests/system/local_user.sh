#!/usr/bin/env bash
# No local privilege escalation: an unprivileged user (nobody) gets nothing
# from etcd's ports, cannot list or read the data root or a task's files and
# logs; the root CA's private key is in no object (GET /swarm, etcd's JSON)
# and only sealed in etcd; shoald refuses a TCP API listener off loopback.
source "$(dirname "$0")/../lib.sh"

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
# The test dir itself is traversable, so only the data root's own mode
# protects what is below it.
chmod 755 "$T_DIR"
# Controls: every "nobody cannot ..." below is a negated command, which would
# also pass if setpriv itself failed or nobody could not reach $T_DIR at all.
check "setpriv runs commands as nobody (control)" eval '[[ "$(as_nobody id -u)" == "$(id -u nobody)" ]]'
check "nobody can list the test dir above the data root (control)" eval "as_nobody ls '$T_DIR' >/dev/null"

start_shoald
sh_cli swarm init --listen-addr "$T_LISTEN" >/dev/null
import_images
sh_cli service create -d --name secretive --stop-grace-period 1s busybox \
  sh -c 'echo the-secret-log-line; sleep 100000' >/dev/null
check "the task runs" wait_for "1 running" 30 tasks_running_eq secretive 1

DATA=$T_DIR/data
CERTS=$DATA/certs
range_all='{"key":"Lw==","range_end":"MA=="}'  # every key from "/" up to "0"

# The API socket is root's (0660, group root): nobody cannot connect to it.
check "root reaches the API socket (control)" eval "curl -sf --unix-socket '$T_SOCK' http://localhost/_ping >/dev/null"
check "nobody cannot connect to the API socket" \
  eval "! as_nobody curl -s --max-time 5 --unix-socket '$T_SOCK' http://localhost/_ping >/dev/null 2>&1"

# etcd: TLS with client certificates only.
check "root with shoald's client certificate reads etcd (control)" \
  eval "curl -sf --cacert $CERTS/ca.crt --cert $CERTS/client.crt --key $CERTS/client.key \
        https://127.0.0.1:$T_ETCD_CLIENT/v3/kv/range -d '$range_all' | grep -q kvs"
out=$(as_nobody curl -sk --max-time 5 "https://127.0.0.1:$T_ETCD_CLIENT/v3/kv/range" -d "$range_all" 2>&1 || true)
check "nobody over TLS without a certificate gets no data" eval '[[ "$out" != *kvs* && "$out" != *"\"header\""* ]]'
check "nobody over TLS without a certificate fails" \
  eval "! as_nobody curl -sk --max-time 5 https://127.0.0.1:$T_ETCD_CLIENT/v3/kv/range -d '$range_all' >/dev/null 2>&1"
out=$(as_nobody curl -s --max-time 5 "http://127.0.0.1:$T_ETCD_CLIENT/v3/kv/range" -d "$range_all" 2>&1 || true)
check "nobody over plain http gets no data" eval '[[ "$out" != *kvs* ]]'
check "plain http to etcd fails" \
  eval "! curl -sf --max-time 5 http://127.0.0.1:$T_ETCD_CLIENT/v3/kv/range -d '$range_all' >/dev/null 2>&1"
# (curl's 18, a short read, still means TLS and HTTP got through; without a
# certificate the handshake fails: 35 or 56.)
peer_reached() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; [[ $rc == 0 || $rc == 18 ]]; }
check "the member certificate reaches the peer port (control)" peer_reached \
  curl -sk --max-time 5 --cert "$CERTS/member.crt" --key "$CERTS/member.key" "https://127.0.0.1:$T_ETCD_PEER/members"
check "nobody cannot use the peer port" \
  eval "! peer_reached as_nobody curl -sk --max-time 5 https://127.0.0.1:$T_ETCD_PEER/members"
check "nobody cannot read the client key" eval "! as_nobody cat $CERTS/client.key >/dev/null 2>&1"

# The data root and a task's files.
expect_eq "the data root is 0700" 700 "$(stat -c %a "$DATA")"
check "nobody cannot list the data root" eval "! as_nobody ls $DATA >/dev/null 2>&1"
log=$(find "$DATA" -name container.log | head -1)
check "the task has a log file" test -n "$log"
check "the task's log holds its output" grep -q the-secret-log-line "$log"
check "nobody cannot read the task's log" eval "! as_nobody cat '$log' >/dev/null 2>&1"
cdir=$(dirname "$log")
check "nobody cannot list the task's directory" eval "! as_nobody ls '$cdir' >/dev/null 2>&1"
check "nobody cannot read the task's config" eval "! as_nobody cat '$cdir/config.json' >/dev/null 2>&1"
check "nobody cannot read the etcd log" eval "! as_nobody cat $DATA/etcd.log >/dev/null 2>&1"
for k in "$CERTS/member.key" "$CERTS/client.key" "$DATA/manager/seal.key"; do
  expect_eq "$(basename "$k") is 0600" 600 "$(stat -c %a "$k")"
done
# Nothing shoald itself wrote outside containers' roots is readable by others
# (the umask), the certificates excepted.
loose=$(find "$DATA" -xdev \( -path "$DATA/images/layers" -o -path "$DATA/containers/*/upper" \
          -o -path "$DATA/containers/*/bundle" -o -path "$CERTS" \) -prune -o -type f -perm -o+r -print 2>/dev/null |
        { grep -v -E '/(hosts|hostname|resolv.conf|container.pid|runtime.log)$' || true; } | head -5)
# (runc writes its pid file and log with the container's umask, 022, inside a
# container directory that is 0700.)
expect_eq "a container's directory is 0700" 700 "$(stat -c %a "$(dirname "$log")")"
expect_eq "no other file in the data root is world-readable" "" "$loose"

# The root CA's private key: in no served or cached object, sealed in etcd.
swarm=$(api http://localhost/v1.41/swarm)
expect_contains "GET /swarm serves the CA certificate" "BEGIN CERTIFICATE" "$swarm"
check "GET /swarm has no private key" eval '[[ "$swarm" != *"PRIVATE KEY"* && "$swarm" != *RootCAKey* ]]'
dump=$(curl -s --cacert "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key" \
  "https://127.0.0.1:$T_ETCD_CLIENT/v3/kv/range" -d "$range_all" | python3 -c '
import base64, json, sys
for kv in json.load(sys.stdin).get("kvs", []):
    print(base64.b64decode(kv["key"]).decode(), base64.b64decode(kv.get("value", "")).decode("latin-1").replace("\n", " "))')
check "etcd holds no private key in the clear" eval '[[ "$dump" != *"PRIVATE KEY"* ]]'
expect_contains "the cluster object is in etcd" "/shoal/clusters/" "$dump"
expect_contains "the CA key is stored sealed, apart from the objects" "/shoal-sealed/root-ca-key SHOALSEAL1" "$dump"

# The join tokens: served by GET /swarm (as Docker does to managers) and
# printed by `swarm join-token`, but sealed at rest and in no object.
wtoken=$(sh_cli swarm join-token -q worker)
mtoken=$(sh_cli swarm join-token -q manager)
check "swarm join-token prints a worker token" eval '[[ "$wtoken" == SWMTKN-1-* ]]'
check "the manager token differs from the worker token" eval '[[ "$mtoken" == SWMTKN-1-* && "$mtoken" != "$wtoken" ]]'
expect_contains "GET /swarm serves the worker token" "$wtoken" "$swarm"
wsecret=${wtoken##*-}
msecret=${mtoken##*-}
check "etcd holds neither token's secret in the clear" eval '[[ "$dump" != *"$wsecret"* && "$dump" != *"$msecret"* ]]'
expect_contains "the join tokens are stored sealed, apart from the objects" "/shoal-sealed/join-tokens SHOALSEAL1" "$dump"

# A restarted shoald finds its certificates and keeps serving. (Its etcd
# child gets SIGTERM when shoald dies and needs a moment to free its ports:
# wait for it, as a supervisor restarting shoald would.)
etcd_pid=$(pgrep -P "$SHOALD_PID" -x etcd || true)
check "shoald runs its etcd member as a child (control)" test -n "$etcd_pid"
kill -9 "$SHOALD_PID"
wait "$SHOALD_PID" 2>/dev/null || true
check "the old etcd member exits" wait_for "etcd exit" 30 eval "! kill -0 $etcd_pid 2>/dev/null"
start_shoald
check "after a restart the node is Ready again" wait_for "node ls" 30 eval 'sh_cli node ls | grep -q Ready'
check "after a restart the task still runs" wait_for "1 running" 30 tasks_running_eq secretive 1
expect_eq "after a restart swarm join-token prints the same token" "$wtoken" "$(sh_cli swarm join-token -q worker)"
rotated=$(sh_cli swarm join-token --rotate -q worker)
check "rotating the worker token changes it" eval '[[ "$rotated" == SWMTKN-1-* && "$rotated" != "$wtoken" ]]'
expect_eq "rotating the worker token keeps the manager token" "$mtoken" "$(sh_cli swarm join-token -q manager)"

# A TCP API listener off loopback is refused at start.
out=$("$SHOALD" --host "tcp://0.0.0.0:$(free_port)" --data-root "$T_DIR/other" 2>&1 || true)
expect_contains "tcp://0.0.0.0 is refused with the reason" "TLS with client certificates" "$out"
check "the refused shoald created nothing" test ! -e "$T_DIR/other"

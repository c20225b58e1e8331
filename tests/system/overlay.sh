#!/usr/bin/env bash
# Services on overlay networks across the nodes of a 1+1 lab (m1, w1): a
# task reaches the others by service name (the VIP, spread over the serving
# tasks), tasks.NAME gives the running tasks' addresses, aliases resolve,
# answers follow a scale-up, services that share no network neither resolve
# nor reach each other, and service rm then network rm leave no namespace,
# link or record on either node. Commands run inside a task with nsenter on
# its container's pid (docker exec comes later). Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab

ready_nodes() { on m1 node ls --format '{{.Status}}' | grep -c Ready || true; }
all_ready() { [ "$(ready_nodes)" = "$1" ]; }
# tasks_json SERVICE: its tasks (desired running), from m1's API
tasks_json() {
  curl -s --unix-socket "$(sock m1)" -G "http://localhost/v1.41/tasks" \
    --data-urlencode "filters={\"service\":{\"$1\":true},\"desired-state\":{\"running\":true}}"
}
running() { tasks_json "$1" | python3 -c 'import json,sys; print(sum(1 for t in json.load(sys.stdin) if t["Status"]["State"]=="running"))'; }
running_eq() { [ "$(running "$1")" = "$2" ]; }
# in_task SERVICE CMD...: runs CMD in the mount and network namespaces of one
# running task of SERVICE (the container's own busybox).
in_task() {
  local svc=$1 pid; shift
  pid=$(tasks_json "$svc" | python3 -c 'import json,sys
ts=[t for t in json.load(sys.stdin) if t["Status"]["State"]=="running"]
print(ts[0]["Status"]["ContainerStatus"]["PID"] if ts else "")')
  [ -n "$pid" ] || { echo "no running task of $svc" >&2; return 1; }
  timeout -k 2 10 nsenter -t "$pid" -m -n "$@"
}
# lookup SERVICE NAME: the sorted addresses NAME resolves to inside a task of SERVICE
lookup() {
  in_task "$1" /bin/busybox nslookup "$2" 127.0.0.11 2>/dev/null |
    awk '/^Name:/ {seen=1; next} seen && /^Address/ {print $NF}' | sort | tr '\n' ' ' | sed 's/ $//'
}
task_ips() {  # task_ips SERVICE NETWORK-NAME: sorted addresses of its running tasks on it
  tasks_json "$1" | python3 -c 'import json,sys
ips=[a["Addresses"][0].split("/")[0] for t in json.load(sys.stdin) if t["Status"]["State"]=="running"
     for a in t.get("NetworksAttachments") or [] if a["Network"]["Spec"]["Name"]==sys.argv[1]]
print(" ".join(sorted(ips)))' "$2"
}
lookup_eq() { [ "$(lookup "$1" "$2")" = "$3" ]; }
# fetch SERVICE HOST PORT: an HTTP GET of HOST:PORT from inside a task of
# SERVICE (busybox nc: this busybox's wget crashes in a foreign mount namespace)
fetch() { printf 'GET / HTTP/1.0\r\n\r\n' | in_task "$1" /bin/busybox nc -w 3 "$2" "$3" 2>/dev/null; }
# hostnames N: the distinct hostnames 3N fetches of bar:8000 from foo returned
hostnames() {
  for _ in $(seq $((3 * $1))); do fetch foo bar 8000; echo; done |
    awk '/^I.m / {print $2}' | sort -u | wc -l
}
hostnames_eq() { [ "$(hostnames "$2")" = "$1" ]; }

log "lab up --managers 1 --workers 1"
lab up --managers 1 --workers 1 >/dev/null
check "2 nodes Ready within 15 s" wait_for "2 nodes Ready" 15 all_ready 2
for n in m1 w1; do
  on "$n" image import "$IMAGES_DIR/busybox.tar" busybox:latest >/dev/null
  on "$n" image load -i "$IMAGES_DIR/whoami.tar" >/dev/null
done

on m1 network create -d overlay test >/dev/null
on m1 network create -d overlay apart >/dev/null
on m1 service create -d --name bar --replicas 2 --network name=test,alias=backend whoami >/dev/null
on m1 service create -d --name foo --network test busybox sleep 100000 >/dev/null
on m1 service create -d --name lone --network apart busybox sleep 100000 >/dev/null
check "bar (2), foo and lone run" wait_for "services running" 60 \
  eval 'running_eq bar 2 && running_eq foo 1 && running_eq lone 1'
expect_eq "bar's tasks run on both nodes" "m1 w1" \
  "$(on m1 service ps bar --filter desired-state=running --format '{{.Node}}' | sort | tr '\n' ' ' | sed 's/ $//')"

VIP=$(on m1 service inspect bar --format '{{json .Endpoint.VirtualIPs}}' |
  python3 -c 'import json,sys; print(" ".join(v["Addr"].split("/")[0] for v in json.load(sys.stdin)))')
check "bar has a VIP on test ($VIP)" eval '[[ "$VIP" == 10.0.* ]]'
expect_eq "bar resolves to its VIP inside foo" "$VIP" "$(lookup foo bar)"
expect_eq "the alias resolves to the VIP" "$VIP" "$(lookup foo backend)"
bar_ips=$(task_ips bar test)
check "bar has 2 task addresses ($bar_ips)" eval '[ "$(wc -w <<<"$bar_ips")" = 2 ]'
expect_eq "tasks.bar gives the running tasks' addresses" "$bar_ips" "$(lookup foo tasks.bar)"
check "bar:8000 through the VIP reaches both tasks (both nodes, over VXLAN)" wait_for "2 hostnames" 20 hostnames_eq 2 2

# Isolation: lone shares no network with bar.
check "lone resolves its own name (its resolver works)" eval '[ -n "$(lookup lone lone)" ]'
expect_eq "lone cannot resolve bar" "" "$(lookup lone bar)"
first_bar_ip=$(task_ips bar test | cut -d' ' -f1)
check "foo reaches that bar task by address" eval 'fetch foo "$first_bar_ip" 8000 | grep -q "^I.m "'
check "commands run inside lone" in_task lone /bin/busybox true
check "lone cannot reach it by address" eval '! fetch lone "$first_bar_ip" 8000 | grep -q "^I.m "'

# Scaling shows in names and in the rotation.
on m1 service scale bar=3 >/dev/null 2>&1
check "bar scaled to 3" wait_for "3 running" 60 running_eq bar 3
check "tasks.bar follows the scale-up" wait_for "3 addresses" 10 eval 'lookup_eq foo tasks.bar "$(task_ips bar test)"'
check "the VIP spreads over 3 tasks" wait_for "3 hostnames" 20 hostnames_eq 3 3

node_state() {  # node_state NODE: namespaces and task records the node's datapath holds
  ls "$LAB/$1/data/network" "$LAB/$1/data/network/tasks" 2>/dev/null | grep -E '^ns-|^[a-z0-9]{20,}' || true
}
records() { ls "$LAB"/{m1,w1}/data/network/tasks 2>/dev/null | grep -c '\.json$' || true; }
records_eq() { [ "$(records)" = "$1" ]; }
# A stopped task leaves its node's datapath at once (its address is free in
# the cluster then): after a scale-down only the running tasks are attached.
on m1 service scale bar=1 >/dev/null 2>&1
check "bar scaled down to 1" wait_for "1 running" 60 running_eq bar 1
check "the nodes hold only the 3 running tasks' attachments" wait_for "3 records" 20 records_eq 3
check "the nodes hold the networks' namespaces before rm" eval '[ -n "$(node_state m1)" ]'

# Cleanup on the nodes: nothing of the tasks or networks left.
on m1 service rm bar foo lone >/dev/null
gone() { [ -z "$(node_state m1)$(node_state w1)" ]; }
# A network is removable once its tasks have stopped (they hold their addresses until then).
check "network rm test once its tasks are gone" wait_for "network rm test" 30 on m1 network rm test
check "network rm apart once its task is gone" wait_for "network rm apart" 30 on m1 network rm apart
check "after service rm and network rm, no namespace or record is left on either node" wait_for "clean" 30 gone
for n in m1 w1; do
  links=$(lab exec "$n" -- ip -o link show | grep -cE ': (vx-|gw-|shoal_gwbridge)' || true)
  expect_eq "no overlay or gateway link left in $n's namespace" 0 "$links"
  tables=$(lab exec "$n" -- nft list tables | grep -c shoal || true)
  expect_eq "no nftables table of shoal's left in $n's namespace" 0 "$tables"
done

finish

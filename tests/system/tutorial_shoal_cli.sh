#!/usr/bin/env bash
# The tutorial's single-node steps, end to end, with the shoal CLI: real etcd,
# real runc containers.
source "$(dirname "$0")/../lib.sh"

start_shoald
out=$(sh_cli swarm init --listen-addr "$T_LISTEN")
expect_contains "swarm init reports the manager" "is now a manager" "$out"
expect_contains "swarm init prints the worker join command" "SWMTKN-1-" "$out"

nodes=$(sh_cli node ls)
expect_contains "node ls: Ready" "Ready" "$nodes"
expect_contains "node ls: Active" "Active" "$nodes"
expect_contains "node ls: Leader" "Leader" "$nodes"

import_images
images=$(sh_cli image ls)
expect_contains "image ls lists busybox" "busybox" "$images"
expect_contains "image ls lists whoami" "whoami" "$images"

# Create without -d: returns once converged.
out=$(sh_cli service create --name web --replicas 3 --stop-grace-period 2s whoami 2>&1) || true
expect_contains "service create converges" "converged" "$out"
expect_eq "3 tasks running after create" 3 "$(count_tasks web running)"
expect_eq "3 containers running" 3 "$(running_containers web)"
ls_out=$(sh_cli service ls)
expect_contains "service ls shows 3/3" "3/3" "$ls_out"

# Desired state: kill a task's process; it fails and a replacement runs.
pid=$(task_pid web)
check "a running task has a pid" test -n "$pid"
kill -9 "$pid"
check "the killed task is reported failed" wait_for "failed task" 20 eval '[[ "$(count_tasks web failed shutdown)" -ge 1 || "$(count_tasks web failed running)" -ge 1 ]]'
check "a replacement brings the service back to 3" wait_for "3 running" 30 tasks_running_eq web 3
ps_out=$(sh_cli service ps web)
expect_contains "service ps shows history rows" '\_ web.' "$ps_out"
expect_contains "service ps shows the failure" "Failed" "$ps_out"
ps_err=$(sh_cli service ps --no-trunc web)
expect_contains "the failed task's error is shown" "non-zero exit (137)" "$ps_err"

# Scale up, down to 0, back.
sh_cli service scale web=5 >/dev/null
check "scaled to 5" wait_for "5 running" 30 tasks_running_eq web 5
sh_cli service update --replicas 0 -d web >/dev/null
check "scaled to 0: no task runs" wait_for "0 running" 30 tasks_running_eq web 0
check "scaled to 0: tasks end Shutdown" wait_for "shutdown" 30 eval '[[ "$(count_tasks web shutdown shutdown)" -ge 5 ]]'
check "scaled to 0: containers stopped" wait_for "no containers" 30 eval '[[ "$(running_containers web)" == 0 ]]'
sh_cli service update --replicas 2 -d web >/dev/null
check "back to 2" wait_for "2 running" 30 tasks_running_eq web 2

# Rolling update of the image: one at a time, stop-first.
sh_cli service create -d --name sleeper --replicas 2 --stop-grace-period 1s busybox sleep 100000 >/dev/null
check "sleeper runs 2" wait_for "2 running" 30 tasks_running_eq sleeper 2
expect_contains "ps shows the containers' command" '"sleep 100000"' "$(sh_cli ps --no-trunc)"
out=$(sh_cli service update --image busybox:v2 sleeper 2>&1) || true
expect_contains "update converges" "converged" "$out"
imgs=$(api -G http://localhost/v1.41/tasks --data-urlencode 'filters={"service":{"sleeper":true},"desired-state":{"running":true}}' |
  python3 -c 'import json,sys; print(sorted(set(t["Spec"]["ContainerSpec"]["Image"] for t in json.load(sys.stdin))))')
expect_eq "all running tasks use the new image" "['busybox:v2']" "$imgs"
state=$(api http://localhost/v1.41/services/sleeper | python3 -c 'import json,sys; print(json.load(sys.stdin)["UpdateStatus"]["State"])')
expect_eq "UpdateStatus completed" "completed" "$state"

# Restart shoald with kill -9: the swarm, the services and the containers stay.
before=$(api "http://localhost/v1.41/containers/json" | python3 -c 'import json,sys; print(sorted(c["Id"] for c in json.load(sys.stdin)))')
restart_shoald_hard
check "swarm still active after kill -9" wait_for "node ls" 30 sh_cli node ls
check "services still converge after restart" wait_for "2 running" 30 tasks_running_eq web 2
after=$(api "http://localhost/v1.41/containers/json" | python3 -c 'import json,sys; print(sorted(c["Id"] for c in json.load(sys.stdin)))')
expect_eq "the same containers keep running across the restart" "$before" "$after"

# Remove: all containers gone.
sh_cli service rm web sleeper >/dev/null
check "service rm stops every container" wait_for "no containers" 30 eval '[[ "$(running_containers web)" == 0 && "$(running_containers sleeper)" == 0 ]]'
check "service ls is empty" eval '[[ "$(sh_cli service ls -q)" == "" ]]'

# Leave: everything stops.
sh_cli service create -d --name last --replicas 1 busybox sleep 100000 >/dev/null
check "last runs" wait_for "1 running" 30 tasks_running_eq last 1
sh_cli swarm leave --force >/dev/null
check "swarm leave --force stops containers" wait_for "no containers" 30 eval '[[ "$(api http://localhost/v1.41/containers/json)" == "[]" ]]'
code=$(api -o /dev/null -w '%{http_code}' http://localhost/v1.41/services)
expect_eq "after leave the swarm API says 503" 503 "$code"

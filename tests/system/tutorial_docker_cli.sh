#!/usr/bin/env bash
# Conformance: the stock docker CLI pointed at shoald runs the tutorial's
# single-node steps with output that makes sense.
source "$(dirname "$0")/../lib.sh"
command -v docker >/dev/null || { echo "docker CLI not installed (SHOAL_WITH_DOCKER=1 scripts/install-deps.sh installs it): skipped"; exit 77; }

start_shoald
out=$(dk swarm init --listen-addr "$T_LISTEN" 2>&1) || true
expect_contains "docker swarm init" "is now a manager" "$out"
nodes=$(dk node ls 2>&1) || true
expect_contains "docker node ls shows a Ready Active Leader" "Leader" "$nodes"
expect_contains "docker node ls marks the current node" "*" "$nodes"
import_images

out=$(dk service create --name web --replicas 2 whoami 2>&1) || true
expect_contains "docker service create (attached) converges" "converged" "$out"
expect_eq "2 running" 2 "$(count_tasks web running)"
id=$(dk service create -d --name sleeper --replicas 1 --stop-grace-period 1s busybox sleep 100000 2>/dev/null)
check "docker service create -d prints an id" eval '[[ ${#id} -eq 25 ]]'
check "sleeper running" wait_for "1 running" 30 tasks_running_eq sleeper 1

ls_out=$(dk service ls 2>&1) || true
expect_contains "docker service ls shows web 2/2" "2/2" "$ls_out"
expect_contains "docker service ls shows replicated mode" "replicated" "$ls_out"
ps_out=$(dk service ps web 2>&1) || true
expect_contains "docker service ps shows Running" "Running" "$ps_out"
expect_contains "docker service ps names tasks web.1" "web.1" "$ps_out"
insp=$(dk service inspect web --format '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.ContainerSpec.Image}}' 2>&1) || true
expect_eq "docker service inspect --format" "web 2 whoami:latest" "$insp"

dk service update --replicas 3 -d web >/dev/null 2>&1
check "docker service update --replicas 3" wait_for "3 running" 30 tasks_running_eq web 3
dk service scale web=1 -d >/dev/null 2>&1
check "docker service scale web=1" wait_for "1 running" 30 tasks_running_eq web 1
out=$(dk service update --image busybox:v2 sleeper 2>&1) || true
expect_contains "docker service update --image converges" "converged" "$out"
img=$(dk service inspect sleeper --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}')
expect_eq "image updated" "busybox:v2" "$img"
prev=$(dk service inspect sleeper --format '{{.PreviousSpec.TaskTemplate.ContainerSpec.Image}}')
expect_eq "previous spec kept" "busybox:latest" "$prev"

out=$(dk service rm web sleeper 2>&1) || true
expect_contains "docker service rm prints names" "web" "$out"
check "containers gone" wait_for "no containers" 30 eval '[[ "$(api http://localhost/v1.41/containers/json)" == "[]" ]]'
err=$(dk service inspect nosuch 2>&1 || true)
expect_contains "unknown service is reported" "nosuch" "$err"
out=$(dk swarm leave --force 2>&1) || true
expect_contains "docker swarm leave --force" "left the swarm" "$out"

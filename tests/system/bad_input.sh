#!/usr/bin/env bash
# Every bad request gets the right status and a message that says what to fix,
# and nothing is half-written.
source "$(dirname "$0")/../lib.sh"

start_shoald
status() { api -o /dev/null -w '%{http_code}' "$@"; }
body() { api "$@"; }

expect_eq "services before init: 503" 503 "$(status http://localhost/v1.41/services)"
expect_contains "503 uses Docker's wording" "This node is not a swarm manager" "$(body http://localhost/v1.41/services)"
sh_cli swarm init >/dev/null
expect_eq "init twice: 503" 503 "$(status -X POST -H 'Content-Type: application/json' -d '{}' http://localhost/v1.41/swarm/init)"
import_images

create() { status -X POST -H 'Content-Type: application/json' -d "$1" http://localhost/v1.41/services/create; }
expect_eq "malformed JSON: 400" 400 "$(create '{"Name": ')"
expect_eq "invalid name: 400" 400 "$(create '{"Name":"-bad name","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}')"
expect_eq "negative replicas: 400" 400 "$(create '{"Name":"neg","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":-1}}}')"
expect_eq "empty image: 400" 400 "$(create '{"Name":"noimg","TaskTemplate":{"ContainerSpec":{"Image":""}}}')"
expect_eq "malformed image: 400" 400 "$(create '{"Name":"badimg","TaskTemplate":{"ContainerSpec":{"Image":"Bad::Image"}}}')"
expect_eq "valid create: 201" 201 "$(create '{"Name":"ok","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","100000"]}}}')"
expect_eq "duplicate name: 409" 409 "$(create '{"Name":"ok","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}')"
n=$(api http://localhost/v1.41/services | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "nothing half-written: exactly one service" 1 "$n"

ver=$(api http://localhost/v1.41/services/ok | python3 -c 'import json,sys; print(json.load(sys.stdin)["Version"]["Index"])')
spec=$(api http://localhost/v1.41/services/ok | python3 -c 'import json,sys; s=json.load(sys.stdin)["Spec"]; s["Mode"]={"Replicated":{"Replicas":2}}; print(json.dumps(s))')
upd() { status -X POST -H 'Content-Type: application/json' -d "$spec" "http://localhost/v1.41/services/ok/update?version=$1"; }
expect_eq "update with current version: 200" 200 "$(upd "$ver")"
expect_eq "stale version: 409 (Docker says 500)" 409 "$(upd "$ver")"
expect_contains "stale version message says what to do" "out of sequence" "$(api -X POST -H 'Content-Type: application/json' -d "$spec" "http://localhost/v1.41/services/ok/update?version=$ver")"
expect_eq "unknown service: 404" 404 "$(status http://localhost/v1.41/services/nosuchservice)"
expect_eq "unknown task: 404" 404 "$(status http://localhost/v1.41/tasks/nosuchtask)"
expect_eq "unknown node: 404" 404 "$(status http://localhost/v1.41/nodes/nosuchnode)"

# An unknown image: the task is rejected with a readable error.
sh_cli service create -d --name ghost nosuchimage:1.0 >/dev/null
check "unknown image: task rejected" wait_for "rejected" 30 eval '[[ "$(count_tasks ghost rejected running)" -ge 1 || "$(count_tasks ghost rejected shutdown)" -ge 1 ]]'
err=$(sh_cli service ps --no-trunc ghost)
expect_contains "service ps --no-trunc shows why" "nosuchimage" "$err"

# CLI usage errors.
out=$(sh_cli service create 2>&1 || true)
expect_contains "service create without image" "requires at least 1 argument" "$out"
out=$(sh_cli service create --replicas -3 busybox 2>&1 || true)
expect_contains "negative replicas from the CLI" "replicas" "$out"

# Agent sessions live on their own listener, never on the Docker API socket.
expect_eq "session calls on the API socket: 404" 404 "$(status -X POST -d '{}' http://localhost/_shoal/dispatcher/v1/session)"
sess() { curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T_DIR/data/dispatcher.sock" "$@"; }
expect_eq "Docker API calls on the session socket: 404" 404 "$(sess http://localhost/v1.41/services)"
expect_eq "a malformed session message: 400" 400 "$(sess -X POST -d '{not json' http://localhost/_shoal/dispatcher/v1/session)"

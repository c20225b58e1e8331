#!/usr/bin/env bash
# Every bad request gets the right status and a message that says what to fix,
# and nothing is half-written.
source "$(dirname "$0")/../lib.sh"

start_shoald
status() { api -o /dev/null -w '%{http_code}' "$@"; }
body() { api "$@"; }

expect_eq "services before init: 503" 503 "$(status http://localhost/v1.41/services)"
expect_contains "503 uses Docker's wording" "This node is not a swarm manager" "$(body http://localhost/v1.41/services)"
sh_cli swarm init --listen-addr "$T_LISTEN" >/dev/null
expect_eq "init twice: 503" 503 "$(status -X POST -H 'Content-Type: application/json' -d "{\"ListenAddr\":\"$T_LISTEN\"}" http://localhost/v1.41/swarm/init)"
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

# Hostile requests: each gets its 4xx, quickly, and shoald keeps serving
# (/_ping answers after each one).
ping_ok() { expect_eq "$1: shoald still answers /_ping" 200 "$(status -m 5 http://localhost/_ping)"; }
hostile() {  # hostile DESCRIPTION EXPECTED_STATUS CURL_ARGS...
  local what="$1" want="$2"
  shift 2
  expect_eq "$what: $want" "$want" "$(status -m 10 "$@")"
  ping_ok "$what"
}
svc() { echo '{"Name":"'"$1"'","TaskTemplate":{"ContainerSpec":{"Image":"busybox"'"$2"'}}'"$3"'}'; }
post_json() { echo -X POST -H Content-Type:application/json --data-binary "@$1" http://localhost/v1.41/services/create; }
python3 -c 'import sys; sys.stdout.write("[" * 1000000)' >"$T_DIR/deep.json"
hostile "1,000,000 nested arrays" 400 $(post_json "$T_DIR/deep.json")
printf '{"Name":"\xc3\x28","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}' >"$T_DIR/utf8.json"
hostile "invalid UTF-8" 400 $(post_json "$T_DIR/utf8.json")
svc "$(printf 'a%.0s' {1..62})-" "" "" >"$T_DIR/evil-name.json"
hostile "a name that makes std::regex backtrack" 400 $(post_json "$T_DIR/evil-name.json")
svc "huge" "" "" | python3 -c 'import sys; s=sys.stdin.read(); sys.stdout.write(s.replace("busybox", "a"*5000000))' >"$T_DIR/huge.json"
msg=$(api -m 10 -X POST -H Content-Type:application/json --data-binary "@$T_DIR/huge.json" http://localhost/v1.41/services/create)
expect_contains "a 5 MB image name: answered with a message" "\"message\"" "$msg"
expect_eq "a 5 MB image name: the message stays short" 1 "$(( ${#msg} < 1000 ))"
ping_ok "a 5 MB image name"
svc "sig" ',"StopSignal":"SIGNOPE"' "" >"$T_DIR/sig.json"
hostile "unknown stop signal" 400 $(post_json "$T_DIR/sig.json")
svc "grace" ',"StopGracePeriod":18446744073709551615' "" >"$T_DIR/grace.json"
hostile "StopGracePeriod past int64" 400 $(post_json "$T_DIR/grace.json")
svc "uid" ',"User":"4294967296"' "" >"$T_DIR/uid.json"
hostile "uid past 2^31-1" 400 $(post_json "$T_DIR/uid.json")
svc "many" "" ',"Mode":{"Replicated":{"Replicas":10001}}' >"$T_DIR/replicas.json"
hostile "replicas past the cap" 400 $(post_json "$T_DIR/replicas.json")
svc "port" "" ',"EndpointSpec":{"Ports":[{"TargetPort":70000}]}' >"$T_DIR/port.json"
hostile "port 70000" 400 $(post_json "$T_DIR/port.json")
hostile "API version too new" 400 http://localhost/v99999999999999/_ping
expect_contains "too new: Docker's wording" "is too new. Maximum supported API version is 1.41" \
  "$(api http://localhost/v99999999999999/info)"
hostile "API version not a number" 400 http://localhost/vabc/info
head -c $((17 * 1024 * 1024)) /dev/zero >"$T_DIR/big.body"
hostile "a 17 MiB body" 413 -X POST -H Content-Type:application/json --data-binary "@$T_DIR/big.body" \
  http://localhost/v1.41/services/create
hostile "70 KB of headers" 413 -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)" http://localhost/v1.41/info
# A client that never finishes its headers does not hold the API.
python3 - "$T_SOCK" >"$T_DIR/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.send(b"GET /_ping HTTP/1.1\r\nHost: x\r\n")
time.sleep(8)
PY
slow=$!
ping_ok "a slow client holding a connection"
wait "$slow" || true
rm -f "$T_DIR"/deep.json "$T_DIR"/big.body "$T_DIR"/huge.json
n=$(api http://localhost/v1.41/services | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
expect_eq "no hostile request stored a service" 2 "$n"

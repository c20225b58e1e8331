#!/usr/bin/env bash
# Into a task as the tutorial does, with the stock docker CLI pointed at the
# node: docker ps (filters, -q), docker inspect, docker exec with and without
# a TTY (input, output, stderr, exit status, the terminal's size and a resize),
# docker kill; the Engine API's exec routes behind them (the hijacked stream,
# exec inspect) and their refusals.
source "$(dirname "$0")/../lib.sh"
command -v docker >/dev/null || { echo "docker CLI not installed: skipped"; exit 77; }
command -v script >/dev/null || { echo "script (util-linux) not installed: skipped"; exit 77; }

start_shoald
sh_cli swarm init --listen-addr "$T_LISTEN" >/dev/null
import_images
sh_cli service create -d --name box --stop-grace-period 1s busybox sleep 100000 >/dev/null
check "box running" wait_for "1 running" 30 tasks_running_eq box 1

cid=$(dk ps -q --filter label=com.docker.swarm.service.name=box)
check "docker ps -q --filter label= names the task's container" eval '[[ ${#cid} -eq 12 ]]'
name=$(dk ps --filter "id=$cid" --format '{{.Names}}')
expect_contains "docker ps --format shows the task's name" "box.1." "$name"
expect_eq "docker inspect --format .State.Running" "true" "$(dk inspect --format '{{.State.Running}}' "$cid" 2>&1)"
expect_eq "docker inspect by name" "$cid" "$(dk inspect --format '{{.Id}}' "$name" 2>&1 | cut -c1-12)"

# Without a TTY: stdout, stderr apart, the exit status, env and workdir.
rc=0; out=$(dk exec "$cid" sh -c 'echo out; echo err >&2; exit 3' 2>/dev/null) || rc=$?
expect_eq "docker exec: stdout" "out" "$out"
expect_eq "docker exec: exit status" "3" "$rc"
err=$(dk exec "$cid" sh -c 'echo out; echo err >&2' 2>&1 >/dev/null)
expect_eq "docker exec: stderr on stderr" "err" "$err"
expect_eq "docker exec -e -w" "v /tmp" "$(dk exec -e K=v -w /tmp "$cid" sh -c 'echo $K $(pwd)' 2>&1)"
expect_eq "docker exec -u" "1234" "$(dk exec -u 1234 "$cid" id -u 2>&1)"
# Input: -i passes stdin until its end.
expect_eq "docker exec -i: stdin to the process" "hello from stdin" "$(echo 'hello from stdin' | dk exec -i "$cid" cat 2>&1)"
big=$(head -c 300000 /dev/zero | tr '\0' x | dk exec -i "$cid" wc -c 2>&1)
expect_eq "docker exec -i: 300 kB through" "300000" "$(echo $big)"
# AttachStderr false: the stream is not sent (the API's own exec, no TTY).
eid2=$(api -X POST -H 'Content-Type: application/json' -d '{"Cmd":["sh","-c","echo out; echo err >&2"],"AttachStdout":true,"AttachStderr":false}' \
  "http://localhost/v1.41/containers/$cid/exec" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
frames=$(api -X POST -H 'Content-Type: application/json' -d '{"Detach":false}' "http://localhost/v1.41/exec/$eid2/start" | od -An -c | tr -d ' \n')
expect_contains "a stream not attached is not sent: stdout is" "out" "$frames"
check "but stderr is not" eval '[[ "$frames" != *err* ]]'
# A command that cannot start: Docker's 126 and the runtime's reason.
rc=0; out=$(dk exec "$cid" /no/such/thing 2>&1) || rc=$?
expect_eq "docker exec of a missing command: 126" "126" "$rc"
expect_contains "docker exec of a missing command says why" "no such file" "$out"

# With a TTY (script gives the CLI a terminal of 40x100).
# The CLI sends the size right after the stream opens (API 1.41 has no
# size at create), so the process polls for it, 5 s at most.
rc=0; tty_out=$(script -qec "stty rows 40 cols 100; DOCKER_HOST=unix://$T_SOCK docker exec -it $cid sh -c 'tty; for i in \$(seq 50); do [ \"\$(stty size 2>/dev/null)\" = \"40 100\" ] && break; sleep 0.1; done; stty size; exit 5'" /dev/null </dev/null) || rc=$?
expect_contains "docker exec -it: a terminal" "/dev/pts/" "$tty_out"
expect_contains "docker exec -it: the client's size" "40 100" "$tty_out"
expect_eq "docker exec -it: exit status" "5" "$rc"

# The API behind it: create, resize, a second start refused, inspect.
eid=$(api -X POST -H 'Content-Type: application/json' -d '{"Cmd":["sh","-c","read x; stty size; exit 7"],"Tty":true,"AttachStdin":true,"AttachStdout":true}' \
  "http://localhost/v1.41/containers/$cid/exec" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
check "exec create answers an id" eval '[[ ${#eid} -eq 64 ]]'
expect_eq "exec inspect before start: not running, no exit code" "False None" \
  "$(api "http://localhost/v1.41/exec/$eid/json" | python3 -c 'import json,sys; e=json.load(sys.stdin); print(e["Running"], e["ExitCode"])')"
stream=$(python3 - "$T_SOCK" "$eid" <<'EOF'
import json, socket, sys, time
sock_path, eid = sys.argv[1], sys.argv[2]
def call(method, path, body=b""):
    s = socket.socket(socket.AF_UNIX); s.connect(sock_path)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return s.recv(65536).split(b"\r\n")[0].decode()
s = socket.socket(socket.AF_UNIX); s.connect(sock_path)
body = b'{"Detach":false,"Tty":true}'
s.sendall(f"POST /v1.41/exec/{eid}/start HTTP/1.1\r\nHost: x\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
s.settimeout(10)
head = b""
while b"\r\n\r\n" not in head: head += s.recv(1)
print(head.split(b"\r\n")[0].decode())
time.sleep(0.3)
print("resize", call("POST", f"/v1.41/exec/{eid}/resize?h=33&w=77"))
print("again", call("POST", f"/v1.41/exec/{eid}/start", b'{"Detach":false}'))
s.sendall(b"go\n")
out = b""
while True:
    b = s.recv(4096)
    if not b: break
    out += b
print("output", out.decode(errors="replace").replace("\r", "").replace("\n", " "))
EOF
)
expect_contains "exec start with Upgrade: 101" "HTTP/1.1 101" "$stream"
expect_contains "exec resize: 201" "resize HTTP/1.1 201" "$stream"
expect_contains "a second start: 409" "again HTTP/1.1 409" "$stream"
expect_contains "the resized terminal" "33 77" "$stream"
# A ConsoleSize at start is the terminal's size from its first instant.
eid3=$(api -X POST -H 'Content-Type: application/json' -d '{"Cmd":["stty","size"],"Tty":true,"AttachStdout":true}' \
  "http://localhost/v1.41/containers/$cid/exec" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
expect_contains "ConsoleSize at start sizes the terminal at once" "21 61" \
  "$(api -X POST -H 'Content-Type: application/json' -d '{"Detach":false,"Tty":true,"ConsoleSize":[21,61]}' "http://localhost/v1.41/exec/$eid3/start")"
expect_eq "exec inspect after the end: the exit status" "False 7" \
  "$(api "http://localhost/v1.41/exec/$eid/json" | python3 -c 'import json,sys; e=json.load(sys.stdin); print(e["Running"], e["ExitCode"])')"
code() { api -o /dev/null -w '%{http_code}' "$@"; }
expect_eq "exec without Cmd: 400" "400" "$(code -X POST -H 'Content-Type: application/json' -d '{}' "http://localhost/v1.41/containers/$cid/exec")"
expect_eq "privileged exec refused: 400" "400" "$(code -X POST -H 'Content-Type: application/json' -d '{"Cmd":["id"],"Privileged":true}' "http://localhost/v1.41/containers/$cid/exec")"
expect_eq "exec on no container: 404" "404" "$(code -X POST -H 'Content-Type: application/json' -d '{"Cmd":["id"]}' "http://localhost/v1.41/containers/nosuch/exec")"
expect_eq "unknown exec id: 404" "404" "$(code "http://localhost/v1.41/exec/nosuch/json")"
expect_eq "resize with a bad size: 400" "400" "$(code -X POST "http://localhost/v1.41/exec/$eid/resize?h=-1&w=x")"

# Followers that went away give their slot back (4 at once are served).
follow_url="http://localhost/v1.41/containers/$cid/logs?stdout=1&follow=1"
pids=()
for i in 1 2 3 4; do
  curl -s -N --unix-socket "$T_SOCK" -D "$T_DIR/follower$i.head" -o /dev/null "$follow_url" & pids+=($!)
  check "follower $i is served" wait_for "follower $i" 10 grep -q "^HTTP/1.1 200" "$T_DIR/follower$i.head"
done
expect_eq "a fifth follower gets a 503" "503" "$(curl -s -m 5 -o /dev/null -w '%{http_code}' --unix-socket "$T_SOCK" "$follow_url")"
expect_contains "that says why" "followed logs" "$(curl -s -m 5 --unix-socket "$T_SOCK" "$follow_url")"
kill "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" 2>/dev/null || true
served() { local h; h=$(curl -s -m 2 -o /dev/null -D - --unix-socket "$T_SOCK" "$follow_url" || true); [[ "$h" == "HTTP/1.1 200"* ]]; }
check "once they are gone (seen within seconds), a follower is served again" wait_for "a free slot" 10 served

# docker kill: the task's container ends and the service replaces it.
dk kill "$cid" >/dev/null 2>&1
check "docker kill ends the container" wait_for "exited" 30 eval '[[ "$(dk inspect --format "{{.State.Running}}" "$cid" 2>/dev/null)" != "true" ]]'
out=$(dk exec "$cid" true 2>&1) || true
expect_contains "docker exec into a stopped container: not running" "is not running" "$out"
check "the service replaces the task" wait_for "1 running" 30 tasks_running_eq box 1

# docker logs: both streams apart, --tail, --timestamps.
sh_cli service create -d --name talk --stop-grace-period 1s busybox sh -c 'echo one; echo two; echo oops >&2; sleep 100000' >/dev/null
check "talk running" wait_for "1 running" 30 tasks_running_eq talk 1
tcid=$(dk ps -q --filter label=com.docker.swarm.service.name=talk)
check "talk has written" wait_for "3 lines" 30 eval '[[ "$(dk logs "$tcid" 2>&1 | wc -l)" == 3 ]]'
expect_eq "docker logs: stdout" "one two" "$(echo $(dk logs "$tcid" 2>/dev/null))"
expect_eq "docker logs: stderr" "oops" "$(dk logs "$tcid" 2>&1 >/dev/null)"
expect_eq "docker logs --tail 2" "2" "$(dk logs --tail 2 "$tcid" 2>&1 | wc -l)"
check "docker logs --timestamps" eval '[[ "$(dk logs -t "$tcid" 2>/dev/null | head -1)" =~ ^20[0-9-]+T[0-9:.]+Z\ one$ ]]'
follow_out="$T_DIR/follow.out"
docker -H "unix://$T_SOCK" logs -f "$tcid" >"$follow_out" 2>&1 &
follow_pid=$!
check "docker logs -f sends what is there" wait_for "one" 10 grep -q one "$follow_out"
check "docker logs -f keeps following a running container" kill -0 "$follow_pid"
dk exec "$tcid" sh -c 'echo late >/proc/1/fd/1'
check "docker logs -f sends what comes later" wait_for "late" 10 grep -q late "$follow_out"
dk kill "$tcid" >/dev/null 2>&1
check "docker logs -f ends with the container" wait_for "follow ends" 15 eval '! kill -0 '"$follow_pid"' 2>/dev/null'
wait "$follow_pid" 2>/dev/null
expect_eq "docker logs -f: every line once" "4" "$(wc -l <"$follow_out")"

sh_cli service rm box talk >/dev/null
check "containers gone" wait_for "no containers" 30 eval '[[ "$(api http://localhost/v1.41/containers/json)" == "[]" ]]'

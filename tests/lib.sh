# Shared helpers for system tests (bash). Each test runs its own shoald on a
# private socket, data dir and etcd ports, and cleans up only what it started.
# Source it; then call `start_shoald`, use `sh_cli` / `dk`, and `finish`.
set -euo pipefail

BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHOALD=${SHOALD:-$BUILD_DIR/shoald}
SHOAL=${SHOAL:-$BUILD_DIR/shoal}
IMAGES_DIR=${IMAGES_DIR:-$SRC_DIR/images/out}

T_NAME=$(basename "$0" .sh)
T_DIR=$(mktemp -d "/tmp/shoal-test-$T_NAME.XXXXXX")
T_SOCK=$T_DIR/shoal.sock
SHOALD_PID=""
LAB_IN_USE=""  # set by use_lab: finish then removes the lab first
FAILURES=0
CHECKS=0

# etcd ports: a free pair per test run (tests may run one after another only;
# ctest runs them serially via RESOURCE_LOCK).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
T_ETCD_CLIENT=$(free_port)
T_ETCD_PEER=$(free_port)
# The swarm listener (TLS, joins and sessions) of a test's `swarm init`: a
# free loopback port, never 0.0.0.0:2377 on the host's public addresses.
# Every test that inits passes it: `swarm init --listen-addr "$T_LISTEN"`.
T_LISTEN=127.0.0.1:$(free_port)

log() { echo "[$(date +%T)] $*"; }

start_shoald() {
  "$SHOALD" --host "unix://$T_SOCK" --data-root "$T_DIR/data" \
    --etcd-client-port "$T_ETCD_CLIENT" --etcd-peer-port "$T_ETCD_PEER" "$@" \
    >>"$T_DIR/shoald.log" 2>&1 &
  SHOALD_PID=$!
  wait_for "shoald answers /_ping" 30 curl -sf --unix-socket "$T_SOCK" http://localhost/_ping
}

# Kills shoald with SIGKILL (containers must survive) and starts it again.
restart_shoald_hard() {
  kill -9 "$SHOALD_PID"
  wait "$SHOALD_PID" 2>/dev/null || true
  start_shoald "$@"
}

stop_shoald() {
  if [[ -n "$SHOALD_PID" ]] && kill -0 "$SHOALD_PID" 2>/dev/null; then
    kill -TERM "$SHOALD_PID"
    for _ in $(seq 1 100); do kill -0 "$SHOALD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SHOALD_PID" 2>/dev/null || true
    wait "$SHOALD_PID" 2>/dev/null || true
  fi
  SHOALD_PID=""
}

sh_cli() { "$SHOAL" -H "unix://$T_SOCK" "$@"; }
dk() { DOCKER_HOST="unix://$T_SOCK" docker "$@"; }
api() { curl -s --unix-socket "$T_SOCK" "$@"; }

# wait_for DESCRIPTION TIMEOUT_SECONDS CMD...: polls CMD every 0.2 s.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "TIMEOUT after ${timeout}s waiting for: $what" >&2
  return 1
}

check() {  # check DESCRIPTION CMD...
  local what=$1; shift
  CHECKS=$((CHECKS + 1))
  if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; FAILURES=$((FAILURES + 1)); fi
}

expect_eq() {  # expect_eq DESCRIPTION EXPECTED ACTUAL
  CHECKS=$((CHECKS + 1))
  if [[ "$2" == "$3" ]]; then echo "ok   - $1"; else echo "FAIL - $1: expected [$2] got [$3]"; FAILURES=$((FAILURES + 1)); fi
}

expect_contains() {  # expect_contains DESCRIPTION NEEDLE HAYSTACK
  CHECKS=$((CHECKS + 1))
  if [[ "$3" == *"$2"* ]]; then echo "ok   - $1"; else echo "FAIL - $1: [$2] not in [$3]"; FAILURES=$((FAILURES + 1)); fi
}

running_count() {  # running_count SERVICE -> number of tasks observed running with desired running
  sh_cli service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' 2>/dev/null | grep -c '^Running' || true
}

# TCP listeners of shoald (pid $1) outside loopback, one "addr:port" a line.
public_listeners() {
  ss -Hltnp 2>/dev/null | awk -v p="pid=$1," 'index($0, p) {print $4}' | grep -v -E '^(127\.|\[::1\]:)' || true
}

finish() {
  local rc=$?
  set +e  # cleanup runs to its end: under -e, (exit $rc) or a failed [[ ]] would end it midway
  # A lab test that calls finish itself: the lab goes first (lab_cleanup
  # calls finish again), or the rm -rf below would take lab.json while the
  # lab's shoalds still run, and nothing could remove them afterwards.
  if [[ -n "$LAB_IN_USE" ]]; then
    LAB_IN_USE=""
    trap - EXIT
    (exit $rc)
    lab_cleanup
  fi
  trap - EXIT  # finish runs once, also when a test calls it before its EXIT trap
  if [[ -n "$SHOALD_PID" ]] && kill -0 "$SHOALD_PID" 2>/dev/null; then
    # No test listens on the host's public addresses (swarm init gets --listen-addr "$T_LISTEN").
    expect_eq "shoald listens on no public address of the host" "" "$(public_listeners "$SHOALD_PID")"
    if ((FAILURES > 0 || rc != 0)); then  # what the cluster looked like when it went wrong
      echo "---- services and tasks ----"
      for s in $(sh_cli service ls -q 2>/dev/null); do
        sh_cli service inspect --format '{{.Spec.Name}} UpdateStatus={{json .UpdateStatus}}' "$s" 2>&1 || true
        sh_cli service ps --no-trunc "$s" 2>&1 || true
      done
    fi
    sh_cli swarm leave --force >/dev/null 2>&1 || true
  fi
  stop_shoald
  if ((FAILURES > 0 || rc != 0)); then
    echo "---- shoald log (last 80 lines) ----"; tail -80 "$T_DIR/shoald.log" 2>/dev/null || true
  fi
  # Whatever is still mounted below the test dir (a container's rootfs if
  # shoald died mid-test): unmount it, deepest first.
  awk -v d="$T_DIR" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$T_DIR"
  echo "$((CHECKS - FAILURES)) passed, $FAILURES failed"
  if ((FAILURES > 0)); then exit 1; fi
  exit "$rc"
}
trap finish EXIT

# Lab tests (lab.sh, join.sh): `use_lab` keeps the lab in $LAB (below the
# test's dir) and makes `lab down` run before finish, whatever happens.
# A lab test cannot hang: every CLI call through `on` gets CLI_TIMEOUT
# seconds (a call that does not return is a failure, recorded in
# $T_DIR/timeouts and counted by lab_cleanup, which prints every node's log);
# and a lab left by a test that was killed (ctest's timeout sends SIGKILL: no
# trap runs) is removed by the next lab test's use_lab (sweep_stale_labs).
LAB=$T_DIR/lab
CLI_TIMEOUT=${CLI_TIMEOUT:-60}
lab() { "$SHOAL" lab "$1" --dir "$LAB" "${@:2}"; }
# pid_start PID: the process's start time (field 22 of /proc/PID/stat), "" if gone.
pid_start() { awk '{sub(/^.*\) /, ""); print $20}' "/proc/$1/stat" 2>/dev/null || true; }
# Removes the labs of lab tests whose owner (pid and start time, in
# DIR/owner) is no longer running: `lab down` from their lab.json, then the dir.
sweep_stale_labs() {
  local d pid start
  for d in /tmp/shoal-test-*/; do
    [[ -f "$d/owner" && "$d" != "$T_DIR/" ]] || continue
    read -r pid start <"$d/owner" || continue
    [[ -n "$pid" && "$(pid_start "$pid")" == "$start" ]] && continue  # its test still runs
    log "removing the stale lab of a test that is gone (pid $pid): $d"
    "$SHOAL" lab down --dir "$d/lab" >/dev/null 2>&1 || true
    awk -v d="${d%/}" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$d"
  done
}
lab_cleanup() {
  local rc=$?
  set +e  # as in finish: every step of the cleanup runs, finish last
  if [[ -s "$T_DIR/timeouts" ]]; then
    echo "---- CLI calls that did not return within ${CLI_TIMEOUT}s ----"; cat "$T_DIR/timeouts"
    local n; n=$(wc -l <"$T_DIR/timeouts")
    CHECKS=$((CHECKS + n)); FAILURES=$((FAILURES + n))
  fi
  if ((FAILURES > 0 || rc != 0)); then  # each node's log, before lab down removes it
    for f in "$LAB"/*/shoald.log; do
      [[ -f "$f" ]] && { echo "---- $f (last 60 lines) ----"; tail -60 "$f"; }
    done
  fi
  local out
  if ! out=$(lab down 2>&1); then  # a lab left behind fails the test
    echo "FAIL - lab down: $out"
    CHECKS=$((CHECKS + 1)); FAILURES=$((FAILURES + 1))
  fi
  LAB_IN_USE=""
  (exit $rc)
  finish
}
use_lab() {
  sweep_stale_labs
  LAB_IN_USE=1
  echo "$$ $(pid_start $$)" >"$T_DIR/owner"
  trap lab_cleanup EXIT
}
sock() { echo "$LAB/$1/shoald.sock"; }                           # sock NODE: its API socket
etcd_members() {  # etcd_members NODE: "voter|learner NAME" lines from NODE's etcd (lab tests)
  local certs; certs=$(dirname "$(sock "$1")")/data/certs
  lab exec "$1" -- curl -s -m 10 --cacert "$certs/ca.crt" --cert "$certs/client.crt" --key "$certs/client.key" \
    -X POST -d '{}' https://127.0.0.1:2379/v3/cluster/member/list |
    python3 -c 'import json,sys
for m in json.load(sys.stdin)["members"]: print("learner" if m.get("isLearner") else "voter", m.get("name",""))'
}
voters() { etcd_members "$1" | grep -c '^voter ' || true; }        # voters NODE: voting members NODE's etcd lists
voters_eq() { [ "$(voters "$1")" = "$2" ]; }
# knows_managers: w1 and w2 each know the 3 managers (their join.json,
# updated from register and heartbeat answers), so a worker whose session is
# on a manager that goes can move it (lab tests with 3 managers, 2 workers).
knows_managers() {
  for w in w1 w2; do
    [ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["Managers"]))' \
      "$LAB/$w/data/swarm-tls/join.json" 2>/dev/null)" = 3 ] || return 1
  done
}
on() {  # on NODE CLI-ARGS...: the CLI against NODE, for at most CLI_TIMEOUT seconds
  local n=$1 rc=0; shift
  timeout -k 5 "$CLI_TIMEOUT" "$SHOAL" -H "unix://$(sock "$n")" "$@" || rc=$?
  if ((rc == 124 || rc == 137)); then
    echo "[$(date +%T)] on $n: shoal $* did not return within ${CLI_TIMEOUT}s" | tee -a "$T_DIR/timeouts" >&2
  fi
  return "$rc"
}
lab_ready_eq() {  # lab_ready_eq N [NODE]: NODE (default m1) lists N nodes Ready (lab tests)
  [ "$(on "${2:-m1}" node ls --format '{{.Status}}' | grep -c Ready || true)" = "$1" ]
}
lab_running_eq() {  # lab_running_eq SERVICE N: N of its tasks Running with desired state running, says m1
  [ "$(on m1 service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running' || true)" = "$2" ]
}
node_field() {  # node_field NODE FIELD: from lab.json
  python3 -c 'import json,sys
for n in json.load(open(sys.argv[1]))["nodes"]:
    if n["name"]==sys.argv[2]: print(n[sys.argv[3]])' "$LAB/lab.json" "$1" "$2"
}

# count_tasks SERVICE STATE [DESIRED]: tasks of SERVICE whose observed state is
# STATE (and desired state DESIRED, default running), from the API.
count_tasks() {
  local svc=$1 state=$2 desired=${3:-running}
  api -G "http://localhost/v1.41/tasks" --data-urlencode "filters={\"service\":{\"$svc\":true}}" |
    python3 -c 'import json,sys
ts=json.load(sys.stdin)
print(sum(1 for t in ts if t["Status"]["State"]==sys.argv[1] and t["DesiredState"]==sys.argv[2]))' "$state" "$desired"
}
# tasks_running_eq SERVICE N: true when exactly N tasks run with desired running.
tasks_running_eq() { [[ "$(count_tasks "$1" running)" == "$2" ]]; }
# container_count_with_label VALUE: containers (running) of a service on this node.
running_containers() {
  api "http://localhost/v1.41/containers/json" | python3 -c 'import json,sys
cs=json.load(sys.stdin); print(sum(1 for c in cs if c["Labels"].get("com.docker.swarm.service.name")==sys.argv[1]))' "$1"
}
# task_pid SERVICE: host pid of one running task's container.
task_pid() {
  api -G "http://localhost/v1.41/tasks" --data-urlencode "filters={\"service\":{\"$1\":true},\"desired-state\":{\"running\":true}}" |
    python3 -c 'import json,sys
ts=[t for t in json.load(sys.stdin) if t["Status"]["State"]=="running"]
print(ts[0]["Status"]["ContainerStatus"]["PID"] if ts else "")'
}
import_images() {
  [[ -f "$IMAGES_DIR/busybox.tar" ]] || "$SRC_DIR/images/build.sh" >/dev/null
  sh_cli image import "$IMAGES_DIR/busybox.tar" busybox:latest >/dev/null
  sh_cli image import "$IMAGES_DIR/busybox.tar" busybox:v2 >/dev/null
  sh_cli image load -i "$IMAGES_DIR/whoami.tar" >/dev/null
}

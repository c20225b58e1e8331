#!/usr/bin/env bash
# swarm init / leave as SDK test suites drive them: `leave --force` right
# after `init` returns within 1 s (it took 40 s: the agent's long poll, parked
# by a stopping dispatcher, ran to its timeout), API requests concurrent with
# leave get a good answer or a clean 503, shoald keeps serving, init works
# again after leave, and SIGTERM stops shoald promptly.
source "$(dirname "$0")/../lib.sh"

start_shoald
ms_now() { echo $(($(date +%s%N) / 1000000)); }
init() { api -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "{\"ListenAddr\":\"$T_LISTEN\"}" http://localhost/v1.41/swarm/init; }
leave() { api -o /dev/null -w '%{http_code}' -X POST "http://localhost/v1.41/swarm/leave?force=1"; }

for i in 1 2 3 4 5; do
  expect_eq "round $i: init" 200 "$(init)"
  t0=$(ms_now)
  code=$(leave)
  took=$(($(ms_now) - t0))
  expect_eq "round $i: leave --force right after init" 200 "$code"
  check "round $i: leave took ${took} ms (< 1000)" test "$took" -lt 1000
done

# Requests racing a leave: each answer is a 200 or a clean 503 with a
# message, never a dropped connection or a 500.
expect_eq "init before the race" 200 "$(init)"
race_dir=$T_DIR/race
mkdir -p "$race_dir"
race_pids=()
for j in $(seq 1 8); do
  (for k in $(seq 1 15); do
     api --max-time 10 -o "$race_dir/body.$j.$k" -w '%{http_code}\n' http://localhost/v1.41/services || echo "000"
   done >"$race_dir/codes.$j") &
  race_pids+=($!)
done
expect_eq "leave during concurrent requests" 200 "$(leave)"
# Only the racing loops: a bare `wait` would also wait for shoald itself.
for p in "${race_pids[@]}"; do wait "$p" || true; done
bad=$(cat "$race_dir"/codes.* | grep -cvE '^(200|503)$' || true)
expect_eq "racing requests got only 200 or 503" 0 "$bad"
no_msg=0
for f in "$race_dir"/body.*; do
  if grep -q '"message"' "$f" || grep -q '^\[' "$f"; then :; else no_msg=$((no_msg + 1)); fi
done
expect_eq "every racing answer is a listing or a message" 0 "$no_msg"
check "shoald keeps serving after the race" curl -sf --unix-socket "$T_SOCK" http://localhost/_ping

# init -> leave -> init: the second swarm is usable.
expect_eq "init again" 200 "$(init)"
import_images
sh_cli service create --name again --replicas 1 busybox:latest sleep 100000 >/dev/null
check "a task runs in the new swarm" wait_for "again running" 60 tasks_running_eq again 1
t0=$(ms_now)
code=$(leave)
expect_eq "leave with a running task" 200 "$code"
check "leave stopped the container" test "$(running_containers again)" -eq 0

# SIGTERM while in a swarm: shoald exits within a few seconds.
expect_eq "init before SIGTERM" 200 "$(init)"
t0=$(ms_now)
kill -TERM "$SHOALD_PID"
for _ in $(seq 1 100); do kill -0 "$SHOALD_PID" 2>/dev/null || break; sleep 0.1; done
took=$(($(ms_now) - t0))
check "shoald exited on SIGTERM in ${took} ms (< 5000)" test "$took" -lt 5000
wait "$SHOALD_PID" 2>/dev/null || true
SHOALD_PID=""
start_shoald
check "restarted shoald rejoins its swarm" wait_for "swarm active" 30 bash -c \
  "curl -s --unix-socket '$T_SOCK' http://localhost/v1.41/info | grep -q '\"LocalNodeState\":\"active\"'"

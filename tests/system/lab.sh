#!/usr/bin/env bash
# shoal lab: a 3+2 lab up (timed), ls/env/exec, the faults (kill/start,
# stop/start, pause/resume, partition/heal), and down leaving nothing behind
# (no namespace, link, route, process, mount, container or file), also after
# its shoalds crashed. Traffic only between lab addresses inside the lab's
# namespaces.
source "$(dirname "$0")/../lib.sh"

use_lab

lab_id() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$LAB/lab.json"; }
pings() { curl -sf -m 1 --unix-socket "$(sock "$1")" http://localhost/_ping >/dev/null; }
# etcd_of NODE: the etcd child of the node's shoald (by the process tree).
etcd_of() {
  local pid; pid=$(node_field "$1" pid)
  for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
    [[ "$(readlink /proc/"$c"/exe)" == "$(readlink -f "$(command -v etcd)")" ]] && echo "$c"
  done
  return 0
}
alive() { [[ -e /proc/$1 ]] && ! grep -q '^State:.*Z' /proc/"$1"/status 2>/dev/null; }
lab_ping() { lab exec "$1" -- busybox ping -c 1 -W 1 "$(node_field "$2" address)" >/dev/null 2>&1; }

ip route show table all >"$T_DIR/route.before"
ip link >"$T_DIR/link.before"
ip -o addr >"$T_DIR/addr.before"

log "lab up --managers 3 --workers 2"
up_out=$(lab up --managers 3 --workers 2)
echo "$up_out"
answering=$(sed -n 's/.*every shoald answering after \([0-9.]*\) s.*/\1/p' <<<"$up_out")
check "all 5 shoalds answer within 5 s of lab up (took ${answering}s)" python3 -c "import sys; sys.exit(0 if float('$answering') < 5 else 1)"
expect_contains "lab up joins w1" "w1 joined the swarm as a worker" "$up_out"
expect_contains "lab up joins m2 as a manager" "m2 joined the swarm as a manager" "$up_out"
ID=$(lab_id)

ls_out=$(lab ls)
echo "$ls_out"
expect_eq "ls: header" "NODE ROLE ADDRESS PID SOCKET STATE SWARM" "$(head -1 <<<"$ls_out" | tr -s ' ')"
expect_eq "ls: 5 nodes" "m1 m2 m3 w1 w2" "$(tail -n +2 <<<"$ls_out" | awk '{print $1}' | xargs)"
expect_eq "ls: m1 is a manager and ran swarm init" "manager init" "$(awk '$1=="m1"{print $2, $7}' <<<"$ls_out")"
expect_eq "ls: w2 is a worker at .102" "worker" "$(awk '$1=="w2"{print $2}' <<<"$ls_out")"
expect_eq "ls: the workers joined" "joined joined" "$(awk '$1=="w1"||$1=="w2"{print $7}' <<<"$ls_out" | xargs)"
expect_eq "ls: m2 and m3 joined (as managers)" "joined joined" "$(awk '$1=="m2"||$1=="m3"{print $7}' <<<"$ls_out" | xargs)"
all_ready() { [ "$("$SHOAL" -H "unix://$(sock m1)" node ls --format '{{.Status}}' | grep -c Ready)" = 5 ]; }
check "every node Ready in m1's node ls within 10 s" wait_for "5 nodes Ready" 10 all_ready
subnet=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["subnet"])' "$LAB/lab.json")
prefix=${subnet%.0/24}.

# Nothing of the lab on the host while it runs.
check "host routes unchanged while the lab runs" diff "$T_DIR/route.before" <(ip route show table all)
check "host links unchanged while the lab runs" diff "$T_DIR/link.before" <(ip link)
check "no lab address on the host" bash -c "! ip -o addr | grep -qF ' $prefix'"

env_out=$(lab env m1)
expect_contains "env prints DOCKER_HOST" "export DOCKER_HOST=unix://$(sock m1)" "$env_out"
expect_contains "env prints SHOAL_HOST" "export SHOAL_HOST=unix://$(sock m1)" "$env_out"
eval "$(lab env m1)"
expect_contains "shoal info through m1's socket: swarm active" "Swarm: active" "$("$SHOAL" info 2>&1)"
expect_eq "Engine API /info through m1's socket: node address" "$(node_field m1 address)" \
  "$(curl -s --unix-socket "$(sock m1)" http://localhost/v1.41/info | python3 -c 'import json,sys; print(json.load(sys.stdin)["Swarm"]["NodeAddr"])')"
if command -v docker >/dev/null; then
  expect_eq "docker info through m1's socket" "active" "$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)"
fi
eval "$(lab env w1)"
w1_info=$("$SHOAL" info 2>&1)
expect_contains "shoal info through w1's socket: joined" "Swarm: active" "$w1_info"
expect_contains "shoal info through w1's socket: a worker" "Is Manager: false" "$w1_info"
unset DOCKER_HOST SHOAL_HOST

expect_contains "exec: w1's eth0 has w1's address" "inet $(node_field w1 address)/24" "$(lab exec w1 -- ip -o -4 addr show dev eth0)"
set +e; lab exec m1 -- sh -c 'exit 7'; rc=$?; set -e
expect_eq "exec passes the exit code through" "7" "$rc"
check "exec: m1 reaches w1 on the lab network" lab_ping m1 w1

log "kill m1 (the swarm's manager) and start it again"
m1_pid=$(node_field m1 pid); m1_etcd=$(etcd_of m1)
check "m1's shoald supervises an etcd" test -n "$m1_etcd"
lab kill m1
check "kill: m1's shoald is gone" bash -c "! [[ -e /proc/$m1_pid ]] || grep -q '^State:.*Z' /proc/$m1_pid/status"
check "kill: m1's etcd is gone" bash -c "! [[ -e /proc/$m1_etcd ]] || grep -q '^State:.*Z' /proc/$m1_etcd/status"
expect_eq "ls shows m1 stopped" "stopped" "$(lab ls | awk '$1=="m1"{print $6}')"
set +e; kill_again=$(lab kill m1 2>&1); rc=$?; set -e
expect_eq "kill of a stopped node fails" "1" "$rc"
expect_contains "... saying how to start it" "shoal lab start m1" "$kill_again"
lab start m1
check "start: m1 answers again" pings m1
wait_for "m1 back in its swarm" 20 bash -c "SHOAL_HOST=unix://$(sock m1) '$SHOAL' info | grep -q 'Swarm: active'"
check "start: m1's etcd runs again" test -n "$(etcd_of m1)"

log "stop and start w2"
w2_pid=$(node_field w2 pid)
lab stop w2
check "stop: w2's shoald exited" bash -c "! [[ -e /proc/$w2_pid ]] || grep -q '^State:.*Z' /proc/$w2_pid/status"
lab start w2
check "start: w2 answers" pings w2

log "pause and resume w1"
lab pause w1
expect_eq "pause: w1's shoald is stopped (T)" "T" "$(awk '{print $3}' /proc/"$(node_field w1 pid)"/stat)"
check "pause: w1's API does not answer" bash -c "! curl -sf -m 1 --unix-socket $(sock w1) http://localhost/_ping"
expect_eq "ls shows w1 paused" "paused" "$(lab ls | awk '$1=="w1"{print $6}')"
lab resume w1
check "resume: w1 answers" pings w1

log "partition and heal w1"
lab partition w1
check "partition: m1 cannot reach w1" bash -c "! $SHOAL lab exec --dir $LAB m1 -- busybox ping -c 1 -W 1 $(node_field w1 address) >/dev/null 2>&1"
expect_eq "ls shows w1 partitioned" "running,partitioned" "$(lab ls | awk '$1=="w1"{print $6}')"
lab heal w1
wait_for "m1 reaches w1 again after heal" 10 lab_ping m1 w1
check "heal: m1 reaches w1" lab_ping m1 w1

log "two fault commands at once both land in lab.json"
lab pause w1 >/dev/null & p1=$!
lab partition w2 >/dev/null & p2=$!
wait $p1 $p2
expect_eq "w1 paused and w2 partitioned" "paused running,partitioned" "$(lab ls | awk '$1=="w1"||$1=="w2"{print $6}' | xargs)"
lab resume w1 >/dev/null & p1=$!
lab heal w2 >/dev/null & p2=$!
wait $p1 $p2
expect_eq "both undone" "running running" "$(lab ls | awk '$1=="w1"||$1=="w2"{print $6}' | xargs)"

log "a service on m1, then down"
import_images() { "$SHOAL" -H "unix://$(sock m1)" image import "$IMAGES_DIR/busybox.tar" busybox:latest >/dev/null; }
import_images
# On m1 only (the other nodes joined and would get tasks; only m1 has the image).
"$SHOAL" -H "unix://$(sock m1)" service create -d --name lab-sleep --replicas 2 --constraint node.hostname==m1 \
  busybox sleep 1000 >/dev/null
wait_for "2 tasks running on m1" 30 bash -c "[[ \$(curl -s --unix-socket $(sock m1) http://localhost/v1.41/containers/json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') == 2 ]]"
ctrs=$(curl -s --unix-socket "$(sock m1)" http://localhost/v1.41/containers/json | python3 -c 'import json,sys; print(" ".join(c["Id"] for c in json.load(sys.stdin)))')
ctr_pids=$(curl -s --unix-socket "$(sock m1)" 'http://localhost/v1.41/tasks' | python3 -c 'import json,sys; print(" ".join(str(t["Status"]["ContainerStatus"]["PID"]) for t in json.load(sys.stdin) if t["Status"]["State"]=="running"))')
check "the containers' processes run" bash -c "for p in $ctr_pids; do [[ -e /proc/\$p ]] || exit 1; done"
check "their rootfs are mounted under the lab dir" grep -q " $LAB/" /proc/self/mountinfo
lab pause m2 >/dev/null  # down must also take a frozen node
lab partition w2 >/dev/null
pids=$( (for n in m1 m2 m3 w1 w2; do node_field $n pid; done; etcd_of m1) | xargs)
lab down
after_down() {
  check "down: no namespace of the lab left" bash -c "! ip netns list | grep -q 'shoal-$ID-'"
  check "down: host routes as before" diff "$T_DIR/route.before" <(ip route show table all)
  check "down: host links as before" diff "$T_DIR/link.before" <(ip link)
  check "down: no process of the lab left" bash -c "for p in $pids $ctr_pids; do if [[ -e /proc/\$p ]] && ! grep -q '^State:.*Z' /proc/\$p/status; then exit 1; fi; done"
  check "down: no shoald of the lab runs" python3 -c 'import glob,sys
for f in glob.glob("/proc/[0-9]*/cmdline"):
    try: a=open(f,"rb").read().split(b"\0")
    except OSError: continue
    if a and a[0].endswith(b"shoald") and any(x.startswith(sys.argv[1].encode()) for x in a): sys.exit(1)' "$LAB/"
  check "down: no mount under the lab dir" bash -c "! grep -q ' $LAB' /proc/self/mountinfo"
  check "down: no file left (the lab dir is gone)" test ! -e "$LAB"
}
after_down
check "down: the containers' cgroups are gone" bash -c "for c in $ctrs; do for d in /sys/fs/cgroup/*/shoal/\$c /sys/fs/cgroup/shoal/\$c; do [[ ! -e \$d ]] || exit 1; done; done"
expect_contains "down again: nothing to do" "nothing to remove" "$(lab down)"

log "down after a crash: every shoald killed behind the lab's back"
lab up --managers 1 --workers 2 >/dev/null
ID=$(lab_id)
pids=$( (for n in m1 w1 w2; do node_field $n pid; done; etcd_of m1) | xargs); ctr_pids=""
for p in $pids; do kill -9 "$p"; done
lab down
after_down

log "down after lab up itself was killed mid-way"
"$SHOAL" lab up --dir "$LAB" --managers 2 --workers 1 >/dev/null 2>&1 &
up_pid=$!
wait_for "m2's shoald started" 10 test -e "$LAB/m2/shoald.log"
kill -9 "$up_pid"; wait "$up_pid" 2>/dev/null || true
ID=$(lab_id)
pids=$( (for n in m1 m2 w1; do node_field $n pid; done) | xargs)
lab down
after_down

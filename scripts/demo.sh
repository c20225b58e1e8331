#!/usr/bin/env bash
# The demo (the README's Quick start). Needs root, on a Debian 12 machine.
#
#   scripts/demo.sh             installs the deps, builds and installs shoal, builds the
#                               example images if missing, brings up a 5-node lab (shoal lab
#                               up --managers 3 --workers 2) and runs the tutorial's cluster
#                               and network parts on it (docs/demo.md); leaves the lab running
#   scripts/demo.sh --down      removes what the demo left (the lab, or --single's swarm)
#   scripts/demo.sh --single    the single-node demo: one shoald, the tutorial's services
#   --no-build                  use the shoal already built ($SHOAL, else `shoal` on $PATH)
#   --dir DIR                   the lab's directory (default $SHOAL_LAB_DIR, else /run/shoal-lab)
#
# Every step prints the commands it runs ("m1$ shoal ..." runs against m1's API,
# as after `eval "$(shoal lab env m1)"`) and their output, and waits for what it
# shows with a deadline; a step that does not happen stops the demo with a
# non-zero exit naming the step, leaving the lab as it was for a look.
# A previous demo lab (marked by the file DIR.demo) is removed first; any other
# lab in DIR is left alone and the demo refuses to start.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
MODE=lab BUILD=1 DIR=""
while (($#)); do
  case $1 in
    --single) MODE=single ;;
    --down) MODE=down ;;
    --no-build) BUILD=0 ;;
    --dir) [[ $# -ge 2 ]] || { echo "demo.sh: --dir needs a directory" >&2; exit 2; }; DIR=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ $EUID == 0 ]] || { echo "demo.sh: needs root (shoald runs containers; the lab makes namespaces): run it with sudo" >&2; exit 1; }

SHOAL=${SHOAL:-shoal}
export SHOAL_LAB_DIR=${DIR:-${SHOAL_LAB_DIR:-/run/shoal-lab}}
export SHOAL_IMAGES_DIR=$REPO/images/out   # what lab up pushes to the lab's registry
MARK=${SHOAL_LAB_DIR%/}.demo
# The mark counts only if root made it (another user could create a file of
# that name in a shared parent dir such as /tmp to make the demo take down a
# lab it did not make); it is never followed as a symlink.
demo_mark() { [[ -f $MARK && ! -L $MARK && "$(stat -c %u "$MARK")" == 0 ]]; }
if [[ -t 1 ]]; then B=$'\033[1m' G=$'\033[32m' R=$'\033[0m'; else B="" G="" R=""; fi

build() {
  scripts/install-deps.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target shoald shoal
  cmake --install build >/dev/null
}
example_images() {
  [[ -f images/out/busybox.tar && -f images/out/whoami.tar ]] || images/build.sh >/dev/null
}

# ---- --single: the single-node demo (one shoald on /run/shoal/shoal.sock).
SINGLE_SOCK=${SHOAL_DEMO_SOCK:-/run/shoal/shoal.sock}
SINGLE_PIDFILE=/run/shoal/shoald-demo.pid
single_down() {
  SHOAL_HOST=unix://$SINGLE_SOCK "$SHOAL" swarm leave --force >/dev/null 2>&1 || true
  if [[ -f $SINGLE_PIDFILE ]]; then kill "$(cat $SINGLE_PIDFILE)" 2>/dev/null || true; rm -f $SINGLE_PIDFILE; fi
}
single_demo() {
  export SHOAL_HOST=unix://$SINGLE_SOCK
  local shoald=shoald
  [[ $SHOAL == */* ]] && shoald=$(dirname "$SHOAL")/shoald
  step() { printf '\n%s$ shoal %s%s\n' "$B" "${*:2}" "$R"; "$@"; }
  if ! curl -sf --unix-socket "$SINGLE_SOCK" http://localhost/_ping >/dev/null 2>&1; then
    mkdir -p "$(dirname "$SINGLE_PIDFILE")"
    "$shoald" -H "unix://$SINGLE_SOCK" >/var/log/shoald-demo.log 2>&1 &
    echo $! >"$SINGLE_PIDFILE"
    for _ in $(seq 1 100); do curl -sf --unix-socket "$SINGLE_SOCK" http://localhost/_ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  "$SHOAL" node ls >/dev/null 2>&1 || step "$SHOAL" swarm init
  step "$SHOAL" node ls
  step "$SHOAL" image import images/out/busybox.tar busybox:latest
  step "$SHOAL" image load -i images/out/whoami.tar
  "$SHOAL" service rm web sleeper >/dev/null 2>&1 || true
  step "$SHOAL" service create --name web --replicas 3 whoami
  step "$SHOAL" service ps web
  echo; echo "# Kill one task's container: it fails, and a replacement starts after the 5 s restart delay."
  local victim; victim=$("$SHOAL" ps --format '{{.Names}}' | grep '^web\.' | head -1)
  step "$SHOAL" kill "$victim"
  for _ in $(seq 1 100); do
    [[ $("$SHOAL" service ls --format '{{.Replicas}}' --filter name=web) == 3/3 ]] &&
      "$SHOAL" service ps web | grep -q Failed && break
    sleep 0.2
  done
  step "$SHOAL" service ps web
  step "$SHOAL" service scale web=5
  step "$SHOAL" service create --name sleeper --replicas 2 --stop-grace-period 1s busybox sleep 1d
  step "$SHOAL" service update --env-add DEMO=rolled sleeper   # a rolling update, one task at a time
  step "$SHOAL" ps
  printf '\nThe demo swarm keeps running: export SHOAL_HOST=%s; shoal service ls\nRemove it with: scripts/demo.sh --down\n' "$SHOAL_HOST"
}

if [[ $MODE == down ]]; then
  if demo_mark; then "$SHOAL" lab down; rm -f "$MARK"; echo "demo lab removed"; fi
  if [[ -f $SINGLE_PIDFILE ]]; then single_down; echo "single-node demo swarm removed"; fi
  exit 0
fi
if ((BUILD)); then build; fi
example_images
if [[ $MODE == single ]]; then single_demo; exit 0; fi

# ---- The lab demo: the tutorial's cluster part on 3 managers and 2 workers.
sock() { echo "$SHOAL_LAB_DIR/$1/shoald.sock"; }
shown() {  # shown ARGS...: the command line as one would type it
  local a out=()
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
  done
  echo "${out[*]}"
}
# on NODE ARGS...: prints "NODE$ shoal ARGS", runs it against NODE's API (at
# most 60 s) and shows its output indented; its status is the CLI's.
on() {
  local n=$1; shift
  printf '%s%s$ shoal %s%s\n' "$B" "$n" "$(shown "$@")" "$R"
  SHOAL_HOST=unix://$(sock "$n") timeout -k 5 60 "$SHOAL" "$@" 2>&1 | sed 's/^/    /'
}
# on_retry SECONDS NODE ARGS...: as `on`, retried (quietly) until it succeeds;
# for a write sent while etcd elects its new raft leader.
on_retry() {
  local secs=$1 n=$2 out deadline; shift 2
  deadline=$((SECONDS + secs))
  printf '%s%s$ shoal %s%s\n' "$B" "$n" "$(shown "$@")" "$R"
  until out=$(SHOAL_HOST=unix://$(sock "$n") timeout -k 5 30 "$SHOAL" "$@" 2>&1); do
    ((SECONDS < deadline)) || { echo "$out" | sed 's/^/    /'; return 1; }
    sleep 0.2
  done
  echo "$out" | sed 's/^/    /'
}
q() { SHOAL_HOST=unix://$(sock "$1") timeout -k 5 30 "$SHOAL" "${@:2}" 2>/dev/null; }  # quiet, for the checks
labcmd() {  # labcmd ARGS...: `shoal lab ARGS`, printed
  printf '%s$ shoal lab %s%s\n' "$B" "$(shown "$@")" "$R"
  timeout -k 5 120 "$SHOAL" lab "$@" 2>&1 | sed 's/^/    /'
}
say() { printf '%s\n' "$@" | sed 's/^/# /'; }

STEP="" STEP_N=0 T_START=$EPOCHREALTIME
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }
step() { STEP_N=$((STEP_N + 1)); STEP="$STEP_N/9 $1"; printf '\n%s==== %s ====%s\n' "$B" "$STEP" "$R"; }
fail() {
  {
    printf '\n%sdemo FAILED in step %s: %s%s\n' "$B" "$STEP" "$*" "$R"
    local n
    for n in m1 m2 m3; do  # what the cluster looks like, from a manager that answers
      if q "$n" node ls >/dev/null; then
        echo "---- from $n: node ls, service ls, service ps ----"; q "$n" node ls; q "$n" service ls
        local svc
        for svc in $(q "$n" service ls --format '{{.Name}}'); do q "$n" service ps --no-trunc "$svc"; done
        break
      fi
    done
    echo "The lab is left as it is for a look (shoal lab ls; each node's log: $SHOAL_LAB_DIR/NODE/shoald.log)."
    echo "Remove it with: scripts/demo.sh --down${DIR:+ --dir $DIR}"
  } >&2
  exit 1
}
# Anything else that fails (not a checked step) stops the demo the same way.
trap 'fail "a command failed unexpectedly (line $LINENO): $BASH_COMMAND"' ERR
# wait_until WHAT SECONDS CMD...: polls CMD every 0.2 s; fails the step after SECONDS.
wait_until() {
  local what=$1 secs=$2 t0=$EPOCHREALTIME deadline; shift 2
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what: not within $secs s"
    sleep 0.2
  done
  printf '%s    ok: %s (%s s)%s\n' "$G" "$what" "$(since "$t0")" "$R"
}

ready_eq() { [[ $(q "$1" node ls --format '{{.Status}}' | grep -c '^Ready$') == "$2" ]]; }
statuses() { q "$1" node ls --format '{{.Hostname}}={{.ManagerStatus}}' | grep -v '=$' | sort | tr '\n' ' ' | sed 's/ $//'; }
statuses_eq() { [[ $(statuses "$1") == "$2" ]]; }
leader_of() { q "$1" node ls --format '{{.Hostname}} {{.ManagerStatus}}' | awk '$2=="Leader" {print $1}'; }
node_is() { [[ $(q "$1" node inspect "$2" --format '{{.Status.State}}') == "$3" ]]; }  # node_is VIA NODE STATE
manager_status_is() { [[ $(q "$1" node ls --filter "name=$2" --format '{{.ManagerStatus}}') == "$3" ]]; }  # VIA NODE STATUS
inspect_is() { [[ $(q "$1" node inspect "$2" --format "$3") == "$4" ]]; }  # inspect_is VIA NODE FORMAT VALUE
manager_statuses_eq() { [[ $(q "$1" node ls --format '{{.ManagerStatus}}' | grep . | sort | tr '\n' ' ' | sed 's/ $//') == "$2" ]]; }
running_of() {  # running_of VIA SERVICE: how many of its tasks run with desired state running
  q "$1" service ps "$2" --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running' || true
}
running_eq() { [[ $(running_of "$1" "$2") == "$3" ]]; }  # running_eq VIA SERVICE N
running_web() {  # running_web VIA: "SLOT NODE" of web's tasks running with desired state running
  q "$1" service ps web --filter desired-state=running --format '{{.Name}} {{.Node}} {{.CurrentState}}' |
    awk '$3=="Running" {print $1, $2}'
}
# converged VIA N: N tasks of web running, at most one per slot
converged() {
  [[ $(running_web "$1" | awk '{n++; c[$1]++} END {m=0; for (s in c) if (c[s]>m) m=c[s]; print n+0, m+0}') == "$2 1" ]]
}
spread() { [[ $(running_web "$1" | awk '{print $2}' | sort | tr '\n' ' ') == "$2" ]]; }  # spread VIA "NODE NODE ... "
none_on() { ! running_web "$1" | awk '{print $2}' | grep -qx "$2"; }  # none_on VIA NODE
has_failed_task() { q "$1" service ps web --format '{{.CurrentState}}' | grep -q '^Failed'; }
replaced() { has_failed_task m1 && converged m1 5; }
moved_off() { none_on m1 "$1" && converged m1 5; }  # moved_off NODE: no web task on NODE, 5 running
no_containers() { [[ -z $(q "$1" ps -q) ]] && q "$1" ps -q >/dev/null; }
lab_addr() {  # lab_addr NODE: its address on the lab bridge (lab.json)
  python3 -c 'import json,sys
for n in json.load(open(sys.argv[1]))["nodes"]:
    if n["name"] == sys.argv[2]: print(n["address"])' "$SHOAL_LAB_DIR/lab.json" "$1"
}

cat <<MSG
${B}shoal demo: the tutorial's cluster and network parts on a 5-node lab${R}
Each node (m1 m2 m3 managers, w1 w2 workers) is a network namespace of this host with its own
shoald; "m1\$ shoal ..." is the CLI pointed at m1's API, as after: eval "\$(shoal lab env m1)".
MSG

# ---------------------------------------------------------------------------
step "a 5-node lab: 3 managers, 2 workers"
if [[ -e $SHOAL_LAB_DIR/lab.json ]]; then
  demo_mark || fail "$SHOAL_LAB_DIR holds a lab the demo did not make: remove it (shoal lab down --dir $SHOAL_LAB_DIR) or give the demo another one (--dir DIR)"
  say "removing the previous demo lab first"
  labcmd down || fail "shoal lab down of the previous demo lab failed"
fi
rm -f "$MARK"
(set -o noclobber; : >"$MARK") || fail "cannot create the demo mark $MARK (it appeared meanwhile): remove it and retry"  # before lab up: a lab up that fails half way is still the demo's to remove
labcmd up --managers 3 --workers 2 || fail "shoal lab up failed"
wait_until "5 nodes Ready" 30 ready_eq m1 5
wait_until "m1 Leader, m2 and m3 Reachable" 30 statuses_eq m1 "m1=Leader m2=Reachable m3=Reachable"
on m1 node ls || fail "node ls on m1"
M1_ADDR=$(lab_addr m1)
REG=${M1_ADDR%.*}.1:5000   # lab up's registry, on the lab bridge; it pushed images/out there

# ---------------------------------------------------------------------------
step "a replicated service spread over the nodes"
say "5 replicas of the whoami image from the lab's registry: every node pulls it; spread puts one on each node."
on m1 service create -d --name web --replicas 5 "$REG/whoami" || fail "service create"
wait_until "5 replicas running, one on each of m1 m2 m3 w1 w2" 60 spread m1 "m1 m2 m3 w1 w2 "
on m1 service ls || fail "service ls"
on m1 service ps web || fail "service ps"

# ---------------------------------------------------------------------------
step "a killed container is replaced"
victim=$(q w2 ps --format '{{.Names}}' | grep '^web\.' | head -1) || true
[[ -n $victim ]] || fail "no web container on w2"
say "w2 runs $victim; kill it on w2: the task fails and a new one starts after the 5 s restart delay."
on w2 kill "$victim" || fail "kill $victim on w2"
wait_until "the killed task is Failed and 5 replicas run again" 40 replaced
on m1 service ps web || fail "service ps"

# ---------------------------------------------------------------------------
step "a node killed: its tasks rescheduled"
say "SIGKILL to w1's shoald: after 3 missed heartbeats (5 s each) w1 is Down and its task starts elsewhere."
labcmd kill w1 || fail "lab kill w1"
wait_until "w1 Down" 40 node_is m1 w1 down
wait_until "w1's task running on another node: 5 replicas" 40 moved_off w1
on m1 node ls || fail "node ls"
on m1 service ps web || fail "service ps"
say "w1 starts again: it rejoins, stops its old container (its task was replaced) and gets no task back (no rebalancing, as in Docker)."
labcmd start w1 || fail "lab start w1"
wait_until "w1 Ready" 40 node_is m1 w1 ready
wait_until "w1's replaced container stopped" 20 no_containers w1
on m1 node ls || fail "node ls"

# ---------------------------------------------------------------------------
step "a node drained"
say "Drain w2: its task is shut down and replaced on an active node (w1 has none)."
on m1 node update --availability drain w2 || fail "node update --availability drain w2"
wait_until "no web task on w2, 5 replicas elsewhere" 40 moved_off w2
wait_until "no container left on w2" 20 no_containers w2
on m1 node ls || fail "node ls"
on m1 service ps web --filter desired-state=running || fail "service ps"
on m1 node update --availability active w2 || fail "node update --availability active w2"
wait_until "w2 Active again" 10 inspect_is m1 w2 '{{.Spec.Availability}}' active

# ---------------------------------------------------------------------------
step "a manager demoted, leaving the swarm"
say "Demote m3 (its etcd member is removed), then swarm leave on it and node rm; then it joins again as a manager."
on m1 node demote m3 || fail "node demote m3"
wait_until "m3 a worker: m1 Leader, m2 Reachable" 40 statuses_eq m1 "m1=Leader m2=Reachable"
wait_until "m3 Ready as a worker" 30 inspect_is m1 m3 '{{.Status.State}} {{.Spec.Role}}' 'ready worker'
# Right after the demotion m3 may still be finishing its role change (it says
# so, "try again in a few seconds"): the leave is retried until then.
on_retry 30 m3 swarm leave || fail "swarm leave on m3"
say "m3 shows Down once its heartbeats have stopped (15 s); its task is replaced meanwhile."
wait_until "m3 Down" 40 node_is m1 m3 down
on m1 node rm m3 || fail "node rm m3"
wait_until "5 replicas, none on m3" 40 moved_off m3
on m1 node ls || fail "node ls"
token=$(q m1 swarm join-token -q manager) || fail "swarm join-token -q manager on m1"
printf '%sm1$ shoal swarm join-token -q manager%s\n    %s\n' "$B" "$R" "$token"
on m3 swarm join --token "$token" --advertise-addr "$(lab_addr m3)" "$M1_ADDR:2377" || fail "swarm join on m3"
wait_until "m3 Reachable again (a new node id, a new etcd member)" 60 statuses_eq m1 "m1=Leader m2=Reachable m3=Reachable"
on m1 node ls || fail "node ls"

# ---------------------------------------------------------------------------
step "a leader failover"
OLD=$(leader_of m2)
[[ -n $OLD ]] || fail "no leader in m2's node ls"
for SURV in m1 m2 m3; do [[ $SURV != "$OLD" ]] && break; done
say "SIGKILL to the leader $OLD's shoald and etcd: another manager leads within a few seconds and its control loops act."
labcmd kill "$OLD" || fail "lab kill $OLD"
t_kill=$EPOCHREALTIME
new_leader() { local l; l=$(leader_of "$SURV") && [[ -n $l && $l != "$OLD" ]]; }
wait_until "a new leader" 20 new_leader
on_retry 20 "$SURV" service scale -d web=6 || fail "service scale web=6 through $SURV"
wait_until "6 replicas running, one per slot: the new leader's orchestrator acted" 30 converged "$SURV" 6
printf '%s    ok: %s killed -> new leader %s, scale carried out %s s after the kill%s\n' "$G" "$OLD" "$(leader_of "$SURV")" "$(since "$t_kill")" "$R"
say "node ls lists $OLD Unreachable within about 15 s (its task keeps its slot: its container still runs)."
wait_until "$OLD Unreachable" 30 manager_status_is "$SURV" "$OLD" Unreachable
on "$SURV" node ls || fail "node ls on $SURV"
on "$SURV" service ps web --filter desired-state=running || fail "service ps"
say "$OLD starts again and comes back as Reachable."
labcmd start "$OLD" || fail "lab start $OLD"
wait_until "$OLD Reachable, one Leader" 40 manager_statuses_eq "$SURV" "Leader Reachable Reachable"
wait_until "5 nodes Ready" 40 ready_eq "$SURV" 5
wait_until "6 replicas running, one per slot" 30 converged "$SURV" 6
on "$SURV" node ls || fail "node ls"
labcmd ls || fail "lab ls"

# ---------------------------------------------------------------------------
step "the routing mesh: Web on port 80 of every node"
say "Web: 3 replicas of busybox's httpd published on port 80. Every node answers on 80, on its address" \
  "and on its localhost, also the 2 nodes without a task: the mesh sends the connection to a task."
on "$SURV" service create -d --name Web --publish 80:80 --replicas 3 "$REG/busybox" httpd -f -p 80 -h /var/www ||
  fail "service create Web"
wait_until "Web: 3 replicas running" 60 running_eq "$SURV" Web 3
fetch() { timeout -k 2 10 "$SHOAL" lab exec "$1" -- curl -s -m 3 "http://$2/" 2>/dev/null; }  # fetch FROM HOST[:PORT]
serves_web() { [[ $(fetch "$1" "$2") == *"hello from busybox httpd"* ]]; }
for n in m1 m2 m3 w1 w2; do
  wait_until "$n's address $(lab_addr "$n"):80 answers (asked from m1)" 20 serves_web m1 "$(lab_addr "$n")"
  wait_until "$n's localhost:80 answers" 20 serves_web "$n" 127.0.0.1:80
done
printf '%s$ shoal lab exec w2 -- curl -s http://127.0.0.1:80/%s
' "$B" "$R"
fetch w2 127.0.0.1:80 | sed 's/^/    /'

# ---------------------------------------------------------------------------
step "services find each other by name"
say "An overlay network, foo (busybox) and bar (3 whoami replicas) on it: from inside foo's task," \
  "the name bar is bar's virtual IP and its connections go round robin over bar's tasks."
on "$SURV" network create --driver overlay test || fail "network create test"
on "$SURV" service create -d --name foo --network test "$REG/busybox" sleep 1d || fail "service create foo"
on "$SURV" service create -d --name bar --network test --publish 8000:8000 --replicas 3 "$REG/whoami" ||
  fail "service create bar"
wait_until "foo running" 60 running_eq "$SURV" foo 1
wait_until "bar: 3 replicas running" 60 running_eq "$SURV" bar 3
FOO_NODE=$(q "$SURV" service ps foo --filter desired-state=running --format '{{.Node}}' | head -1)
FOO_CID=$(q "$FOO_NODE" ps -q --filter label=com.docker.swarm.service.name=foo | head -1)
[[ -n $FOO_NODE && -n $FOO_CID ]] || fail "foo's task or container not found"
FOO_PID=$(curl -s --unix-socket "$(sock "$FOO_NODE")" "http://localhost/v1.41/containers/$FOO_CID/json" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["State"]["Pid"])' 2>/dev/null) || true
# in_foo CMD: CMD in foo's container: docker exec where the docker CLI is
# installed, else the same through nsenter into the container's namespaces.
in_foo() {
  if command -v docker >/dev/null; then
    DOCKER_HOST=unix://$(sock "$FOO_NODE") timeout -k 2 10 docker exec "$FOO_CID" sh -c "$1"
  else
    timeout -k 2 10 nsenter -t "$FOO_PID" -m -n -p -r -w sh -c "$1"
  fi
}
ASK_BAR='printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 bar 8000 | grep "^I.m"'
bar_hostnames() { for _ in $(seq "$1"); do in_foo "$ASK_BAR" 2>/dev/null; done | awk '{print $2}' | sort -u | wc -l; }
bar_hostnames_eq() { [[ $(bar_hostnames "$1") == "$2" ]]; }
if command -v docker >/dev/null; then
  printf '%s%s$ docker exec %s sh -c %s%s   (6 times)
' "$B" "$FOO_NODE" "${FOO_CID:0:12}" "'$ASK_BAR'" "$R"
else
  say "(no docker CLI here: the same through nsenter into foo's container, pid $FOO_PID)"
fi
for _ in 1 2 3 4 5 6; do in_foo "$ASK_BAR" 2>/dev/null | sed 's/^/    /' || true; done
wait_until "bar's 3 hostnames in turn from foo" 30 bar_hostnames_eq 6 3
on "$SURV" service scale -d bar=5 || fail "service scale bar=5"
wait_until "bar: 5 replicas running" 60 running_eq "$SURV" bar 5
wait_until "5 hostnames from foo after the scale-up" 30 bar_hostnames_eq 10 5
for _ in 1 2 3 4 5; do in_foo "$ASK_BAR" 2>/dev/null | sed 's/^/    /' || true; done

dir_note=""
[[ $SHOAL_LAB_DIR == /run/shoal-lab ]] || dir_note="export SHOAL_LAB_DIR=$SHOAL_LAB_DIR   # this lab's directory, for the lab commands
  "
cat <<MSG

${G}${B}demo done in $(since "$T_START") s: every step happened.${R} The lab keeps running. Try:
  ${dir_note}eval "\$(shoal lab env $SURV)"       # SHOAL_HOST and DOCKER_HOST: $SURV's API
  shoal node ls; shoal service ps web; docker service ls
  shoal lab exec w1 -- curl -s http://127.0.0.1:80/     # Web through the routing mesh
  docker exec -it \$(docker ps -q -f label=com.docker.swarm.service.name=foo) sh   # on foo's node ($FOO_NODE)
  shoal service create --name hello --replicas 3 $REG/busybox sleep 1d
  shoal lab ls                          # nodes, addresses, pids, sockets
  shoal lab exec w1 -- ip -o addr       # a command in w1's network namespace
  shoal lab kill|stop|start|pause|resume|partition|heal NODE
Remove it all with: shoal lab down      (or scripts/demo.sh --down${DIR:+ --dir $DIR})
MSG

#!/usr/bin/env bash
# shoal against Docker Swarm on the same 3+2 layout, side by side in one run:
# `shoal lab up --managers 3 --workers 2` and bench/docker_lab.sh (one dockerd
# per network namespace, Debian docker.io 20.10), alternated (odd rounds shoal
# first, even rounds Docker first) so both see the same machine. Measures:
#   up        lab up: start -> 5 nodes Ready and 3 managers Leader/Reachable
#   failover  SIGKILL of the leader's daemon (shoal: shoald and etcd; Docker:
#             dockerd, whose containerd follows) with 6 replicas on the workers
#             -> `service scale -d fo=8` through another manager accepted
#             (write) and 8 tasks running (acted); FAILOVER_RUNS labs (default 10)
#   drain     10 replicas spread 2 per node, `node update --availability drain
#             w2` -> 10 running, none on w2; and -> w2 runs no container
#   worker    then SIGKILL of w1's daemon -> 10 running, none on w1
#   leader    then SIGKILL of the leader's daemon -> 10 running on live nodes
#             (drain, worker, leader: one lab each of RUNS, default 3)
#   memory    RSS and PSS of each node's daemons (shoald + etcd on managers,
#             shoald on workers; dockerd + containerd), idle (busybox imported,
#             no task) and with 2 tasks per node
# Like for like: the same busybox image (images/out/busybox.tar imported on
# every node), `busybox sleep 3600` tasks, --stop-grace-period 1s, default 5 s
# heartbeat on both, Docker's CLI with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 and
# --no-resolve-image. Polls with the CLIs every 0.05 s (a poll takes 50-150 ms
# under load, so resolution is ~0.1-0.3 s). A figure that times out counts as
# slower than any other (never dropped). Prints each run (with the load
# average), then a markdown table: median (min-max), n. Needs root; each lab is
# removed after its run and everything on exit; traffic stays inside the labs'
# namespaces. Usage: BUILD=build RUNS=3 FAILOVER_RUNS=10 bench/lab_vs_docker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
FAILOVER_RUNS=${FAILOVER_RUNS:-10}
BUILD=${BUILD:-build}
SHOAL=$BUILD/shoal
[[ -x "$SHOAL" && -x "$BUILD/shoald" ]] || { echo "no $SHOAL or $BUILD/shoald: build them or set BUILD" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "needs root" >&2; exit 1; }
export DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
W=$(mktemp -d /tmp/shoal-lvd.XXXXXX)
SLAB=$W/s DLAB=$W/d
cleanup() {
  set +e
  [[ -f "$SLAB/lab.json" ]] && "$SHOAL" lab down --dir "$SLAB" >/dev/null 2>&1
  [[ -f "$DLAB/lab.env" ]] && bench/docker_lab.sh down "$DLAB" >/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
# A signal ends the script through exit, so its EXIT trap (the clean-up) runs.
trap 'exit 130' INT
trap 'exit 143' TERM
images/build.sh >/dev/null

# ---- the two sides behind one interface; SIDE is shoal or docker
api() {  # api NODE ARGS...: the CLI against NODE's API
  local n=$1; shift
  if [[ $SIDE == shoal ]]; then timeout 10 "$SHOAL" -H "unix://$SLAB/$n/shoald.sock" "$@"
  else timeout 10 docker -H "unix://$DLAB/$n/docker.sock" "$@"; fi
}
lab_up() {
  if [[ $SIDE == shoal ]]; then "$SHOAL" lab up --managers 3 --workers 2 --dir "$SLAB" >/dev/null
  else bench/docker_lab.sh up "$DLAB" 3 2 >/dev/null; fi
}
lab_down() {
  if [[ $SIDE == shoal ]]; then "$SHOAL" lab down --dir "$SLAB" >/dev/null
  else bench/docker_lab.sh down "$DLAB" >/dev/null; fi
}
lab_kill() {
  if [[ $SIDE == shoal ]]; then "$SHOAL" lab kill "$1" --dir "$SLAB" >/dev/null
  else bench/docker_lab.sh kill "$DLAB" "$1"; fi
}
knows3() {  # shoal's workers have learnt every manager's address (as bench/failover.sh waits)
  for w in w1 w2; do
    [ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["Managers"]))' \
      "$SLAB/$w/data/swarm-tls/join.json")" = 3 ] || return 1
  done
}
images() {  # busybox:latest on every node
  if [[ $SIDE == shoal ]]; then
    for n in m1 m2 m3 w1 w2; do api "$n" image import images/out/busybox.tar busybox:latest >/dev/null; done
    wait_until 15 knows3
  else bench/docker_lab.sh images "$DLAB"; fi
}
mem() {  # mem NODE -> "RSS PSS" in KiB of its daemons
  if [[ $SIDE == shoal ]]; then
    local p e
    p=$(python3 -c 'import json,sys; print([n["pid"] for n in json.load(open(sys.argv[1]))["nodes"] if n["name"]==sys.argv[2]][0])' \
      "$SLAB/lab.json" "$1")
    e=$(pgrep -P "$p" -x etcd || true)
    awk '/^Rss:/{r+=$2} /^Pss:/{s+=$2} END{print r, s}' "/proc/$p/smaps_rollup" ${e:+"/proc/$e/smaps_rollup"}
  else bench/docker_lab.sh mem "$DLAB" "$1"; fi
}
create() {  # create NAME REPLICAS [FLAGS...]
  local name=$1 r=$2; shift 2
  local extra=()
  [[ $SIDE == docker ]] && extra=(--no-resolve-image)
  api m1 service create -d "${extra[@]}" --name "$name" --replicas "$r" --stop-grace-period 1s "$@" \
    busybox:latest sleep 3600 >/dev/null
}

# ---- measuring
now() { date +%s.%N; }
secs_since() { python3 -c "print(f'{$(now)-$1:.2f}')"; }
# wait_until TIMEOUT CMD...: polls CMD every 0.05 s; false on timeout.
wait_until() {
  local deadline=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do (($(date +%s) < deadline)) || return 1; sleep 0.05; done
}
formed() {
  local out
  out=$(api m1 node ls --format '{{.Status}} {{.ManagerStatus}}') || return 1
  [[ $(grep -c '^Ready' <<<"$out") == 5 && $(grep -cE ' (Leader|Reachable)$' <<<"$out") == 3 ]]
}
leader() { api "$1" node ls --format '{{.Hostname}} {{.ManagerStatus}}' | awk '$2=="Leader"{print $1}'; }
# running API SVC N [NODE...]: N tasks of SVC running (desired running), none on the NODEs
running() {
  local a=$1 s=$2 want=$3; shift 3
  [[ $(api "$a" service ps "$s" --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' |
    awk -v ex=" $* " '$2=="Running" && index(ex, " " $1 " ")==0' | wc -l) == "$want" ]]
}
spread() {  # 10 replicas of nf, 2 on each node
  [[ $(api m1 service ps nf --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' |
    awk '$2=="Running"{c[$1]++} END{for (n in c) if (c[n]==2) k++; print k+0}') == 5 ]]
}
no_containers() { [[ -z $(api "$1" ps -q) ]]; }  # NODE's own API lists no running container
other_manager() { for m in m1 m2 m3; do [[ $m != "$1" ]] && { echo "$m"; return; }; done; }

declare -A R  # R[SIDE.figure] = values, one per lab ("fail" if it timed out)
rec() { R[$SIDE.$1]+="$2 "; }
up_and_images() {  # a fresh lab: records its up time and the idle memory of each node
  local t0; t0=$(now)
  lab_up
  wait_until 60 formed || { echo "$SIDE: lab not formed within 60 s" >&2; return 1; }
  rec up "$(secs_since "$t0")"
  images
  mem_of idle
}
mem_of() {  # mem_of STATE: RSS and PSS per node, in MiB
  local n rss pss
  for n in m1 m2 m3 w1 w2; do
    read -r rss pss < <(mem "$n")
    local role=manager; [[ $n == w* ]] && role=worker
    rec "mem.$1.$role.rss" "$(python3 -c "print(f'{$rss/1024:.1f}')")"
    rec "mem.$1.$role.pss" "$(python3 -c "print(f'{$pss/1024:.1f}')")"
  done
}

failover_run() {
  up_and_images
  create fo 6 --constraint node.role==worker
  local s=fail w=fail
  if wait_until 60 running m1 fo 6; then
    local l a t0
    l=$(leader m1); a=$(other_manager "$l")
    lab_kill "$l"; t0=$(now)
    if wait_until 30 api "$a" service scale -d fo=8; then
      w=$(secs_since "$t0")
      wait_until 30 running "$a" fo 8 && s=$(secs_since "$t0")
    fi
    echo "  $SIDE failover: kill of $l -> write through $a accepted $w s, 8 running $s s (new leader $(leader "$a" || true))"
  else
    echo "  $SIDE failover: 6 replicas not running within 60 s" >&2
  fi
  rec failover.write "$w"; rec failover "$s"
  lab_down
}

suite_run() {
  up_and_images
  create nf 10
  if ! wait_until 60 spread; then
    echo "  $SIDE suite: 10 replicas not spread 2 per node within 60 s; run not counted" >&2
    lab_down; return
  fi
  mem_of tasks
  local t0 d=fail de=fail wk=fail ld=fail l a
  api m1 node update --availability drain w2 >/dev/null; t0=$(now)
  wait_until 60 running m1 nf 10 w2 && d=$(secs_since "$t0")
  wait_until 60 no_containers w2 && de=$(secs_since "$t0")
  api m1 node update --availability active w2 >/dev/null
  lab_kill w1; t0=$(now)
  wait_until 90 running m1 nf 10 w1 && wk=$(secs_since "$t0")
  l=$(leader m1); a=$(other_manager "$l")
  lab_kill "$l"; t0=$(now)
  wait_until 120 running "$a" nf 10 w1 "$l" && ld=$(secs_since "$t0")
  echo "  $SIDE suite: drain $d s (node empty $de s), worker loss $wk s, leader ($l) loss $ld s"
  rec drain "$d"; rec drain.empty "$de"; rec worker "$wk"; rec leader "$ld"
  lab_down
}

echo "lab_vs_docker: RUNS=$RUNS FAILOVER_RUNS=$FAILOVER_RUNS BUILD=$BUILD, $(date -u '+%F %T') UTC, $(nproc) cores"
max=$((RUNS > FAILOVER_RUNS ? RUNS : FAILOVER_RUNS))
for i in $(seq 1 "$max"); do
  order="shoal docker"; ((i % 2 == 0)) && order="docker shoal"
  echo "round $i of $max ($order), load $(cut -d' ' -f1-3 /proc/loadavg)"
  for SIDE in $order; do
    if ((i <= RUNS)); then suite_run; fi
    if ((i <= FAILOVER_RUNS)); then failover_run; fi
  done
done

echo
echo "Finished $(date -u '+%F %T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg). Raw values:"
for k in $(printf '%s\n' "${!R[@]}" | sort); do echo "  $k: ${R[$k]}"; done
echo
echo "| figure | shoal: median (min-max) | n | Docker Swarm: median (min-max) | n |"
echo "|---|---|---|---|---|"
row() {  # row LABEL KEY UNIT
  python3 - "$1" "$3" "${R[shoal.$2]:-}" "${R[docker.$2]:-}" <<'PY'
import statistics, sys
label, unit, *sides = sys.argv[1:]
cells = []
for s in sides:
    r = s.split()
    v = sorted(float("inf") if x == "fail" else float(x) for x in r)
    f = sum(x == "fail" for x in r)
    fmt = lambda x: "fail" if x == float("inf") else (f"{x:.2f}" if unit == "s" else f"{x:.0f}")
    cells.append(f"{fmt(statistics.median(v))} {unit} ({fmt(v[0])}-{fmt(v[-1])}){f' {f} failed' if f else ''} | {len(v)}"
                 if v else "- | 0")
print(f"| {label} | {cells[0]} | {cells[1]} |")
PY
}
row "lab up (start -> 5 Ready, 3 Leader/Reachable)" up s
row "leader failover: kill -> write accepted" failover.write s
row "leader failover: kill -> new leader acting (8 running)" failover s
row "drain -> its tasks running elsewhere" drain s
row "drain -> no container running on the drained node" drain.empty s
row "worker loss -> its tasks running elsewhere" worker s
row "leader loss -> its tasks running elsewhere" leader s
for st in idle tasks; do
  for role in manager worker; do
    row "RSS per $role node, $st (MiB)" "mem.$st.$role.rss" MiB
    row "PSS per $role node, $st (MiB)" "mem.$st.$role.pss" MiB
  done
done

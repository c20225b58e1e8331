#!/usr/bin/env bash
# A Docker Swarm lab in the layout of `shoal lab up --managers M --workers W`,
# for side-by-side benchmarks (bench/lab_vs_docker.sh). Needs root and Debian's
# docker.io (dockerd 20.10 with its own supervised containerd).
#
#   docker_lab.sh up DIR [MANAGERS [WORKERS]]   build it (default 3 + 2), print the up time
#   docker_lab.sh images DIR                    `docker import` busybox on every node
#   docker_lab.sh kill DIR NODE                 SIGKILL of NODE's dockerd (its containerd follows)
#   docker_lab.sh mem DIR NODE                  "RSS PSS" in KiB of NODE's dockerd + containerd
#   docker_lab.sh exec DIR NODE CMD...          run CMD in NODE's network and UTS namespaces
#   docker_lab.sh down DIR                      remove everything `up` made (also after a crash)
#
# Layout: one network namespace per node (dl-ID-m1.. managers, dl-ID-w1.. workers), each
# with one veth to the bridge br0 that lives in a namespace of its own (dl-ID-br); node
# addresses on a /24 of 198.19.0.0/16 that the host does not route (.11.. managers, .101..
# workers, .1 the bridge). No lab address, link or route is ever on the host, and there is
# no default route: traffic stays inside these namespaces. Each node's dockerd runs in its
# own UTS namespace (hostname = node name, so `node ls` shows m1..w2) and mount namespace
# (slave of the host's, so its mounts stay inside), with its own --data-root, --exec-root,
# socket DIR/NODE/docker.sock and --cgroup-parent /dl-ID-NODE, and --iptables=false
# --ip6tables=false --bridge=none. The host's iptables FORWARD policy is recorded at `up`
# and restored at `down` if it changed. Swarm settings are Docker's defaults (5 s
# dispatcher heartbeat); `swarm init` on m1, managers join one by one, workers in parallel.
# Every process is ended by pid (the ones in the lab's namespaces and cgroups), and every
# namespace, cgroup, socket and file is removed by `down`; `up` runs `down` if it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "docker_lab.sh: $*" >&2; exit 1; }
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ $# -ge 2 ]] || usage
CMD=$1 DIR=$2
shift 2
[[ $(id -u) == 0 ]] || die "needs root (network namespaces, dockerd)"
CGROOT=/sys/fs/cgroup
# A signal ends the script through exit, so its EXIT trap (the clean-up) runs.
trap 'exit 130' INT
trap 'exit 143' TERM

# Per-lab state, written before each thing is made so `down` finds it after a crash.
# The lab's dir is root's alone (root-owned, no symlink, 0700): everything in
# it (lab.env, pidfiles, daemon.json) is trusted as root's own.
trusted_dir() {
  [[ -d "$DIR" && ! -L "$DIR" && "$(stat -c '%u %a' "$DIR")" == "0 700" ]] ||
    die "$DIR is not a directory only root can write (root-owned, mode 0700, not a symlink): refused"
}
load() {
  trusted_dir
  [[ -f "$DIR/lab.env" && ! -L "$DIR/lab.env" ]] || die "$DIR is not a docker lab (no lab.env); run 'docker_lab.sh up $DIR' first"
  NODES="" ID="" SUBNET="" MANAGERS="" WORKERS="" FORWARD_POLICY=""
  # KEY=value lines only, each value checked (never sourced as shell code).
  local k v
  while IFS='=' read -r k v; do
    v=${v#\"}; v=${v%\"}
    case "$k" in
      ID) [[ "$v" =~ ^[0-9a-f]{1,12}$ ]] && ID=$v ;;
      SUBNET) [[ "$v" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] && SUBNET=$v ;;
      MANAGERS | WORKERS) [[ "$v" =~ ^[0-9]{1,2}$ ]] && printf -v "$k" '%s' "$v" ;;
      FORWARD_POLICY) [[ "$v" =~ ^(ACCEPT|DROP)?$ ]] && FORWARD_POLICY=$v ;;
      NODES) [[ "$v" =~ ^[a-z0-9\ ]*$ ]] && NODES=$v ;;
    esac
  done <"$DIR/lab.env"
  [[ -n "$ID" ]] || die "$DIR/lab.env has no valid ID"
}
ns() { echo "dl-$ID-$1"; }
sock() { echo "$DIR/$1/docker.sock"; }
dk() { local n=$1; shift; timeout 60 docker -H "unix://$(sock "$n")" "$@"; }
addr() {
  case $1 in
    m*) echo "$SUBNET.$((10 + ${1#m}))" ;;
    w*) echo "$SUBNET.$((100 + ${1#w}))" ;;
  esac
}
dockerd_pid() { cat "$DIR/$1/dockerd.pid" 2>/dev/null || true; }
alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

# pick_subnet: the first 198.19.N (N = 0..255) with no host route or address in it.
pick_subnet() {
  local n
  for n in $(seq 0 255); do
    if ! ip -4 route show table all | awk '{print $1, $2}' | grep -qE "(^| )198\.19\.$n\.[0-9]+" &&
       ! ip -4 addr | grep -q "inet 198\.19\.$n\."; then
      echo "198.19.$n"; return
    fi
  done
  die "every /24 of 198.19.0.0/16 is in use on this host"
}

start_dockerd() {  # start_dockerd NODE: dockerd in its namespaces, pid in NODE/dockerd.pid
  local n=$1 d=$DIR/$1
  mkdir -p "$d/data" "$d/exec"
  echo '{}' >"$d/daemon.json"
  nsenter --net="/run/netns/$(ns "$n")" unshare --uts --mount --propagation slave \
    sh -c 'hostname "$0" && exec "$@"' "$n" \
    dockerd --data-root "$d/data" --exec-root "$d/exec" -H "unix://$(sock "$n")" \
      --pidfile "$d/exec/docker.pid" --cgroup-parent "/$(ns "$n")" --config-file "$d/daemon.json" \
      --iptables=false --ip6tables=false --bridge=none >>"$d/dockerd.log" 2>&1 </dev/null &
  echo $! >"$d/dockerd.pid"
}

wait_ping() {  # wait_ping NODE: its API answers within 60 s
  local deadline=$((SECONDS + 60))
  until curl -sf --unix-socket "$(sock "$1")" http://localhost/_ping >/dev/null 2>&1; do
    alive "$(dockerd_pid "$1")" || die "$1's dockerd exited: $(tail -3 "$DIR/$1/dockerd.log")"
    ((SECONDS < deadline)) || die "$1's dockerd did not answer within 60 s (log: $DIR/$1/dockerd.log)"
    sleep 0.05
  done
}

formed() {  # all nodes Ready, every manager Leader or Reachable
  local out
  out=$(dk m1 node ls --format '{{.Status}} {{.ManagerStatus}}' 2>/dev/null) || return 1
  [[ $(grep -c '^Ready' <<<"$out") == "$((MANAGERS + WORKERS))" ]] &&
    [[ $(grep -cE ' (Leader|Reachable)$' <<<"$out") == "$MANAGERS" ]]
}

cmd_up() {
  local managers=${1:-3} workers=${2:-2} t0 n
  t0=$(date +%s.%N)
  [[ ! -e "$DIR" || -z "$(ls -A "$DIR")" ]] || die "$DIR exists and is not empty"
  if [[ -e "$DIR" ]]; then trusted_dir; else mkdir -m 0700 "$DIR"; fi
  local id subnet fwd
  id=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
  subnet=$(pick_subnet)
  fwd=$(iptables -S FORWARD 2>/dev/null | awk '$1=="-P"{print $3}')
  printf 'ID=%s\nSUBNET=%s\nMANAGERS=%s\nWORKERS=%s\nFORWARD_POLICY=%s\n' \
    "$id" "$subnet" "$managers" "$workers" "$fwd" >"$DIR/lab.env"
  load
  trap 'rc=$?; if [[ $rc != 0 ]]; then echo "docker_lab.sh: up failed; removing the lab" >&2; cmd_down >/dev/null 2>&1; fi' EXIT
  NODES=""
  for n in $(seq 1 "$managers"); do NODES+="m$n "; done
  for n in $(seq 1 "$workers"); do NODES+="w$n "; done
  echo "NODES=\"$NODES\"" >>"$DIR/lab.env"
  # The bridge in its own namespace, then one namespace and veth per node.
  ip netns add "$(ns br)"
  ip -n "$(ns br)" link set lo up
  ip -n "$(ns br)" link add br0 type bridge
  ip -n "$(ns br)" addr add "$SUBNET.1/24" dev br0
  ip -n "$(ns br)" link set br0 up
  for n in $NODES; do
    mkdir -p "$DIR/$n"
    ip netns add "$(ns "$n")"
    ip -n "$(ns br)" link add "v-$n" type veth peer name eth0 netns "$(ns "$n")"
    ip -n "$(ns br)" link set "v-$n" master br0 up
    ip -n "$(ns "$n")" link set lo up
    ip -n "$(ns "$n")" addr add "$(addr "$n")/24" dev eth0
    ip -n "$(ns "$n")" link set eth0 up
  done
  for n in $NODES; do start_dockerd "$n"; done
  for n in $NODES; do wait_ping "$n"; done
  local t1; t1=$(date +%s.%N)
  dk m1 swarm init --advertise-addr "$(addr m1)" --listen-addr "$(addr m1):2377" >/dev/null
  local mtok wtok
  mtok=$(dk m1 swarm join-token -q manager)
  wtok=$(dk m1 swarm join-token -q worker)
  for n in $NODES; do
    [[ $n == m1 || $n != m* ]] && continue
    dk "$n" swarm join --token "$mtok" --advertise-addr "$(addr "$n")" --listen-addr "$(addr "$n"):2377" \
      "$(addr m1):2377" >/dev/null
  done
  local pids=()
  for n in $NODES; do
    [[ $n == w* ]] || continue
    dk "$n" swarm join --token "$wtok" --advertise-addr "$(addr "$n")" "$(addr m1):2377" >/dev/null &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  local deadline=$((SECONDS + 60))
  until formed; do ((SECONDS < deadline)) || die "swarm not formed within 60 s"; sleep 0.05; done
  trap - EXIT
  python3 -c "import sys; t0,t1,t2=map(float,sys.argv[1:]); print(f'docker lab $DIR: {len(\"$NODES\".split())} nodes on $SUBNET.0/24, every dockerd answering after {t1-t0:.2f} s; lab up in {t2-t0:.2f} s')" \
    "$t0" "$t1" "$(date +%s.%N)"
}

cmd_images() {  # busybox:latest from images/out/busybox.tar on every node, in parallel
  load
  images/build.sh >/dev/null
  local pids=() n
  for n in $NODES; do dk "$n" import images/out/busybox.tar busybox:latest >/dev/null & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p"; done
}

cmd_kill() {
  load
  local n=${1:?kill needs a NODE} p
  p=$(dockerd_pid "$n")
  alive "$p" || die "$n's dockerd is not running"
  kill -9 "$p"
  while alive "$p" && [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]; do sleep 0.01; done
}

cmd_mem() {  # RSS and PSS (KiB) of NODE's dockerd plus its containerd
  load
  local n=${1:?mem needs a NODE} p c
  p=$(dockerd_pid "$n")
  c=$(pgrep -P "$p" -x containerd || true)
  awk '/^Rss:/{r+=$2} /^Pss:/{s+=$2} END{print r, s}' "/proc/$p/smaps_rollup" ${c:+"/proc/$c/smaps_rollup"}
}

cmd_exec() {
  load
  local n=${1:?exec needs a NODE}; shift
  local p; p=$(dockerd_pid "$n")
  alive "$p" || die "$n's dockerd is not running"
  nsenter --target "$p" --net --uts "$@"
}

# lab_pids: every process in the lab: the nodes' namespaces (dockerd, containerd, shims)
# and their cgroups (the containers, which have network namespaces of their own).
lab_pids() {
  local n
  for n in $NODES; do
    local p; p=$(dockerd_pid "$n")
    alive "$p" && echo "$p"
    ip netns pids "$(ns "$n")" 2>/dev/null || true
    find "$CGROOT/pids/$(ns "$n")" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  done | sort -un
}

cmd_down() {
  load
  set +e
  local n p deadline
  # Shims' sockets, named by containerd (1.6) from its address, namespace and task id.
  local shims=()
  for n in $NODES; do
    for p in "$DIR/$n"/exec/containerd/daemon/io.containerd.runtime.v2.task/moby/*; do
      [[ -d "$p" ]] && shims+=("$DIR/$n/exec/containerd/containerd.sock/moby/$(basename "$p")")
    done
  done
  for _ in 1 2 3; do
    for p in $(lab_pids); do kill -9 "$p" 2>/dev/null; done
    deadline=$((SECONDS + 10))
    while [[ -n "$(lab_pids)" ]] && ((SECONDS < deadline)); do sleep 0.05; done
    [[ -z "$(lab_pids)" ]] && break
  done
  [[ -z "$(lab_pids)" ]] || echo "docker_lab.sh: processes still alive: $(lab_pids | tr '\n' ' ')" >&2
  for p in "${shims[@]}"; do
    rm -f "/run/containerd/s/$(printf '%s' "$p" | sha256sum | cut -d' ' -f1)"
  done
  for n in $NODES br; do ip netns del "$(ns "$n")" 2>/dev/null; done
  # Cgroups: leaves first, in every hierarchy.
  local c
  for c in "$CGROOT"/*/; do
    for n in $NODES; do
      [[ -d "$c$(ns "$n")" ]] && find "$c$(ns "$n")" -depth -type d -exec rmdir {} + 2>/dev/null
    done
  done
  awk -v d="$DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  if [[ -n "${FORWARD_POLICY:-}" ]]; then
    local now; now=$(iptables -S FORWARD 2>/dev/null | awk '$1=="-P"{print $3}')
    if [[ "$now" != "$FORWARD_POLICY" ]]; then
      iptables -P FORWARD "$FORWARD_POLICY"
      echo "docker_lab.sh: the host's iptables FORWARD policy was changed to $now; restored to $FORWARD_POLICY" >&2
    fi
  fi
  rm -rf "$DIR"
  local left=""
  ip netns ls | grep -q "^dl-$ID-" && left+=" namespaces"
  [[ -e "$DIR" ]] && left+=" $DIR"
  for c in "$CGROOT"/*/; do for n in $NODES; do [[ -d "$c$(ns "$n")" ]] && left+=" $c$(ns "$n")"; done; done
  [[ -z "$left" ]] || { echo "docker_lab.sh: could not remove:$left" >&2; return 1; }
  echo "docker lab $DIR removed"
}

case $CMD in
  up) cmd_up "$@" ;;
  images) cmd_images ;;
  kill) cmd_kill "$@" ;;
  mem) cmd_mem "$@" ;;
  exec) cmd_exec "$@" ;;
  down) cmd_down ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# Side-by-side: shoal vs Docker Swarm 20.10 on this machine, same busybox image,
# same run. Measures, for N in $SIZES (default "10 50 100"):
#   create --replicas N -> all running; scale N -> 2N -> all running;
#   kill -9 of a task's process -> replacement running;
# and two floors: `runc run -d` of N sleep containers on one shared read-only
# rootfs with a minimal spec, and of the same containers shoal runs (its OCI
# spec, an overlay rootfs each).
# Every figure is measured $RUNS times (default 3, interleaved: each round runs
# every figure once) and printed as "median (min–max)"; ratios are of medians.
# Prints a markdown table (seconds and Docker/shoal ratios). Needs root.
# dockerd runs with its own data root and socket, --iptables=false and
# --bridge=none so it leaves the host's packet filter alone; it is stopped by pid.
# Like for like: Docker is told not to try a registry for each task
# (DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 and --no-resolve-image), and both run
# their tasks under their default seccomp profile (Docker's built-in one,
# shoal's translation of the Docker-format profile Debian ships); the script
# checks "Seccomp: 2" in a task of each before it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10 50 100"}
RUNS=${RUNS:-3}
BUILD=${BUILD:-build}
W=$(mktemp -d /tmp/shoal-vs-docker.XXXXXX)
DPID="" SPID=""
cleanup() {
  set +e
  if [[ -n "$SPID" ]]; then "$BUILD/shoal" -H "unix://$W/shoal.sock" swarm leave --force >/dev/null 2>&1; kill "$SPID"; wait "$SPID"; fi
  if [[ -n "$DPID" ]]; then
    DOCKER_HOST=unix://$W/docker.sock docker swarm leave --force >/dev/null 2>&1
    kill "$DPID"; wait "$DPID"
  fi
  # runc containers of the floors, if a run was cut short (ours by name)
  for c in $(runc list -q 2>/dev/null | grep -E '^shoal(bench|same)[0-9]+$'); do runc delete -f "$c" >/dev/null 2>&1; done
  awk -v d="$W" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
images/build.sh >/dev/null
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$(now) - $1:.1f}')"; }

# ---- runc alone: the floor
runc_floor() {
  local n=$1 root=$W/runc
  mkdir -p "$root/rootfs"; tar -C "$root/rootfs" -xf images/out/busybox.tar
  for i in $(seq 1 "$n"); do
    mkdir -p "$root/b$i"
    python3 - "$root" "$i" <<'PY'
import json, sys
root, i = sys.argv[1], sys.argv[2]
spec = {"ociVersion": "1.0.2", "process": {"user": {"uid": 0, "gid": 0}, "args": ["sleep", "100000"], "cwd": "/",
        "env": ["PATH=/bin"]}, "root": {"path": root + "/rootfs", "readonly": True}, "hostname": "b" + i,
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": t} for t in ["pid", "ipc", "uts", "mount", "network"]]}}
json.dump(spec, open(f"{root}/b{i}/config.json", "w"))
PY
  done
  local t0; t0=$(now)
  for i in $(seq 1 "$n"); do runc run -d --bundle "$root/b$i" "shoalbench$i" >/dev/null 2>&1 </dev/null; done
  local t; t=$(elapsed "$t0")
  for i in $(seq 1 "$n"); do runc delete -f "shoalbench$i" >/dev/null 2>&1; done
  rm -rf "$root"
  echo "$t"
}

# ---- runc alone, the same containers: shoal's own OCI spec (captured from a
# running shoal task as $W/template.json), an overlay root filesystem over the
# unpacked image and the same /etc/hostname, hosts and resolv.conf binds.
# Bundles and mounts are prepared first; only the `runc run -d` loop is timed.
runc_floor_same() {
  local n=$1 root=$W/same
  mkdir -p "$root/lower"; tar -C "$root/lower" -xf images/out/busybox.tar
  for i in $(seq 1 "$n"); do
    mkdir -p "$root/b$i/upper" "$root/b$i/work" "$root/b$i/rootfs"
    mount -t overlay overlay -o "lowerdir=$root/lower,upperdir=$root/b$i/upper,workdir=$root/b$i/work" "$root/b$i/rootfs"
    python3 - "$W/template.json" "$root/b$i" "$i" <<'PY'
import json, os, sys
tmpl, b, i = sys.argv[1], sys.argv[2], sys.argv[3]
c = json.load(open(tmpl))
for f, text in (("hostname", f"b{i}\n"), ("hosts", "127.0.0.1\tlocalhost\n"), ("resolv.conf", "")):
    open(os.path.join(b, f), "w").write(text)
c["hostname"] = f"b{i}"
c["root"] = {"path": os.path.join(b, "rootfs"), "readonly": False}
c["linux"]["cgroupsPath"] = f"/shoalfloor/b{i}"
for m in c["mounts"]:
    if m["type"] == "bind":
        m["source"] = os.path.join(b, os.path.basename(m["destination"]))
c["process"]["args"] = ["sleep", "100000"]
json.dump(c, open(os.path.join(b, "config.json"), "w"))
PY
  done
  local t0; t0=$(now)
  for i in $(seq 1 "$n"); do runc run -d --bundle "$root/b$i" "shoalsame$i" >/dev/null 2>&1 </dev/null; done
  local t; t=$(elapsed "$t0")
  for i in $(seq 1 "$n"); do runc delete -f "shoalsame$i" >/dev/null 2>&1; umount "$root/b$i/rootfs"; done
  rm -rf "$root"
  echo "$t"
}

# ---- generic measurements over a CLI (docker or shoal) at $HOSTSOCK
# Polls are cheap (curl and grep, no interpreter start-up) and frequent, so
# the measurement neither lags nor takes much CPU from what it measures. Both
# daemons encode JSON without spaces; "State" here is only a task's observed
# state ("DesiredState" does not match the quoted key).
running() {  # running SERVICE -> number of running tasks with desired running
  curl -s --unix-socket "$HOSTSOCK" -G "http://localhost/v1.41/tasks" \
    --data-urlencode "filters={\"service\":{\"$1\":true},\"desired-state\":{\"running\":true}}" |
    grep -o '"State":"running"' | wc -l
}
wait_running() {  # wait_running SERVICE N
  local deadline=$((SECONDS + 600))
  while ((SECONDS < deadline)); do [[ $(running "$1") -ge $2 ]] && return 0; sleep 0.05; done
  echo "timeout waiting for $2 running tasks of $1" >&2; return 1
}
measure() {  # measure CLI N -> "create scale"
  local cli=$1 n=$2 svc=bench$2
  local t0; t0=$(now)
  $cli service create -d $NORESOLVE --name "$svc" --replicas "$n" busybox sleep 100000 >/dev/null 2>&1
  wait_running "$svc" "$n"; local c; c=$(elapsed "$t0")
  t0=$(now)
  $cli service scale -d "$svc=$((2 * n))" >/dev/null 2>&1
  wait_running "$svc" $((2 * n)); local s; s=$(elapsed "$t0")
  $cli service rm "$svc" >/dev/null 2>&1
  local deadline=$((SECONDS + 300))
  while ((SECONDS < deadline)) && [[ $(curl -s --unix-socket "$HOSTSOCK" http://localhost/v1.41/containers/json) != "[]" ]]; do sleep 0.5; done
  echo "$c $s"
}
kill_replace() {  # kill_replace CLI -> seconds from kill -9 to the replacement running
  local cli=$1
  $cli service create -d $NORESOLVE --name victim --replicas 1 busybox sleep 100000 >/dev/null 2>&1
  wait_running victim 1
  local pid
  pid=$(curl -s --unix-socket "$HOSTSOCK" "http://localhost/v1.41/containers/json" |
    python3 -c 'import json,sys; print([c["Id"] for c in json.load(sys.stdin) if c["Labels"].get("com.docker.swarm.service.name")=="victim"][0])')
  pid=$(curl -s --unix-socket "$HOSTSOCK" "http://localhost/v1.41/tasks" |
    python3 -c 'import json,sys
for t in json.load(sys.stdin):
  cs=t["Status"].get("ContainerStatus") or {}
  if t["Status"]["State"]=="running" and cs.get("ContainerID")==sys.argv[1]: print(cs.get("PID",0))' "$pid")
  local t0; t0=$(now)
  kill -9 "$pid"
  sleep 0.5
  wait_running victim 1; local t; t=$(elapsed "$t0")
  $cli service rm victim >/dev/null 2>&1
  echo "$t"
}

# ---- start both
DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 dockerd --data-root "$W/docker" -H "unix://$W/docker.sock" --exec-root "$W/dexec" --pidfile "$W/docker.pid" \
  --iptables=false --bridge=none >"$W/dockerd.log" 2>&1 &
DPID=$!
"$BUILD/shoald" -H "unix://$W/shoal.sock" --data-root "$W/shoal" --etcd-client-port 24379 --etcd-peer-port 24380 \
  >"$W/shoald.log" 2>&1 &
SPID=$!
for _ in $(seq 1 150); do
  curl -sf --unix-socket "$W/docker.sock" http://localhost/_ping >/dev/null 2>&1 &&
    curl -sf --unix-socket "$W/shoal.sock" http://localhost/_ping >/dev/null 2>&1 && break
  sleep 0.2
done
DK="docker -H unix://$W/docker.sock"
SH="$BUILD/shoal -H unix://$W/shoal.sock"
# Both swarm listeners on loopback, on ports of their own: Docker's takes
# 2377, and shoal's init fails when its listen port is taken.
$DK swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
$SH swarm init --listen-addr 127.0.0.1:24377 >/dev/null
$DK import images/out/busybox.tar busybox:latest >/dev/null
$SH image import images/out/busybox.tar busybox:latest >/dev/null

# shoal's OCI spec for the "same containers" floor, from a real task.
$SH service create --name template --replicas 1 busybox sleep 100000 >/dev/null
cp "$(ls "$W"/shoal/containers/*/bundle/config.json | head -1)" "$W/template.json"
$SH service rm template >/dev/null

# Both sides must confine their tasks with seccomp, or the comparison is unfair.
seccomp_of() {  # seccomp_of CLI SOCK -> the Seccomp: field of a fresh task's process
  local cli=$1
  HOSTSOCK=$2
  $cli service create -d $NORESOLVE --name sc --replicas 1 busybox sleep 100000 >/dev/null 2>&1
  wait_running sc 1
  local pid
  pid=$(curl -s --unix-socket "$HOSTSOCK" "http://localhost/v1.41/tasks" |
    python3 -c 'import json,sys
for t in json.load(sys.stdin):
  cs=t["Status"].get("ContainerStatus") or {}
  if t["Status"]["State"]=="running": print(cs.get("PID",0))' | head -1)
  awk '/^Seccomp:/ {print $2}' "/proc/$pid/status"
  $cli service rm sc >/dev/null 2>&1
}
NORESOLVE="" ssc=$(seccomp_of "$SH" "$W/shoal.sock")
NORESOLVE="--no-resolve-image" dsc=$(seccomp_of "$DK" "$W/docker.sock")
if [[ "$ssc" != 2 || "$dsc" != 2 ]]; then
  echo "seccomp is not on both sides (shoal: Seccomp=$ssc, Docker: Seccomp=$dsc): not a fair comparison" >&2
  exit 1
fi

# stats V... -> "median (min–max)"; median_of V... -> the median alone
stats() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.1f} ({min(v):.1f}–{max(v):.1f})")' "$@"; }
median_of() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
ratio() { python3 -c "print(f'{$1/$2:.1f}x')"; }

declare -A R  # R[figure,N] = space-separated values, one per round
for round in $(seq 1 "$RUNS"); do
  echo "round $round of $RUNS" >&2
  for n in $SIZES; do
    R[floor,$n]+=" $(runc_floor "$n")"
    R[same,$n]+=" $(runc_floor_same "$n")"
    HOSTSOCK=$W/shoal.sock NORESOLVE=""; read -r sc ss < <(measure "$SH" "$n")
    HOSTSOCK=$W/docker.sock NORESOLVE="--no-resolve-image"; read -r dc ds < <(measure "$DK" "$n")
    R[sc,$n]+=" $sc"; R[ss,$n]+=" $ss"; R[dc,$n]+=" $dc"; R[ds,$n]+=" $ds"
  done
  HOSTSOCK=$W/shoal.sock NORESOLVE=""; R[sk]+=" $(kill_replace "$SH")"
  HOSTSOCK=$W/docker.sock NORESOLVE="--no-resolve-image"; R[dk]+=" $(kill_replace "$DK")"
done

echo "Medians of $RUNS rounds, (min–max) in brackets; ratios of medians."
echo
echo "| figure | N | runc alone, minimal (s) | runc alone, same containers (s) | shoal (s) | shoal / same | Docker Swarm (s) | Docker / shoal |"
echo "|---|---|---|---|---|---|---|---|"
for n in $SIZES; do
  # shellcheck disable=SC2086
  {
    msame=$(median_of ${R[same,$n]}); msc=$(median_of ${R[sc,$n]}); mdc=$(median_of ${R[dc,$n]})
    mss=$(median_of ${R[ss,$n]}); mds=$(median_of ${R[ds,$n]})
    echo "| create → all running | $n | $(stats ${R[floor,$n]}) | $(stats ${R[same,$n]}) | $(stats ${R[sc,$n]}) | $(ratio "$msc" "$msame") | $(stats ${R[dc,$n]}) | $(ratio "$mdc" "$msc") |"
    echo "| scale $n → $((2 * n)) | $n | | | $(stats ${R[ss,$n]}) | | $(stats ${R[ds,$n]}) | $(ratio "$mds" "$mss") |"
  }
done
# shellcheck disable=SC2086
echo "| kill -9 → replacement running (5 s restart delay) | 1 | | | $(stats ${R[sk]}) | | $(stats ${R[dk]}) | $(ratio "$(median_of ${R[dk]})" "$(median_of ${R[sk]})") |"

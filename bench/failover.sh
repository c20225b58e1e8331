#!/usr/bin/env bash
# Leader failover, RUNS times (default 10): a fresh 3+2 lab (`shoal lab up`),
# 6 replicas on the workers, `lab kill` of the leader m1 (SIGKILL of its
# shoald and etcd), `service scale -d fo=8` through m2, and the time from the
# kill until 8 tasks run (a new leader's control loops acted). Prints each
# run, then "median (min-max)" in seconds. Needs root; everything it makes is
# in a lab under a temporary directory, removed by `lab down` at the end of
# each run (and on exit). Traffic stays inside the lab's namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
BUILD=${BUILD:-build}
SHOAL=$BUILD/shoal
W=$(mktemp -d /tmp/shoal-bench-failover.XXXXXX)
LAB=$W/lab
cleanup() {
  set +e
  "$SHOAL" lab down --dir "$LAB" >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT
images/build.sh >/dev/null
on() { timeout 60 "$SHOAL" -H "unix://$LAB/$1/shoald.sock" "${@:2}"; }
# wait_until TIMEOUT CMD...: polls CMD every 0.05 s; false on timeout.
wait_until() {
  local deadline=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do (($(date +%s) < deadline)) || return 1; sleep 0.05; done
}
ready5() { [ "$(on m1 node ls --format '{{.Status}}' | grep -c Ready)" = 5 ]; }
running() {
  [ "$(on "$1" service ps fo --filter desired-state=running --format '{{.CurrentState}}' | grep -c '^Running')" = "$2" ]
}
knows3() {
  for w in w1 w2; do
    [ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["Managers"]))' \
      "$LAB/$w/data/swarm-tls/join.json")" = 3 ] || return 1
  done
}
results=()
for i in $(seq 1 "$RUNS"); do
  "$SHOAL" lab up --managers 3 --workers 2 --dir "$LAB" >/dev/null
  wait_until 20 ready5
  for n in m1 m2 m3 w1 w2; do on "$n" image import images/out/busybox.tar busybox:latest >/dev/null; done
  wait_until 15 knows3
  on m1 service create -d --name fo --replicas 6 --constraint node.role==worker busybox sleep 3600 >/dev/null
  wait_until 30 running m1 6
  "$SHOAL" lab kill m1 --dir "$LAB" >/dev/null
  t0=$(date +%s.%N)
  wait_until 20 on m2 service scale -d fo=8
  if wait_until 30 running m2 8; then
    t1=$(date +%s.%N)
    s=$(python3 -c "print(f'{$t1-$t0:.2f}')")
  else
    s=fail
  fi
  leader=$(on m2 node ls --format '{{.Hostname}} {{.ManagerStatus}}' | awk '$2=="Leader"{print $1}')
  echo "run $i: kill of the leader -> scale carried out in $s s (new leader $leader)"
  results+=("$s")
  "$SHOAL" lab down --dir "$LAB" >/dev/null
done
printf '%s\n' "${results[@]}" | python3 -c 'import sys, statistics
v=[float(x) for x in sys.stdin.read().split() if x != "fail"]
n=len(v)
print(f"failover (kill -> new leader acting), {n} runs: median {statistics.median(v):.2f} s ({min(v):.2f}-{max(v):.2f})" if v else "no run succeeded")'

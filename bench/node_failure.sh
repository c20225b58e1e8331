#!/usr/bin/env bash
# Node failure, RUNS times (default 5), each on a fresh 3+2 lab (`shoal lab
# up`) with 10 replicas of whoami spread two per node:
#   worker-5s  `lab kill w1` (SIGKILL of its shoald), default 5 s heartbeat ->
#              its tasks running elsewhere (10 running, none on w1);
#   leader     `lab kill m1` (the leader; shoald and etcd) -> its tasks running
#              elsewhere;
#   worker-1s  after `docker swarm update --dispatcher-heartbeat 1s`,
#              `lab kill w2` -> its tasks running elsewhere;
#   and after each, `lab start` of the node: reconnect = from its agent's
#   session opening (its log) to its last stale container stopped (runc).
# Prints each run, then per figure "median (min-max)" in seconds; a run whose
# figure timed out counts as slower than any other (never dropped). Needs
# root; everything is in a lab under a temporary directory, removed by `lab
# down` after each run (and on exit). Traffic stays inside the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
BUILD=${BUILD:-build}
SHOAL=$BUILD/shoal
W=$(mktemp -d /tmp/shoal-bench-nodefail.XXXXXX)
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
knows3() {
  for w in w1 w2; do
    [ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["Managers"]))' \
      "$LAB/$w/data/swarm-tls/join.json")" = 3 ] || return 1
  done
}
# replaced API-NODE LOST-NODE: 10 tasks of nf running, none on LOST-NODE
replaced() {
  [ "$(on "$1" service ps nf --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' |
    awk -v n="$2" '$1!=n && $2=="Running"' | wc -l)" = 10 ]
}
spread() {
  [ "$(on m1 service ps nf --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' |
    awk '$2=="Running"{c[$1]++} END{for (n in c) if (c[n]==2) k++; print k+0}')" = 5 ]
}
runc_running() { runc --root "$LAB/$1/data/runc" list 2>/dev/null | awk 'NR > 1 && $3 == "running"' | wc -l; }
no_containers() { [ "$(runc_running "$1")" = 0 ]; }
secs_since() { python3 -c "print(f'{$(date +%s.%N)-$1:.2f}')"; }
# lose NODE API-NODE: kill, seconds until its tasks run elsewhere ("fail" after 60 s)
lose() {
  "$SHOAL" lab kill "$1" --dir "$LAB" >/dev/null
  local t0; t0=$(date +%s.%N)
  if wait_until 60 replaced "$2" "$1"; then secs_since "$t0"; else echo fail; fi
}
# come_back NODE: start, seconds from its session opening to no container left
come_back() {
  local lines; lines=$(wc -l <"$LAB/$1/shoald.log")
  "$SHOAL" lab start "$1" --dir "$LAB" >/dev/null
  if ! wait_until 60 no_containers "$1"; then echo fail; return; fi
  local t1; t1=$(date +%s.%N)
  local opened
  opened=$(tail -n +"$((lines + 1))" "$LAB/$1/shoald.log" | grep -m1 'agent: session .* opened with' | awk '{print $1}')
  python3 -c 'import sys, datetime
head, frac = sys.argv[1].rstrip("Z").split(".")
t=datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc).timestamp() + float("0."+frac)
print(f"{float(sys.argv[2]) - t:.2f}")' "$opened" "$t1"
}
declare -A R
for i in $(seq 1 "$RUNS"); do
  "$SHOAL" lab up --managers 3 --workers 2 --dir "$LAB" >/dev/null
  wait_until 20 ready5
  for n in m1 m2 m3 w1 w2; do on "$n" image load -i images/out/whoami.tar >/dev/null; done
  wait_until 15 knows3
  on m1 service create -d --name nf --replicas 10 whoami >/dev/null
  if ! wait_until 60 spread; then
    echo "run $i: 10 replicas not spread 2 per node within 60 s; run not counted" >&2
    "$SHOAL" lab down --dir "$LAB" >/dev/null; continue
  fi
  w5=$(lose w1 m1); rw5=$(come_back w1)
  ld=$(lose m1 m2); rld=$(come_back m1)
  on m2 swarm update --dispatcher-heartbeat 1s >/dev/null
  wait_until 10 grep -q 'agent: heartbeat period now 1s' "$LAB/w2/shoald.log"
  w1s=$(lose w2 m2); rw1s=$(come_back w2)
  echo "run $i: worker-5s $w5 s (reconnect $rw5 s), leader $ld s (reconnect $rld s), worker-1s $w1s s (reconnect $rw1s s); load $(cut -d' ' -f1 /proc/loadavg)"
  R[worker-5s]+="$w5 "; R[reconnect-5s]+="$rw5 "; R[leader]+="$ld "; R[reconnect-leader]+="$rld "
  R[worker-1s]+="$w1s "; R[reconnect-1s]+="$rw1s "
  "$SHOAL" lab down --dir "$LAB" >/dev/null
done
for k in worker-5s reconnect-5s leader reconnect-leader worker-1s reconnect-1s; do
  echo "$k ${R[$k]:-}" | python3 -c 'import sys, statistics
k, *r = sys.stdin.read().split()
v = sorted(float("inf") if x == "fail" else float(x) for x in r)
fmt = lambda x: "fail" if x == float("inf") else f"{x:.2f}"
f = sum(x == "fail" for x in r)
print(f"{k}: {len(v)} runs, {f} failed: median {fmt(statistics.median(v))} s ({fmt(v[0])}-{fmt(v[-1])})" if v else f"{k}: no run")'
done

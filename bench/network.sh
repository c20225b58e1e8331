#!/usr/bin/env bash
# shoal's service networking under load, in a 1+1 lab (m1, w1): wrk (Debian's)
# from w1 to whoami tasks on m1, so every path crosses the overlay (VXLAN
# between the two nodes' namespaces):
#   direct    from a client task's network namespace on w1 to one task's
#             overlay address (no NAT): the baseline
#   vip       from the same namespace to the service's VIP (DNAT in the
#             client's own namespace, round robin over the serving tasks)
#   mesh      from w1's own namespace to m1's address on the published port
#             (the routing mesh: DNAT + SNAT on w1, over the ingress network)
# each with 1 and 3 backends (the direct path always goes to one task);
# then, with 2 replicas and a steady request loop from the client task:
#   scale     service scale 2 -> 3 until the new task answers a request
#   death     a task's container killed until its address leaves
#             `tasks.web` in the client task's DNS answers
#   rolling   failed requests during `service update --force` of 3 replicas
#             under a steady loop (one new connection per request, through
#             the VIP and through the mesh)
# wrk: 2 threads, 32 connections, 10 s (WRK_SECONDS), keep-alive, against
# whoami (images/whoami, a fork per connection). RUNS (default 3) rounds, each
# on a fresh lab; prints every run and a markdown table of medians (min-max).
# Docker Swarm cannot be run alongside here: its VIPs and routing mesh are
# IPVS, which this kernel lacks (REFERENCE.md), so there is no Docker figure
# for these paths on this machine. wrk runs in the namespaces through
# `nsenter --net` (the host's binary, the task's network). Needs root; the lab
# is removed after each round and on exit; traffic stays inside the lab.
# Usage: BUILD=build RUNS=3 bench/network.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
WRK_SECONDS=${WRK_SECONDS:-10}
BUILD=${BUILD:-build}
SHOAL=$BUILD/shoal
[[ -x "$SHOAL" && -x "$BUILD/shoald" ]] || { echo "no $SHOAL or $BUILD/shoald: build them or set BUILD" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "needs root" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk (scripts/install-deps.sh)" >&2; exit 1; }
W=$(mktemp -d /tmp/shoal-netbench.XXXXXX)
LAB=$W/lab
cleanup() {
  set +e
  [[ -f "$LAB/lab.json" ]] && "$SHOAL" lab down --dir "$LAB" >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
images/build.sh >/dev/null

on() { local n=$1; shift; timeout 60 "$SHOAL" -H "unix://$LAB/$n/shoald.sock" "$@"; }
api() { curl -s --unix-socket "$LAB/m1/shoald.sock" -G "http://localhost/v1.41/$1" "${@:2}"; }
addr() {
  python3 -c 'import json,sys
for n in json.load(open(sys.argv[1]))["nodes"]:
    if n["name"] == sys.argv[2]: print(n["address"])' "$LAB/lab.json" "$1"
}
now() { date +%s.%N; }
since() { python3 -c "print(f'{$(now)-$1:.2f}')"; }
wait_until() {  # wait_until TIMEOUT CMD...: polls CMD every 0.05 s; false on timeout
  local deadline=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do (($(date +%s) < deadline)) || return 1; sleep 0.05; done
}
tasks_json() {  # tasks_json SERVICE: its tasks desired running
  api tasks --data-urlencode "filters={\"service\":{\"$1\":true},\"desired-state\":{\"running\":true}}"
}
running() {
  [[ $(tasks_json "$1" | python3 -c 'import json,sys
print(sum(1 for t in json.load(sys.stdin) if t["Status"]["State"]=="running"))') == "$2" ]]
}
# field SERVICE EXPR: EXPR (python, over t: a running task) of its first running task
field() {
  tasks_json "$1" | python3 -c 'import json,sys
ts=[t for t in json.load(sys.stdin) if t["Status"]["State"]=="running"]
t=ts[0] if ts else None
print(eval(sys.argv[1]) if t else "")' "$2"
}
net_ip() { field web "[a['Addresses'][0].split('/')[0] for a in t['NetworksAttachments'] if a['Network']['Spec']['Name']=='$1'][0]"; }
vip() {
  on m1 service inspect web --format '{{json .Endpoint.VirtualIPs}}' | python3 -c 'import json,sys
nets={n["Id"]:n["Name"] for n in json.loads(sys.argv[1])}
print([v["Addr"].split("/")[0] for v in json.load(sys.stdin) if nets.get(v["NetworkID"])=="net"][0])' \
    "$(api networks)"
}
# wrk_in NETNS_PID|node:NAME URL -> "RPS P99_MS ERRORS"
wrk_in() {
  local where=$1 url=$2 out
  if [[ $where == node:* ]]; then
    out=$("$SHOAL" lab exec --dir "$LAB" "${where#node:}" -- wrk -t2 -c32 -d"${WRK_SECONDS}s" --latency "$url" 2>&1)
  else
    out=$(nsenter -t "$where" -n wrk -t2 -c32 -d"${WRK_SECONDS}s" --latency "$url" 2>&1)
  fi
  python3 - "$out" <<'PY'
import re, sys
t = sys.argv[1]
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", t)
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
ms = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)] if p99 else float("nan")
e = (int(errs.group(1)) if errs else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
print(f"{float(rps.group(1)) if rps else 0:.0f} {ms:.2f} {e}")
PY
}
# A steady request loop from the client task (one connection per request):
# each line "ok" or "fail". loop_start NAME URL; loop_stop NAME
loop_start() {
  nsenter -t "$CPID" -n bash -c "while [ ! -e $W/stop.$1 ] && ((SECONDS < 120)); do
    if curl -s -m 2 '$2' | grep -q '^I.m '; then echo ok; else echo fail; fi; done" >"$W/loop.$1" 2>/dev/null &
  echo $! >"$W/loop.$1.pid"
}
loop_stop() { touch "$W/stop.$1"; wait "$(cat "$W/loop.$1.pid")" 2>/dev/null || true; rm -f "$W/stop.$1"; }

declare -A R  # R[metric] = "v1 v2 ..."
add() { R[$1]="${R[$1]:-} $2"; }

round() {
  "$SHOAL" lab up --dir "$LAB" --managers 1 --workers 1 >/dev/null
  wait_until 30 eval '[[ $(on m1 node ls --format "{{.Status}}" | grep -c Ready) == 2 ]]'
  for n in m1 w1; do on "$n" image load -i images/out/whoami.tar >/dev/null; done
  on m1 network create --driver overlay net >/dev/null
  on m1 service create -d --name web --network net --publish 8080:8000 --constraint node.hostname==m1 whoami >/dev/null
  on m1 service create -d --name client --network net --constraint node.hostname==w1 whoami >/dev/null
  wait_until 60 running web 1 && wait_until 60 running client 1
  CPID=$(field client "t['Status']['ContainerStatus']['PID']")
  local m1; m1=$(addr m1)
  # The clients' namespaces reuse TIME_WAIT ports (each wrk run opens some
  # 20,000 connections to one destination: whoami closes after each answer),
  # the same for every path; without it a later run finds the ports of an
  # earlier one still waiting and slows down.
  nsenter -t "$CPID" -n sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
  "$SHOAL" lab exec --dir "$LAB" w1 -- sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65000"
  wait_until 20 eval "nsenter -t $CPID -n curl -s -m 2 http://$(vip):8000/ | grep -q '^I.m '"
  wait_until 20 eval "$SHOAL lab exec --dir $LAB w1 -- curl -s -m 2 http://$m1:8080/ | grep -q '^I.m '"
  local b
  for b in 1 3; do
    if ((b == 3)); then
      on m1 service scale -d web=3 >/dev/null
      wait_until 60 running web 3
      sleep 1  # the views of every node carry the new tasks (well within 1 s)
    fi
    local r
    r=$(wrk_in "$CPID" "http://$(net_ip net):8000/"); echo "  direct  b=$b: $r"; add "direct_rps_$b" "${r%% *}"; add "direct_p99_$b" "$(cut -d' ' -f2 <<<"$r")"
    r=$(wrk_in "$CPID" "http://$(vip):8000/"); echo "  vip     b=$b: $r"; add "vip_rps_$b" "${r%% *}"; add "vip_p99_$b" "$(cut -d' ' -f2 <<<"$r")"
    r=$(wrk_in node:w1 "http://$m1:8080/"); echo "  mesh    b=$b: $r"; add "mesh_rps_$b" "${r%% *}"; add "mesh_p99_$b" "$(cut -d' ' -f2 <<<"$r")"
  done
  # scale-up: 3 -> 4 until a request from the client reaches the new task
  local before t0 newhost
  before=$(tasks_json web | python3 -c 'import json,sys; print(" ".join(t["Status"]["ContainerStatus"]["ContainerID"][:12] for t in json.load(sys.stdin) if t["Status"].get("ContainerStatus")))')
  t0=$(now)
  on m1 service scale -d web=4 >/dev/null
  hits_new() {
    local h; h=$(nsenter -t "$CPID" -n curl -s -m 1 "http://$(vip):8000/" | awk '/^I.m /{print $2}')
    [[ -n $h && " $before " != *" $h "* ]]
  }
  if wait_until 30 hits_new; then local s; s=$(since "$t0"); echo "  scale-up -> new task serving: $s s"; add scale "$s"; else add scale 99; fi
  # death: kill one task's container; time until its address leaves tasks.web
  local victim vip_ip vcid
  victim=$(net_ip net)
  vcid=$(field web "t['Status']['ContainerStatus']['ContainerID']")
  in_dns() { nsenter -t "$CPID" -n -m nslookup tasks.web 127.0.0.11 2>/dev/null | grep -q "$victim\$"; }
  wait_until 5 in_dns || true
  t0=$(now)
  on m1 kill "$vcid" >/dev/null
  if wait_until 30 eval '! in_dns'; then s=$(since "$t0"); echo "  death -> out of DNS: $s s"; add death "$s"; else add death 99; fi
  wait_until 60 running web 4
  on m1 service scale -d web=3 >/dev/null
  wait_until 60 running web 3
  sleep 1
  # rolling update under steady load
  loop_start vip "http://$(vip):8000/"
  "$SHOAL" lab exec --dir "$LAB" w1 -- bash -c "while [ ! -e $W/stop.mesh ] && ((SECONDS < 120)); do
    if curl -s -m 2 http://$m1:8080/ | grep -q '^I.m '; then echo ok; else echo fail; fi; done" >"$W/loop.mesh" 2>/dev/null &
  echo $! >"$W/loop.mesh.pid"
  sleep 1
  on m1 service update --force web >/dev/null
  sleep 1
  loop_stop vip; loop_stop mesh
  local fv fm ov om
  fv=$(grep -c '^fail$' "$W/loop.vip" || true); ov=$(grep -c '^ok$' "$W/loop.vip" || true)
  fm=$(grep -c '^fail$' "$W/loop.mesh" || true); om=$(grep -c '^ok$' "$W/loop.mesh" || true)
  echo "  rolling update of 3: vip $fv failed of $((fv + ov)), mesh $fm failed of $((fm + om))"
  add rolling_vip "$fv"; add rolling_mesh "$fm"
  "$SHOAL" lab down --dir "$LAB" >/dev/null
}

for i in $(seq 1 "$RUNS"); do
  echo "round $i/$RUNS (load $(cut -d' ' -f1-3 /proc/loadavg))"
  round
done

stat() { python3 -c 'import statistics,sys; v=sorted(float(x) for x in sys.argv[1:]); print(f"{statistics.median(v):g} ({v[0]:g}-{v[-1]:g}), n={len(v)}")' ${R[$1]}; }
ratio() { python3 -c 'import statistics,sys; a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]; print(f"{statistics.median(a)/statistics.median(b):.2f}")' "${R[$1]}" "${R[$2]}"; }
echo
echo "| path | backends | requests/s | p99 (ms) | vs direct |"
echo "|---|---|---|---|---|"
for b in 1 3; do
  for p in direct vip mesh; do
    echo "| $p | $b | $(stat "${p}_rps_$b") | $(stat "${p}_p99_$b") | $(ratio "${p}_rps_$b" "direct_rps_$b") |"
  done
done
echo
echo "| event | seconds or requests |"
echo "|---|---|"
echo "| scale 3 -> 4: until the new task serves (s) | $(stat scale) |"
echo "| a task killed: until it leaves DNS (s) | $(stat death) |"
echo "| failed requests, rolling update of 3 (VIP) | $(stat rolling_vip) |"
echo "| failed requests, rolling update of 3 (mesh) | $(stat rolling_mesh) |"

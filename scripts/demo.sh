#!/usr/bin/env bash
# The demo: builds and installs shoal, starts shoald as a single-node swarm and
# walks through the tutorial's services with real containers. Leaves the swarm
# running so you can keep going (`shoal service ls`); `scripts/demo.sh --down`
# removes it again. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=${SHOAL_DEMO_SOCK:-/run/shoal/shoal.sock}
export SHOAL_HOST=unix://$SOCK
LOG=/var/log/shoald-demo.log
PIDFILE=/run/shoal/shoald-demo.pid

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

if [[ "${1:-}" == "--down" ]]; then
  shoal swarm leave --force 2>/dev/null || true
  if [[ -f $PIDFILE ]]; then kill "$(cat $PIDFILE)" 2>/dev/null || true; rm -f $PIDFILE; fi
  echo "demo swarm removed"
  exit 0
fi

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target shoald shoal
cmake --install build >/dev/null
images/build.sh >/dev/null

if ! curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; then
  mkdir -p "$(dirname "$PIDFILE")"
  shoald -H "unix://$SOCK" >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do curl -sf --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! shoal node ls >/dev/null 2>&1; then step shoal swarm init; fi
step shoal node ls
step shoal image import images/out/busybox.tar busybox:latest
step shoal image load -i images/out/whoami.tar
step shoal image ls

shoal service rm web sleeper >/dev/null 2>&1 || true
step shoal service create --name web --replicas 3 whoami
step shoal service ls
step shoal service ps web

echo; echo "# Kill one task's container: it fails, and a replacement starts after the 5 s restart delay."
victim=$(shoal ps --format '{{.Names}}' | grep '^web\.' | head -1)
step shoal kill "$victim"
for _ in $(seq 1 100); do
  [[ $(shoal service ls --format '{{.Replicas}}' --filter name=web) == 3/3 ]] && \
    shoal service ps web | grep -q Failed && break
  sleep 0.2
done
step shoal service ps web

step shoal service scale web=5
step shoal service create --name sleeper --replicas 2 --stop-grace-period 1s busybox sleep 1d
step shoal service update --env-add DEMO=rolled sleeper   # a rolling update, one task at a time
step shoal service ps sleeper
step shoal ps

cat <<MSG

The demo swarm keeps running. Try:
  export SHOAL_HOST=$SHOAL_HOST
  shoal service ls;  shoal service update --replicas 0 web;  shoal service rm web
  DOCKER_HOST=$SHOAL_HOST docker service ls      # the stock docker CLI works too
Remove it all with: scripts/demo.sh --down
MSG

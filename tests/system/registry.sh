#!/usr/bin/env bash
# Images on every node from the lab's private registry (issue 6 point 10):
# `shoal lab up` starts docker-registry in the lab's bridge namespace and
# pushes the example images there; a service of an image that no node has
# runs on every node of a 1+2 lab (each node pulls it); a missing image and
# an unreachable registry are readable task errors in `service ps`;
# `shoal image pull` and the stock `docker pull` pull through a node's API
# (Docker's JSON progress); POST /images/create?fromImage= of a missing
# image is a 404 with the registry's reason; a pull that stalls holds up only
# its own task (--with-registry-auth: registry_auth.sh). Traffic only inside
# the lab.
source "$(dirname "$0")/../lib.sh"

use_lab
export SHOAL_IMAGES_DIR=$IMAGES_DIR
[[ -f "$IMAGES_DIR/busybox.tar" ]] || "$SRC_DIR/images/build.sh" >/dev/null

ready_nodes() { on m1 node ls --format '{{.Status}}' | grep -c Ready || true; }
all_ready() { [ "$(ready_nodes)" = "$1" ]; }
placement() {
  on m1 service ps "$1" --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' |
    awk '$2=="Running" {c[$1]++} END {for (n in c) print n":"c[n]}' | sort | tr '\n' ' ' | sed 's/ $//'
}
placement_eq() { [ "$(placement "$1")" = "$2" ]; }
# task_error SERVICE: the ERROR of its latest task, once it has one
task_error() { on m1 service ps "$1" --no-trunc --format '{{.Error}}' | head -1; }
has_error() { [ -n "$(task_error "$1")" ]; }

log "lab up --managers 1 --workers 2"
UP=$(lab up --managers 1 --workers 2)
REG="$(node_field m1 address | sed 's/\.[0-9]*$/.1/'):5000"
expect_contains "lab up says where its registry is and what it pushed" \
  "lab registry at $REG (plain http, every node trusts it): busybox:latest and whoami:latest pushed" "$UP"
check "3 nodes Ready within 15 s" wait_for "3 nodes Ready" 15 all_ready 3
expect_eq "no node has any image before the pulls" "0 0 0" \
  "$(for n in m1 w1 w2; do on "$n" image ls -q | wc -l; done | tr '\n' ' ' | sed 's/ $//')"

# A service of an image only in the registry: every node pulls it.
on m1 service create -d --name web --replicas 3 "$REG/whoami" >/dev/null
check "a registry-only image runs on every node (one replica each on m1, w1, w2)" \
  wait_for "web on every node" 60 placement_eq web "m1:1 w1:1 w2:1"
for n in m1 w1 w2; do
  expect_contains "$n pulled $REG/whoami:latest into its image store" "$REG/whoami" \
    "$(on "$n" image ls --format '{{.Repository}}:{{.Tag}}')"
done
expect_eq "the pulled whoami is the image images/build.sh made (same id as image load gives)" \
  "sha256:22c311089931e0887962c7ee8312a22faf351a9c5c01cd644f1e1a190ba0f723" \
  "$(on w1 image ls --no-trunc --format '{{.ID}}' | head -1)"

# A missing image and an unreachable registry: readable task errors.
on m1 service create -d --name missing --replicas 1 "$REG/nope:1" >/dev/null
check "a missing image: the task has an error" wait_for "missing's error" 30 has_error missing
# docker-registry answers MANIFEST_UNKNOWN for a repository it does not
# have (Docker Hub says "pull access denied": RegistryTest covers that).
expect_contains "a missing image: service ps ERROR names the image and says manifest unknown" \
  "pulling $REG/nope:1: manifest for $REG/nope:1 not found: manifest unknown" "$(task_error missing)"
on m1 service create -d --name badtag --replicas 1 "$REG/whoami:nope" >/dev/null
check "a missing tag: the task has an error" wait_for "badtag's error" 30 has_error badtag
expect_contains "a missing tag: service ps ERROR says manifest unknown" \
  "manifest for $REG/whoami:nope not found: manifest unknown" "$(task_error badtag)"
on m1 service create -d --name unreachable --replicas 1 "127.0.0.1:1/app:1" >/dev/null
check "an unreachable registry: the task has an error" wait_for "unreachable's error" 30 has_error unreachable
expect_contains "an unreachable registry: service ps ERROR says so" \
  "the registry http://127.0.0.1:1 is unreachable" "$(task_error unreachable)"

# shoal image pull and the stock docker pull, through a node's API.
OUT=$(on w2 image pull "$REG/busybox" 2>&1) || true
expect_contains "shoal image pull: Docker's status lines" "Status: Downloaded newer image for $REG/busybox:latest" "$OUT"
expect_contains "shoal image pull: the full reference last" "$REG/busybox:latest" "$(tail -1 <<<"$OUT")"
OUT=$(on w2 image pull "$REG/busybox" 2>&1) || true
expect_contains "shoal image pull again: up to date" "Status: Image is up to date for $REG/busybox:latest" "$OUT"
if command -v docker >/dev/null; then
  OUT=$(DOCKER_HOST="unix://$(sock w1)" timeout 60 docker pull "$REG/busybox" 2>&1) && rc=0 || rc=$?
  expect_eq "docker pull (stock CLI) exits 0" "0" "$rc"
  expect_contains "docker pull (stock CLI) prints the pull's status" "Downloaded newer image for $REG/busybox:latest" "$OUT"
  OUT=$(DOCKER_HOST="unix://$(sock w1)" timeout 60 docker pull "$REG/nope" 2>&1) && rc=0 || rc=$?
  expect_eq "docker pull of a missing image fails" "1" "$rc"
  expect_contains "docker pull of a missing image: Docker's words" \
    "Error response from daemon: manifest for $REG/nope:latest not found: manifest unknown: manifest unknown" "$OUT"
else
  echo "skip - docker CLI not installed: the stock docker pull checks"
fi
# Pulls run side by side (issue 6 point 10 review): while m1's pull of an
# image from a registry that takes the request and never answers stalls, a
# second service's task on m1 pulls its image and runs (before, one pull at
# a time per node: it waited for the stalled one's 60 s idle timeout).
STALL_PID_FILE=$T_DIR/stall.pid
lab exec m1 -- timeout 300 python3 -c '
import os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 5001)); s.listen(16)
open(sys.argv[1], "w").write(str(os.getpid()))
held = []
while True: held.append(s.accept()[0])' "$STALL_PID_FILE" >/dev/null 2>&1 &
check "a stalling registry listens on m1's loopback" wait_for "the stalling registry" 10 test -s "$STALL_PID_FILE"
STALL_PID=$(cat "$STALL_PID_FILE")
task_state() { on m1 service ps "$1" --format '{{.CurrentState}}' | head -1; }
state_is() { [[ "$(task_state "$1")" == "$2"* ]]; }
on m1 service create -d --name stalled --constraint node.hostname==m1 127.0.0.1:5001/stall:1 >/dev/null
check "the stalled pull's task is Preparing" wait_for "stalled Preparing" 15 state_is stalled Preparing
T0=$SECONDS
on m1 service create -d --name second --constraint node.hostname==m1 "$REG/busybox" sleep 100000 >/dev/null
check "meanwhile a second image's task on m1 pulls and runs within 20 s" \
  wait_for "second running" 20 state_is second Running
log "second ran $((SECONDS - T0)) s after its create, the stalled pull still held"
expect_contains "... while the stalled task is still Preparing" "Preparing" "$(task_state stalled)"
kill "$STALL_PID" 2>/dev/null || true
on m1 service rm stalled second >/dev/null
# --with-registry-auth: tests/system/registry_auth.sh.
CODE=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$(sock w2)" -X POST \
  "http://localhost/v1.41/images/create?fromImage=$REG/nope&tag=1")
expect_eq "POST /images/create?fromImage= of a missing image: 404" "404" "$CODE"


#!/usr/bin/env bash
# Image push (issue 6 point 10): on a 1+1 lab, m1 loads whoami from its
# `docker save` archive (as $REG/pushed/app:v1), tags it for the lab registry and pushes it
# (`shoal image push`: Docker's lines, "Pushed", then "TAG: digest: ...
# size: N"; again: "Layer already exists", the same digest); w1, which never
# had it, pulls it by name and by the pushed digest (the same image id) and
# runs a service from it. An image m1 pulled is pushed to another
# repository with its manifest as pulled (the same digest). A missing image
# is a 404, an unreachable registry a 503, both before any stream. The
# stock docker push (when installed) prints the same. Traffic only inside
# the lab.
source "$(dirname "$0")/../lib.sh"

use_lab
export SHOAL_IMAGES_DIR=$IMAGES_DIR
[[ -f "$IMAGES_DIR/busybox.tar" ]] || "$SRC_DIR/images/build.sh" >/dev/null

all_ready() { [ "$(on m1 node ls --format '{{.Status}}' | grep -c Ready || true)" = "$1" ]; }
image_id() { on "$1" image inspect --format '{{.Id}}' "$2" 2>/dev/null || true; }

log "lab up --managers 1 --workers 1"
lab up --managers 1 --workers 1 >/dev/null
REG="$(node_field m1 address | sed 's/\.[0-9]*$/.1/'):5000"
check "2 nodes Ready within 15 s" wait_for "2 nodes Ready" 15 all_ready 2

# A loaded image (a docker save archive): its layer tars are what is pushed.
LOADED=$(on m1 image load -i "$IMAGES_DIR/whoami.tar" | sed -n 's/^Loaded image: //p' | head -1)
on m1 image tag "$LOADED" "$REG/pushed/app:v1"
on m1 image import "$IMAGES_DIR/busybox.tar" busybox:latest >/dev/null
OUT=$(on m1 image push "$REG/pushed/app:v1" 2>&1) && rc=0 || rc=$?
expect_eq "shoal image push of a loaded image exits 0" "0" "$rc"
expect_contains "... says the repository it pushes to" "The push refers to repository [$REG/pushed/app]" "$OUT"
expect_contains "... says each layer is pushed" ": Pushed" "$OUT"
DIGEST=$(sed -n 's/^v1: digest: \(sha256:[0-9a-f]\{64\}\) size: [0-9]*$/\1/p' <<<"$OUT")
check "... ends with 'v1: digest: sha256:... size: N'" test -n "$DIGEST"
OUT=$(on m1 image push "$REG/pushed/app:v1" 2>&1) || true
expect_contains "pushed again: Layer already exists" ": Layer already exists" "$OUT"
expect_contains "... and the same digest" "v1: digest: $DIGEST" "$OUT"
expect_contains "the pushed digest is among the image's RepoDigests on m1" "$REG/pushed/app@$DIGEST" \
  "$(on m1 image inspect --format '{{json .RepoDigests}}' "$REG/pushed/app:v1")"
ID=$(image_id m1 "$REG/pushed/app:v1")

# w1 never had it: by name, then (removed) by the pushed digest.
expect_eq "w1 has no such image before" "" "$(image_id w1 "$REG/pushed/app:v1")"
OUT=$(on w1 image pull "$REG/pushed/app:v1" 2>&1) || true
expect_contains "w1 pulls it by name" "Status: Downloaded newer image for $REG/pushed/app:v1" "$OUT"
expect_eq "... the same image id as on m1" "$ID" "$(image_id w1 "$REG/pushed/app:v1")"
on w1 image rm "$REG/pushed/app:v1" >/dev/null
expect_eq "removed on w1" "" "$(image_id w1 "$REG/pushed/app:v1")"
OUT=$(on w1 image pull "$REG/pushed/app@$DIGEST" 2>&1) || true
expect_contains "w1 pulls it by the pushed digest" "Digest: $DIGEST" "$OUT"
expect_eq "... the same image id" "$ID" "$(image_id w1 "$REG/pushed/app@$DIGEST")"

# A service from the pushed image, on w1.
state_of() { on m1 service ps "$1" --format '{{.CurrentState}}' | head -1; }
running() { [[ "$(state_of "$1")" == Running* ]]; }
on m1 service create -d --name pushed --constraint node.hostname==w1 "$REG/pushed/app:v1" >/dev/null
check "a service of the pushed image runs on w1" wait_for "pushed running" 60 running pushed

# A pulled image pushes its manifest as pulled: the digest stays.
OUT=$(on m1 image pull "$REG/whoami" 2>&1) || true
WHOAMI_DIGEST=$(sed -n 's/^Digest: \(sha256:[0-9a-f]*\)$/\1/p' <<<"$OUT")
on m1 image tag "$REG/whoami" "$REG/copies/whoami:1"
OUT=$(on m1 image push "$REG/copies/whoami:1" 2>&1) || true
expect_contains "a pulled image pushed to another repository keeps its digest" "1: digest: $WHOAMI_DIGEST size:" "$OUT"

# Errors before any stream: a plain answer with its status.
CODE=$(curl -s -o "$T_DIR/out" -w '%{http_code}' --unix-socket "$(sock m1)" -X POST \
  "http://localhost/v1.41/images/$REG/nope/push?tag=1")
expect_eq "pushing a missing image: 404" "404" "$CODE"
expect_contains "... saying so" "An image does not exist locally with the tag: $REG/nope:1" "$(cat "$T_DIR/out")"
on m1 image tag busybox:latest 127.0.0.1:1/busybox:1
CODE=$(curl -s -o "$T_DIR/out" -w '%{http_code}' --unix-socket "$(sock m1)" -X POST \
  "http://localhost/v1.41/images/127.0.0.1:1/busybox/push?tag=1")
expect_eq "pushing to an unreachable registry: 503" "503" "$CODE"
expect_contains "... saying so" "the registry http://127.0.0.1:1 is unreachable" "$(cat "$T_DIR/out")"
OUT=$(on m1 image push "$REG/nope:1" 2>&1) && rc=0 || rc=$?
expect_eq "shoal image push of a missing image fails" "1" "$rc"
expect_contains "... with Docker's words" "An image does not exist locally with the tag: $REG/nope:1" "$OUT"

if command -v docker >/dev/null; then
  on m1 image tag "$LOADED" "$REG/pushed/app:docker"
  OUT=$(DOCKER_HOST="unix://$(sock m1)" timeout 60 docker push "$REG/pushed/app:docker" 2>&1) && rc=0 || rc=$?
  expect_eq "docker push (stock CLI) exits 0" "0" "$rc"
  expect_contains "docker push prints the digest line" "docker: digest: $DIGEST" "$OUT"
else
  echo "skip - docker CLI not installed: the stock docker push check"
fi

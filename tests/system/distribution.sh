#!/usr/bin/env bash
# GET /distribution/{name}/json and Placement.Platforms (issue 6 point 10),
# on a 1+1 lab: the answer for an image in the lab registry carries the
# registry's manifest digest and the image's platform; a service created
# the way the docker CLI then creates it (image name:tag@sha256:..., the
# answer's Platforms) runs on both nodes; one with Platforms [{OS: windows}]
# stays Pending with "unsupported platform on 2 nodes"; a missing image is a
# 404, an unreachable registry a 502; the registry is asked first (a tag
# moved since the node pulled it pins the new digest), the node's own store
# answers only while the registry is down (the lab registry is stopped for
# that, then started again; a local image without a registry digest: 404). With the docker CLI
# installed, `docker service create` pins the digest and fills Platforms.
# Traffic only inside the lab.
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
runs_somewhere() { [ -n "$(placement "$1")" ]; }
task_error() { on m1 service ps "$1" --no-trunc --format '{{.Error}}' | head -1; }
has_error() { [ -n "$(task_error "$1")" ]; }
# dist NODE NAME: "BODY STATUS" of GET /distribution/NAME/json on NODE
dist() { curl -s -w ' %{http_code}' --unix-socket "$(sock "$1")" "http://localhost/v1.41/distribution/$2/json"; }
api_post() { curl -s -w ' %{http_code}' --unix-socket "$(sock m1)" -H 'Content-Type: application/json' -d "$2" "http://localhost/v1.41$1"; }

log "lab up --managers 1 --workers 1"
lab up --managers 1 --workers 1 >/dev/null
REG="$(node_field m1 address | sed 's/\.[0-9]*$/.1/'):5000"
check "2 nodes Ready within 15 s" wait_for "2 nodes Ready" 15 all_ready 2

# The registry's own digest for whoami:latest (Docker-Content-Digest).
ACCEPT='application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'
REG_DIGEST=$(lab exec m1 -- curl -s -I -H "Accept: $ACCEPT" "http://$REG/v2/whoami/manifests/latest" |
  tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}')
check "the lab registry has whoami:latest" eval '[[ "$REG_DIGEST" == sha256:* ]]'

OUT=$(dist m1 "$REG/whoami:latest")
expect_contains "GET /distribution: 200" " 200" "$OUT"
BODY=${OUT% *}
expect_eq "Descriptor.digest is the registry's" "$REG_DIGEST" "$(jq -r .Descriptor.digest <<<"$BODY")"
check "Descriptor has mediaType and size" eval \
  '[[ "$(jq -r ".Descriptor.mediaType|test(\"manifest\")" <<<"$BODY")" == true && "$(jq -r ".Descriptor.size > 0" <<<"$BODY")" == true ]]'
expect_eq "Platforms: the image's, linux" "linux" "$(jq -r '.Platforms[0].os' <<<"$BODY")"
ARCH=$(jq -r '.Platforms[0].architecture' <<<"$BODY")
check "Platforms names an architecture" eval '[[ -n "$ARCH" && "$ARCH" != null ]]'

OUT=$(dist m1 "$REG/nope:1")
expect_contains "a missing image: 404" " 404" "$OUT"
expect_contains "... saying the manifest is unknown" "manifest unknown" "$OUT"
OUT=$(dist m1 "127.0.0.1:1/app:1")
expect_contains "an unreachable registry: 502" " 502" "$OUT"
expect_contains "... saying it is unreachable" "unreachable" "$OUT"
OUT=$(dist m1 "BAD%20NAME")
expect_contains "a malformed name: 400" " 400" "$OUT"

# What the docker CLI sends next: the pinned image and the answer's platforms.
PLATFORMS=$(jq -c '[.Platforms[] | {Architecture: .architecture, OS: .os}]' <<<"$BODY")
SPEC=$(jq -nc --arg img "$REG/whoami:latest@$REG_DIGEST" --argjson p "$PLATFORMS" \
  '{Name:"pinned",TaskTemplate:{ContainerSpec:{Image:$img},Placement:{Platforms:$p}},Mode:{Replicated:{Replicas:2}}}')
OUT=$(api_post /services/create "$SPEC")
expect_contains "service create with name:tag@digest and the Platforms: 201" " 201" "$OUT"
check "the pinned service runs on both nodes (its platform is theirs)" \
  wait_for "pinned on m1 and w1" 60 placement_eq pinned "m1:1 w1:1"
expect_eq "inspect shows the Platforms as sent" "$PLATFORMS" \
  "$(curl -s --unix-socket "$(sock m1)" http://localhost/v1.41/services/pinned | jq -c .Spec.TaskTemplate.Placement.Platforms)"

SPEC='{"Name":"win","TaskTemplate":{"ContainerSpec":{"Image":"'"$REG"'/whoami"},"Placement":{"Platforms":[{"OS":"windows"}]}}}'
OUT=$(api_post /services/create "$SPEC")
expect_contains "a service for windows is accepted" " 201" "$OUT"
check "... its task gets a reason" wait_for "win's error" 20 has_error win
expect_contains "... and stays Pending, unsupported platform on both nodes" \
  "no suitable node (unsupported platform on 2 nodes)" "$(task_error win)"
expect_contains "... Pending" "Pending" "$(on m1 service ps win --format '{{.CurrentState}}' | head -1)"
OUT=$(api_post /services/create '{"Name":"badp","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"Placement":{"Platforms":[{"OS":"linux os"}]}}}')
expect_contains "a bad platform value: 400" " 400" "$OUT"
expect_contains "... naming the field" "Platforms[0].OS" "$OUT"

# The registry first: a tag moved since m1 pulled it pins the registry's new
# digest. app:latest is busybox (A) when m1 pushes it (so m1 holds it with
# RepoDigest app@A), then w1 pushes whoami as app:latest (B).
on m1 image pull "$REG/whoami:latest" >/dev/null 2>&1 || true
reg_digest() { lab exec m1 -- curl -s -I -H "Accept: $ACCEPT" "http://$REG/v2/$1/manifests/latest" |
  tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest" {print $2}'; }
on m1 image pull "$REG/busybox:latest" >/dev/null 2>&1 || true
on m1 image tag "$REG/busybox:latest" "$REG/app:latest" >/dev/null
on m1 image push "$REG/app:latest" >/dev/null
A=$(reg_digest app)
on w1 image pull "$REG/whoami:latest" >/dev/null 2>&1 || true
on w1 image tag "$REG/whoami:latest" "$REG/app:latest" >/dev/null
on w1 image push "$REG/app:latest" >/dev/null
B=$(reg_digest app)
check "app:latest moved in the registry (A $A, then B $B)" eval '[[ "$A" == sha256:* && "$B" == sha256:* && "$A" != "$B" ]]'
OUT=$(dist m1 "$REG/app:latest")
expect_contains "m1 holds app:latest = A, the registry B: 200" " 200" "$OUT"
expect_eq "... the answer is the registry's B, not m1's stale A" "$B" "$(jq -r .Descriptor.digest <<<"${OUT% *}")"

# Only when the registry gives no answer does a node answer from its own
# store: the lab registry stops for these checks, then starts again.
BR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bridge_netns"])' "$LAB/lab.json")
LAB_REG_PID=""
for p in $(ip netns pids "$BR"); do
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "docker-registry serve $LAB/registry/config.yml" && LAB_REG_PID=$p
done
check "the lab's registry runs in the bridge namespace" test -n "$LAB_REG_PID"
kill "$LAB_REG_PID"
reg_down() { ! lab exec m1 -- curl -s -o /dev/null "http://$REG/v2/"; }
check "the lab registry stopped" wait_for "the lab registry down" 10 reg_down
OUT=$(dist m1 "$REG/whoami:latest@$REG_DIGEST")
expect_contains "registry down: name:tag@digest of a pulled image: 200 (from m1's store)" " 200" "$OUT"
expect_eq "... the same digest" "$REG_DIGEST" "$(jq -r .Descriptor.digest <<<"${OUT% *}")"
OUT=$(dist m1 "$REG/app:latest")
expect_eq "registry down: app:latest is m1's own A" "$A" "$(jq -r .Descriptor.digest <<<"${OUT% *}")"
OUT=$(dist m1 "$REG/nope:1")
expect_contains "registry down, no such image on m1: 502" " 502" "$OUT"
on m1 image tag "$REG/whoami:latest" 127.0.0.1:1/whoami:local >/dev/null
OUT=$(dist m1 "127.0.0.1:1/whoami:local")
expect_contains "a local image without a registry digest, its registry unreachable: 404" " 404" "$OUT"
expect_contains "... saying there is no digest to pin" "no registry digest to pin" "$OUT"
ip netns exec "$BR" /usr/bin/docker-registry serve "$LAB/registry/config.yml" >"$T_DIR/registry-again.log" 2>&1 &
reg_up() { lab exec m1 -- curl -sf -o /dev/null "http://$REG/v2/"; }
check "the lab registry serves again" wait_for "the lab registry up" 15 reg_up

if command -v docker >/dev/null; then
  OUT=$(DOCKER_HOST="unix://$(sock m1)" timeout 60 docker service create -d --name dk "$REG/busybox" sleep 100000 2>&1) && rc=0 || rc=$?
  expect_eq "docker service create exits 0" "0" "$rc"
  IMG=$(curl -s --unix-socket "$(sock m1)" http://localhost/v1.41/services/dk | jq -r .Spec.TaskTemplate.ContainerSpec.Image)
  expect_contains "docker service create pinned the image by digest" "$REG/busybox:latest@sha256:" "$IMG"
  expect_eq "... and filled Placement.Platforms" "linux" \
    "$(curl -s --unix-socket "$(sock m1)" http://localhost/v1.41/services/dk | jq -r '.Spec.TaskTemplate.Placement.Platforms[0].OS')"
  check "... and it runs" wait_for "dk running" 60 runs_somewhere dk
else
  echo "skip - docker CLI not installed: the docker service create checks"
fi

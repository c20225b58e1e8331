#!/usr/bin/env bash
# --with-registry-auth (issue 6 point 10): the lab's registry is replaced by
# one that wants a password (Debian's docker-registry, htpasswd auth with a
# bcrypt file from apache2-utils' htpasswd -B) over the same storage, so the
# example images lab up pushed are there but only for alice. A service
# created without the flag fails on the worker with the registry's refusal in
# `service ps`; `shoal service create --with-registry-auth` (credentials from
# a docker login config file) runs on the worker; the credentials appear in
# no API answer and no node's log. Traffic only inside the lab.
source "$(dirname "$0")/../lib.sh"

use_lab
export SHOAL_IMAGES_DIR=$IMAGES_DIR
[[ -f "$IMAGES_DIR/busybox.tar" ]] || "$SRC_DIR/images/build.sh" >/dev/null
command -v htpasswd >/dev/null || { echo "FAIL - htpasswd missing: apt-get install apache2-utils"; exit 1; }

PASSWORD=s3cr3t-regauth
ready_count() { on m1 node ls --format '{{.Status}}' | grep -c Ready || true; }
ready_eq() { [ "$(ready_count)" = "$1" ]; }
task_error() { on m1 service ps "$1" --no-trunc --format '{{.Error}}' | head -1; }
has_error() { [ -n "$(task_error "$1")" ]; }
running_on() { on m1 service ps "$1" --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' | head -1; }
runs_on() { [[ "$(running_on "$1")" == "$2 Running"* ]]; }

log "lab up --managers 1 --workers 1"
lab up --managers 1 --workers 1 >/dev/null
REG="$(node_field m1 address | sed 's/\.[0-9]*$/.1/'):5000"
BR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bridge_netns"])' "$LAB/lab.json")
check "2 nodes Ready within 15 s" wait_for "2 nodes Ready" 15 ready_eq 2

# The lab's anonymous registry goes; one that wants alice's password serves
# the same storage at the same address.
LAB_REG_PID=""
for p in $(ip netns pids "$BR"); do
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "docker-registry serve $LAB/registry/config.yml" && LAB_REG_PID=$p
done
check "the lab's registry runs in the bridge namespace" test -n "$LAB_REG_PID"
kill "$LAB_REG_PID"
gone() { ! kill -0 "$LAB_REG_PID" 2>/dev/null; }
check "the lab's anonymous registry stopped" wait_for "the lab registry gone" 10 gone
htpasswd -Bbn alice "$PASSWORD" >"$T_DIR/htpasswd"
cat >"$T_DIR/auth-registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $LAB/registry/data
http:
  addr: $REG
auth:
  htpasswd:
    realm: shoal-regauth
    path: $T_DIR/htpasswd
YML
ip netns exec "$BR" /usr/bin/docker-registry serve "$T_DIR/auth-registry.yml" >"$T_DIR/auth-registry.log" 2>&1 &
AUTH_REG_PID=$!
stop_auth_registry() { kill "$AUTH_REG_PID" 2>/dev/null || true; wait "$AUTH_REG_PID" 2>/dev/null || true; }
trap 'rc=$?; stop_auth_registry; (exit $rc); lab_cleanup' EXIT
reg_code() { ip netns exec "$BR" curl -s -o /dev/null -w '%{http_code}' "$@" "http://$REG/v2/whoami/manifests/latest"; }
code_is() { [ "$(reg_code "${@:2}")" = "$1" ]; }
check "the registry refuses an anonymous manifest request (401)" wait_for "registry 401" 15 code_is 401
check "... and serves alice the image lab up pushed (200)" code_is 200 -u "alice:$PASSWORD" \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json'

# Without the flag: the worker's pull is refused, readably.
on m1 service create -d --name anon --constraint node.role==worker "$REG/whoami" >/dev/null
check "without --with-registry-auth the task fails" wait_for "anon's error" 30 has_error anon
ERR=$(task_error anon)
expect_contains "service ps ERROR names the image" "$REG/whoami" "$ERR"
expect_contains "service ps ERROR says the registry wants credentials" "authentication required" "$ERR"
on m1 service rm anon >/dev/null

# With it: credentials from a docker login config, the task runs on w1.
mkdir -p "$T_DIR/docker"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf 'alice:%s' "$PASSWORD" | base64 -w0)" >"$T_DIR/docker/config.json"
OUT=$(DOCKER_CONFIG=$T_DIR/docker on m1 service create -d --with-registry-auth --name authed \
  --constraint node.role==worker "$REG/whoami" 2>&1) || true
check "shoal service create --with-registry-auth is accepted ($OUT)" test "$(wc -l <<<"$OUT")" = 1
check "with --with-registry-auth the task runs on the worker" wait_for "authed running on w1" 60 runs_on authed w1
expect_contains "w1 pulled the private image" "$REG/whoami" "$(on w1 image ls --format '{{.Repository}}')"

# The stock docker CLI sends the same header with the flag.
if command -v docker >/dev/null; then
  DOCKER_CONFIG=$T_DIR/docker DOCKER_HOST="unix://$(sock m1)" timeout 60 docker service create -d -q --with-registry-auth \
    --name dkauthed --constraint node.role==worker "$REG/busybox" sleep 100000 >/dev/null 2>&1 || true
  check "docker service create --with-registry-auth (stock CLI): the task runs on the worker" \
    wait_for "dkauthed running on w1" 60 runs_on dkauthed w1
else
  echo "skip - docker CLI not installed: the stock docker service create check"
fi

# The credentials show nowhere: not in any answer about the service or its
# tasks, not in any node's log. Searched for: the password, config.json's
# base64("alice:PW"), and the X-Registry-Auth headers both CLIs send, whole
# and as the base64 of their start (stable whatever follows), in both base64
# alphabets: shoal's (nlohmann::json's sorted compact JSON) and the docker
# CLI's (Go's field order: username, password, serveraddress).
SHOAL_JSON=$(jq -cnS --arg p "$PASSWORD" --arg r "$REG" '{username:"alice",password:$p,serveraddress:$r}')
DOCKER_JSON=$(printf '{"username":"alice","password":"%s","serveraddress":"%s"}' "$PASSWORD" "$REG")
b64_start() { # the base64 of $1's first 3*k bytes, k as large as fits
  local n=$(( ${#1} / 3 * 3 )); printf '%s' "${1:0:$n}" | base64 -w0
}
printf '%s\n' "$PASSWORD" "$(printf 'alice:%s' "$PASSWORD" | base64 -w0)" \
  "$(printf '%s' "$SHOAL_JSON" | base64 -w0)" "$(printf '%s' "$DOCKER_JSON" | base64 -w0)" \
  "$(b64_start "${SHOAL_JSON%%,\"serveraddress*}")" "$(b64_start "${DOCKER_JSON%%,\"serveraddress*}")" >"$T_DIR/secrets"
sed 's/=*$//; y|+/|-_|' "$T_DIR/secrets" >>"$T_DIR/secrets"  # the base64url forms, unpadded
SHOWN="$(on m1 service inspect authed) $(on m1 service ls) $(on m1 service ps --no-trunc authed)
$(curl -s --unix-socket "$(sock m1)" http://localhost/v1.41/services)
$(curl -s --unix-socket "$(sock m1)" 'http://localhost/v1.41/services/authed?insertDefaults=true')
$(curl -s --unix-socket "$(sock m1)" http://localhost/v1.41/tasks)
$(curl -s --unix-socket "$(sock w1)" http://localhost/v1.41/containers/json?all=1)"
command -v docker >/dev/null && SHOWN+="
$(on m1 service inspect dkauthed)"
expect_eq "no answer about the service or its tasks holds the password, base64(alice:PW) or a header" "" \
  "$(grep -oF -f "$T_DIR/secrets" <<<"$SHOWN" || true)"
expect_eq "... nor the sealed field's name" "" "$(grep -o ShoalRegistryAuth <<<"$SHOWN" || true)"
expect_eq "no node's log holds the password, base64(alice:PW) or a header" "0" \
  "$(cat "$LAB"/*/shoald.log | grep -cF -f "$T_DIR/secrets" || true)"

# Removing the service removes them: the sealed credentials live only in
# the service's stored object (ShoalRegistryAuth, in etcd); once the service
# is gone no stored value of that service holds the field.
M1_CERTS=$(dirname "$(sock m1)")/data/certs
AUTHED_ID=$(on m1 service inspect authed --format '{{.ID}}')
sealed_values() {
  lab exec m1 -- etcdctl --endpoints https://127.0.0.1:2379 --cacert "$M1_CERTS/ca.crt" --cert "$M1_CERTS/client.crt" \
    --key "$M1_CERTS/client.key" get --prefix /shoal/ --print-value-only | grep -F "$AUTHED_ID" | grep -c ShoalRegistryAuth || true
}
sealed_gone() { [ "$(sealed_values)" = 0 ]; }
check "etcd holds authed's sealed credentials (ShoalRegistryAuth) while it exists" test "$(sealed_values)" -ge 1
on m1 service rm authed >/dev/null
check "after service rm no stored value of authed holds them" wait_for "authed's ShoalRegistryAuth gone" 15 sealed_gone

# A bad header is a 400; an "auth"-only header (config.json's form) is
# decoded to username and password, by service create as by the node.
CODE=$(curl -s -o "$T_DIR/bad.json" -w '%{http_code}' --unix-socket "$(sock m1)" -H 'X-Registry-Auth: %%%' \
  -H 'Content-Type: application/json' -d '{"Name":"bad","TaskTemplate":{"ContainerSpec":{"Image":"'"$REG"'/whoami"}}}' \
  http://localhost/v1.41/services/create)
expect_eq "a garbage X-Registry-Auth header: 400" "400" "$CODE"
expect_contains "... saying what is wrong" "X-Registry-Auth header is not base64" "$(cat "$T_DIR/bad.json")"
AUTH_ONLY_JSON=$(printf '{"auth":"%s","serveraddress":"%s"}' "$(printf 'alice:%s' "$PASSWORD" | base64 -w0)" "$REG")
AUTH_ONLY=$(printf '%s' "$AUTH_ONLY_JSON" | base64 -w0)
# w1 still holds the image authed pulled: removed, so authonly's task must
# pull it again (an image present locally is never pulled).
# (authed's container may still be going away: polled.)
w1_holds_whoami() { on w1 image ls --format '{{.Repository}}' | grep -qxF "$REG/whoami"; }
rm_whoami() { on w1 image rm "$REG/whoami" >/dev/null 2>&1 || true; ! w1_holds_whoami; }
check "w1 no longer holds $REG/whoami (image rm, once authed's container is gone) within 30 s" \
  wait_for "whoami removed from w1" 30 rm_whoami
CODE=$(curl -s -o "$T_DIR/authonly.json" -w '%{http_code}' --unix-socket "$(sock m1)" -H "X-Registry-Auth: $AUTH_ONLY" \
  -H 'Content-Type: application/json' -d '{"Name":"authonly","TaskTemplate":{"ContainerSpec":{"Image":"'"$REG"'/whoami"},"Placement":{"Constraints":["node.role==worker"]}}}' \
  http://localhost/v1.41/services/create)
expect_eq "service create with an \"auth\"-only X-Registry-Auth: 201 ($(cat "$T_DIR/authonly.json"))" "201" "$CODE"
check "... and its task runs on the worker (the node decoded it)" wait_for "authonly running on w1" 60 runs_on authonly w1
expect_contains "... having pulled the private image again" "$REG/whoami" "$(on w1 image ls --format '{{.Repository}}')"
dist_code() { curl -s -o "$T_DIR/dist.json" -w '%{http_code}' --unix-socket "$(sock m1)" "$@" \
  "http://localhost/v1.41/distribution/$REG/whoami:latest/json"; }
expect_eq "GET /distribution without credentials: the registry's 401" "401" "$(dist_code)"
expect_eq "GET /distribution with the \"auth\"-only header: 200" "200" "$(dist_code -H "X-Registry-Auth: $AUTH_ONLY")"
BAD_AUTH=$(printf '{"auth":"%s"}' "$(printf 'no-colon' | base64 -w0)" | base64 -w0)
CODE=$(curl -s -o "$T_DIR/badauth.json" -w '%{http_code}' --unix-socket "$(sock m1)" -H "X-Registry-Auth: $BAD_AUTH" \
  -H 'Content-Type: application/json' -d '{"Name":"badauth","TaskTemplate":{"ContainerSpec":{"Image":"'"$REG"'/whoami"}}}' \
  http://localhost/v1.41/services/create)
expect_eq "an \"auth\" that is not base64 of user:password: 400" "400" "$CODE"
expect_contains "... saying so" "is not base64 of user:password" "$(cat "$T_DIR/badauth.json")"
expect_eq "... and /distribution says the same (400)" "400" "$(dist_code -H "X-Registry-Auth: $BAD_AUTH")"

# Last, so that every request above is covered: no node's log holds the
# "auth"-only header either.
printf '%s\n' "$AUTH_ONLY" "$AUTH_ONLY_JSON" >>"$T_DIR/secrets"
printf '%s\n' "$AUTH_ONLY" | sed 's/=*$//; y|+/|-_|' >>"$T_DIR/secrets"
expect_eq "at the end, still no node's log holds the password, base64(alice:PW) or a header" "0" \
  "$(cat "$LAB"/*/shoald.log | grep -cF -f "$T_DIR/secrets" || true)"

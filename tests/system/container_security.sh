#!/usr/bin/env bash
# Containers get what Docker gives them: the default seccomp profile (filter
# mode 2) unless --security-opt seccomp=unconfined, a custom profile when
# given one, no_new_privs when asked, /proc/kcore masked and /proc/sys
# read-only.
source "$(dirname "$0")/../lib.sh"

start_shoald
sh_cli swarm init --listen-addr "$T_LISTEN" >/dev/null
import_images

# What the container's processes see, one KEY=VALUE per line, then DONE.
probe='grep -E "^(Seccomp|NoNewPrivs|CapBnd|CapEff):" /proc/self/status | tr -d "\t " | tr ":" "=";
mkdir /tmp/x 2>/dev/null && echo MKDIR=ok || echo MKDIR=fail;
unshare -U true 2>/dev/null && echo UNSHARE=ok || echo UNSHARE=fail;
[ -s /proc/kcore ] && echo KCORE=visible || echo KCORE=masked;
(echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo PROCSYS=writable || echo PROCSYS=readonly;
echo CGNS=$(readlink /proc/self/ns/cgroup);
echo DONE; sleep 100000'

# run NAME [FLAGS...]: a one-replica service running the probe.
run() {
  local name=$1; shift
  sh_cli service create -d --name "$name" "$@" busybox sh -c "$probe" >/dev/null
  wait_for "$name prints its probe" 60 eval "logs $name | grep -q '^DONE'"
}
# The service's container output, read from the json-file log on this node.
logs() {
  local cfg
  cfg=$(grep -l "\"Name\":\"$1\." "$T_DIR"/data/containers/*/config.json 2>/dev/null | head -1) || return 1
  python3 -c 'import json,sys
for l in open(sys.argv[1]): print(json.loads(l)["log"], end="")' "$(dirname "$cfg")/container.log"
}
seen() { logs "$1" | grep "^$2=" | head -1 | cut -d= -f2; }

run dflt
expect_eq "default: seccomp filter mode" 2 "$(seen dflt Seccomp)"
expect_eq "default: no_new_privs off" 0 "$(seen dflt NoNewPrivs)"
expect_eq "default profile lets mkdir pass" ok "$(seen dflt MKDIR)"
# Docker's 14 capabilities (CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
# SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP), no more.
expect_eq "default: Docker's capability bounding set" 00000000a80425fb "$(seen dflt CapBnd)"
expect_eq "default: root in the container has those capabilities only" 00000000a80425fb "$(seen dflt CapEff)"
# Mode 2 alone would also hold for a filter that allows everything: a syscall
# Docker's profile blocks (unshare without CAP_SYS_ADMIN) must fail, and the
# same call must work unconfined (below), so that seccomp is what stops it.
expect_eq "default profile blocks unshare(CLONE_NEWUSER)" fail "$(seen dflt UNSHARE)"
expect_eq "/proc/kcore is masked" masked "$(seen dflt KCORE)"
expect_eq "/proc/sys is read-only" readonly "$(seen dflt PROCSYS)"
# The cgroup namespace as Docker 20.10 picks it: private on a cgroup v2
# (unified) host, the host's on cgroup v1 or hybrid.
host_cgns=$(readlink /proc/self/ns/cgroup)
check "the container shows a cgroup namespace (control)" eval '[[ "$(seen dflt CGNS)" == cgroup:* ]]'
if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then
  check "cgroup v2 host: the container has a private cgroup namespace" eval '[[ "$(seen dflt CGNS)" != "$host_cgns" ]]'
else
  expect_eq "cgroup v1/hybrid host: the container shares the host's cgroup namespace" "$host_cgns" "$(seen dflt CGNS)"
fi

run unconf --security-opt seccomp=unconfined --security-opt no-new-privileges
expect_eq "unconfined: no seccomp" 0 "$(seen unconf Seccomp)"
expect_eq "no-new-privileges: set" 1 "$(seen unconf NoNewPrivs)"
expect_eq "unconfined: unshare(CLONE_NEWUSER) works (control)" ok "$(seen unconf UNSHARE)"

profile=$T_DIR/deny-mkdir.json
cat >"$profile" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
JSON
run custom --security-opt "seccomp=$profile"
expect_eq "custom profile: seccomp filter mode" 2 "$(seen custom Seccomp)"
expect_eq "a syscall the custom profile blocks fails in the container" fail "$(seen custom MKDIR)"
mode=$(sh_cli service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Privileges.Seccomp.Mode}}' custom)
expect_eq "inspect shows the custom mode" custom "$mode"

# Bad options: 400 naming the field, nothing stored.
create() { api -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "$1" http://localhost/v1.41/services/create; }
badmode='{"Name":"badmode","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Privileges":{"Seccomp":{"Mode":"strict"}}}}}'
expect_eq "unknown seccomp mode: 400" 400 "$(create "$badmode")"
expect_contains "unknown seccomp mode names the field" "Privileges.Seccomp" \
  "$(api -X POST -H 'Content-Type: application/json' -d "$badmode" http://localhost/v1.41/services/create)"
msg=$(api -X POST -H 'Content-Type: application/json' http://localhost/v1.41/services/create \
  -d '{"Name":"badprof","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Privileges":{"Seccomp":{"Mode":"custom","Profile":"{\"defaultAction\":1}"}}}}}')
expect_contains "an invalid custom profile names the field" "Privileges.Seccomp.Profile" "$msg"
check "service ls works (control)" eval "sh_cli service ls -q >/dev/null"
expect_eq "nothing stored for bad options" "" "$(sh_cli service ls -q --filter name=bad 2>/dev/null)"

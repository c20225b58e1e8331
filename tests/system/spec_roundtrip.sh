#!/usr/bin/env bash
# Accepted means applied: a service spec reads back as it was sent (keys
# matched without regard to case), fields shoal does not apply are refused
# with a message naming them, and `docker service create --mode global` runs
# one task per node with the stock docker CLI.
command -v docker >/dev/null || { echo "docker CLI not installed (SHOAL_WITH_DOCKER=1 scripts/install-deps.sh installs it): skipped"; exit 77; }
source "$(dirname "$0")/../lib.sh"

start_shoald
dk swarm init --advertise-addr 127.0.0.1 --listen-addr "$T_LISTEN" >/dev/null
import_images

status() { api -o /dev/null -w '%{http_code}' "$@"; }
create() { api -X POST -H 'Content-Type: application/json' -d "$1" http://localhost/v1.41/services/create; }
spec_of() { api "http://localhost/v1.41/services/$1${2:-}" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["Spec"], sort_keys=True))'; }
canon() { python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), sort_keys=True))' "$1"; }

# The body `docker service create` (CLI 28) sends, given back unchanged.
cli='{"Name":"rt","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","100000"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":1}},"EndpointSpec":{"Mode":"vip"}}'
create "$cli" >/dev/null
expect_eq "inspect returns the spec as sent" "$(canon "$cli")" "$(spec_of rt)"
expect_contains "insertDefaults=true shows UpdateConfig" '"UpdateConfig"' "$(spec_of rt '?insertDefaults=true')"

# The Docker SDK for Python's spelling: 5 replicas, not 1.
create '{"name":"py","taskTemplate":{"containerSpec":{"image":"busybox","args":["sleep","100000"]}},"mode":{"replicated":{"Replicas":2}}}' >/dev/null
expect_eq "lowercase keys decode" 2 "$(api http://localhost/v1.41/services/py | python3 -c 'import json,sys; print(json.load(sys.stdin)["Spec"]["Mode"]["Replicated"]["Replicas"])')"
check "py runs 2 tasks" wait_for "py running" 30 tasks_running_eq py 2

# Refused, naming the field, and nothing stored.
for field in '"Mounts":[{"Type":"tmpfs","Target":"/x"}]' '"Secrets":[{"SecretName":"s"}]' '"Healthcheck":{"Test":["CMD","true"]}' '"Init":true'; do
  b='{"Name":"refused","TaskTemplate":{"ContainerSpec":{"Image":"busybox",'"$field"'}}}'
  expect_eq "refused: $field -> 400" 400 "$(status -X POST -H 'Content-Type: application/json' -d "$b" http://localhost/v1.41/services/create)"
  name=$(cut -d'"' -f2 <<<"$field")
  expect_contains "message names the field" "TaskTemplate.ContainerSpec.$name is not supported by shoal yet" "$(create "$b")"
done
out=$(dk service create --detach --name m --mount type=tmpfs,dst=/x busybox sleep 100000 2>&1 || true)
expect_contains "docker --mount refused" "TaskTemplate.ContainerSpec.Mounts is not supported by shoal yet" "$out"
check "service ls works (control)" eval "dk service ls -q >/dev/null"
expect_eq "no refused service stored" "" "$(dk service ls -q --filter name=refused; dk service ls -q --filter name=m)"

# Global mode with the stock CLI: one task on this one node.
dk service create --detach --mode global --name glob busybox sleep 100000 >/dev/null
check "global service runs 1 task" wait_for "glob running" 30 tasks_running_eq glob 1
expect_eq "service ls: mode global" "global" "$(dk service ls --filter name=glob --format '{{.Mode}}')"
check "service ls: replicas 1/1" wait_for "1/1" 10 bash -c '[[ "$(DOCKER_HOST=unix://'"$T_SOCK"' docker service ls --filter name=glob --format "{{.Replicas}}")" == "1/1" ]]'
expect_eq "service ps: one task" 1 "$(dk service ps -q glob | wc -l)"

# Node platform from the host.
expect_eq "node OS" "$(uname -s | tr A-Z a-z)" "$(dk node inspect self --format '{{.Description.Platform.OS}}')"
expect_eq "node architecture" "$(uname -m)" "$(dk node inspect self --format '{{.Description.Platform.Architecture}}')"

# Swarm spec: refused when not applied.
expect_contains "swarm update --snapshot-interval refused" "Raft.SnapshotInterval" "$(dk swarm update --snapshot-interval 5000 2>&1 || true)"
dk swarm update --task-history-limit 3 >/dev/null
expect_eq "task history limit applied" 3 "$(dk info --format '{{.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit}}')"

#!/usr/bin/env bash
# Overlay networks through the Engine API, with the stock docker CLI and the
# shoal CLI: create (default pool, --subnet/--gateway/--ip-range, options,
# labels), ls with filters, inspect by name and id prefix, refusals (overlap,
# driver, options), rm (refused while a service uses the network) and prune.
source "$(dirname "$0")/../lib.sh"
command -v docker >/dev/null || { echo "docker CLI not installed: skipped"; exit 77; }

start_shoald
dk swarm init --listen-addr "$T_LISTEN" >/dev/null 2>&1
import_images

ls_out=$(dk network ls 2>&1) || true
expect_contains "docker network ls shows the ingress network" "ingress" "$ls_out"
expect_contains "docker network ls shows overlay/swarm" "overlay   swarm" "$ls_out"
expect_eq "ingress takes the pool's first /24" "10.0.0.0/24" \
  "$(dk network inspect ingress --format '{{(index .IPAM.Config 0).Subnet}}' 2>&1)"

id=$(dk network create --driver overlay --label team=a test 2>&1) || true
check "docker network create prints a 25-character id" eval '[[ ${#id} -eq 25 ]]'
expect_eq "default pool gives 10.0.1.0/24" "10.0.1.0/24 10.0.1.1" \
  "$(dk network inspect test --format '{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}}')"
expect_eq "inspect by id prefix" "test" "$(dk network inspect "${id:0:6}" --format '{{.Name}}')"
expect_eq "swarm scope, overlay driver, label" "swarm overlay a" \
  "$(dk network inspect test --format '{{.Scope}} {{.Driver}} {{index .Labels "team"}}')"

dk network create -d overlay --subnet 10.77.0.0/16 --gateway 10.77.0.254 --ip-range 10.77.5.0/24 \
  --attachable --internal -o com.docker.network.driver.mtu=1400 custom >/dev/null 2>&1
expect_eq "requested subnet, gateway, range" "10.77.0.0/16 10.77.0.254 10.77.5.0/24 true true" \
  "$(dk network inspect custom --format '{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{(index .IPAM.Config 0).IPRange}} {{.Attachable}} {{.Internal}}')"
err=$(dk network create -d overlay --subnet 10.77.9.0/24 clash 2>&1 || true)
expect_contains "an overlapping subnet is refused" "overlaps subnet 10.77.0.0/16 of network custom" "$err"
err=$(dk network create clash 2>&1 || true)
expect_contains "the bridge driver is refused with what to use" "use --driver overlay" "$err"
err=$(dk network create -d overlay -o encrypted clash 2>&1 || true)
expect_contains "encrypted is refused, not ignored" "not supported yet" "$err"
err=$(dk network create -d overlay test 2>&1 || true)
expect_contains "a duplicate name is refused" "already exists" "$err"
check "nothing half-made by the refusals" eval '! dk network inspect clash >/dev/null 2>&1'

filtered=$(dk network ls --filter label=team=a --format '{{.Name}}' 2>&1)
expect_eq "network ls --filter label" "test" "$filtered"
expect_eq "network ls -q lists 3" 3 "$(dk network ls -q | wc -l)"

# A service attached to a network keeps it: rm is refused while it is used.
# (No replicas: tasks on networks run in the lab, tests/system/overlay.sh.)
dk service create -d --name web --replicas 0 --network test busybox sleep 100000 >/dev/null 2>&1
expect_eq "the service is stored with the network's id" "$id" \
  "$(dk service inspect web --format '{{range .Spec.TaskTemplate.Networks}}{{.Target}}{{end}}' 2>&1)"
err=$(dk network rm test 2>&1 || true)
expect_contains "network rm is refused while a service uses it" "in use by service web" "$err"
dk service rm web >/dev/null 2>&1

out=$(dk network rm test 2>&1) || true
expect_eq "docker network rm prints the name" "test" "$out"
check "the removed network is gone" eval '! dk network inspect test >/dev/null 2>&1'
err=$(dk network rm test 2>&1 || true)
check "removing it again says it is not there ($err)" eval '[[ "$err" == *"not found"* || "$err" == *"No such network"* ]]'
dk network create -d overlay --label keep=no spare >/dev/null 2>&1
pruned=$(dk network prune -f 2>&1) || true
expect_contains "network prune removes the unused networks" "custom" "$pruned"
expect_contains "network prune lists each" "spare" "$pruned"
check "prune kept ingress" eval 'dk network inspect ingress >/dev/null 2>&1'

out=$(sh_cli network ls 2>&1) || true
expect_contains "shoal network ls" "ingress" "$out"
sh_cli network create -d overlay --subnet 10.88.0.0/24 viashoal >/dev/null 2>&1
expect_contains "shoal network create/inspect" '"Subnet":"10.88.0.0/24"' \
  "$(sh_cli network inspect viashoal --format '{{json .IPAM.Config}}')"
out=$(sh_cli network rm viashoal 2>&1) || true
expect_eq "shoal network rm prints the name" "viashoal" "$out"
dk swarm leave --force >/dev/null 2>&1

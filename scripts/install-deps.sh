#!/usr/bin/env bash
# Installs everything shoal needs to build, test and run, from Debian's
# packages only. Idempotent: installs only what is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ccache pkg-config   # toolchain
  libboost-dev libboost-system-dev          # Boost.Asio/Beast: HTTP server and client
  nlohmann-json3-dev                        # JSON (the Docker API and etcd's gateway speak JSON)
  libssl-dev                                # root CA, join tokens, TLS
  libarchive-dev                            # image tarballs (docker save, layers, rootfs imports)
  libgtest-dev libgmock-dev                 # unit tests
  clang libclang-rt-14-dev                  # libFuzzer and the sanitizers for the fuzz targets (scripts/fuzz.sh)
  etcd-server etcd-client                   # the cluster state store
  protobuf-compiler protobuf-compiler-grpc libgrpc++-dev libprotobuf-dev  # etcd's native gRPC API (store/etcd_grpc_backend): protoc + grpc_cpp_plugin generate it at build time; etcd's JSON gateway cost half its CPU
  runc                                      # the OCI runtime (crun used where cgroups allow)
  golang-github-containers-common           # /usr/share/containers/seccomp.json: Docker's default seccomp profile for containers
  crun
  busybox-static                            # the offline example image
  docker-registry                           # /usr/bin/docker-registry: the lab's private OCI registry (shoal lab up) and the registry system test
  apache2-utils                             # htpasswd -B: the bcrypt password file of the registry that wants auth (tests/system/registry_auth.sh)
  iproute2 nftables                         # namespaces, links, packet filtering
  libnl-route-3-dev                         # netlink: overlay bridges, VXLAN, veths, FDB/neighbour entries (src/agent/network/overlay)
  libldns-dev                               # DNS messages for the embedded resolver (src/agent/network/dns)
  libnftables-dev                           # nftables rulesets: VIP load balancing, routing mesh (src/agent/network/lb)
  python3 curl strace                       # test scripts; strace: the runtime test of a create's fsync order
  wrk                                       # HTTP load for bench/network.sh (mesh, VIP, direct)
)
OPTIONAL=(docker.io)                        # only for side-by-side benchmarks and conformance

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ "${SHOAL_WITH_DOCKER:-0}" == 1 ]]; then
  for p in "${OPTIONAL[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's docker-registry package starts a system registry on 5000; the lab
# runs its own inside a namespace, so stop a packaged one.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi
# Debian's etcd-server package starts a system etcd on 2379; shoal runs its own
# member, so make sure a packaged one is not holding the ports.
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
  systemctl stop etcd || true
fi
echo "dependencies ready"

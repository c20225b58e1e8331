#!/usr/bin/env bash
# Builds shoal's example images offline, as root filesystem tarballs:
#   images/out/busybox.tar  Debian's busybox-static with its applets (sh, sleep, httpd, nc, ...)
#   images/out/whoami.tar   a `docker save` archive of whoami:latest: a static HTTP server of
#                           ours on :8000 that answers with its hostname (CMD ["/whoami"])
# Use them with `shoal image import images/out/busybox.tar busybox:latest` and
# `shoal image load -i images/out/whoami.tar` (or `docker import` / `docker load`
# for side-by-side runs with Docker). Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
OUT=out
mkdir -p "$OUT"
BUSYBOX=${BUSYBOX:-/bin/busybox}
[[ -x "$BUSYBOX" ]] || { echo "busybox-static is missing: apt-get install busybox-static" >&2; exit 1; }

make_base() {  # make_base DIR: a minimal root with busybox and its applets
  local root=$1
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var/www,proc,sys,dev}
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [[ "$applet" == busybox ]] && continue
    ln -sf /bin/busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ ! -f "$OUT/busybox.tar" || "$BUSYBOX" -nt "$OUT/busybox.tar" ]]; then
  make_base "$tmp/busybox"
  tar -C "$tmp/busybox" --numeric-owner -cf "$OUT/busybox.tar.tmp" .
  mv "$OUT/busybox.tar.tmp" "$OUT/busybox.tar"
fi

if [[ ! -f "$OUT/whoami.tar" || whoami/whoami.c -nt "$OUT/whoami.tar" ]]; then
  if ! gcc -static -O2 -o "$tmp/whoami" whoami/whoami.c 2>"$tmp/gcc.err"; then
    cat "$tmp/gcc.err" >&2
    echo "building whoami needs a static C library: apt-get install libc6-dev" >&2
    exit 1
  fi
  make_base "$tmp/whoami-root"
  cp "$tmp/whoami" "$tmp/whoami-root/whoami"
  # A `docker save` archive: one layer, an image config, a manifest.
  mkdir -p "$tmp/save/layer"
  tar -C "$tmp/whoami-root" --numeric-owner -cf "$tmp/save/layer/layer.tar" .
  python3 - "$tmp/save" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
layer = open(os.path.join(d, "layer/layer.tar"), "rb").read()
diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
config = {"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
          "config": {"Cmd": ["/whoami"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                     "ExposedPorts": {"8000/tcp": {}}, "StopSignal": "SIGTERM"},
          "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
raw = json.dumps(config, sort_keys=True).encode()
name = hashlib.sha256(raw).hexdigest() + ".json"
open(os.path.join(d, name), "wb").write(raw)
json.dump([{"Config": name, "RepoTags": ["whoami:latest"], "Layers": ["layer/layer.tar"]}],
          open(os.path.join(d, "manifest.json"), "w"))
PY
  tar -C "$tmp/save" -cf "$OUT/whoami.tar.tmp" .
  mv "$OUT/whoami.tar.tmp" "$OUT/whoami.tar"
fi
ls -l "$OUT"

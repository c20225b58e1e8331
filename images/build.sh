#!/usr/bin/env bash
# Builds shoal's example images offline (no network) into images/out/:
#   busybox.tar         rootfs tarball: Debian's busybox-static with its applets
#                       (sh, sleep, httpd, nc, wget, ...), /etc/passwd, /etc/group,
#                       /tmp, /root, /var/www
#   whoami-rootfs.tar   rootfs tarball: busybox plus /whoami, a static HTTP server of
#                       ours on :8000 answering "I'm <hostname>" (images/whoami/whoami.c)
#   whoami.tar          the same as a `docker save` archive of whoami:latest with
#                       CMD ["/whoami"], EXPOSE 8000, so `image load` needs no flags
# Use them with
#   shoal image import images/out/busybox.tar busybox:latest
#   shoal image load -i images/out/whoami.tar
#   shoal image import images/out/whoami-rootfs.tar whoami:rootfs   (command: /whoami)
# or with Docker for side-by-side runs: `docker import`, `docker load`
# (`docker import -c 'CMD ["/whoami"]' images/out/whoami-rootfs.tar whoami`).
# Idempotent: rebuilds only what is older than its inputs. Tarballs are
# reproducible (sorted, fixed mtime and owners), so image ids are stable.
set -euo pipefail
cd "$(dirname "$0")"
OUT=out
mkdir -p "$OUT"
BUSYBOX=${BUSYBOX:-/bin/busybox}
SELF=build.sh
case "$(uname -m)" in x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; *) ARCH=$(uname -m) ;; esac

die() { echo "images/build.sh: $*" >&2; exit 1; }
[[ -x "$BUSYBOX" ]] || die "$BUSYBOX is missing: apt-get install busybox-static"
"$BUSYBOX" --list-full >/dev/null 2>&1 || die "$BUSYBOX does not list its applets; is it busybox-static?"
command -v tar >/dev/null || die "tar is missing: apt-get install tar"

# stale TARGET INPUT...: true if TARGET is missing or older than an input.
stale() {
  local target=$1 input
  shift
  [[ -f "$target" ]] || return 0
  for input in "$@"; do [[ "$input" -nt "$target" ]] && return 0; done
  return 1
}

# make_base DIR: a minimal root with busybox and its applets where
# `busybox --install -s` would put them (bin/, sbin/, usr/bin/, usr/sbin/).
make_base() {
  local root=$1 applet
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var/www,proc,sys,dev}
  chmod 1777 "$root/tmp"
  chmod 700 "$root/root"
  install -m 0755 "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list-full); do
    [[ "$applet" == bin/busybox ]] && continue
    [[ -e "$root/$applet" || -L "$root/$applet" ]] && continue
    ln -s /bin/busybox "$root/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
    >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
  echo '<h1>hello from busybox httpd</h1>' >"$root/var/www/index.html"
}

# pack DIR FILE: a reproducible tarball of DIR's contents, written atomically.
pack() {
  tar -C "$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$2.tmp" .
  mv "$2.tmp" "$2"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if stale "$OUT/busybox.tar" "$BUSYBOX" "$SELF"; then
  make_base "$tmp/busybox"
  pack "$tmp/busybox" "$OUT/busybox.tar"
fi

if stale "$OUT/whoami-rootfs.tar" whoami/whoami.c "$BUSYBOX" "$SELF"; then
  command -v gcc >/dev/null || die "gcc is missing: apt-get install gcc"
  if ! gcc -static -O2 -Wall -o "$tmp/whoami" whoami/whoami.c 2>"$tmp/gcc.err"; then
    cat "$tmp/gcc.err" >&2
    if grep -q -- '-lc\|libc.a' "$tmp/gcc.err"; then
      die "linking whoami statically needs the static C library (libc.a): apt-get install libc6-dev"
    fi
    die "compiling images/whoami/whoami.c failed (see above)"
  fi
  make_base "$tmp/whoami-root"
  install -m 0755 "$tmp/whoami" "$tmp/whoami-root/whoami"
  pack "$tmp/whoami-root" "$OUT/whoami-rootfs.tar"
fi

if stale "$OUT/whoami.tar" "$OUT/whoami-rootfs.tar" "$SELF"; then
  # A `docker save` archive: one layer, an image config, a manifest.
  save="$tmp/save"
  mkdir -p "$save"
  diff_id=$(sha256sum "$OUT/whoami-rootfs.tar" | cut -d' ' -f1)
  mkdir -p "$save/$diff_id"
  cp "$OUT/whoami-rootfs.tar" "$save/$diff_id/layer.tar"
  printf '%s' '{"architecture":"'"$ARCH"'","os":"linux","created":"2026-01-01T00:00:00Z",' \
    '"config":{"Cmd":["/whoami"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],' \
    '"ExposedPorts":{"8000/tcp":{}},"StopSignal":"SIGTERM"},' \
    '"rootfs":{"type":"layers","diff_ids":["sha256:'"$diff_id"'"]}}' >"$save/config.json"
  config_id=$(sha256sum "$save/config.json" | cut -d' ' -f1)
  mv "$save/config.json" "$save/$config_id.json"
  printf '[{"Config":"%s.json","RepoTags":["whoami:latest"],"Layers":["%s/layer.tar"]}]\n' \
    "$config_id" "$diff_id" >"$save/manifest.json"
  pack "$save" "$OUT/whoami.tar"
fi
ls -l "$OUT"

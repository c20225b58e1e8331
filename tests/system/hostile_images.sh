#!/usr/bin/env bash
# Images are untrusted: crafted `docker save` / OCI archives and rootfs
# tarballs sent to a real shoald get a 400 that names the problem, write
# nothing outside the image store, leave nothing half-unpacked, and shoald
# keeps serving (docs/security.md, "Images are untrusted").
source "$(dirname "$0")/../lib.sh"

start_shoald
EVIL=$T_DIR/evil
OUT=$T_DIR/outside
mkdir -p "$EVIL" "$OUT"
echo untouched >"$OUT/sentinel"
uploads_before=$(find /tmp -maxdepth 1 -name 'shoal-upload-*' 2>/dev/null | wc -l)

# make_archive KIND OUT.tar: writes one hostile archive with Python's tarfile.
make_archive() {
  python3 - "$1" "$2" "$OUT" <<'EOF'
import hashlib, io, json, sys, tarfile
kind, out, outside = sys.argv[1:4]

def tar_bytes(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m, data in members:
            t.addfile(m, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()

def f(name, data=b"x"):
    m = tarfile.TarInfo(name); m.size = len(data); return (m, data)

def link(name, target, kind=tarfile.SYMTYPE):
    m = tarfile.TarInfo(name); m.type = kind; m.linkname = target; return (m, None)

def dev(name):
    m = tarfile.TarInfo(name); m.type = tarfile.BLKTYPE; m.devmajor, m.devminor = 8, 0; return (m, None)

def docker_save(layer, extra=()):
    diff = hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]}}).encode()
    cname = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cname, "RepoTags": ["evil:1"], "Layers": ["l0/layer.tar"]}]).encode()
    return tar_bytes([f("l0/layer.tar", layer), f(cname, config), f("manifest.json", manifest), *extra])

if kind == "dotdot":
    data = docker_save(tar_bytes([f("../../../../../../.." + outside + "/escaped")]))
elif kind == "symlink-parent":
    data = docker_save(tar_bytes([link("l", outside), f("l/pwned")]))
elif kind == "hardlink-out":
    data = docker_save(tar_bytes([link("h", outside + "/sentinel", tarfile.LNKTYPE)]))
elif kind == "manifest-to-host":
    data = tar_bytes([link("manifest.json", "/etc/shadow")])
elif kind == "layer-to-dev-zero":
    data = tar_bytes([link("l0", "/dev"), f("manifest.json", json.dumps(
        [{"Config": "c.json", "Layers": ["l0/zero"]}]).encode()), f("c.json", b"{}")])
elif kind == "bad-digest":
    layer = tar_bytes([f("a")])
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
    wrong = "sha256:" + "0" * 64
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + hashlib.sha256(config).hexdigest()},
                           "layers": [{"digest": wrong}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{"digest": "sha256:" + hashlib.sha256(manifest).hexdigest()}]}).encode()
    data = tar_bytes([f("oci-layout", b"{}"), f("index.json", index),
                      f("blobs/sha256/" + hashlib.sha256(config).hexdigest(), config),
                      f("blobs/sha256/" + hashlib.sha256(manifest).hexdigest(), manifest),
                      f("blobs/sha256/" + "0" * 64, layer)])
elif kind == "good":
    data = docker_save(tar_bytes([f("hello.txt", b"hi")]))
elif kind == "device-rootfs":
    data = tar_bytes([f("bin/sh"), dev("etc/sda")])
open(out, "wb").write(data)
EOF
}

load_status() { api -o "$T_DIR/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/x-tar' \
  --data-binary "@$1" http://localhost/v1.41/images/load; }

# still_fine: shoald serves, the store holds no image "evil" and nothing
# half-unpacked, and the sentinel and its directory are as they were.
still_fine() {
  expect_eq "$1: shoald still answers" OK "$(api http://localhost/_ping)"
  # (an empty listing of a directory that is not there would pass below)
  check "$1: the layer store is there" test -d "$T_DIR/data/images/layers" -a ! -L "$T_DIR/data/images/layers"
  check "$1: the scratch dir is there" test -d "$T_DIR/data/images/tmp" -a ! -L "$T_DIR/data/images/tmp"
  check "$1: the sentinel's directory is there" test -d "$OUT" -a -f "$OUT/sentinel"
  expect_eq "$1: no half-unpacked layer left" "" "$(find "$T_DIR/data/images/layers" -maxdepth 1 -name '*.tmp-*')"
  expect_eq "$1: no upload or scratch left" "" "$(ls -A "$T_DIR/data/images/tmp")"
  expect_eq "$1: the sentinel is untouched" untouched "$(cat "$OUT/sentinel")"
  expect_eq "$1: nothing written next to the sentinel" sentinel "$(ls "$OUT")"
}

declare -A WANT=(
  [dotdot]="that leaves the layer"
  [symlink-parent]="goes through a symlink"
  [hardlink-out]="outside the layer"
  [manifest-to-host]="neither a \`docker save\` archive"
  [layer-to-dev-zero]="lacks"
  [bad-digest]="does not match its content"
)
for kind in dotdot symlink-parent hardlink-out manifest-to-host layer-to-dev-zero bad-digest; do
  make_archive "$kind" "$EVIL/$kind.tar"
  expect_eq "load $kind: 400" 400 "$(load_status "$EVIL/$kind.tar")"
  expect_contains "load $kind: the message says why" "${WANT[$kind]}" "$(cat "$T_DIR/resp")"
  still_fine "$kind"
done

# The CLI shows the message and fails.
out=$(sh_cli image load -i "$EVIL/dotdot.tar" 2>&1 || true)
expect_contains "shoal image load -i evil.tar: clear error" "leaves the layer" "$out"
expect_contains "the error names the layer by digest" "layer sha256:" "$out"

# A rootfs tarball with a device node outside /dev.
make_archive device-rootfs "$EVIL/dev.tar"
code=$(api -o "$T_DIR/resp" -w '%{http_code}' -X POST --data-binary "@$EVIL/dev.tar" \
  'http://localhost/v1.41/images/create?fromSrc=-&repo=evil&tag=dev')
expect_eq "import with a block device: 400" 400 "$code"
expect_contains "import with a block device: says so" "block device (8:0)" "$(cat "$T_DIR/resp")"
still_fine "device-rootfs"

expect_eq "no image named evil" "" "$(sh_cli image ls | grep evil || true)"
expect_eq "uploads never land in /tmp" "$uploads_before" "$(find /tmp -maxdepth 1 -name 'shoal-upload-*' | wc -l)"
expect_eq "the image store is private (0700)" 700 "$(stat -c %a "$T_DIR/data/images")"

# And a good image still loads afterwards (a small one: see the report on
# the HTTP server's body limits for large uploads).
make_archive good "$EVIL/good.tar"
expect_contains "a good image loads after the hostile ones" "Loaded image: evil:1" "$(sh_cli image load -i "$EVIL/good.tar")"
expect_contains "and is listed" "evil" "$(sh_cli image ls)"

// ImageStore over archives the tests build with libarchive: rootfs imports,
// `docker save` archives (plain and gzip layers), OCI layouts, whiteouts.
#include "agent/runtime/image_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/runtime/layer.h"
#include "agent/runtime/test_tar.h"

namespace shoal::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Entry {
  std::string path;
  std::string content;  // regular file body
  char type = 'f';      // 'f' file, 'd' dir, 'l' symlink (content = target)
};

// Writes a tar (gzip'ed if asked) with the entries to `path`.
void write_tar(const std::string& path, const std::vector<Entry>& entries, bool gzip = false) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const auto& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_mtime(ae, 1700000000, 0);
    if (e.type == 'd') {
      archive_entry_set_filetype(ae, AE_IFDIR);
      archive_entry_set_perm(ae, 0755);
    } else if (e.type == 'l') {
      archive_entry_set_filetype(ae, AE_IFLNK);
      archive_entry_set_perm(ae, 0777);
      archive_entry_set_symlink(ae, e.content.c_str());
    } else {
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, 0644);
      archive_entry_set_size(ae, static_cast<la_int64_t>(e.content.size()));
    }
    archive_write_header(a, ae);
    if (e.type == 'f') archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("shoal-images-test-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ + "/in");
    store_ = std::make_unique<ImageStore>(root_);
    ASSERT_TRUE(store_->open().ok());
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string in(const std::string& name) { return root_ + "/in/" + name; }

  // A docker save archive of one image with the given layer files (tars,
  // gzip'ed or not) tagged `tags`. Returns its path.
  std::string docker_save(const std::vector<std::string>& layer_files, const std::vector<std::string>& tags,
                          bool corrupt_diff_ids = false) {
    json diff_ids = json::array();
    std::vector<Entry> entries;
    json layers = json::array();
    for (size_t i = 0; i < layer_files.size(); ++i) {
      std::string diff = *sha256_uncompressed(layer_files[i]);
      diff_ids.push_back("sha256:" + (corrupt_diff_ids ? sha256_hex(diff) : diff));
      std::string name = "l" + std::to_string(i) + "/layer.tar";
      entries.push_back({name, slurp(layer_files[i])});
      layers.push_back(name);
    }
    json config = {{"architecture", "amd64"}, {"os", "linux"}, {"created", "2026-01-02T03:04:05Z"},
                   {"config", {{"Cmd", {"/app", "--serve"}}, {"Env", {"A=1"}}, {"WorkingDir", "/srv"},
                               {"User", "nobody"}, {"StopSignal", "SIGINT"}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    std::string config_text = config.dump();
    std::string config_name = sha256_hex(config_text) + ".json";
    entries.push_back({config_name, config_text});
    json manifest = json::array({{{"Config", config_name}, {"RepoTags", tags}, {"Layers", layers}}});
    entries.push_back({"manifest.json", manifest.dump()});
    std::string path = in("save.tar");
    write_tar(path, entries);
    return path;
  }

  std::string root_;
  std::unique_ptr<ImageStore> store_;
};

TEST_F(ImageStoreTest, ImportResolvesUnderEveryFormOfTheReference) {
  write_tar(in("rootfs.tar"), {{"./", "", 'd'}, {"./bin/", "", 'd'}, {"./bin/hello", "#!/bin/sh\n"},
                               {"./bin/sh", "hello", 'l'}, {"etc/passwd", "root:x:0:0::/root:/bin/sh\n"}});
  ImageConfig cfg;
  cfg.env = {"FOO=1"};
  auto id = store_->import_rootfs(in("rootfs.tar"), "busybox", cfg);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(id->rfind("sha256:", 0), 0u);
  for (const std::string& ref : std::vector<std::string>{"busybox", "busybox:latest", "docker.io/library/busybox:latest", *id, id->substr(7, 12)}) {
    auto r = store_->resolve(ref);
    ASSERT_TRUE(r.ok()) << ref << ": " << r.status().message();
    EXPECT_EQ(r->info.id, *id);
    ASSERT_EQ(r->layer_dirs.size(), 1u);
    EXPECT_EQ(slurp(r->layer_dirs[0] + "/bin/hello"), "#!/bin/sh\n");
    EXPECT_EQ(fs::read_symlink(r->layer_dirs[0] + "/bin/sh"), "hello");
    EXPECT_EQ(r->config.cmd, std::vector<std::string>{"sh"});
    EXPECT_EQ(r->config.env, std::vector<std::string>{"FOO=1"});
  }
  // The layer is content-addressed by its diff id; the config is a blob.
  std::string diff = *sha256_uncompressed(in("rootfs.tar"));
  EXPECT_TRUE(fs::is_directory(root_ + "/images/layers/" + diff));
  EXPECT_TRUE(fs::exists(root_ + "/images/blobs/sha256/" + id->substr(7)));
  EXPECT_EQ(sha256_hex(slurp(root_ + "/images/blobs/sha256/" + id->substr(7))), id->substr(7));

  // A stream import of the same tar shares the layer.
  std::ifstream tar(in("rootfs.tar"), std::ios::binary);
  auto id2 = store_->import_rootfs(tar, "localhost:5000/other:2");
  ASSERT_TRUE(id2.ok()) << id2.status().message();

  // Everything survives a reopen (shoald restart).
  ImageStore again(root_);
  Status opened = again.open();
  ASSERT_TRUE(opened.ok()) << opened.message();
  auto list = again.list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  std::vector<std::string> refs;
  for (const auto& im : *list) {
    refs.insert(refs.end(), im.refs.begin(), im.refs.end());
    EXPECT_GT(im.created, 0);
    EXPECT_EQ(im.size, 10 + 26);
  }
  std::sort(refs.begin(), refs.end());
  EXPECT_EQ(refs, (std::vector<std::string>{"busybox:latest", "localhost:5000/other:2"}));
  json repos = json::parse(slurp(root_ + "/images/repositories.json"));
  EXPECT_EQ(repos["Repositories"]["busybox:latest"], *id);
}

TEST_F(ImageStoreTest, UnknownAndInvalidReferences) {
  auto r = store_->resolve("nosuch:1");
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("No such image: nosuch:1"), std::string::npos);
  EXPECT_NE(r.status().message().find("shoal image load"), std::string::npos);
  EXPECT_EQ(store_->resolve("Not Valid").status().code(), Code::kInvalidArgument);
  write_tar(in("rootfs.tar"), {{"a", "b"}});
  EXPECT_EQ(store_->import_rootfs(in("rootfs.tar"), "UPPER").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->import_rootfs(in("missing.tar"), "x").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->remove("nosuch").code(), Code::kNotFound);
}

TEST_F(ImageStoreTest, LoadsDockerSaveWithGzipLayersAndAppliesWhiteouts) {
  write_tar(in("l0.tar"), {{"etc/", "", 'd'}, {"etc/gone", "x"}, {"etc/kept", "k"},
                           {"data/", "", 'd'}, {"data/old1", "1"}, {"data/old2", "2"}});
  write_tar(in("l1.tar.gz"), {{"etc/", "", 'd'}, {"etc/.wh.gone", ""}, {"data/", "", 'd'},
                              {"data/.wh..wh..opq", ""}, {"data/new", "n"}}, /*gzip=*/true);
  auto loaded = store_->load(docker_save({in("l0.tar"), in("l1.tar.gz")}, {"example.com/app:1", "app"}));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(*loaded, (std::vector<std::string>{"example.com/app:1", "app:latest"}));
  auto r = store_->resolve("example.com/app:1");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.cmd, (std::vector<std::string>{"/app", "--serve"}));
  EXPECT_EQ(r->config.working_dir, "/srv");
  EXPECT_EQ(r->config.user, "nobody");
  EXPECT_EQ(r->config.stop_signal, "SIGINT");
  ASSERT_EQ(r->layer_dirs.size(), 2u);
  const std::string top = r->layer_dirs[1];
  // Whiteouts are overlayfs ones: a 0/0 char device and an opaque xattr.
  struct stat st {};
  ASSERT_EQ(lstat((top + "/etc/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_FALSE(fs::exists(top + "/etc/.wh.gone"));
  EXPECT_FALSE(fs::exists(top + "/data/.wh..wh..opq"));
  char v[4] = {};
  ASSERT_EQ(getxattr((top + "/data").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');

  // And overlayfs honours them.
  fs::create_directories(root_ + "/ov/upper");
  fs::create_directories(root_ + "/ov/work");
  fs::create_directories(root_ + "/ov/merged");
  std::string opts = "lowerdir=" + r->layer_dirs[1] + ":" + r->layer_dirs[0] + ",upperdir=" + root_ +
                     "/ov/upper,workdir=" + root_ + "/ov/work";
  ASSERT_EQ(mount("overlay", (root_ + "/ov/merged").c_str(), "overlay", 0, opts.c_str()), 0) << strerror(errno);
  EXPECT_FALSE(fs::exists(root_ + "/ov/merged/etc/gone"));
  EXPECT_TRUE(fs::exists(root_ + "/ov/merged/etc/kept"));
  EXPECT_FALSE(fs::exists(root_ + "/ov/merged/data/old1"));
  EXPECT_TRUE(fs::exists(root_ + "/ov/merged/data/new"));
  // A mounted image cannot be deleted.
  EXPECT_TRUE(store_->remove("app").ok());  // untag only: another ref is left
  EXPECT_EQ(store_->remove("example.com/app:1").code(), Code::kFailedPrecondition);
  ASSERT_EQ(umount2((root_ + "/ov/merged").c_str(), MNT_DETACH), 0);

  EXPECT_TRUE(store_->remove("example.com/app:1").ok());
  EXPECT_EQ(store_->resolve(r->info.id).status().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(r->layer_dirs[0]));
  EXPECT_FALSE(fs::exists(root_ + "/images/blobs/sha256/" + r->info.id.substr(7)));
  EXPECT_TRUE(store_->list()->empty());
}

TEST_F(ImageStoreTest, LoadRejectsCorruptOrHostileArchives) {
  write_tar(in("l0.tar"), {{"a", "1"}});
  auto corrupt = store_->load(docker_save({in("l0.tar")}, {"x:1"}, /*corrupt_diff_ids=*/true));
  EXPECT_EQ(corrupt.status().code(), Code::kInvalidArgument);
  EXPECT_NE(corrupt.status().message().find("corrupt"), std::string::npos) << corrupt.status().message();
  write_tar(in("evil.tar"), {{"manifest.json", R"([{"Config":"../../etc/passwd","Layers":[]}])"}});
  EXPECT_EQ(store_->load(in("evil.tar")).status().code(), Code::kInvalidArgument);
  write_tar(in("plain.tar"), {{"bin/sh", "x"}});
  auto plain = store_->load(in("plain.tar"));
  EXPECT_EQ(plain.status().code(), Code::kInvalidArgument);
  EXPECT_NE(plain.status().message().find("shoal image import"), std::string::npos);
  write_tar(in("dotdot.tar"), {{"../escape", "x"}});
  EXPECT_EQ(store_->import_rootfs(in("dotdot.tar"), "x").status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root_ + "/images/layers/escape"));
  write_tar(in("link.tar"), {{"etc", "/", 'l'}, {"etc/.wh.passwd", ""}});
  EXPECT_FALSE(store_->import_rootfs(in("link.tar"), "x").ok());
  EXPECT_TRUE(fs::exists("/etc/passwd"));
  EXPECT_TRUE(store_->list()->empty());
}

TEST_F(ImageStoreTest, LoadsAnOciLayout) {
  write_tar(in("layer.tar.gz"), {{"hello.txt", "hi"}}, /*gzip=*/true);
  std::string layer = slurp(in("layer.tar.gz"));
  std::string diff = *sha256_uncompressed(in("layer.tar.gz"));
  json config = {{"architecture", "amd64"}, {"os", "linux"},
                 {"config", {{"Entrypoint", {"/bin/echo"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + diff}}}}};
  std::string config_text = config.dump();
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                               {"digest", "sha256:" + sha256_hex(config_text)}, {"size", config_text.size()}}},
                   {"layers", {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                                {"digest", "sha256:" + sha256_hex(layer)}, {"size", layer.size()}}}}};
  std::string manifest_text = manifest.dump();
  std::string manifest_digest = "sha256:" + sha256_hex(manifest_text);
  json index = {{"schemaVersion", 2},
                {"manifests", {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                {"digest", manifest_digest}, {"size", manifest_text.size()},
                                {"annotations", {{"io.containerd.image.name", "docker.io/library/oci:3"},
                                                 {"org.opencontainers.image.ref.name", "3"}}}}}}};
  write_tar(in("oci.tar"), {{"oci-layout", R"({"imageLayoutVersion":"1.0.0"})"},
                            {"index.json", index.dump()},
                            {"blobs/sha256/" + sha256_hex(config_text), config_text},
                            {"blobs/sha256/" + sha256_hex(layer), layer},
                            {"blobs/sha256/" + sha256_hex(manifest_text), manifest_text}});
  auto loaded = store_->load(in("oci.tar"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(*loaded, std::vector<std::string>{"oci:3"});
  auto r = store_->resolve("oci:3");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.entrypoint, std::vector<std::string>{"/bin/echo"});
  EXPECT_EQ(slurp(r->layer_dirs[0] + "/hello.txt"), "hi");
  auto by_digest = store_->resolve("oci@" + manifest_digest);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status().message();
  EXPECT_EQ(by_digest->info.id, r->info.id);
}


// ---- Images are untrusted: crafted archives against the whole load path ----

using testing::TarEntry;
using testing::write_tar_file;

class HostileImageTest : public ImageStoreTest {
 protected:
  void SetUp() override {
    ImageStoreTest::SetUp();
    outside_ = root_ + "/outside";
    fs::create_directories(outside_);
    std::ofstream(outside_ + "/sentinel") << "[]";  // valid JSON: reading it would "work"
  }
  // A docker save archive: the layer tars (given as entries), a config
  // listing their diff ids, manifest.json; `extra` entries appended, and
  // `tweak` may change the manifest.
  std::string save(const std::vector<std::vector<TarEntry>>& layers, std::vector<TarEntry> extra = {},
                   const std::function<void(json&)>& tweak = {}, const std::string& config_name_override = "") {
    std::vector<TarEntry> entries;
    json diff_ids = json::array(), names = json::array();
    for (size_t i = 0; i < layers.size(); ++i) {
      std::string path = in("layer" + std::to_string(i) + ".tar");
      write_tar_file(path, layers[i]);
      diff_ids.push_back("sha256:" + *sha256_uncompressed(path));
      std::string name = "l" + std::to_string(i) + "/layer.tar";
      entries.push_back({name, slurp(path)});
      names.push_back(name);
    }
    json config = {{"architecture", "amd64"}, {"os", "linux"}, {"config", {{"Cmd", {"/app"}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
    std::string text = config.dump();
    std::string config_name = config_name_override.empty() ? sha256_hex(text) + ".json" : config_name_override;
    entries.push_back({config_name, text});
    json manifest = json::array({{{"Config", config_name}, {"RepoTags", {"evil:1"}}, {"Layers", names}}});
    if (tweak) tweak(manifest);
    entries.push_back({"manifest.json", manifest.dump()});
    entries.insert(entries.end(), extra.begin(), extra.end());
    std::string path = in("save.tar");
    write_tar_file(path, entries);
    return path;
  }
  // The load failed with `needle`, and left nothing: no image, no layer,
  // no scratch, the sentinel as it was.
  void expect_refused(const Result<std::vector<std::string>>& r, const std::string& needle) {
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().message();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
    EXPECT_LT(r.status().message().size(), 1000u);
    EXPECT_TRUE(store_->list()->empty());
    EXPECT_TRUE(fs::is_empty(root_ + "/images/layers")) << "a layer or a half-unpacked scratch dir is left";
    EXPECT_TRUE(fs::is_empty(root_ + "/images/tmp"));
    EXPECT_EQ(slurp(outside_ + "/sentinel"), "[]");
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(outside_)) n += e.path().filename() != "sentinel";
    EXPECT_EQ(n, 0u);
  }
  std::string outside_;
};

TEST_F(HostileImageTest, ALayerEntryThatLeavesTheLayerIsNamedWithItsDigest) {
  std::string path = save({{{"ok", "1"}, {"../../etc/x", "x"}}});
  std::string diff = *sha256_uncompressed(in("layer0.tar"));
  expect_refused(store_->load(path), "layer sha256:" + diff + " has an entry '../../etc/x' that leaves the layer");
  expect_refused(store_->load(save({{{"l", outside_, 'l'}, {"l/pwned", "x"}}})), "goes through a symlink");
  expect_refused(store_->load(save({{{"h", outside_ + "/sentinel", 'h'}}})), "outside the layer");
  expect_refused(store_->load(save({{{"sda", "", 'b'}}})), "block device");
  expect_refused(store_->load(save({{{"x/.wh...", ""}}})), "whiteout of no file");
  // The outer archive follows the same rules.
  expect_refused(store_->load(save({{{"a", "1"}}}, {{"../escape", "x"}})), "the archive has an entry '../escape'");
  EXPECT_FALSE(fs::exists(root_ + "/images/escape"));
}

TEST_F(HostileImageTest, ManifestFilesAreRegularFilesInsideTheArchive) {
  // manifest.json a symlink out of the archive (to a file that is valid JSON).
  write_tar_file(in("a.tar"), {{"manifest.json", outside_ + "/sentinel", 'l'}});
  expect_refused(store_->load(in("a.tar")), "neither a `docker save` archive");
  // The config a symlink to /dev/zero, the layer a FIFO or a directory.
  expect_refused(store_->load(save({{{"a", "1"}}}, {{"zero.json", "/dev/zero", 'l'}},
                                   [](json& m) { m[0]["Config"] = "zero.json"; })),
                 "lacks \"zero.json\"");
  expect_refused(store_->load(save({{{"a", "1"}}}, {{"fifo", "", 'p'}},
                                   [](json& m) { m[0]["Layers"][0] = "fifo"; })),
                 "is not a regular file (it is a FIFO)");
  expect_refused(store_->load(save({{{"a", "1"}}}, {}, [](json& m) { m[0]["Layers"][0] = "l0"; })),
                 "is not a regular file (it is a directory)");
  expect_refused(store_->load(save({{{"a", "1"}}}, {}, [](json& m) { m[0]["Layers"][0] = "../../../etc/passwd"; })),
                 "lacks");
  // A manifest larger than the JSON cap.
  ImageLimits small;
  small.max_json_bytes = 64;
  store_ = std::make_unique<ImageStore>(root_, small);
  ASSERT_TRUE(store_->open().ok());
  expect_refused(store_->load(save({{{"a", "1"}}})), "larger than the limit of 64 bytes");
}

TEST_F(HostileImageTest, DockerSaveLayerLinksInsideTheArchiveStillLoad) {
  // Docker writes a layer that two images share once and links the second.
  std::string path = save({{{"a", "1"}}, {{"a", "1"}}}, {{"l1/link.tar", "../l0/layer.tar", 'l'}},
              [](json& m) { m[0]["Layers"][1] = "l1/link.tar"; });
  auto loaded = store_->load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(*loaded, std::vector<std::string>{"evil:1"});
}

TEST_F(HostileImageTest, DigestsAreChecked) {
  // A config whose name says one digest and whose bytes another.
  std::string wrong(64, 'a');
  expect_refused(store_->load(save({{{"a", "1"}}}, {}, {}, wrong + ".json")),
                 "the image config sha256:" + wrong + " does not match its content");
  // A layer whose diff id differs from the config's.
  write_tar_file(in("other.tar"), {{"b", "2"}});
  std::string want = *sha256_uncompressed(in("layer0.tar"));
  expect_refused(store_->load(save({{{"a", "1"}}}, {{"l1/layer.tar", slurp(in("other.tar"))}},
                                   [](json& m) { m[0]["Layers"][0] = "l1/layer.tar"; })),
                 "but the image config says sha256:" + want);
  // A layer blob named by its digest (Docker >= 25 writes blobs/sha256/<hex>).
  std::string blob(64, 'b');
  expect_refused(store_->load(save({{{"a", "1"}}}, {{"blobs/sha256/" + blob, slurp(in("layer0.tar"))}},
                                   [&](json& m) { m[0]["Layers"][0] = "blobs/sha256/" + blob; })),
                 "the layer blob sha256:" + blob + " does not match");
}

TEST_F(HostileImageTest, OciBlobsAreCheckedAgainstTheirDescriptors) {
  write_tar_file(in("layer.tar"), {{"hello.txt", "hi"}});
  std::string layer = slurp(in("layer.tar"));
  std::string diff = sha256_hex(layer);
  json config = {{"architecture", "amd64"}, {"os", "linux"}, {"config", json::object()},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + diff}}}}};
  std::string config_text = config.dump();
  auto oci = [&](const std::string& layer_bytes, int64_t layer_size) {
    json manifest = {{"schemaVersion", 2},
                     {"config", {{"digest", "sha256:" + sha256_hex(config_text)}, {"size", config_text.size()}}},
                     {"layers", {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                  {"digest", "sha256:" + diff}, {"size", layer_size}}}}};
    std::string mt = manifest.dump();
    json index = {{"schemaVersion", 2},
                  {"manifests", {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                  {"digest", "sha256:" + sha256_hex(mt)}, {"size", mt.size()}}}}};
    write_tar_file(in("oci.tar"), {{"oci-layout", "{}"}, {"index.json", index.dump()},
                                   {"blobs/sha256/" + sha256_hex(config_text), config_text},
                                   {"blobs/sha256/" + diff, layer_bytes},
                                   {"blobs/sha256/" + sha256_hex(mt), mt}});
    return in("oci.tar");
  };
  std::string tampered = layer;
  tampered[600] ^= 1;
  expect_refused(store_->load(oci(tampered, static_cast<int64_t>(layer.size()))),
                 "the blob sha256:" + diff + " does not match its content");
  expect_refused(store_->load(oci(layer, 5)), "not the size its descriptor says");
  auto ok = store_->load(oci(layer, static_cast<int64_t>(layer.size())));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
}

TEST_F(HostileImageTest, DeeplyNestedJsonIsRefusedNotAStackOverflow) {
  // 1.5 MiB of '[' (3 MiB in all, under the 4 MiB JSON cap): copying such a value (index.value("manifests", ...))
  // recursed once per level and crashed shoald.
  const std::string deep = std::string(3 << 19, '[') + std::string(3 << 19, ']');
  write_tar_file(in("oci.tar"), {{"oci-layout", "{}"}, {"index.json", "{\"manifests\":" + deep + "}"}});
  expect_refused(store_->load(in("oci.tar")), "nested deeper than");
  write_tar_file(in("save.tar"), {{"manifest.json", "[" + deep + "]"}});
  expect_refused(store_->load(in("save.tar")), "nested deeper than");
}

TEST_F(HostileImageTest, DecompressedSizeAndLayerCountAreCapped) {
  ImageLimits small;
  small.max_unpacked_bytes = 64 << 10;
  store_ = std::make_unique<ImageStore>(root_, small);
  ASSERT_TRUE(store_->open().ok());
  write_tar_file(in("bomb.tar.gz"), {{"zeros", std::string(1 << 20, '\0')}}, /*gzip=*/true);
  auto r = store_->import_rootfs(in("bomb.tar.gz"), "bomb");
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("more than 65536 bytes"), std::string::npos) << r.status().message();
  expect_refused(Result<std::vector<std::string>>(r.status()), "more than 65536");
  small = {};
  small.max_layers = 2;
  store_ = std::make_unique<ImageStore>(root_, small);
  ASSERT_TRUE(store_->open().ok());
  expect_refused(store_->load(save({{{"a", "1"}}, {{"b", "1"}}, {{"c", "1"}}})), "more than the limit of 2");
}

TEST_F(HostileImageTest, EntriesPerArchiveAreCapped) {
  ImageLimits small;
  small.max_entries = 100;
  store_ = std::make_unique<ImageStore>(root_, small);
  ASSERT_TRUE(store_->open().ok());
  std::vector<TarEntry> many;  // empty files: no byte budget would stop them
  for (int i = 0; i < 101; ++i) many.push_back({"e" + std::to_string(i), ""});
  std::vector<TarEntry> fits(many.begin(), many.begin() + 50);
  ASSERT_TRUE(store_->load(save({fits})).ok());
  ASSERT_TRUE(store_->remove("evil:1").ok());
  std::string diff = (write_tar_file(in("many.tar"), many), *sha256_uncompressed(in("many.tar")));
  fs::remove_all(root_ + "/images/layers");
  fs::create_directories(root_ + "/images/layers");
  expect_refused(store_->load(save({many})),
                 "layer sha256:" + diff + " has more than 100 entries, the limit for one archive");
  // The outer archive too.
  std::vector<TarEntry> extra(many.begin(), many.begin() + 99);
  expect_refused(store_->load(save({{{"a", "1"}}}, extra)), "the archive has more than 100 entries");
}

TEST_F(HostileImageTest, ALayerIsSyncedBeforeItIsPublished) {
  std::vector<std::string> synced;
  std::string layers = root_ + "/images/layers";
  store_->set_layer_sync_for_test([&](const std::string& dir) {
    synced.push_back(dir);
    // Unpacked, not yet renamed into place: only the scratch dir exists.
    size_t published = 0;
    for (const auto& e : fs::directory_iterator(layers)) published += e.path().string().find(".tmp-") == std::string::npos;
    EXPECT_EQ(published, 0u);
    EXPECT_TRUE(fs::exists(dir + "/a"));
    return sync_tree(dir);
  });
  ASSERT_TRUE(store_->load(save({{{"a", "1"}}})).ok());
  ASSERT_EQ(synced.size(), 1u);
  EXPECT_NE(synced[0].find(layers + "/"), std::string::npos);
  EXPECT_NE(synced[0].find(".tmp-"), std::string::npos);
  // A failing sync publishes nothing.
  ASSERT_TRUE(store_->remove("evil:1").ok());
  fs::remove_all(layers);
  fs::create_directories(layers);
  store_->set_layer_sync_for_test([](const std::string&) { return internal_error("disk failing"); });
  auto r = store_->load(save({{{"b", "2"}}}));
  EXPECT_NE(r.status().message().find("disk failing"), std::string::npos) << r.status().message();
  EXPECT_TRUE(fs::is_empty(layers));
  EXPECT_FALSE(sync_tree(root_ + "/nonexistent").ok());
}

TEST_F(HostileImageTest, TheStoreIsPrivate) {
  struct stat st {};
  ASSERT_EQ(stat((root_ + "/images").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(store_->scratch_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

}  // namespace
}  // namespace shoal::runtime

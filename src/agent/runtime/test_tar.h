// For tests only: writes tar archives with arbitrary (hostile) entries
// through libarchive's writer, which stores names and link targets as given.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace shoal::runtime::testing {

struct TarEntry {
  std::string path;
  std::string content;  // file body; symlink or hard link target
  // 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'c' char dev, 'b' block
  // dev, 'p' FIFO
  char type = 'f';
  int mode = -1;  // -1: 0644 files, 0755 dirs, 0777 links
  int64_t uid = 0, gid = 0;
  std::map<std::string, std::string> xattrs;
  int64_t size = -1;  // declared size of a file, -1: content's
};

// Writes the entries to `path` (gzip'ed if asked); throws on failure.
inline void write_tar_file(const std::string& path, const std::vector<TarEntry>& entries, bool gzip = false) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK) throw std::runtime_error("open " + path);
  for (const auto& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_mtime(ae, 1700000000, 0);
    archive_entry_set_uid(ae, e.uid);
    archive_entry_set_gid(ae, e.gid);
    for (const auto& [k, v] : e.xattrs) archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
    switch (e.type) {
      case 'd':
        archive_entry_set_filetype(ae, AE_IFDIR);
        archive_entry_set_perm(ae, e.mode < 0 ? 0755 : e.mode);
        break;
      case 'l':
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_perm(ae, 0777);
        archive_entry_set_symlink(ae, e.content.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_hardlink(ae, e.content.c_str());
        archive_entry_set_size(ae, 0);
        break;
      case 'c':
      case 'b':
        archive_entry_set_filetype(ae, e.type == 'c' ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_perm(ae, 0600);
        archive_entry_set_rdevmajor(ae, e.type == 'c' ? 1 : 8);
        archive_entry_set_rdevminor(ae, e.type == 'c' ? 3 : 0);
        break;
      case 'p':
        archive_entry_set_filetype(ae, AE_IFIFO);
        archive_entry_set_perm(ae, e.mode < 0 ? 0644 : e.mode);
        break;
      default:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, e.mode < 0 ? 0644 : e.mode);
        archive_entry_set_size(ae, e.size >= 0 ? e.size : static_cast<la_int64_t>(e.content.size()));
    }
    if (archive_write_header(a, ae) < ARCHIVE_WARN) throw std::runtime_error(archive_error_string(a));
    if (e.type == 'f') archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
}

}  // namespace shoal::runtime::testing

#include "agent/registry_tls.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "common/json_limits.h"

namespace shoal::agent {
namespace {

struct CachedFile {
  int64_t mtime_ns = 0;
  int64_t size = -1;
  std::string content;
};

// The files of certs_dir and the system bundle, by path; an entry is
// replaced when the file's mtime or size changes. Bounded by the files
// that exist (only an existing file is read).
std::mutex cache_mu;
std::map<std::string, CachedFile>& cache() {
  static auto* c = new std::map<std::string, CachedFile>();
  return *c;
}

bool exists(const std::string& path, struct stat* st) { return ::stat(path.c_str(), st) == 0; }

// The content of `path` (a regular file), from the cache when unchanged.
Result<std::string> read_cached(const std::string& path, const struct stat& st) {
  if (!S_ISREG(st.st_mode)) return invalid_argument(path + " is not a regular file");
  const int64_t mtime = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  {
    std::lock_guard lk(cache_mu);
    auto it = cache().find(path);
    if (it != cache().end() && it->second.mtime_ns == mtime && it->second.size == st.st_size) return it->second.content;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) return invalid_argument("cannot read " + path);
  std::lock_guard lk(cache_mu);
  cache()[path] = {mtime, st.st_size, ss.str()};
  return ss.str();
}

// How many PEM certificates `pem` holds.
int count_certificates(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return 0;
  int n = 0;
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_free(x);
    ++n;
  }
  BIO_free(bio);
  return n;
}

}  // namespace

Status check_certs_dir_name(const std::string& domain) {
  if (domain.empty() || domain == "." || domain == ".." || domain.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
    return invalid_argument("the registry name " + quote_input(domain) +
                            " cannot name a certificates directory: give a registry as HOST or HOST:PORT");
  }
  return ok_status();
}

bool has_certs_dir(const RegistryOptions& options, const std::string& domain) {
  if (options.certs_dir.empty() || !check_certs_dir_name(domain).ok()) return false;
  struct stat st;
  return exists(options.certs_dir + "/" + domain, &st) && S_ISDIR(st.st_mode);
}

Result<http::TlsOptions> registry_tls(const RegistryOptions& options, const std::string& origin, bool own_origin,
                                      const std::string& endpoint) {
  http::TlsOptions tls;
  tls.ca_file = options.ca_file;
  if (endpoint.rfind("https://", 0) != 0 || origin.rfind("https://", 0) != 0 ||
      !has_certs_dir(options, origin.substr(8))) {
    return tls;
  }
  const std::string dir = options.certs_dir + "/" + origin.substr(8);
  struct stat st;
  if (const std::string ca = dir + "/ca.crt"; exists(ca, &st)) {
    auto pem = read_cached(ca, st);
    const std::string fix = ": put the registry's CA certificate there in PEM form, or remove the file";
    if (!pem.ok()) return invalid_argument("the registry CA certificate " + pem.status().message() + fix);
    if (count_certificates(*pem) == 0) {
      return invalid_argument("the registry CA certificate " + ca + " holds no PEM certificate" + fix);
    }
    // Trusted in addition to the system CAs: one bundle of both.
    std::string bundle;
    if (struct stat sys; !options.ca_file.empty() && exists(options.ca_file, &sys)) {
      SHOAL_ASSIGN_OR_RETURN(bundle, read_cached(options.ca_file, sys));
      bundle += "\n";
    }
    tls.ca_pem = bundle + *pem;
  }
  const std::string cert = dir + "/client.cert", key = dir + "/client.key";
  const bool has_cert = exists(cert, &st), has_key = exists(key, &st);
  if (has_cert != has_key) {
    return invalid_argument("the registry client certificate needs both " + cert + " and " + key + ", but only " +
                            (has_cert ? cert : key) + " exists: add the other or remove it");
  }
  if (has_cert && own_origin) {
    tls.cert_file = cert;
    tls.key_file = key;
  }
  return tls;
}

}  // namespace shoal::agent

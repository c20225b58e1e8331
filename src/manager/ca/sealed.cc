#include "manager/ca/sealed.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/files.h"
#include "manager/ca/key_files.h"

namespace shoal::ca {

namespace {

constexpr char kMagic[] = "SHOALSEAL1";
constexpr size_t kMagicLen = sizeof(kMagic) - 1;
constexpr size_t kKeyIdLen = 8;
constexpr size_t kNonceLen = 12;
constexpr size_t kTagLen = 16;
constexpr size_t kHeaderLen = kMagicLen + kKeyIdLen + kNonceLen;

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string key_id(const std::string& key) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), md);
  return std::string(reinterpret_cast<const char*>(md), kKeyIdLen);
}

const unsigned char* u(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* u(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

Status permission_denied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }

Status check_key(const std::string& key) {
  if (key.size() != kSealKeyBytes) {
    return invalid_argument("a sealing key has " + std::to_string(kSealKeyBytes) + " bytes, not " +
                            std::to_string(key.size()));
  }
  return ok_status();
}

}  // namespace

std::string new_seal_key() {
  std::string key(kSealKeyBytes, '\0');
  if (RAND_bytes(u(key), static_cast<int>(key.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  return key;
}

Result<std::string> seal(const std::string& key, const std::string& plaintext, const std::string& context) {
  SHOAL_RETURN_IF_ERROR(check_key(key));
  std::string nonce(kNonceLen, '\0');
  if (RAND_bytes(u(nonce), static_cast<int>(kNonceLen)) != 1) return internal_error("no random bytes for a nonce");
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string out = std::string(kMagic, kMagicLen) + key_id(key) + nonce;
  out.resize(kHeaderLen + plaintext.size() + kTagLen);
  int n = 0, fin = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceLen), nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, u(key), u(nonce)) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &n, u(context), static_cast<int>(context.size())) == 1 &&
            EVP_EncryptUpdate(ctx.get(), u(out) + kHeaderLen, &n, u(plaintext), static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), u(out) + kHeaderLen + n, &fin) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagLen),
                                u(out) + kHeaderLen + plaintext.size()) == 1;
  if (!ok) return internal_error("AES-256-GCM encryption failed");
  return out;
}

Result<std::string> unseal(const std::string& key, const std::string& sealed, const std::string& context) {
  SHOAL_RETURN_IF_ERROR(check_key(key));
  if (sealed.size() < kHeaderLen + kTagLen || sealed.compare(0, kMagicLen, kMagic) != 0) {
    return invalid_argument("not a sealed secret (its header is missing or it is truncated)");
  }
  if (sealed.compare(kMagicLen, kKeyIdLen, key_id(key)) != 0) {
    return permission_denied("the secret was sealed under a different key than this manager's " +
                             std::string("(was the manager's key file replaced?)"));
  }
  const std::string nonce = sealed.substr(kMagicLen + kKeyIdLen, kNonceLen);
  const size_t len = sealed.size() - kHeaderLen - kTagLen;
  std::string tag = sealed.substr(sealed.size() - kTagLen);
  std::string out(len, '\0');
  Ctx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int n = 0, fin = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceLen), nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, u(key), u(nonce)) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &n, u(context), static_cast<int>(context.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), u(out), &n, u(sealed) + kHeaderLen, static_cast<int>(len)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagLen), u(tag)) == 1;
  if (!ok) return internal_error("AES-256-GCM decryption could not start");
  if (EVP_DecryptFinal_ex(ctx.get(), u(out) + n, &fin) != 1) {
    return permission_denied("the sealed secret does not verify: it was changed, or sealed for another purpose");
  }
  return out;
}

Result<std::string> read_seal_key(const std::string& path) {
  // No symlink, ours, 0600 (ca/key_files.h).
  auto key = read_private_file(path, /*secret=*/true, 4096);
  if (key.status().code() == Code::kNotFound) {
    return not_found("the manager's sealing key " + path + " does not exist");
  }
  if (!key.ok()) return internal_error("the manager's sealing key: " + key.status().message());
  if (key->size() != kSealKeyBytes) {
    return internal_error("the manager's sealing key " + path + " is damaged (it must hold " +
                          std::to_string(kSealKeyBytes) + " bytes)");
  }
  return *key;
}

Result<std::string> create_seal_key(const std::string& path) {
  SHOAL_RETURN_IF_ERROR(ensure_private_dir(std::filesystem::path(path).parent_path().string()));
  std::string key = new_seal_key();
  SHOAL_RETURN_IF_ERROR(write_file_atomic(path, key, 0600));
  return key;
}

Status write_seal_key(const std::string& path, const std::string& key) {
  if (key.size() != kSealKeyBytes) {
    return invalid_argument("a sealing key is " + std::to_string(kSealKeyBytes) + " bytes; got " +
                            std::to_string(key.size()));
  }
  SHOAL_RETURN_IF_ERROR(ensure_private_dir(std::filesystem::path(path).parent_path().string()));
  return write_file_atomic(path, key, 0600);
}

}  // namespace shoal::ca

// Random identifiers in Docker's formats.
#pragma once

#include <string>

namespace shoal {

// 25 lowercase base36 characters, like SwarmKit object ids (e.g. "x9b1kq...").
std::string new_object_id();
// 64 lowercase hex characters, like Docker container ids.
std::string new_container_id();
// Lowercase hex of bytes.
std::string hex_encode(const std::string& bytes);
// n random bytes from the kernel's CSPRNG.
std::string random_bytes(size_t n);
// Big-endian bytes -> base36, left-padded with '0' to width.
std::string base36(const std::string& bytes, size_t width);

}  // namespace shoal

// Image references, normalized the way Docker does: "busybox" is
// "docker.io/library/busybox:latest"; shoal shows and stores the familiar
// form "busybox:latest". No dependencies beyond common, so the API reuses it.
#pragma once

#include <string>

#include "common/result.h"

namespace shoal {

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000"
  std::string path;    // "library/busybox"
  std::string tag;     // "latest" unless a digest is given
  std::string digest;  // "sha256:..." or empty
  // "busybox:latest", "localhost:5000/app:1", "busybox@sha256:..."
  std::string familiar() const;
  // Without tag/digest: "busybox", "localhost:5000/app".
  std::string familiar_name() const;
};

// Parses and validates; the error says what is wrong with the reference.
Result<Reference> parse_reference(const std::string& ref);

}  // namespace shoal

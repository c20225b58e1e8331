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

// The registry a serveraddress names, as "host[:port]" (lowercase, scheme
// and path dropped; Docker Hub's index.docker.io and registry-1.docker.io
// are "docker.io").
std::string registry_of_address(const std::string& server_address);
// True when credentials given for `server_address` are for the registry
// `domain` (a Reference's). An empty server_address is for none: stored
// service credentials are used only for the registry they name.
bool credentials_are_for(const std::string& server_address, const std::string& domain);

}  // namespace shoal

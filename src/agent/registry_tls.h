// TLS settings for the https connections to a registry, Docker's certs.d
// layout: for the registry D ("host" or "host:port", as the connection's URL
// names it), the directory RegistryOptions::certs_dir/D may hold
//   ca.crt       a CA (PEM, one or more certificates) trusted for D in
//                addition to the system CAs (RegistryOptions::ca_file);
//   client.cert  a client certificate (PEM chain) and
//   client.key   its private key (PEM), presented to D; both or neither.
// Other files there are not read. A registry with such a directory is
// reached over https even when it is on loopback or --insecure-registry.
//
// The files are read again when their mtime or size changes (a cache keyed
// by path); the system bundle is read once per change too. Thread-safe.
#pragma once

#include <string>

#include "agent/registry_client.h"
#include "common/result.h"
#include "http/client.h"

namespace shoal::agent {

// OK when `domain` may name a directory under certs_dir: not empty, not "."
// or "..", no '/', '\\' or NUL (it comes from an image reference or a URL a
// registry sent). kInvalidArgument saying so otherwise.
Status check_certs_dir_name(const std::string& domain);

// True when certs_dir/`domain` is a directory (and `domain` a valid name).
bool has_certs_dir(const RegistryOptions& options, const std::string& domain);

// The TlsOptions for a connection to `endpoint` ("http[s]://host[:port]")
// made for the registry `origin` (its base URL, "https://D"): the system
// CAs, plus certs_dir/D/ca.crt when there, and D's client certificate only
// when `own_origin` (the connection is to D itself: a redirect or upload
// URL elsewhere never gets it, so a registry cannot borrow another's client
// identity by redirecting to it). Another host's certs.d is never used for
// a request on D's behalf. kInvalidArgument naming the file for a ca.crt
// that is unreadable or holds no PEM certificate, and for a client.cert
// without client.key (or the reverse); a bad client certificate or key
// fails at connection setup, naming the file.
Result<http::TlsOptions> registry_tls(const RegistryOptions& options, const std::string& origin, bool own_origin,
                                      const std::string& endpoint);

}  // namespace shoal::agent

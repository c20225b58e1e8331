// Internal to src/http (included by server.cc only; it pulls in Boost.Asio
// SSL): the server side of TLS listeners ("tls://host:port").
//
// TlsSocket wraps an ssl::stream over a TCP socket with the few socket calls
// the server's connection code makes besides reading and writing (waiting
// for readability, shutdown, close, available), so the same templated
// connection code serves unix, TCP and TLS connections. Waiting for
// readability looks at the TCP socket, so it misses bytes the TLS layer
// already holds: the server reads a TLS connection's requests through the
// stream instead (Server::read_request), and uses async_wait only for
// unix and TCP connections.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <memory>
#include <string>

#include "common/result.h"
#include "http/message.h"
#include "http/server.h"

namespace shoal::http::tls {

namespace net = boost::asio;

struct TlsSocket {
  using Stream = net::ssl::stream<net::ip::tcp::socket>;
  using executor_type = Stream::executor_type;

  TlsSocket(net::ip::tcp::socket tcp, net::ssl::context& ctx) : s(std::move(tcp), ctx) {}

  executor_type get_executor() { return s.get_executor(); }
  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& b, Token&& t) {
    return s.async_read_some(b, std::forward<Token>(t));
  }
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& b, Token&& t) {
    return s.async_write_some(b, std::forward<Token>(t));
  }
  template <typename Token>
  auto async_wait(net::socket_base::wait_type w, Token&& t) {
    return s.next_layer().async_wait(w, std::forward<Token>(t));
  }
  void shutdown(net::socket_base::shutdown_type how, boost::system::error_code& ec) { s.next_layer().shutdown(how, ec); }
  void close(boost::system::error_code& ec) { s.next_layer().close(ec); }
  size_t available(boost::system::error_code& ec) { return s.next_layer().available(ec); }

  Stream s;
};

// The server's TLS context: it presents tls.cert_pem/key_pem and asks every
// client for a certificate; one that is presented must chain to tls.ca_pem,
// or the handshake fails. A client without one is let in (Request::peer_cert
// stays empty): the handler decides what such a client may do. TLS 1.2+.
inline Result<std::unique_ptr<net::ssl::context>> make_context(const ServerTls& tls) {
  if (tls.cert_pem.empty() || tls.key_pem.empty() || tls.ca_pem.empty()) {
    return invalid_argument("a tls:// listener needs ServerOptions::tls (certificate, key and CA)");
  }
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  ctx->use_certificate_chain(net::buffer(tls.cert_pem), ec);
  if (ec) return invalid_argument("the TLS listener's certificate does not load: " + ec.message());
  ctx->use_private_key(net::buffer(tls.key_pem), net::ssl::context::pem, ec);
  if (ec) return invalid_argument("the TLS listener's private key does not load: " + ec.message());
  ctx->add_certificate_authority(net::buffer(tls.ca_pem), ec);
  if (ec) return invalid_argument("the TLS listener's CA certificate does not load: " + ec.message());
  ctx->set_verify_mode(net::ssl::verify_peer, ec);
  return ctx;
}

inline std::string name_entry(X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

// The client certificate the handshake verified, if any.
inline PeerCertificate peer_certificate(SSL* ssl) {
  PeerCertificate p;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return p;
  X509_NAME* name = X509_get_subject_name(cert);
  p.common_name = name_entry(name, NID_commonName);
  p.organizational_unit = name_entry(name, NID_organizationalUnitName);
  p.organization = name_entry(name, NID_organizationName);
  p.verified = true;
  return p;
}

}  // namespace shoal::http::tls

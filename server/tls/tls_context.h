// TlsContext: the TLS configuration shared by the connections of one server or one client
// (OpenSSL's SSL_CTX): certificates, private key, trusted CAs, verification mode.
//
// Contract: built once (ForServer / ForClient), immutable afterwards, and shared by any number
// of TlsSessions on any threads (OpenSSL allows concurrent use of an SSL_CTX for new sessions).
// Files are PEM. Protocol floor: TLS 1.2. Errors name the file and OpenSSL's reason.
#pragma once

#include <memory>
#include <string>

#include "tldb/status.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX; only tls_context.cc and tls_session.cc see it

namespace tldb::tls {

class TlsContext {
 public:
  // A server: `cert_file` (the certificate chain, leaf first) and `key_file`. With
  // `client_ca_file` set, every client must present a certificate signed by one of its CAs
  // (mutual TLS); without it, none is asked for.
  [[nodiscard]] static Result<std::shared_ptr<TlsContext>> ForServer(
      const std::string& cert_file, const std::string& key_file, const std::string& client_ca_file);
  // A client: the server's certificate is verified against `ca_file` (empty: the system's
  // trusted CAs). `cert_file` and `key_file` (both or neither): the client certificate for a
  // server that requires one.
  [[nodiscard]] static Result<std::shared_ptr<TlsContext>> ForClient(const std::string& ca_file,
                                                                     const std::string& cert_file,
                                                                     const std::string& key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool server() const { return server_; }
  bool requires_client_cert() const { return requires_client_cert_; }
  ssl_ctx_st* native() const { return ctx_; }  // for TlsSession
  // OpenSSL's error queue of the calling thread as text ("reason; reason"), emptied.
  static std::string DrainErrors();

 private:
  TlsContext(ssl_ctx_st* ctx, bool server, bool requires_client_cert)
      : ctx_(ctx), server_(server), requires_client_cert_(requires_client_cert) {}

  ssl_ctx_st* ctx_;
  bool server_;
  bool requires_client_cert_;
};

}  // namespace tldb::tls

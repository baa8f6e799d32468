#include "tls/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace tldb::tls {

namespace {

// Settings both sides share: TLS 1.2 at least, writes that may be partial and may be repeated
// from a buffer that moved (the callers' output buffers grow), buffers released while a
// connection is idle (an idle connection keeps no 16 KiB record buffers), read-ahead (one recv
// for as many records as arrived, instead of one for a record's header and one for its body),
// no renegotiation, and an end of stream without close_notify read as a close (clients and
// servers often just close).
void CommonSettings(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
}

Status Failed(const std::string& what) {
  return Status::InvalidArgument("TLS: " + what + ": " + TlsContext::DrainErrors());
}

}  // namespace

std::string TlsContext::DrainErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += reason ? reason : buf;
  }
  return out.empty() ? "unknown error" : out;
}

Result<std::shared_ptr<TlsContext>> TlsContext::ForServer(const std::string& cert_file,
                                                          const std::string& key_file,
                                                          const std::string& client_ca_file) {
  if (cert_file.empty() || key_file.empty()) {
    return Status::InvalidArgument("TLS: a server needs both a certificate and a key file");
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Failed("cannot create a context");
  std::shared_ptr<TlsContext> out(new TlsContext(ctx, true, !client_ca_file.empty()));
  CommonSettings(ctx);
  // No session resumption: each connection is long-lived, and a cache would need a session id
  // context per verification setting.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return Failed("certificate file " + cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Failed("key file " + key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Failed("key file " + key_file + " does not match certificate " + cert_file);
  }
  if (!client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, client_ca_file.c_str(), nullptr) != 1) {
      return Failed("client CA file " + client_ca_file);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca_file.c_str());
    if (!names) return Failed("client CA file " + client_ca_file);
    SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return out;
}

Result<std::shared_ptr<TlsContext>> TlsContext::ForClient(const std::string& ca_file,
                                                          const std::string& cert_file,
                                                          const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) {
    return Status::InvalidArgument(
        "TLS: a client certificate needs its key, and a key its "
        "certificate");
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return Failed("cannot create a context");
  std::shared_ptr<TlsContext> out(new TlsContext(ctx, false, false));
  CommonSettings(ctx);
  const int loaded = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                     : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
  if (loaded != 1) return Failed("CA file " + (ca_file.empty() ? "(system)" : ca_file));
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
      return Failed("certificate file " + cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return Failed("key file " + key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return Failed("key file " + key_file + " does not match certificate " + cert_file);
    }
  }
  return out;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

}  // namespace tldb::tls

#include "tls/tls_session.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace tldb::tls {

namespace {

bool IsIpAddress(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

int Clamp(size_t n) {
  return n > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(n);
}

}  // namespace

Result<std::unique_ptr<TlsSession>> TlsSession::Accept(std::shared_ptr<const TlsContext> ctx,
                                                       int fd) {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx->native());
  if (!ssl) return Status::IOError("TLS: SSL_new: " + TlsContext::DrainErrors());
  std::unique_ptr<TlsSession> s(new TlsSession(std::move(ctx), ssl));
  if (SSL_set_fd(ssl, fd) != 1) return Status::IOError("TLS: " + TlsContext::DrainErrors());
  SSL_set_accept_state(ssl);
  return s;
}

Result<std::unique_ptr<TlsSession>> TlsSession::Connect(std::shared_ptr<const TlsContext> ctx,
                                                        int fd, const std::string& server_name) {
  if (server_name.empty()) {
    return Status::InvalidArgument("TLS: no server name to verify the certificate against");
  }
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx->native());
  if (!ssl) return Status::IOError("TLS: SSL_new: " + TlsContext::DrainErrors());
  std::unique_ptr<TlsSession> s(new TlsSession(std::move(ctx), ssl));
  if (SSL_set_fd(ssl, fd) != 1) return Status::IOError("TLS: " + TlsContext::DrainErrors());
  const bool named =
      IsIpAddress(server_name)
          ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str()) == 1
          : SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1 &&
                SSL_set1_host(ssl, server_name.c_str()) == 1;
  if (!named) {
    return Status::InvalidArgument("TLS: bad server name '" + server_name +
                                   "': " + TlsContext::DrainErrors());
  }
  SSL_set_connect_state(ssl);
  return s;
}

TlsSession::~TlsSession() {
  SSL_free(ssl_);
}

TlsSession::Outcome TlsSession::Finish(int ret, std::string_view what) {
  if (ret > 0) return {Io::kDone, static_cast<size_t>(ret)};
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return {Io::kWantRead, 0};
    case SSL_ERROR_WANT_WRITE:
      return {Io::kWantWrite, 0};
    case SSL_ERROR_ZERO_RETURN:
      return {Io::kClosed, 0};
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        failed_ = true;
        if (saved_errno == 0) return {Io::kClosed, 0};
        error_ = std::string(what) + ": " + std::strerror(saved_errno);
        return {Io::kError, 0};
      }
      break;
    default:
      break;
  }
  failed_ = true;
  error_ = std::string(what) + ": ";
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    error_ +=
        std::string("certificate verify failed (") + X509_verify_cert_error_string(verify) + "): ";
  }
  error_ += TlsContext::DrainErrors();
  return {Io::kError, 0};
}

TlsSession::Outcome TlsSession::Handshake() {
  std::lock_guard lock(mu_);
  if (failed_) return {Io::kError, 0};
  ERR_clear_error();
  errno = 0;
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) return {Io::kDone, 0};
  return Finish(ret, "TLS handshake");
}

TlsSession::Outcome TlsSession::Read(char* buf, size_t cap) {
  std::lock_guard lock(mu_);
  if (failed_) return {Io::kError, 0};
  ERR_clear_error();
  errno = 0;
  return Finish(SSL_read(ssl_, buf, Clamp(cap)),
                SSL_is_init_finished(ssl_) ? "TLS read" : "TLS handshake");
}

TlsSession::Outcome TlsSession::Write(const char* data, size_t size) {
  if (size == 0) return {Io::kDone, 0};
  std::lock_guard lock(mu_);
  if (failed_) return {Io::kError, 0};
  ERR_clear_error();
  errno = 0;
  return Finish(SSL_write(ssl_, data, Clamp(size)),
                SSL_is_init_finished(ssl_) ? "TLS write" : "TLS handshake");
}

void TlsSession::Shutdown() {
  std::lock_guard lock(mu_);
  if (failed_ || shut_down_ || !SSL_is_init_finished(ssl_)) return;
  shut_down_ = true;
  ERR_clear_error();
  (void)SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool TlsSession::handshake_done() const {
  std::lock_guard lock(mu_);
  return SSL_is_init_finished(ssl_) == 1;
}

bool TlsSession::Buffered() const {
  std::lock_guard lock(mu_);
  return SSL_has_pending(ssl_) == 1;
}

std::string TlsSession::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

std::string TlsSession::Describe() const {
  std::lock_guard lock(mu_);
  if (!SSL_is_init_finished(ssl_)) return "TLS (handshake in progress)";
  return std::string(SSL_get_version(ssl_)) + " " +
         SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_));
}

}  // namespace tldb::tls

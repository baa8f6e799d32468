#include "tls/tls_session.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <cstdint>
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

// The socket BIO of the sessions: OpenSSL's own writes with write(2), which raises SIGPIPE when
// the peer is gone and kills a process that does not ignore it (a program using the client
// library). This one sends with MSG_NOSIGNAL and receives with recv(2); the fd is the BIO's
// data, and the BIO never closes it.
int SocketWrite(BIO* b, const char* data, int size) {
  BIO_clear_retry_flags(b);
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
  ssize_t n;
  do {
    n = ::send(fd, data, static_cast<size_t>(size), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int SocketRead(BIO* b, char* buf, int size) {
  BIO_clear_retry_flags(b);
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
  ssize_t n;
  do {
    n = ::recv(fd, buf, static_cast<size_t>(size), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_read(b);
  return static_cast<int>(n);
}

long SocketCtrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is buffered here
}

int SocketCreate(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* SocketMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "tldb");
    if (m) {
      BIO_meth_set_write(m, SocketWrite);
      BIO_meth_set_read(m, SocketRead);
      BIO_meth_set_ctrl(m, SocketCtrl);
      BIO_meth_set_create(m, SocketCreate);
    }
    return m;
  }();
  return method;
}

// Attaches `fd` to `ssl` through SocketMethod(); false when OpenSSL could not.
bool AttachSocket(SSL* ssl, int fd) {
  const BIO_METHOD* m = SocketMethod();
  BIO* bio = m ? BIO_new(m) : nullptr;
  if (!bio) return false;
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  SSL_set_bio(ssl, bio, bio);  // one BIO both ways: the SSL takes the one reference
  return true;
}

}  // namespace

Result<std::unique_ptr<TlsSession>> TlsSession::Accept(std::shared_ptr<const TlsContext> ctx,
                                                       int fd) {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx->native());
  if (!ssl) return Status::IOError("TLS: SSL_new: " + TlsContext::DrainErrors());
  std::unique_ptr<TlsSession> s(new TlsSession(std::move(ctx), ssl));
  if (!AttachSocket(ssl, fd)) return Status::IOError("TLS: " + TlsContext::DrainErrors());
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
  if (!AttachSocket(ssl, fd)) return Status::IOError("TLS: " + TlsContext::DrainErrors());
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

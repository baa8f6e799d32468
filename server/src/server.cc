// Server::Start and the ServerImpl that owns the listening socket and the loops.
#include "tldb/server.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "loop.h"
#include "metrics_endpoint.h"
#include "protocol/host_port.h"
#include "tldb/errno_status.h"

namespace tldb {

namespace {

using server::Loop;
using server::ServerCore;

// The listen backlog: bursts of reconnecting frontends are absorbed by the kernel queue.
constexpr int kListenBacklog = 4096;

Result<int> BindListener(const proto::SocketAddress& a) {
  int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return StatusFromErrno(errno, "socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.addr_len) != 0 ||
      ::listen(fd, kListenBacklog) != 0) {
    Status s = StatusFromErrno(errno, "bind/listen");
    ::close(fd);
    return s;
  }
  return fd;
}

class ServerImpl : public Server {
 public:
  explicit ServerImpl(std::shared_ptr<ServerCore> core) : core_(std::move(core)) {
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
  }
  ~ServerImpl() override {
    Stop();
    if (core_->listen_fd >= 0) ::close(core_->listen_fd);
    if (stop_fd_ >= 0) ::close(stop_fd_);
  }

  Status Init(const proto::SocketAddress& addr) {
    TLDB_ASSIGN_OR_RETURN(core_->listen_fd, BindListener(addr));
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    getsockname(core_->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
    address_ = proto::FormatAddress(bound);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    for (auto& loop : core_->loops) TLDB_RETURN_IF_ERROR(loop->Init());
    if (!core_->config.metrics_listen.empty()) {
      TLDB_ASSIGN_OR_RETURN(
          metrics_, server::MetricsEndpoint::Start(core_->config.metrics_listen, core_.get()));
      metrics_port_ = metrics_->port();
    }
    for (auto& loop : core_->loops) loop->Start();
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }
  uint16_t metrics_port() const override { return metrics_port_; }
  std::string listen_address() const override { return address_; }

  void RequestStop() override {
    uint64_t one = 1;
    ssize_t n = ::write(stop_fd_, &one, sizeof(one));
    (void)n;
  }

  void Wait() override {
    uint64_t v = 0;
    while (::read(stop_fd_, &v, sizeof(v)) < 0 && errno == EINTR) {
    }
    RequestStop();  // leave the flag set for other waiters
  }

  void Stop() override {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    core_->stopping = true;
    // The owner closes the Db once Stop returns: no scrape may be reading it then.
    metrics_.reset();
    core_->Log("shutting down: draining in-flight requests");
    for (auto& loop : core_->loops) loop->Post([](Loop& l) { l.BeginShutdown(); });
    for (auto& loop : core_->loops) loop->Join();
    core_->admin.Stop();
    core_->compactions.Stop();  // waits for a running compaction (the engine cannot cancel it)
    core_->backups.Stop();      // waits for a snapshot being taken; deletes what is left
    core_->Log("all connections closed");
  }

 private:
  std::shared_ptr<ServerCore> core_;
  std::unique_ptr<server::MetricsEndpoint> metrics_;
  int stop_fd_ = -1;
  uint16_t port_ = 0;
  uint16_t metrics_port_ = 0;
  std::string address_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Start(Db* db, const ServerConfig& config) {
  TLDB_RETURN_IF_ERROR(ValidateServerConfig(config));
  auto addr = proto::ResolveHostPort(config.listen, "listen");
  if (!addr.ok()) return addr.status();
  size_t threads =
      config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  auto core = std::make_shared<ServerCore>(db, config, threads);
  if (!config.tls_cert_file.empty()) {
    auto tls = tls::TlsContext::ForServer(config.tls_cert_file, config.tls_key_file,
                                          config.tls_client_ca_file);
    if (!tls.ok()) return tls.status();
    core->tls = std::move(tls).value();
  }
  for (size_t i = 0; i < threads; ++i) core->loops.push_back(std::make_unique<Loop>(core.get(), i));
  auto impl = std::make_unique<ServerImpl>(std::move(core));
  TLDB_RETURN_IF_ERROR(impl->Init(*addr));
  return std::unique_ptr<Server>(std::move(impl));
}

}  // namespace tldb

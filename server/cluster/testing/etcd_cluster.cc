#include "cluster/testing/etcd_cluster.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "cluster/etcd_client.h"

namespace tldb::cluster::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::string Url(uint16_t port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

// The etcd binary on PATH, or empty.
std::string FindEtcd() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/etcd";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

}  // namespace

EtcdCluster::EtcdCluster(size_t members, uint32_t start_timeout_ms)
    : start_timeout_ms_(start_timeout_ms) {
  for (size_t i = 0; i < members; ++i) {
    client_ports_.push_back(common::FreeLoopbackPort());
    peer_ports_.push_back(common::FreeLoopbackPort());
  }
  paused_.assign(members, false);
}

EtcdCluster::~EtcdCluster() {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (paused_[i]) (void)Resume(i);
  }
  members_.clear();  // ServerProcess kills and reaps
}

std::string EtcdCluster::endpoint(size_t member) const {
  return Url(client_ports_.at(member));
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < size(); ++i) out.push_back(endpoint(i));
  return out;
}

EtcdClientOptions EtcdCluster::ClientOptions() const {
  EtcdClientOptions o;
  o.endpoints = endpoints();
  o.connect_timeout_ms = 500;
  o.request_timeout_ms = 2000;
  return o;
}

pid_t EtcdCluster::pid(size_t member) const {
  return member < members_.size() ? members_[member]->pid() : -1;
}

std::string EtcdCluster::LogTail(size_t member, size_t max_bytes) const {
  std::ifstream in(dir_.path() + "/member" + std::to_string(member) + ".log");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

Status EtcdCluster::Start() {
  if (!members_.empty()) return Status::InvalidArgument("etcd cluster already started");
  if (size() == 0) return Status::InvalidArgument("etcd cluster of 0 members");
  for (int attempt = 1;; ++attempt) {
    Status s = StartOnce();
    if (s.ok() || attempt == kStartAttempts ||
        s.message().find("address already in use") == std::string::npos) {
      return s;
    }
    // A port was taken between picking it and the member's bind: a new cluster on new ports.
    members_.clear();  // kills and reaps
    for (size_t i = 0; i < size(); ++i) {
      std::error_code ec;
      std::filesystem::remove_all(dir_.path() + "/m" + std::to_string(i), ec);
      std::filesystem::remove(dir_.path() + "/member" + std::to_string(i) + ".log", ec);
      client_ports_[i] = common::FreeLoopbackPort();
      peer_ports_[i] = common::FreeLoopbackPort();
    }
  }
}

Status EtcdCluster::StartOnce() {
  const std::string etcd = FindEtcd();
  if (etcd.empty()) {
    return Status::NotFound(
        "etcd not found on PATH: the etcd tests need a real etcd (Debian package etcd-server; "
        "tools/deps.sh installs it)");
  }
  for (size_t i = 0; i < size(); ++i) {
    if (client_ports_[i] == 0 || peer_ports_[i] == 0) {
      return Status::IOError("no free loopback port for etcd member " + std::to_string(i));
    }
  }
  std::string initial_cluster;
  for (size_t i = 0; i < size(); ++i) {
    if (i > 0) initial_cluster += ",";
    initial_cluster += "m" + std::to_string(i) + "=" + Url(peer_ports_[i]);
  }
  for (size_t i = 0; i < size(); ++i) {
    const std::string name = "m" + std::to_string(i);
    common::ServerProcessOptions so;
    so.command = {etcd,
                  "--name",
                  name,
                  "--data-dir",
                  dir_.path() + "/" + name,
                  "--listen-client-urls",
                  Url(client_ports_[i]),
                  "--advertise-client-urls",
                  Url(client_ports_[i]),
                  "--listen-peer-urls",
                  Url(peer_ports_[i]),
                  "--initial-advertise-peer-urls",
                  Url(peer_ports_[i]),
                  "--initial-cluster",
                  initial_cluster,
                  "--initial-cluster-state",
                  "new",
                  "--initial-cluster-token",
                  "tldb-test"};
    so.port = client_ports_[i];
    so.log_path = dir_.path() + "/member" + std::to_string(i) + ".log";
    so.start_timeout_ms = start_timeout_ms_;
    so.die_with_parent = true;
    members_.push_back(std::make_unique<common::ServerProcess>(std::move(so)));
    if (Status s = members_.back()->Start(); !s.ok()) {
      return Status(s.code(), "etcd member " + name + ": " + s.message() + "\n" + LogTail(i));
    }
  }
  for (size_t i = 0; i < size(); ++i) TLDB_RETURN_IF_ERROR(WaitHealthy(i, start_timeout_ms_));
  return Status::Ok();
}

Status EtcdCluster::WaitHealthy(size_t member, uint32_t timeout_ms) {
  EtcdClientOptions o = ClientOptions();
  o.endpoints = {endpoint(member)};
  TLDB_ASSIGN_OR_RETURN(auto client, EtcdClient::Create(o));
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  Status s;
  while (Clock::now() < deadline) {
    s = client->Health();
    if (s.ok()) return s;
    if (!members_[member]->Alive()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::TimedOut("etcd member m" + std::to_string(member) + " not healthy within " +
                          std::to_string(timeout_ms) + " ms: " + s.message() + "\n" +
                          LogTail(member));
}

Status EtcdCluster::Kill(size_t member) {
  if (member >= members_.size())
    return Status::InvalidArgument("no etcd member " + std::to_string(member));
  paused_[member] = false;
  return members_[member]->Kill();
}

Status EtcdCluster::Signal(size_t member, int signal, const char* name) {
  if (member >= members_.size() || members_[member]->pid() <= 0) {
    return Status::InvalidArgument("no running etcd member " + std::to_string(member));
  }
  if (::kill(members_[member]->pid(), signal) != 0) {
    return Status::IOError(std::string(name) + " etcd member " + std::to_string(member) + ": " +
                           std::strerror(errno));
  }
  paused_[member] = signal == SIGSTOP;
  return Status::Ok();
}

Status EtcdCluster::Pause(size_t member) {
  return Signal(member, SIGSTOP, "SIGSTOP");
}

Status EtcdCluster::Resume(size_t member) {
  return Signal(member, SIGCONT, "SIGCONT");
}

}  // namespace tldb::cluster::testing

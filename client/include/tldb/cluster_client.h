// ClusterClient: a client of a replicated tldb partition (docs/replication.md "Clients"). It
// is given some of the servers' addresses, talks to the one that serves (the primary), and
// when a server answers NOT_PRIMARY naming the primary ("primary=HOST:PORT") it goes there;
// when the answer names none, or a server cannot be reached, it tries the next address. Every
// append carries a client_msg_id (one is made up when the caller gives none), so a retry after
// a failover is answered with the original SeqId when the first attempt was committed, and is
// written once otherwise.
//
// Contract: thread-safe; calls are retried until `retry_ms_max` has passed, then the last
// error is returned. Only errors that say "try elsewhere or again" are retried: NOT_PRIMARY,
// IO_ERROR, CLOSED, TIMED_OUT, BUSY, SHUTTING_DOWN; any other answer is returned at once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tldb/client.h"

namespace tldb {

struct ClusterClientOptions {
  std::vector<std::string> servers;  // HOST:PORT of some replicas (any order)
  ClientOptions client;              // per-connection options (`server` is ignored)
  uint32_t retry_ms_max = 15'000;    // keep retrying a call this long (failover takes ~3 s)
  uint32_t retry_pause_ms = 50;      // between rounds over every address
};

class ClusterClient {
 public:
  static Result<std::unique_ptr<ClusterClient>> Connect(ClusterClientOptions options);

  Result<AppendResult> Append(std::string_view ns, std::string_view timeline,
                              std::string_view payload, AppendOptions opts = {});
  Result<Message> Get(std::string_view ns, std::string_view timeline, Seq seq);
  Result<std::vector<Message>> Scan(std::string_view ns, std::string_view timeline,
                                    const ScanOptions& opts);
  // Runs fn(client of the primary) with the same redirects and retries (any Client call).
  template <typename T>
  Result<T> Call(const std::function<Result<T>(Client&)>& fn) {
    std::optional<Result<T>> out;
    Status s = Run([&](Client& c) {
      out.emplace(fn(c));
      return out->status();
    });
    if (!s.ok()) return s;
    return std::move(*out);
  }

  // The address in use ("" before the first call succeeded).
  std::string current() const;
  // Redirects followed so far (NOT_PRIMARY answers that named a primary).
  uint64_t redirects() const { return redirects_.load(); }

 private:
  explicit ClusterClient(ClusterClientOptions options) : options_(std::move(options)) {}
  // fn(client) until it succeeds, fails for good, or retry_ms_max passes.
  Status Run(const std::function<Status(Client&)>& fn);
  // The client for the address to try now (connecting if needed), or the connect error.
  Result<std::shared_ptr<Client>> Current();
  // After `s` from `used`: where to go next. False if `s` is not worth a retry.
  bool Redirect(const std::shared_ptr<Client>& used, const Status& s);
  std::string NewClientMsgId();

  const ClusterClientOptions options_;
  mutable std::mutex mu_;
  std::string address_;  // where calls go
  size_t next_ = 0;      // the next address of options_.servers to try
  std::shared_ptr<Client> client_;
  std::atomic<uint64_t> redirects_{0};
  std::atomic<uint64_t> ids_{0};
  std::string id_prefix_;
};

}  // namespace tldb

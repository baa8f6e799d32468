#include "tldb_server_target.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "process_stats.h"
#include "subscription_waiter.h"
#include "tldb/client.h"
#include "tldb_session.h"

namespace tldb::peerbench {
namespace {

// The tldb session over a client connection of its own, plus the long-poll and the pull.
class ClientSession : public TldbSession<Client> {
 public:
  ClientSession(std::unique_ptr<Client> c, std::string_view wait, std::string_view pull)
      : TldbSession(c.get()),
        c_(std::move(c)),
        subscribe_(wait == "subscribe"),
        wait_scan_(wait == "wait-scan"),
        read_multi_(pull == "read-multi"),
        sub_(c_.get(), kTldbNs) {}

  // A WAIT that returns the messages after after_seq (one round trip, as Redis's XREAD BLOCK).
  // --server-wait wait-scan: WAIT until the last seq passes after_seq, then one SCAN (two).
  // --server-wait subscribe: a SUBSCRIBE kept open, the message pushed (one trip).
  bool WaitAfter(const TimelineRef& tl, uint64_t after_seq, uint32_t n, const WaitSpec& w,
                 ReadResult* out) override {
    if (subscribe_) {
      std::string e;
      return sub_.Wait(tl.name, after_seq, n, w.timeout_ms, out, &e) || Fail(e);
    }
    if (wait_scan_) {
      auto r = c_->Wait(kTldbNs, tl.name, after_seq, w.timeout_ms);
      if (!r.ok()) return Fail(r.status().ToString());
      if (!r->ready) return true;
      return After(tl, after_seq, n, out);
    }
    auto r = c_->WaitRead(kTldbNs, tl.name, after_seq, w.timeout_ms, {.limit = n});
    if (!r.ok()) return Fail(r.status().ToString());
    Take(r->read, out);
    return true;
  }

  bool Ping() override {
    auto r = c_->Ping();
    return r.ok() || Fail(r.status().ToString());
  }

  // One READ_MULTI for every timeline (as Redis's XREAD of many streams); --server-pull
  // lastseq-scan: LAST_SEQ, then a SCAN per timeline with news.
  bool PullMany(std::span<const TimelineRef* const> tls, std::span<uint64_t> checkpoints,
                uint32_t n, ReadResult* out) override {
    if (!read_multi_) return TldbSession::PullMany(tls, checkpoints, n, out);
    reads_.clear();
    for (size_t i = 0; i < tls.size(); ++i) reads_.push_back({tls[i]->name, checkpoints[i]});
    auto r = c_->ReadMulti(kTldbNs, reads_, {.timeline_limit = n});
    if (!r.ok()) return Fail(r.status().ToString());
    for (size_t i = 0; i < tls.size(); ++i) {
      ReadResult one;
      Take((*r)[i], &one);
      out->count += one.count;
      out->bytes += one.bytes;
      if (one.count > 0) checkpoints[i] = one.last_seq;
    }
    return true;
  }

 private:
  static void Take(const TimelineRead& r, ReadResult* out) {
    out->count += static_cast<uint32_t>(r.messages.size());
    for (const auto& m : r.messages) out->bytes += m.payload.size();
    if (!r.messages.empty()) out->last_seq = r.messages.back().seq;
  }

  std::unique_ptr<Client> c_;
  const bool subscribe_, wait_scan_, read_multi_;
  SubscriptionWaiter sub_;
  std::vector<TimelineAfter> reads_;
};

// A CA and a server certificate for 127.0.0.1 in `dir` (ca.pem, server.pem, server.key),
// made with the openssl command.
bool MakeCertificates(const std::string& dir, std::string* err) {
  const std::string q = "'" + dir + "'";
  const std::string cmd =
      "cd " + q +
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
      " -subj /CN=tldb-bench-ca -keyout ca.key -out ca.pem"
      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1"
      " -keyout server.key -out server.csr"
      " && printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext"
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
      " -extfile server.ext -out server.pem";
  if (std::system((cmd + " >openssl.log 2>&1").c_str()) != 0) {
    *err = "cannot make TLS certificates with the openssl command (see " + dir + "/openssl.log)";
    return false;
  }
  return true;
}

}  // namespace

ClientOptions TldbServerTarget::BaseClientOptions() const {
  ClientOptions co;
  co.server = address_;
  if (tls_) {
    co.tls = true;
    co.tls_ca_file = tls_dir_ + "/ca.pem";
  }
  return co;
}

std::string TldbServerTarget::Describe() const {
  std::string cache = block_cache_bytes_
                          ? "; --block-cache-mb " + std::to_string(block_cache_bytes_ >> 20)
                          : std::string("; default block cache");
  return "tldb-server (default options: one event loop per core; --io-backend " + io_backend_ +
         cache + (background_compaction_ ? "" : "; --background-compaction false") +
         (tls_ ? "; TLS: --tls-cert, P-256 certificate" : "") + ") on 127.0.0.1" +
         (tls_ ? " over TLS" : "") +
         ", C++ client, one connection per client thread; namespace default "
         "durability sync, per-call durability; longpoll through " +
         (wait_ == "subscribe"   ? std::string("SUBSCRIBE (pushed messages)")
          : wait_ == "wait-scan" ? std::string("WAIT then SCAN")
                                 : std::string("WAIT with messages")) +
         "; group_pull through " +
         (pull_ == "read-multi" ? std::string("READ_MULTI") : std::string("LAST_SEQ then SCANs"));
}

bool TldbServerTarget::Start(const std::string& dir, std::string* err) {
  dir_ = dir + "/data";
  std::filesystem::create_directories(dir_);
  common::ServerProcessOptions so = HarnessServerOptions(dir + "/server.log");
  so.binary = bin_;
  so.data_dir = dir_;
  so.extra_args = {"--io-backend", io_backend_};
  if (!background_compaction_) {
    so.extra_args.insert(so.extra_args.end(), {"--background-compaction", "false"});
  }
  if (tls_) {
    tls_dir_ = dir + "/tls";
    std::filesystem::create_directories(tls_dir_);
    if (!MakeCertificates(tls_dir_, err)) return false;
    so.extra_args.insert(so.extra_args.end(), {"--tls-cert", tls_dir_ + "/server.pem", "--tls-key",
                                               tls_dir_ + "/server.key"});
  }
  if (block_cache_bytes_ != 0) {
    so.extra_args.insert(so.extra_args.end(),
                         {"--block-cache-mb", std::to_string(block_cache_bytes_ >> 20)});
  }
  server_ = StartHarnessServer(std::move(so), err);
  if (!server_) return false;
  address_ = server_->address();
  auto c = Client::Connect(BaseClientOptions());
  if (!c.ok()) {
    *err = c.status().ToString();
    return false;
  }
  control_ = std::move(c).value();
  if (!CheckBlockCache(err)) return false;
  Status s = control_->CreateNamespace(kTldbNs, {});
  if (!s.ok()) *err = s.ToString();
  return s.ok();
}

// The server reports its engine's block cache in STATS: it must be the size asked for.
bool TldbServerTarget::CheckBlockCache(std::string* err) {
  auto st = control_->Stats();
  if (!st.ok()) {
    *err = st.status().ToString();
    return false;
  }
  const uint64_t got = st->Get("db_block_cache_bytes");
  if (block_cache_bytes_ == 0 || got == (block_cache_bytes_ >> 20) << 20) return true;
  *err = "tldb-server runs with a " + std::to_string(got >> 20) + " MiB block cache, not " +
         std::to_string(block_cache_bytes_ >> 20);
  return false;
}

std::unique_ptr<Session> TldbServerTarget::Connect(std::string* err) {
  ClientOptions co = BaseClientOptions();
  co.request_timeout_ms = 60'000;
  auto c = Client::Connect(co);
  if (!c.ok()) {
    *err = c.status().ToString();
    return nullptr;
  }
  return std::make_unique<ClientSession>(std::move(c).value(), wait_, pull_);
}

bool TldbServerTarget::Flush(std::string* err) {
  // The client has no SYNC call: one synced append makes every earlier buffered append of the
  // namespace durable (they are written in log order before it).
  auto r = control_->Append(kTldbNs, "flush", "x", TldbAppendOptions(Dur::kSync));
  if (!r.ok()) {
    *err = r.status().ToString();
    return false;
  }
  // As for RocksDB: the compaction the preload made due runs now, not during the workloads.
  auto c = control_->Compact(kTldbNs, /*full=*/false, nullptr);
  if (!c.ok()) *err = c.status().ToString();
  return c.ok();
}

ResourceSample TldbServerTarget::Sample() {
  ResourceSample s;
  const pid_t pid = server_ ? server_->pid() : -1;
  s.store_cpu_s = ProcessCpuSeconds(pid);
  s.cpu_s = s.store_cpu_s + ProcessCpuSeconds(0);
  s.rss_bytes = ProcessRssBytes(pid);
  s.write_bytes = ProcessWriteBytes(pid);
  if (control_) {
    auto st = control_->Stats();
    if (st.ok()) s.store_write_bytes = st->Get("db_bytes_written");
  }
  return s;
}

uint64_t TldbServerTarget::DiskBytes() {
  return DirAllocatedBytes(dir_);
}

}  // namespace tldb::peerbench

#include "tldb_embedded_target.h"

#include <vector>

#include "batch_waiter.h"
#include "process_stats.h"

namespace tldb::peerbench {
namespace {

constexpr std::string_view kNs = "bench";

AppendOptions Opts(Dur d) {
  AppendOptions o;
  o.durability = d == Dur::kSync ? Durability::kSync : Durability::kBuffered;
  return o;
}

void Fill(const std::vector<Message>& msgs, ReadResult* r) {
  r->count += static_cast<uint32_t>(msgs.size());
  for (const auto& m : msgs) r->bytes += m.payload.size();
  if (!msgs.empty()) r->last_seq = msgs.back().seq;
}

class EmbeddedSession : public Session {
 public:
  explicit EmbeddedSession(Db* db) : db_(db) {}

  bool Append(const TimelineRef& tl, std::string_view payload, Dur d) override {
    auto r = db_->Append(kNs, tl.name, payload, Opts(d));
    return r.ok() || Fail(r.status().ToString());
  }
  bool AppendBatch(std::span<const TimelineRef* const> tls,
                   std::span<const std::string_view> payloads, Dur d) override {
    BatchWaiter w(tls.size());
    for (size_t i = 0; i < tls.size(); ++i) {
      db_->AppendAsync(kNs, tls[i]->name, payloads[i], Opts(d), [&w](Result<AppendResult> r) {
        w.Done(r.ok(), r.ok() ? std::string() : r.status().ToString());
      });
    }
    std::string e = w.Wait();
    return e.empty() || Fail(e);
  }
  bool Fanout(const TimelineRef& conv, std::span<const TimelineRef* const> members,
              std::string_view payload, Dur d) override {
    names_.clear();
    names_.push_back(conv.name);
    for (const auto* m : members) names_.push_back(m->name);
    auto r = db_->AppendFanout(kNs, names_, payload, Opts(d));
    return r.ok() || Fail(r.status().ToString());
  }
  bool Get(const TimelineRef& tl, uint64_t seq, ReadResult* out) override {
    auto r = db_->Get(kNs, tl.name, seq);
    if (!r.ok()) return Fail(r.status().ToString());
    out->count = 1;
    out->last_seq = seq;
    out->bytes = r->payload.size();
    return true;
  }
  bool Latest(const TimelineRef& tl, uint32_t n, ReadResult* out) override {
    return Scan(tl, {.direction = Direction::kBackward, .limit = n}, out);
  }
  bool Before(const TimelineRef& tl, uint64_t before_seq, uint32_t n, ReadResult* out) override {
    if (before_seq <= 1) return true;
    return Scan(tl, {.to_seq = before_seq - 1, .direction = Direction::kBackward, .limit = n}, out);
  }
  bool After(const TimelineRef& tl, uint64_t after_seq, uint32_t n, ReadResult* out) override {
    return Scan(tl, {.from_seq = after_seq + 1, .limit = n}, out);
  }
  bool PullMany(std::span<const TimelineRef* const> tls, std::span<uint64_t> checkpoints,
                uint32_t n, ReadResult* out) override {
    names_.clear();
    for (const auto* t : tls) names_.push_back(t->name);
    auto last = db_->LastSeq(kNs, names_);
    if (!last.ok()) return Fail(last.status().ToString());
    for (size_t i = 0; i < tls.size(); ++i) {
      if ((*last)[i] <= checkpoints[i]) continue;
      ReadResult one;
      if (!After(*tls[i], checkpoints[i], n, &one)) return false;
      out->count += one.count;
      out->bytes += one.bytes;
      if (one.count > 0) checkpoints[i] = one.last_seq;
    }
    return true;
  }

 private:
  bool Scan(const TimelineRef& tl, const ScanOptions& o, ReadResult* out) {
    auto r = db_->Scan(kNs, tl.name, o);
    if (!r.ok()) return Fail(r.status().ToString());
    Fill(*r, out);
    return true;
  }
  Db* db_;
  std::vector<std::string_view> names_;
};

}  // namespace

std::string TldbEmbeddedTarget::Describe() const {
  return "tldb engine library in-process; default Options except io_backend " + io_backend_ +
         (block_cache_bytes_ != 0
              ? " and block cache " + std::to_string(block_cache_bytes_ >> 20) + " MiB"
              : std::string()) +
         " (in use: " + (db_ ? db_->Stats().io_backend : std::string("?")) +
         "); namespace default durability sync, per-call durability";
}

bool TldbEmbeddedTarget::Start(const std::string& dir, std::string* err) {
  dir_ = dir;
  Options o;
  o.io_backend = io_backend_;
  if (block_cache_bytes_ != 0) o.block_cache_bytes = block_cache_bytes_;
  auto db = Db::Open(dir, o);
  if (!db.ok()) {
    *err = db.status().ToString();
    return false;
  }
  db_ = std::move(db).value();
  Status s = db_->CreateNamespace(kNs, {});
  if (!s.ok()) {
    *err = s.ToString();
    return false;
  }
  return true;
}

std::unique_ptr<Session> TldbEmbeddedTarget::Connect(std::string*) {
  return std::make_unique<EmbeddedSession>(db_.get());
}

bool TldbEmbeddedTarget::Flush(std::string* err) {
  Status s = db_->Sync();
  if (!s.ok()) {
    *err = s.ToString();
    return false;
  }
  // As for RocksDB (whose flushes and compactions the harness lets finish): the compaction the
  // preload made due runs now, not during the measured workloads.
  auto c = db_->Compact(kNs, CompactOptions{});
  if (!c.ok()) *err = c.status().ToString();
  return c.ok();
}

ResourceSample TldbEmbeddedTarget::Sample() {
  ResourceSample s;
  s.cpu_s = ProcessCpuSeconds(0);
  s.rss_bytes = ProcessRssBytes(0);
  s.write_bytes = ProcessWriteBytes(0);
  if (db_) s.store_write_bytes = db_->Stats().bytes_written;
  return s;
}

uint64_t TldbEmbeddedTarget::DiskBytes() {
  return DirAllocatedBytes(dir_);
}

void TldbEmbeddedTarget::Stop() {
  if (db_) (void)db_->Close();
  db_.reset();
}

}  // namespace tldb::peerbench

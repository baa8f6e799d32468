// TldbSession<Api>: the Session of both tldb targets, over tldb::Db (tldb, in process) or
// tldb::Client (tldb-server, over loopback), whose calls it uses share their signatures:
// Append, AppendAsync, AppendFanout, Get, Scan and LastSeq, all in namespace "bench" with the
// durability each call asks for. Pipelined appends use AppendAsync; push-mode fan-out is one
// AppendFanout. The server target adds its long-poll (WaitAfter). One thread per session.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "batch_waiter.h"
#include "target.h"
#include "tldb/types.h"

namespace tldb::peerbench {

// The namespace both tldb targets use.
inline constexpr std::string_view kTldbNs = "bench";

inline AppendOptions TldbAppendOptions(Dur d) {
  AppendOptions o;
  o.durability = d == Dur::kSync ? Durability::kSync : Durability::kBuffered;
  return o;
}

template <typename Api>
class TldbSession : public Session {
 public:
  // `api` outlives the session.
  explicit TldbSession(Api* api) : api_(api) {}

  bool Append(const TimelineRef& tl, std::string_view payload, Dur d) override {
    auto r = api_->Append(kTldbNs, tl.name, payload, TldbAppendOptions(d));
    return r.ok() || Fail(r.status().ToString());
  }
  bool AppendBatch(std::span<const TimelineRef* const> tls,
                   std::span<const std::string_view> payloads, Dur d) override {
    BatchWaiter w(tls.size());
    for (size_t i = 0; i < tls.size(); ++i) {
      api_->AppendAsync(kTldbNs, tls[i]->name, payloads[i], TldbAppendOptions(d),
                        [&w](Result<AppendResult> r) {
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
    auto r = api_->AppendFanout(kTldbNs, names_, payload, TldbAppendOptions(d));
    return r.ok() || Fail(r.status().ToString());
  }
  bool Get(const TimelineRef& tl, uint64_t seq, ReadResult* out) override {
    auto r = api_->Get(kTldbNs, tl.name, seq);
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
    auto last = api_->LastSeq(kTldbNs, names_);
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
    auto r = api_->Scan(kTldbNs, tl.name, o);
    if (!r.ok()) return Fail(r.status().ToString());
    out->count += static_cast<uint32_t>(r->size());
    for (const auto& m : *r) out->bytes += m.payload.size();
    if (!r->empty()) out->last_seq = r->back().seq;
    return true;
  }

  Api* api_;
  std::vector<std::string_view> names_;
};

}  // namespace tldb::peerbench

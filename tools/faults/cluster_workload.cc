#include "cluster_workload.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include "kill_run.h"
#include "protocol/slot_map.h"

namespace tldb::faults {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kStore = "store";
constexpr const char* kSync = "sync";

// Errors ClusterClient gives up on only after retry_ms_max: the call is made again.
bool Retriable(const Status& s) {
  using C = Status::Code;
  return s.code() == C::kNotPrimary || s.code() == C::kIOError || s.code() == C::kClosed ||
         s.code() == C::kTimedOut || s.code() == C::kBusy || s.code() == C::kMoved;
}

std::string Key(const std::string& ns, const std::string& timeline) {
  return ns + "/" + timeline;
}

std::string Payload(std::mt19937_64& rng, const std::string& id, uint32_t bytes_max) {
  std::string p = id + "|";
  const size_t n = 1 + rng() % bytes_max;
  for (size_t i = 0; i < n; ++i) p.push_back(static_cast<char>(' ' + rng() % 94));
  return p;
}

}  // namespace

std::string ClusterCheckReport::ToString() const {
  char buf[640];
  std::snprintf(
      buf, sizeof buf,
      "%llu messages sent, %llu acknowledged (%llu acknowledgements), %llu fan-outs "
      "(%llu over several partitions), %llu recalls, %llu failed calls retried, %llu answered as "
      "deduplicated retries, %llu seen "
      "by the reader and the "
      "subscriber (%llu pushes, %llu re-subscriptions), %llu stored, %zu violations",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(acked),
      static_cast<unsigned long long>(acks), static_cast<unsigned long long>(fanouts),
      static_cast<unsigned long long>(fanouts_across), static_cast<unsigned long long>(recalls),
      static_cast<unsigned long long>(failed_calls), static_cast<unsigned long long>(deduplicated),
      static_cast<unsigned long long>(seen), static_cast<unsigned long long>(pushed),
      static_cast<unsigned long long>(resubscribes), static_cast<unsigned long long>(stored),
      violations.size());
  return buf;
}

ClusterWorkload::ClusterWorkload(ClusterWorkloadOptions options) : o_(std::move(options)) {}

ClusterWorkload::~ClusterWorkload() {
  Stop();
}

ClusterClientOptions ClusterWorkload::MakeClientOptions() const {
  ClusterClientOptions co;
  co.servers = o_.servers;
  co.client.client_name = "tldb-faults-cluster";
  co.client.token = o_.token;
  co.client.connect_timeout_ms = 1'000;
  co.client.request_timeout_ms = o_.request_timeout_ms;
  co.retry_ms_max = o_.retry_ms_max;
  return co;
}

Status ClusterWorkload::Start() {
  if (o_.servers.empty() || o_.timelines == 0 || o_.members < 2) {
    return Status::InvalidArgument("cluster workload: servers, timelines and 2+ members needed");
  }
  for (uint32_t w = 0; w < o_.writers; ++w) threads_.emplace_back([this, w] { WriterLoop(w); });
  threads_.emplace_back([this] { ReaderLoop(); });
  threads_.emplace_back([this] { SubscriberLoop(); });
  return Status::Ok();
}

void ClusterWorkload::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

Status ClusterWorkload::Serve(Client& c, uint16_t slot, std::string_view what,
                              const std::function<Status()>& op) {
  return o_.record_served ? served_.Served(c, slot, what, op) : op();
}

void ClusterWorkload::Violation(std::string what) {
  std::lock_guard l(mu_);
  violations_.push_back(std::move(what));
}

std::vector<std::string> ClusterWorkload::violations() const {
  std::lock_guard l(mu_);
  return violations_;
}

Result<double> ClusterWorkload::WaitForAcks(uint64_t more, uint64_t timeout_ms) const {
  const auto start = Clock::now();
  const uint64_t target = ledger_.acked() + more;
  for (;;) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (ledger_.acked() >= target) return ms;
    if (ms > static_cast<double>(timeout_ms)) {
      return Status::TimedOut("no " + std::to_string(more) + " acknowledgements within " +
                              std::to_string(timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
}

void ClusterWorkload::WriterLoop(uint32_t w) {
  std::mt19937_64 rng(o_.seed * 1'000'003 + w);
  auto cc = ClusterClient::Connect(MakeClientOptions());
  if (!cc.ok()) return Violation("writer: " + cc.status().ToString());
  ClusterClient& c = **cc;
  struct Live {
    std::string timeline, id;
    Seq seq;
  };
  std::vector<Live> live;  // this writer's acknowledged, not recalled, store messages
  // Calls fn until it succeeds or the workload stops; false when it did not succeed.
  auto until_done = [&](const std::string& what, auto&& fn) {
    while (!stop_.load()) {
      Status s = fn();
      if (s.ok()) return true;
      failed_++;
      if (!Retriable(s)) {
        Violation(what + ": " + s.ToString());
        return false;
      }
    }
    return false;
  };
  for (uint64_t n = 0; !stop_.load(); ++n) {
    const std::string id = "w" + std::to_string(w) + "-" + std::to_string(n);
    const uint64_t dice = rng() % 100;
    AppendOptions ao;
    ao.client_msg_id = id;
    ao.durability = Durability::kSync;
    if (dice < 70 || (dice >= 85 && live.empty())) {
      const std::string tl = "t" + std::to_string(rng() % o_.timelines);
      const std::string payload = Payload(rng, id, o_.payload_bytes_max);
      ledger_.Sent(static_cast<int>(w), Key(kStore, tl), id, payload);
      Seq seq = 0;
      if (until_done("append '" + id + "'", [&] {
            auto r = c.CallFor<AppendResult>(tl, [&](Client& cl) -> Result<AppendResult> {
              Result<AppendResult> out = Status::IOError("not sent");
              TLDB_RETURN_IF_ERROR(Serve(cl, proto::SlotOf(tl), "append '" + id + "'", [&] {
                out = cl.Append(kStore, tl, payload, ao);
                return out.status();
              }));
              return out;
            });
            if (r.ok()) seq = r->seq;
            if (r.ok() && r->deduplicated) deduplicated_++;
            return r.status();
          })) {
        ledger_.Acked(Key(kStore, tl), id, seq);
        live.push_back({tl, id, seq});
      }
    } else if (dice < 85) {
      std::vector<uint32_t> all(o_.members);
      for (uint32_t i = 0; i < o_.members; ++i) all[i] = i;
      std::shuffle(all.begin(), all.end(), rng);
      all.resize(std::min<size_t>(all.size(), 2 + rng() % 3));
      std::vector<std::string> names;
      for (uint32_t m : all) names.push_back("m" + std::to_string(m));
      const std::vector<std::string_view> views(names.begin(), names.end());
      const std::string payload = Payload(rng, id, o_.payload_bytes_max);
      std::vector<std::string> keys;
      for (const auto& t : names) {
        ledger_.Sent(static_cast<int>(w), Key(kSync, t), id, payload);
        keys.push_back(Key(kSync, t));
      }
      ledger_.Fanout(id, std::move(keys));
      // To the home: the slot of the smallest member (proto::FanoutHomeSlot), which keeps a
      // fan-out over several partitions as an intent and delivers the other members.
      const std::string home = *std::min_element(names.begin(), names.end());
      bool across = false;
      std::vector<AppendResult> results;
      if (until_done("fan-out '" + id + "'", [&] {
            auto r = c.CallFor<std::vector<AppendResult>>(
                home, [&](Client& cl) -> Result<std::vector<AppendResult>> {
                  Result<std::vector<AppendResult>> out = Status::IOError("not sent");
                  TLDB_RETURN_IF_ERROR(Serve(cl, proto::SlotOf(home), "fan-out '" + id + "'", [&] {
                    out = cl.AppendFanout(kSync, views, payload, ao);
                    return out.status();
                  }));
                  return out;
                });
            if (r.ok()) results = std::move(r).value();
            if (auto map = c.slot_map(); r.ok() && map) {
              for (const auto& t : names) {
                across |= map->Owner(proto::SlotOf(t)).id != map->Owner(proto::SlotOf(home)).id;
              }
            }
            return r.status();
          })) {
        if (results.size() != names.size()) {
          Violation("fan-out '" + id + "': " + std::to_string(results.size()) + " results for " +
                    std::to_string(names.size()) + " timelines");
          continue;
        }
        for (size_t i = 0; i < names.size(); ++i) {
          ledger_.Acked(Key(kSync, names[i]), id, results[i].seq);  // 0: delivered later
          if (results[i].deduplicated) deduplicated_++;
        }
        fanouts_++;
        if (across) {
          std::lock_guard l(mu_);
          across_.push_back(Across{names, id});
        }
      }
    } else {
      const size_t k = rng() % live.size();
      const Live m = live[k];
      live.erase(live.begin() + static_cast<ptrdiff_t>(k));
      ledger_.RecallRequested(Key(kStore, m.timeline), m.id);
      if (until_done("recall of '" + m.id + "' (seq " + std::to_string(m.seq) + ")", [&] {
            return c
                .CallFor<MutationResult>(
                    m.timeline,
                    [&](Client& cl) -> Result<MutationResult> {
                      Result<MutationResult> out = Status::IOError("not sent");
                      TLDB_RETURN_IF_ERROR(
                          Serve(cl, proto::SlotOf(m.timeline), "recall of '" + m.id + "'", [&] {
                            out = cl.Recall(kStore, m.timeline, m.seq);
                            return out.status();
                          }));
                      return out;
                    })
                .status();
          })) {
        ledger_.RecallAcked(Key(kStore, m.timeline), m.id);
        recalls_++;
      }
    }
  }
}

void ClusterWorkload::ReaderLoop() {
  std::mt19937_64 rng(o_.seed * 7'919);
  auto cc = ClusterClient::Connect(MakeClientOptions());
  if (!cc.ok()) return Violation("reader: " + cc.status().ToString());
  while (!stop_.load()) {
    const bool sync = rng() % 3 == 0;
    const std::string ns = sync ? kSync : kStore;
    const std::string tl = sync ? "m" + std::to_string(rng() % o_.members)
                                : "t" + std::to_string(rng() % o_.timelines);
    auto latest =
        (*cc)->CallFor<std::vector<Message>>(tl, [&](Client& c) -> Result<std::vector<Message>> {
          Result<std::vector<Message>> out = Status::IOError("not sent");
          TLDB_RETURN_IF_ERROR(Serve(c, proto::SlotOf(tl), "latest of " + Key(ns, tl), [&] {
            out = c.Latest(ns, tl, 20);
            return out.status();
          }));
          return out;
        });
    if (latest.ok()) {
      for (const Message& m : *latest) ledger_.Seen(Key(ns, tl), m);
    } else if (!Retriable(latest.status()) && !latest.status().IsNotFound()) {
      Violation("latest of " + Key(ns, tl) + ": " + latest.status().ToString());
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

// One subscription's state, shared with the client's I/O thread.
struct ClusterWorkload::Subscription {
  std::string ns, timeline;
  std::mutex mu;
  Seq last = 0;
  bool ended = false;
  // Used by the subscriber thread only: the connection subscribed at `at`.
  std::unique_ptr<Client> client;
  std::string at;
};

void ClusterWorkload::SubscriberLoop() {
  auto cc = ClusterClient::Connect(MakeClientOptions());
  if (!cc.ok()) return Violation("subscriber: " + cc.status().ToString());
  std::vector<std::unique_ptr<Subscription>> subs;
  for (const auto& [ns, tl] : {std::pair{kStore, "t0"}, std::pair{kSync, "m0"}}) {
    subs.push_back(std::make_unique<Subscription>());
    subs.back()->ns = ns;
    subs.back()->timeline = tl;
  }
  while (!stop_.load()) {
    for (auto& sp : subs) {
      Subscription* s = sp.get();
      // Where the timeline is served now (the ClusterClient finds its partition's primary).
      std::string server;
      auto probe = (*cc)->CallFor<std::vector<Seq>>(s->timeline, [&](Client& c) {
        const std::string_view t[] = {s->timeline};
        auto r = c.LastSeq(s->ns, t);
        if (r.ok()) server = c.server_address();
        return r;
      });
      if (!probe.ok() || server.empty()) continue;
      bool ended = false;
      Seq after = 0;
      {
        std::lock_guard l(s->mu);
        ended = s->ended;
        after = s->last;
      }
      if (s->client && !ended && server == s->at) continue;
      if (s->client) resubscribes_++;
      s->client.reset();  // its handler is not called any more
      {
        std::lock_guard l(s->mu);
        s->ended = false;
      }
      ClientOptions co = MakeClientOptions().client;
      co.server = server;
      auto c = Client::Connect(co);
      if (!c.ok()) continue;
      auto id = (*c)->Subscribe(s->ns, s->timeline, after, false, [this, s](const auto& ev) {
        std::lock_guard l(s->mu);
        if (!ev.status.ok()) {
          s->ended = true;
          return;
        }
        if (ev.message.seq <= s->last) {
          Violation("subscription to " + Key(s->ns, s->timeline) + " pushed seq " +
                    std::to_string(ev.message.seq) + " after seq " + std::to_string(s->last));
        }
        s->last = std::max(s->last, ev.message.seq);
        ledger_.Seen(Key(s->ns, s->timeline), ev.message);
        pushed_++;
      });
      if (id.ok()) {
        s->client = std::move(c).value();
        s->at = server;
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  for (auto& sp : subs) sp->client.reset();  // before the states go
}

Result<ClusterCheckReport> ClusterWorkload::Check() {
  Stop();
  auto cc = ClusterClient::Connect(MakeClientOptions());
  if (!cc.ok()) return cc.status();
  ClusterCheckReport r;
  // Every fan-out over several partitions is delivered to every member (its home's marks).
  std::vector<Across> across;
  {
    std::lock_guard l(mu_);
    across = across_;
  }
  for (const Across& a : across) {
    const std::vector<std::string_view> views(a.members.begin(), a.members.end());
    auto done = (*cc)->WaitFanout(kSync, views, a.id, o_.fanout_wait_ms);
    if (!done.ok() || !*done) {
      Violation("fan-out '" + a.id + "' over several partitions: " +
                (done.ok() ? "not delivered to every member within " +
                                 std::to_string(o_.fanout_wait_ms) + " ms"
                           : "WaitFanout: " + done.status().ToString()));
    }
  }
  r.fanouts_across = across.size();
  StoredTimelines stored;
  for (const std::string& key : ledger_.Timelines()) {
    const size_t slash = key.find('/');
    const std::string ns = key.substr(0, slash), t = key.substr(slash + 1);
    auto back = (*cc)->CallFor<StoredTimelines>(t, [&](Client& c) -> Result<StoredTimelines> {
      Result<StoredTimelines> out = Status::IOError("not sent");
      TLDB_RETURN_IF_ERROR(Serve(c, proto::SlotOf(t), "read back of " + key, [&] {
        out = ReadBack(c, ns, {t});
        return out.status();
      }));
      return out;
    });
    if (!back.ok()) return back.status();
    for (auto& [tl, msgs] : *back) {
      r.stored += msgs.size();
      stored[Key(ns, tl)] = std::move(msgs);
    }
  }
  r.violations = violations();
  for (auto& v : ledger_.Check(stored)) r.violations.push_back(std::move(v));
  r.sent = ledger_.sent();
  r.acked = ledger_.acked();
  r.acks = ledger_.acks();
  r.fanouts = fanouts_;
  r.recalls = recalls_;
  r.failed_calls = failed_;
  r.deduplicated = deduplicated_;
  r.seen = ledger_.seen();
  r.pushed = pushed_;
  r.resubscribes = resubscribes_;
  return r;
}

}  // namespace tldb::faults

#include "cluster_workload.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>

#include "kill_run.h"

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
         s.code() == C::kTimedOut || s.code() == C::kBusy;
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
      "%llu messages sent, %llu acknowledged (%llu acknowledgements), %llu fan-outs, "
      "%llu recalls, %llu failed calls retried, %llu answered as deduplicated retries, %llu seen "
      "by the reader and the "
      "subscriber (%llu pushes, %llu re-subscriptions), %llu stored, %zu violations",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(acked),
      static_cast<unsigned long long>(acks), static_cast<unsigned long long>(fanouts),
      static_cast<unsigned long long>(recalls), static_cast<unsigned long long>(failed_calls),
      static_cast<unsigned long long>(deduplicated), static_cast<unsigned long long>(seen),
      static_cast<unsigned long long>(pushed), static_cast<unsigned long long>(resubscribes),
      static_cast<unsigned long long>(stored), violations.size());
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
            auto r = c.Append(kStore, tl, payload, ao);
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
      for (const auto& t : names) ledger_.Sent(static_cast<int>(w), Key(kSync, t), id, payload);
      std::vector<AppendResult> results;
      if (until_done("fan-out '" + id + "'", [&] {
            auto r = c.Call<std::vector<AppendResult>>(
                [&](Client& cl) { return cl.AppendFanout(kSync, views, payload, ao); });
            if (r.ok()) results = std::move(r).value();
            return r.status();
          })) {
        if (results.size() != names.size()) {
          Violation("fan-out '" + id + "': " + std::to_string(results.size()) + " results for " +
                    std::to_string(names.size()) + " timelines");
          continue;
        }
        for (size_t i = 0; i < names.size(); ++i) {
          ledger_.Acked(Key(kSync, names[i]), id, results[i].seq);
          if (results[i].deduplicated) deduplicated_++;
        }
        fanouts_++;
      }
    } else {
      const size_t k = rng() % live.size();
      const Live m = live[k];
      live.erase(live.begin() + static_cast<ptrdiff_t>(k));
      ledger_.RecallRequested(Key(kStore, m.timeline), m.id);
      if (until_done("recall of '" + m.id + "' (seq " + std::to_string(m.seq) + ")", [&] {
            return c
                .Call<MutationResult>(
                    [&](Client& cl) { return cl.Recall(kStore, m.timeline, m.seq); })
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
        (*cc)->Call<std::vector<Message>>([&](Client& c) { return c.Latest(ns, tl, 20); });
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
  std::unique_ptr<Client> client;  // subscribed at `at`
  std::string at;
  while (!stop_.load()) {
    // Where the primary is now (the ClusterClient finds it).
    auto probe = (*cc)->Call<std::vector<Seq>>([&](Client& c) {
      const std::string_view t[] = {"t0"};
      return c.LastSeq(kStore, t);
    });
    const std::string primary = probe.ok() ? (*cc)->current() : "";
    bool ended = false;
    for (auto& s : subs) {
      std::lock_guard l(s->mu);
      ended = ended || s->ended;
    }
    if (!primary.empty() && (!client || ended || primary != at)) {
      if (client) resubscribes_++;
      client.reset();  // its handlers are not called any more
      ClientOptions co = MakeClientOptions().client;
      co.server = primary;
      auto c = Client::Connect(co);
      bool all = c.ok();
      for (size_t i = 0; all && i < subs.size(); ++i) {
        Subscription* s = subs[i].get();
        Seq after = 0;
        {
          std::lock_guard l(s->mu);
          s->ended = false;
          after = s->last;
        }
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
        all = id.ok();
      }
      if (all) {
        client = std::move(c).value();
        at = primary;
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
}

Result<ClusterCheckReport> ClusterWorkload::Check() {
  Stop();
  auto cc = ClusterClient::Connect(MakeClientOptions());
  if (!cc.ok()) return cc.status();
  std::map<std::string, std::vector<std::string>> by_ns;
  for (const std::string& key : ledger_.Timelines()) {
    const size_t slash = key.find('/');
    by_ns[key.substr(0, slash)].push_back(key.substr(slash + 1));
  }
  StoredTimelines stored;
  ClusterCheckReport r;
  for (const auto& [ns, timelines] : by_ns) {
    auto back = (*cc)->Call<StoredTimelines>([&](Client& c) { return ReadBack(c, ns, timelines); });
    if (!back.ok()) return back.status();
    for (auto& [t, msgs] : *back) {
      r.stored += msgs.size();
      stored[Key(ns, t)] = std::move(msgs);
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

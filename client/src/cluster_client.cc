#include "tldb/cluster_client.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>
#include <utility>

#include "protocol/intent_record.h"

namespace tldb {

Result<std::unique_ptr<ClusterClient>> ClusterClient::Connect(ClusterClientOptions options) {
  if (options.servers.empty()) return Status::InvalidArgument("no server address given");
  std::unique_ptr<ClusterClient> c(new ClusterClient(std::move(options)));
  std::random_device rd;
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "cc-%08x%08x-", rd(), rd());
  c->id_prefix_ = prefix;
  c->address_ = c->options_.servers.front();
  c->next_ = 1 % c->options_.servers.size();
  return c;
}

std::string ClusterClient::current() const {
  std::lock_guard l(mu_);
  return client_ ? address_ : "";
}

std::string ClusterClient::NewClientMsgId() {
  return id_prefix_ + std::to_string(ids_.fetch_add(1));
}

Status ClusterClient::Run(const std::function<Status(Client&)>& fn) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.retry_ms_max);
  size_t tried_in_round = 0;
  for (;;) {
    Status last;
    auto c = Current();
    if (c.ok()) {
      last = fn(**c);
      if (last.ok() || !Redirect(*c, last)) return last;
    } else {
      last = c.status();
      (void)Redirect(nullptr, last);
    }
    if (std::chrono::steady_clock::now() >= deadline) return last;
    if (++tried_in_round >= options_.servers.size()) {
      tried_in_round = 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_pause_ms));
    }
  }
}

Result<std::shared_ptr<Client>> ClusterClient::Current() {
  std::string address;
  {
    std::lock_guard l(mu_);
    if (client_) return client_;
    address = address_;
  }
  ClientOptions o = options_.client;
  o.server = address;
  o.reconnect_attempts = 0;  // another replica is tried instead
  auto c = Client::Connect(o);
  if (!c.ok()) return c.status();
  std::lock_guard l(mu_);
  if (!client_ && address_ == address) client_ = std::shared_ptr<Client>(std::move(c).value());
  if (!client_) return Status::IOError("the address changed while connecting");
  return client_;
}

bool ClusterClient::Redirect(const std::shared_ptr<Client>& used, const Status& s) {
  using C = Status::Code;
  const bool retry = s.code() == C::kNotPrimary || s.code() == C::kIOError ||
                     s.code() == C::kClosed || s.code() == C::kTimedOut || s.code() == C::kBusy;
  if (!retry) return false;
  std::lock_guard l(mu_);
  if (used && client_ != used) return true;  // another call moved on already
  client_.reset();
  const std::string& m = s.message();
  const size_t at = m.rfind("primary=");
  if (s.code() == C::kNotPrimary && at != std::string::npos) {
    const std::string named = m.substr(at + 8);
    if (named != address_) {
      address_ = named;
      redirects_++;
      return true;
    }
  }
  if (s.code() == C::kBusy) return true;  // the same server, a little later
  address_ = options_.servers[next_];
  next_ = (next_ + 1) % options_.servers.size();
  return true;
}

// ---- sharded routing ----

ClusterClient::Mode ClusterClient::mode() const {
  std::lock_guard l(mu_);
  return mode_;
}

bool ClusterClient::sharded() const {
  return mode() == Mode::kSharded;
}

uint64_t ClusterClient::map_version() const {
  std::lock_guard l(mu_);
  return map_ ? map_->version() : 0;
}

std::shared_ptr<const proto::SlotMap> ClusterClient::slot_map() const {
  std::lock_guard l(mu_);
  return map_;
}

void ClusterClient::Install(proto::SlotMap map) {
  std::lock_guard l(mu_);
  if (map_ && map.version() < map_->version()) return;  // an older answer, late
  map_ = std::make_shared<const proto::SlotMap>(std::move(map));
  mode_ = Mode::kSharded;
  route_.clear();  // the new map names the primaries
  // The seed connection serves sharded calls too.
  if (client_ && !address_.empty()) conns_.emplace(address_, client_);
}

Status ClusterClient::FetchMap(Client& c) {
  auto m = c.ClusterMap();
  if (!m.ok()) return m.status();
  Install(std::move(m).value());
  return Status::Ok();
}

Status ClusterClient::RefreshMap() {
  bool unsharded_answer = false;
  Status s = Run([&](Client& c) {
    Status f = FetchMap(c);
    if (f.code() == Status::Code::kNotSupported) {
      unsharded_answer = true;
      if (f.message().find("UNKNOWN_OPCODE") != std::string::npos) {
        // A server older than CLUSTER_MAP: the answer was fatal, it closed the connection.
        std::lock_guard l(mu_);
        if (client_.get() == &c) client_.reset();
      }
      return Status::Ok();
    }
    return f;
  });
  if (!s.ok()) return s;
  if (!unsharded_answer) return Status::Ok();
  std::lock_guard l(mu_);
  if (mode_ == Mode::kSharded) {
    return Status::NotSupported("the server answered CLUSTER_MAP with NOT_SUPPORTED");
  }
  mode_ = Mode::kUnsharded;
  return Status::Ok();
}

Status ClusterClient::EnsureMode() {
  if (mode() != Mode::kUnknown) return Status::Ok();
  Status s = RefreshMap();
  if (s.ok() || mode() != Mode::kUnknown) return Status::Ok();
  return s;
}

Result<std::shared_ptr<Client>> ClusterClient::ConnTo(const std::string& address) {
  {
    std::lock_guard l(mu_);
    auto it = conns_.find(address);
    if (it != conns_.end()) return it->second;
  }
  ClientOptions o = options_.client;
  o.server = address;
  o.reconnect_attempts = 0;  // another replica is tried instead
  auto c = Client::Connect(o);
  if (!c.ok()) return c.status();
  std::lock_guard l(mu_);
  auto [it, added] = conns_.emplace(address, std::shared_ptr<Client>(std::move(c).value()));
  return it->second;
}

void ClusterClient::DropConn(const std::string& address, const std::shared_ptr<Client>& used) {
  std::lock_guard l(mu_);
  auto it = conns_.find(address);
  if (it != conns_.end() && it->second == used) conns_.erase(it);
  if (client_ == used) client_.reset();
}

std::string ClusterClient::RouteOf(const proto::SlotMap& map, uint16_t slot) {
  const uint32_t partition = map.Owner(slot).id;
  std::lock_guard l(mu_);
  auto it = route_.find(partition);
  if (it != route_.end()) return it->second;
  std::string address = map.RouteAddress(slot);
  if (!address.empty()) return address;
  // The map knows no address of the partition: any server answers MOVED or NOT_PRIMARY.
  address = options_.servers[next_];
  next_ = (next_ + 1) % options_.servers.size();
  return address;
}

void ClusterClient::NextReplica(const proto::SlotMap& map, uint32_t partition,
                                const std::string& address) {
  std::vector<std::string> addresses;
  if (const proto::PartitionEntry* p = map.Partition(partition)) {
    for (uint32_t server : p->replicas) {
      std::string a = map.AddressOf(server);
      if (!a.empty()) addresses.push_back(std::move(a));
    }
  }
  std::lock_guard l(mu_);
  if (addresses.empty()) {
    route_[partition] = options_.servers[next_];
    next_ = (next_ + 1) % options_.servers.size();
    return;
  }
  size_t at = 0;
  for (size_t i = 0; i < addresses.size(); ++i) {
    if (addresses[i] == address) at = i + 1;
  }
  route_[partition] = addresses[at % addresses.size()];
}

Status ClusterClient::RunSlot(uint16_t slot, const std::function<Status(Client&)>& fn,
                              Clock::time_point deadline, std::optional<uint64_t> grouped_at) {
  using C = Status::Code;
  std::string forced;               // the address a MOVED named, for the next attempt
  bool refreshed_unparsed = false;  // a MOVED we could not parse made us fetch the map
  uint32_t hops = 0;                // attempts in a row without a pause
  for (;;) {
    const std::shared_ptr<const proto::SlotMap> map = slot_map();
    if (grouped_at && map->version() != *grouped_at) {
      // The request's timelines were grouped by another map: they may no longer share a
      // partition, and no server would serve them all.
      return Status::Moved("the slot map changed: split the request again");
    }
    const uint32_t partition = map->Owner(slot).id;
    const std::string address = forced.empty() ? RouteOf(*map, slot) : std::move(forced);
    forced.clear();
    Status last;
    bool hint = false;  // the answer named somewhere new to go
    auto c = ConnTo(address);
    if (!c.ok()) {
      last = c.status();
      NextReplica(*map, partition, address);
    } else {
      last = fn(**c);
      if (last.ok()) return last;
      switch (last.code()) {
        case C::kMoved: {
          moved_++;
          auto info = proto::ParseMoved(last.message());
          if (!info.ok()) {
            if (!refreshed_unparsed) {
              refreshed_unparsed = true;
              hint = FetchMap(**c).ok();
            }
            break;
          }
          bool fetch = false;
          uint64_t asked_before = 0;
          {
            std::lock_guard l(mu_);
            if (info->version > (map_ ? map_->version() : 0) && info->version > refresh_asked_) {
              asked_before = refresh_asked_;
              refresh_asked_ = info->version;  // once per version
              fetch = true;
            }
          }
          if (fetch) {
            hint = FetchMap(**c).ok();
            std::lock_guard l(mu_);
            // A fetch that failed does not count: a later MOVED of that version asks again.
            if (!hint && refresh_asked_ == info->version) refresh_asked_ = asked_before;
          }
          if (grouped_at && map_version() != *grouped_at) return last;
          if (!info->address.empty() && info->address != address) {
            forced = info->address;
            hint = true;
          }
          break;
        }
        case C::kNotPrimary: {
          const std::string& m = last.message();
          const size_t at = m.rfind("primary=");
          std::string named = at == std::string::npos ? "" : m.substr(at + 8);
          if (!named.empty() && named != address) {
            redirects_++;
            std::lock_guard l(mu_);
            route_[partition] = std::move(named);
            hint = true;
          } else {
            NextReplica(*map, partition, address);
          }
          break;
        }
        case C::kIOError:
        case C::kClosed:
        case C::kTimedOut:
          DropConn(address, *c);
          NextReplica(*map, partition, address);
          break;
        case C::kBusy:
          break;  // the same server, a little later
        default:
          return last;
      }
    }
    if (Clock::now() >= deadline) return last;
    // Follow fresh hints at once, but never more than a few in a row: two servers naming each
    // other cannot spin this loop.
    if (!hint || ++hops >= 4) {
      hops = 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_pause_ms));
    }
  }
}

Status ClusterClient::Routed(std::string_view timeline, const std::function<Status(Client&)>& fn) {
  if (Status s = EnsureMode(); !s.ok()) return s;
  if (mode() != Mode::kSharded) return Run(fn);
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.retry_ms_max);
  return RunSlot(proto::SlotOf(timeline), fn, deadline, std::nullopt);
}

Status ClusterClient::Scatter(
    size_t count, const std::function<std::string_view(size_t)>& key,
    const std::function<Status(Client&, const std::vector<size_t>&)>& part) {
  if (Status s = EnsureMode(); !s.ok()) return s;
  std::vector<size_t> pending(count);
  for (size_t i = 0; i < count; ++i) pending[i] = i;
  if (mode() != Mode::kSharded || count == 0) {
    return Run([&](Client& c) { return part(c, pending); });
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.retry_ms_max);
  for (;;) {
    const std::shared_ptr<const proto::SlotMap> map = slot_map();
    std::map<uint32_t, std::vector<size_t>> groups;  // partition -> indices, in request order
    for (size_t i : pending) groups[map->Owner(proto::SlotOf(key(i))).id].push_back(i);
    std::vector<size_t> left;
    Status last;
    for (const auto& [partition, indices] : groups) {
      Status s = RunSlot(
          proto::SlotOf(key(indices.front())), [&](Client& c) { return part(c, indices); },
          deadline, map->version());
      if (s.ok()) continue;
      if (s.code() != Status::Code::kMoved) return s;
      last = s;  // the map changed: split this part again
      left.insert(left.end(), indices.begin(), indices.end());
    }
    if (left.empty()) return Status::Ok();
    if (Clock::now() >= deadline) return last;
    std::sort(left.begin(), left.end());
    pending = std::move(left);
  }
}

// ---- operations ----

Result<AppendResult> ClusterClient::Append(std::string_view ns, std::string_view timeline,
                                           std::string_view payload, AppendOptions opts) {
  std::string id;
  if (opts.client_msg_id.empty()) {
    id = NewClientMsgId();
    opts.client_msg_id = id;
  }
  return CallFor<AppendResult>(timeline,
                               [&](Client& c) { return c.Append(ns, timeline, payload, opts); });
}

Result<std::vector<AppendResult>> ClusterClient::AppendFanout(
    std::string_view ns, std::span<const std::string_view> timelines, std::string_view payload,
    AppendOptions opts) {
  std::string id;
  if (opts.client_msg_id.empty()) {
    id = NewClientMsgId();
    opts.client_msg_id = id;  // the same id in every part and every retry
  }
  std::vector<AppendResult> out(timelines.size());
  if (Status s = EnsureMode(); !s.ok()) return s;
  if (options_.fanout_by_intent && mode() == Mode::kSharded && SpansPartitions(timelines)) {
    // Whole, to the home's primary, which keeps it as an intent (docs/cluster.md). A server
    // without intents refuses it (INVALID_ARGUMENT "... must stay within one partition") or
    // answers MOVED for a member's slot other than the home slot (so does a server whose newer
    // map has all members in one partition): then it is split below.
    const uint16_t home = proto::FanoutHomeSlot(timelines);
    const auto deadline = Clock::now() + std::chrono::milliseconds(options_.retry_ms_max);
    bool split = false;
    Status s = RunSlot(
        home,
        [&](Client& c) {
          auto r = c.AppendFanout(ns, timelines, payload, opts);
          if (!r.ok()) {
            const Status& e = r.status();
            auto moved = e.code() == Status::Code::kMoved ? proto::ParseMoved(e.message())
                                                          : Result<proto::MovedInfo>(e);
            if ((moved.ok() && moved->slot != home) ||
                (e.code() == Status::Code::kInvalidArgument &&
                 e.message().find("must stay within one partition") != std::string::npos)) {
              split = true;
              return Status::Ok();
            }
            return e;
          }
          if (r->size() != timelines.size()) return Status::Corruption("APPEND_FANOUT answer size");
          out = std::move(r).value();
          return Status::Ok();
        },
        deadline, std::nullopt);
    if (!s.ok()) return s;
    if (!split) return out;
  }
  Status s = Scatter(
      timelines.size(), [&](size_t i) { return timelines[i]; },
      [&](Client& c, const std::vector<size_t>& indices) {
        std::vector<std::string_view> sub;
        for (size_t i : indices) sub.push_back(timelines[i]);
        auto r = c.AppendFanout(ns, sub, payload, opts);
        if (!r.ok()) return r.status();
        if (r->size() != sub.size()) return Status::Corruption("APPEND_FANOUT answer size");
        for (size_t k = 0; k < indices.size(); ++k) out[indices[k]] = (*r)[k];
        return Status::Ok();
      });
  if (!s.ok()) return s;
  return out;
}

bool ClusterClient::SpansPartitions(std::span<const std::string_view> timelines) {
  const std::shared_ptr<const proto::SlotMap> map = slot_map();
  for (std::string_view t : timelines) {
    if (map->Owner(proto::SlotOf(t)).id != map->Owner(proto::SlotOf(timelines[0])).id) {
      return true;
    }
  }
  return false;
}

// The marks are appended by the home's delivery thread, not through a request, so they do not
// wake a WAIT (docs/protocol.md "WAIT"): each WAIT is bounded by this, and the marks read again.
constexpr int64_t kFanoutPollMs = 200;

Result<bool> ClusterClient::WaitFanout(std::string_view ns,
                                       std::span<const std::string_view> timelines,
                                       std::string_view client_msg_id, uint32_t timeout_ms) {
  if (Status s = EnsureMode(); !s.ok()) return s;
  if (mode() != Mode::kSharded) return Status::NotFound("an unsharded cluster keeps no intents");
  const std::string key = proto::IntentKey(ns, timelines, client_msg_id);
  const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    // The intent and its marks, then a short WAIT on its timeline.
    std::vector<Message> records;
    const auto deadline = Clock::now() + std::chrono::milliseconds(options_.retry_ms_max);
    Status s = RunSlot(
        proto::FanoutHomeSlot(timelines),
        [&](Client& c) {
          ScanOptions so;
          so.limit = 10'000;
          auto r = c.Scan(proto::kIntentNamespace, key, so);
          if (!r.ok()) return r.status();
          records = std::move(r).value();
          return Status::Ok();
        },
        deadline, std::nullopt);
    if (!s.ok()) return s;
    TLDB_ASSIGN_OR_RETURN(proto::IntentState state, proto::ReadIntentState(records));
    if (state.complete) return true;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    const Seq after = records.back().seq;
    s = RunSlot(
        proto::FanoutHomeSlot(timelines),
        [&](Client& c) {
          return c
              .Wait(proto::kIntentNamespace, key, after,
                    static_cast<uint32_t>(std::min<int64_t>(left, kFanoutPollMs)))
              .status();
        },
        deadline, std::nullopt);
    if (!s.ok()) return s;
  }
}

Result<Message> ClusterClient::Get(std::string_view ns, std::string_view timeline, Seq seq) {
  return CallFor<Message>(timeline, [&](Client& c) { return c.Get(ns, timeline, seq); });
}

Result<std::vector<Message>> ClusterClient::Scan(std::string_view ns, std::string_view timeline,
                                                 const ScanOptions& opts) {
  return CallFor<std::vector<Message>>(timeline,
                                       [&](Client& c) { return c.Scan(ns, timeline, opts); });
}

Result<std::vector<Seq>> ClusterClient::LastSeq(std::string_view ns,
                                                std::span<const std::string_view> timelines) {
  std::vector<Seq> out(timelines.size());
  Status s = Scatter(
      timelines.size(), [&](size_t i) { return timelines[i]; },
      [&](Client& c, const std::vector<size_t>& indices) {
        std::vector<std::string_view> sub;
        for (size_t i : indices) sub.push_back(timelines[i]);
        auto r = c.LastSeq(ns, sub);
        if (!r.ok()) return r.status();
        if (r->size() != sub.size()) return Status::Corruption("LAST_SEQ answer size");
        for (size_t k = 0; k < indices.size(); ++k) out[indices[k]] = (*r)[k];
        return Status::Ok();
      });
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<TimelineRead>> ClusterClient::ReadMulti(std::string_view ns,
                                                           std::span<const TimelineAfter> timelines,
                                                           const ReadLimits& limits) {
  std::vector<TimelineRead> out(timelines.size());
  Status s = Scatter(
      timelines.size(), [&](size_t i) { return timelines[i].timeline; },
      [&](Client& c, const std::vector<size_t>& indices) {
        std::vector<TimelineAfter> sub;
        for (size_t i : indices) sub.push_back(timelines[i]);
        auto r = c.ReadMulti(ns, sub, limits);
        if (!r.ok()) return r.status();
        if (r->size() != sub.size()) return Status::Corruption("READ_MULTI answer size");
        for (size_t k = 0; k < indices.size(); ++k) out[indices[k]] = std::move((*r)[k]);
        return Status::Ok();
      });
  if (!s.ok()) return s;
  return out;
}

Result<CursorSetResult> ClusterClient::SetCursor(std::string_view device, std::string_view ns,
                                                 std::string_view timeline, Seq seq, bool reset) {
  return CallFor<CursorSetResult>(
      timeline, [&](Client& c) { return c.SetCursor(device, ns, timeline, seq, reset); });
}

Result<std::vector<CursorState>> ClusterClient::GetCursors(
    std::string_view device, std::string_view ns, std::span<const std::string_view> timelines) {
  std::vector<CursorState> out(timelines.size());
  Status s = Scatter(
      timelines.size(), [&](size_t i) { return timelines[i]; },
      [&](Client& c, const std::vector<size_t>& indices) {
        std::vector<std::string_view> sub;
        for (size_t i : indices) sub.push_back(timelines[i]);
        auto r = c.GetCursors(device, ns, sub);
        if (!r.ok()) return r.status();
        if (r->size() != sub.size()) return Status::Corruption("CURSOR_GET answer size");
        for (size_t k = 0; k < indices.size(); ++k) out[indices[k]] = (*r)[k];
        return Status::Ok();
      });
  if (!s.ok()) return s;
  return out;
}

}  // namespace tldb

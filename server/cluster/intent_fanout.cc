#include "cluster/intent_fanout.h"

#include <algorithm>
#include <chrono>

#include "protocol/slot_map.h"
#include "tldb/cluster_client.h"

namespace tldb::cluster {
namespace {

// Records of one intent's timeline read at once: the intent and one mark per part.
constexpr uint32_t kIntentRecordsMax = 10'000;

std::vector<std::string_view> Views(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

IntentFanout::IntentFanout(ShardHost& host, IntentFanoutOptions options)
    : host_(host), o_(options) {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  if (o_.deliver) deliver_thread_ = std::thread([this] { DeliverLoop(); });
}

IntentFanout::~IntentFanout() {
  Stop();
}

void IntentFanout::Stop() {
  {
    std::lock_guard l(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  if (deliver_thread_.joinable()) deliver_thread_.join();
  std::deque<Request> left;
  {
    std::lock_guard l(mu_);
    left.swap(accepts_);
  }
  for (Request& r : left) r.done(Status::Closed("server shutting down"));
}

void IntentFanout::Accept(std::string_view ns, std::span<const std::string_view> timelines,
                          std::string_view payload, const AppendOptions& options,
                          FanoutCallback done) {
  if (options.client_msg_id.empty()) {
    return done(Status::InvalidArgument(
        "an APPEND_FANOUT across partitions needs a client_msg_id (its intent's key)"));
  }
  Request req;
  req.intent.ns = std::string(ns);
  req.intent.client_msg_id = std::string(options.client_msg_id);
  req.intent.payload = std::string(payload);
  req.intent.durability = options.durability;
  req.order.assign(timelines.begin(), timelines.end());
  req.intent.targets = req.order;
  std::sort(req.intent.targets.begin(), req.intent.targets.end());
  if (std::adjacent_find(req.intent.targets.begin(), req.intent.targets.end()) !=
      req.intent.targets.end()) {
    return done(Status::InvalidArgument("APPEND_FANOUT names a timeline twice"));
  }
  req.done = std::move(done);
  {
    std::lock_guard l(mu_);
    if (!stopping_) {
      accepts_.push_back(std::move(req));
      cv_.notify_all();
      return;
    }
  }
  req.done(Status::Closed("server shutting down"));
}

void IntentFanout::AcceptLoop() {
  while (true) {
    Request req;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stopping_ || !accepts_.empty(); });
      if (stopping_) return;
      req = std::move(accepts_.front());
      accepts_.pop_front();
    }
    auto results = AcceptNow(req);
    req.done(std::move(results));
  }
}

Result<std::vector<AppendResult>> IntentFanout::AcceptNow(const Request& req) {
  const Intent& in = req.intent;
  const std::vector<std::string_view> targets = Views(in.targets);
  const std::string key = IntentKey(in.ns, targets, in.client_msg_id);
  const uint16_t slot = *IntentSlot(key);
  // Admitted to the home (not while it is frozen for a split), at the newest routing.
  std::shared_ptr<const ShardRouting> r;
  std::shared_ptr<void> ticket;
  for (int tries = 0; !ticket; ++tries) {
    if (tries == 8) return Status::Busy("the routing kept changing: retry");
    r = host_.routing();
    const proto::PartitionEntry& owner = r->map.Owner(slot);
    if (r->local.count(owner.id) == 0) {
      return Status::Moved(
          proto::MovedMessage(slot, r->map.version(), owner.id, r->map.RouteAddress(slot)));
    }
    TLDB_ASSIGN_OR_RETURN(ticket, host_.Admit(r, owner.id));
  }
  const proto::PartitionEntry& home = r->map.Owner(slot);
  Db* db = r->local.at(home.id)->db();
  // Nothing is accepted for a namespace the members could not take.
  TLDB_RETURN_IF_ERROR(db->DescribeNamespace(in.ns).status());
  if (db->DescribeNamespace(kIntentNamespace).status().IsNotFound()) {
    Status created = db->CreateNamespace(kIntentNamespace, NamespaceOptions{});
    if (!created.ok() && created.code() != Status::Code::kAlreadyExists) return created;
  }
  // A retry finds its intent; another request under the same key is refused.
  ScanOptions so;
  so.limit = 1;
  TLDB_ASSIGN_OR_RETURN(std::vector<Message> first, db->Scan(kIntentNamespace, key, so));
  const bool retry = !first.empty();
  if (retry) {
    auto stored = DecodeIntent(first[0].payload);
    if (!stored.ok() || stored->targets != in.targets || stored->payload != in.payload) {
      return Status::ClientMsgIdReused("client_msg_id '" + in.client_msg_id +
                                       "' holds another fan-out (" + kIntentNamespace.data() + " " +
                                       key + ")");
    }
  } else {
    const std::string_view both[] = {key, kJournalTimeline};
    AppendOptions ao;
    ao.durability = Durability::kSync;
    TLDB_RETURN_IF_ERROR(db->AppendFanout(kIntentNamespace, both, EncodeIntent(in), ao).status());
  }
  // The home's own targets, now; the rest are pending.
  std::vector<std::string_view> local;
  for (std::string_view t : targets) {
    if (r->map.Owner(proto::SlotOf(t)).id == home.id) local.push_back(t);
  }
  std::map<std::string_view, AppendResult> done;
  if (!local.empty()) {
    AppendOptions ao;
    ao.client_msg_id = in.client_msg_id;
    ao.durability = in.durability;
    auto written = db->AppendFanout(in.ns, local, in.payload, ao);
    if (written.ok()) {
      for (size_t i = 0; i < local.size() && i < written->size(); ++i) {
        done[local[i]] = (*written)[i];
      }
    } else if (!(retry && written.status().code() == Status::Code::kClientMsgIdReused)) {
      return written.status();
    }
    // A retry whose home members were written as another set (the map has moved since):
    // they are answered pending, and the delivery marks them one by one.
  }
  if (o_.deliver) {
    std::lock_guard l(mu_);
    deliveries_.push_back({key, home.id});
    cv_.notify_all();
  }
  std::vector<AppendResult> out(req.order.size());
  for (size_t i = 0; i < req.order.size(); ++i) {
    auto d = done.find(req.order[i]);
    if (d != done.end()) out[i] = d->second;
  }
  return out;
}

Result<std::vector<AppendResult>> IntentFanout::DeliverPart(
    const std::shared_ptr<const ShardRouting>& routing, uint32_t partition, const Intent& intent,
    const std::vector<std::string_view>& targets) {
  const ShardRouting& r = *routing;
  AppendOptions ao;
  ao.client_msg_id = intent.client_msg_id;
  ao.durability = intent.durability;
  auto it = r.local.find(partition);
  if (it != r.local.end() && it->second->serving_primary()) {
    TLDB_ASSIGN_OR_RETURN(std::shared_ptr<void> ticket, host_.Admit(routing, partition));
    if (!ticket) return Status::Busy("the routing changed: the next pass delivers it");
    return it->second->db()->AppendFanout(intent.ns, targets, intent.payload, ao);
  }
  if (!client_) {
    ClusterClientOptions co;
    co.fanout_by_intent = false;  // a part is one partition's, at this map: never an intent
    co.retry_ms_max = 3'000;      // then the part waits for the next pass (Stop waits no longer)
    co.client.connect_timeout_ms = 1'000;
    co.client.request_timeout_ms = 3'000;  // a stopped server holds the thread no longer
    for (const proto::ServerEntry& s : r.map.servers()) {
      if (!s.client_address.empty()) co.servers.push_back(s.client_address);
    }
    if (co.servers.empty()) return Status::IOError("no server address known yet");
    TLDB_ASSIGN_OR_RETURN(client_, ClusterClient::Connect(std::move(co)));
  }
  return client_->AppendFanout(intent.ns, targets, intent.payload, ao);
}

Status IntentFanout::Deliver(const Pending& p) {
  auto r = host_.routing();
  auto it = r->local.find(p.home);
  if (it == r->local.end() || !it->second->serving_primary()) return Status::Ok();  // not ours now
  // After a split both sides hold the journal: the partition owning the intent's slot now
  // delivers it (its new primary scanned its copy), the other leaves it.
  if (r->map.Owner(*IntentSlot(p.key)).id != p.home) return Status::Ok();
  // The marks go to the home: not while it is frozen for a split (the next pass delivers).
  TLDB_ASSIGN_OR_RETURN(std::shared_ptr<void> ticket, host_.Admit(r, p.home));
  if (!ticket) return Status::Busy("the routing changed: the next pass delivers it");
  Db* db = it->second->db();
  ScanOptions so;
  so.limit = kIntentRecordsMax;
  so.bytes_max = 64ull << 20;
  TLDB_ASSIGN_OR_RETURN(std::vector<Message> records, db->Scan(kIntentNamespace, p.key, so));
  if (records.empty()) return Status::Ok();
  auto state = proto::ReadIntentState(records);
  if (!state.ok() || state->complete) return Status::Ok();  // nothing (more) to deliver
  const Intent& intent = state->intent;
  std::set<std::string, std::less<>> delivered;
  for (const auto& [t, seq] : state->delivered) delivered.insert(t);
  std::map<uint32_t, std::vector<std::string_view>> parts;
  for (const std::string& t : intent.targets) {
    if (!delivered.count(t)) parts[r->map.Owner(proto::SlotOf(t)).id].push_back(t);
  }
  Status last = Status::Ok();
  for (const auto& [partition, targets] : parts) {
    std::vector<std::pair<std::string, Seq>> mark;
    auto written = DeliverPart(r, partition, intent, targets);
    if (written.ok()) {
      for (size_t i = 0; i < targets.size() && i < written->size(); ++i) {
        mark.emplace_back(std::string(targets[i]), (*written)[i].seq);
      }
    } else if (written.status().code() == Status::Code::kClientMsgIdReused) {
      // The map grouped these targets otherwise when some were written: one by one. A target
      // that refuses its id already holds the message (its SeqId is not known here).
      for (std::string_view t : targets) {
        auto w = DeliverPart(r, partition, intent, std::vector<std::string_view>{t});
        if (w.ok() && !w->empty()) {
          mark.emplace_back(std::string(t), (*w)[0].seq);
        } else if (w.status().code() == Status::Code::kClientMsgIdReused) {
          mark.emplace_back(std::string(t), 0);
        } else {
          last = w.status();
        }
      }
    } else {
      last = written.status();
      if (client_ && partition != p.home) client_.reset();  // a fresh map next time
    }
    if (mark.empty()) continue;
    AppendOptions ao;
    ao.durability = Durability::kSync;
    TLDB_RETURN_IF_ERROR(db->Append(kIntentNamespace, p.key, EncodeMark(mark), ao).status());
  }
  return last;
}

void IntentFanout::ScanJournal(uint32_t partition, Db* db) {
  ScanOptions so;
  so.limit = 1000;
  std::vector<Pending> found;
  while (true) {
    auto page = db->Scan(kIntentNamespace, kJournalTimeline, so);
    if (!page.ok() || page->empty()) break;
    for (const Message& m : *page) {
      auto intent = DecodeIntent(m.payload);
      if (!intent.ok()) continue;
      found.push_back(
          {IntentKey(intent->ns, Views(intent->targets), intent->client_msg_id), partition});
    }
    so.from_seq = page->back().seq + 1;
  }
  std::lock_guard l(mu_);
  for (Pending& p : found) deliveries_.push_back(std::move(p));
}

void IntentFanout::DeliverLoop() {
  std::deque<Pending> retry;
  while (true) {
    std::deque<Pending> now;
    {
      std::unique_lock l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(o_.retry_ms),
                   [&] { return stopping_ || !deliveries_.empty(); });
      if (stopping_) return;
      now.swap(deliveries_);
    }
    // Replicas that have become serving primaries resume their partition's intents.
    auto r = host_.routing();
    std::set<uint32_t> serving;
    for (const auto& [p, node] : r->local) {
      if (!node->serving_primary()) continue;
      serving.insert(p);
      if (!serving_.count(p)) ScanJournal(p, node->db());
    }
    serving_ = std::move(serving);
    {
      std::lock_guard l(mu_);
      for (Pending& p : deliveries_) now.push_back(std::move(p));
      deliveries_.clear();
    }
    for (Pending& p : retry) now.push_back(std::move(p));
    retry.clear();
    // Once per intent and partition: after a split, the parent and the child both find an
    // intent in their journals, and only the one owning its slot delivers it.
    std::set<std::pair<std::string, uint32_t>> seen;
    for (Pending& p : now) {
      if (!seen.insert({p.key, p.home}).second) continue;
      {
        std::lock_guard l(mu_);
        if (stopping_) return;
      }
      if (!Deliver(p).ok()) retry.push_back(std::move(p));
    }
  }
}

}  // namespace tldb::cluster

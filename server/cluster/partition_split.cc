#include "cluster/partition_split.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster/etcd_coordinator.h"
#include "cluster/lease_keeper.h"
#include "cluster/steady_ms.h"

namespace tldb::cluster {
namespace {

using nlohmann::json;

std::string Ranges(const std::vector<proto::SlotRange>& ranges) {
  std::string out;
  for (const proto::SlotRange& r : ranges) {
    if (!out.empty()) out += ",";
    out += std::to_string(r.first) + "-" + std::to_string(r.last);
  }
  return out.empty() ? "none" : out;
}

std::string Ends(const std::map<std::string, LogPosition>& ends) {
  std::string out;
  for (const auto& [ns, at] : ends) out += (out.empty() ? "" : " ") + ns + "@" + at.ToString();
  return out;
}

struct Request {
  uint32_t parent = 0, child = 0;
  uint16_t at = 0;
  uint64_t version = 0;
  int64_t lease = 0;
};

std::string EncodeRequest(const Request& r) {
  return json{{"parent", r.parent},
              {"child", r.child},
              {"at", r.at},
              {"version", r.version},
              {"lease", std::to_string(r.lease)}}
      .dump();
}

std::optional<Request> DecodeRequest(std::string_view v) {
  try {
    const json j = json::parse(v);
    Request r;
    r.parent = j.at("parent").get<uint32_t>();
    r.child = j.at("child").get<uint32_t>();
    r.at = j.at("at").get<uint16_t>();
    r.version = j.at("version").get<uint64_t>();
    r.lease = std::stoll(j.at("lease").get<std::string>());
    return r;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::string PartitionSplit::ChildKey(const std::string& prefix, uint32_t child) {
  return EtcdCoordinator::PartitionKey(prefix, child, "split");
}

std::string PartitionSplit::EncodeFrozen(int64_t id,
                                         const std::map<std::string, LogPosition>& ends) {
  json e = json::object();
  for (const auto& [ns, at] : ends) e[ns] = {at.segment, at.offset};
  return json{{"id", std::to_string(id)}, {"ends", e}}.dump();
}

std::string PartitionSplit::EncodeCloned(int64_t id, std::string_view error) {
  json j{{"id", std::to_string(id)}};
  if (!error.empty()) j["error"] = std::string(error);
  return j.dump();
}

std::optional<int64_t> PartitionSplit::ChildSplitId(std::string_view value,
                                                    std::optional<uint32_t> parent) {
  try {
    const json j = json::parse(value);
    if (parent && j.at("parent").get<uint32_t>() != *parent) return std::nullopt;
    return std::stoll(j.at("id").get<std::string>());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Result<std::optional<SplitState>> PartitionSplit::Read(EtcdClient& client,
                                                       const std::string& prefix) {
  TLDB_ASSIGN_OR_RETURN(RangeResult r, client.GetPrefix(Key(prefix)));
  std::optional<SplitState> out;
  for (const KeyValue& kv : r.kvs) {
    if (kv.key != Key(prefix)) continue;
    auto req = DecodeRequest(kv.value);
    if (!req) return Status::Corruption(kv.key + ": not a split request: " + kv.value);
    out = SplitState{req->parent, req->child,         req->at,      req->version,
                     req->lease,  kv.create_revision, std::nullopt, {}};
  }
  if (!out) return out;
  const std::string cloned = ClonedKey(prefix, 0).substr(0, ClonedKey(prefix, 0).size() - 1);
  for (const KeyValue& kv : r.kvs) {
    try {
      const json j = json::parse(kv.value);
      if (!j.is_object() || !j.contains("id") || !j.at("id").is_string() ||
          std::stoll(j.at("id").get<std::string>()) != out->id) {
        continue;
      }
      if (kv.key == FrozenKey(prefix)) {
        std::map<std::string, LogPosition> ends;
        for (const auto& [ns, at] : j.at("ends").items()) {
          ends[ns] = LogPosition{at.at(0).get<uint64_t>(), at.at(1).get<uint64_t>()};
        }
        out->frozen = std::move(ends);
      } else if (kv.key.rfind(cloned, 0) == 0) {
        const std::string server = kv.key.substr(cloned.size());
        if (server.empty() || server.size() > 9 ||
            server.find_first_not_of("0123456789") != std::string::npos) {
          continue;
        }
        out->cloned[static_cast<uint32_t>(std::stoul(server))] =
            j.contains("error") ? j.at("error").get<std::string>() : "";
      }
    } catch (const std::exception&) {
      continue;  // not ours
    }
  }
  return out;
}

Result<proto::SlotMap> PartitionSplit::Split(const proto::SlotMap& map, uint32_t partition,
                                             std::optional<uint16_t> at, uint16_t* at_out) {
  const proto::PartitionEntry* p = map.Partition(partition);
  if (p == nullptr) {
    return Status::InvalidArgument("partition " + std::to_string(partition) +
                                   " is not in the map (version " + std::to_string(map.version()) +
                                   ")");
  }
  if (p->spare != proto::kNoServer) {
    return Status::InvalidArgument("partition " + std::to_string(partition) +
                                   " has a move running (server " + std::to_string(p->spare) +
                                   " is its spare): finish or cancel it before splitting");
  }
  std::vector<uint16_t> slots;
  for (const proto::SlotRange& r : p->ranges) {
    for (uint32_t s = r.first; s <= r.last; ++s) slots.push_back(static_cast<uint16_t>(s));
  }
  if (slots.size() < 2) {
    return Status::InvalidArgument("partition " + std::to_string(partition) + " owns " +
                                   std::to_string(slots.size()) + " slot: it cannot be split");
  }
  const uint16_t first = at ? *at : slots[slots.size() / 2];
  const auto it = std::find(slots.begin(), slots.end(), first);
  if (it == slots.end()) {
    return Status::InvalidArgument("slot " + std::to_string(first) + " is not partition " +
                                   std::to_string(partition) +
                                   "'s (its slots: " + Ranges(p->ranges) + ")");
  }
  if (it == slots.begin()) {
    return Status::InvalidArgument("slot " + std::to_string(first) + " is partition " +
                                   std::to_string(partition) +
                                   "'s first: the split would leave it empty");
  }
  uint32_t child = 0;
  for (const proto::PartitionEntry& e : map.partitions()) child = std::max(child, e.id + 1);
  std::vector<proto::PartitionEntry> parts;
  for (const proto::PartitionEntry& e : map.partitions()) {
    proto::PartitionEntry copy{e.id, e.replicas, {}, proto::kNoServer};
    if (e.id != partition) {
      copy.ranges = e.ranges;
      parts.push_back(std::move(copy));
      continue;
    }
    proto::PartitionEntry q{child, e.replicas, {}, proto::kNoServer};
    for (const proto::SlotRange& r : e.ranges) {
      if (r.last < first) {
        copy.ranges.push_back(r);
      } else if (r.first >= first) {
        q.ranges.push_back(r);
      } else {
        copy.ranges.push_back({r.first, static_cast<uint16_t>(first - 1)});
        q.ranges.push_back({first, r.last});
      }
    }
    parts.push_back(std::move(copy));
    parts.push_back(std::move(q));
  }
  if (at_out != nullptr) *at_out = first;
  return proto::SlotMap::Make(map.version() + 1, std::move(parts));
}

Status PartitionSplit::Abort(int64_t id, int64_t lease, Status why) {
  (void)client_.DeleteIfCreateRevision(Key(prefix_), id);
  (void)client_.LeaseRevoke(lease);
  return Status(why.code(), why.message() + " (the split was abandoned: partition unfrozen)");
}

Result<PartitionSplitResult> PartitionSplit::Run(
    const PartitionSplitRequest& request, const std::function<void(std::string_view)>& progress) {
  auto say = [&](const std::string& line) { progress(line); };
  const uint32_t P = request.partition;
  TLDB_ASSIGN_OR_RETURN(StoredSlotMap stored, store_.Load());
  TLDB_ASSIGN_OR_RETURN(auto running, Read(client_, prefix_));
  PartitionSplitResult out;

  // 1. Check (or a re-run: a split of the same partition still keyed, or found in the map).
  if (running && (running->parent != P || (request.at && *request.at != running->at))) {
    return Status::Busy("a split of partition " + std::to_string(running->parent) + " at slot " +
                        std::to_string(running->at) + " runs (its key " + Key(prefix_) +
                        " goes with its splitter's lease): wait for it");
  }
  if (running && stored.map.version() >= running->version) {
    // A run that died after the map transaction, before it deleted the key.
    TLDB_ASSIGN_OR_RETURN(auto kv, client_.Get(ChildKey(prefix_, running->child)));
    if (kv && ChildSplitId(kv->value, P) == running->id) {
      (void)client_.DeleteIfCreateRevision(Key(prefix_), running->id);
      (void)client_.LeaseRevoke(running->lease);
      out.version = running->version;
      out.child = running->child;
      out.at = running->at;
      if (const proto::PartitionEntry* q = stored.map.Partition(running->child)) {
        out.moved = q->ranges;
      }
      out.done_before = true;
      say("partition " + std::to_string(out.child) + " took partition " + std::to_string(P) +
          "'s slots " + Ranges(out.moved) + " in an earlier run (its key deleted now)");
      return out;
    }
  }
  if (!running && request.at && stored.map.Owner(*request.at).id != P) {
    const proto::PartitionEntry& owner = stored.map.Owner(*request.at);
    TLDB_ASSIGN_OR_RETURN(auto kv, client_.Get(ChildKey(prefix_, owner.id)));
    if (kv && ChildSplitId(kv->value, P) && owner.ranges.front().first == *request.at) {
      out.version = stored.map.version();
      out.child = owner.id;
      out.at = *request.at;
      out.moved = owner.ranges;
      out.done_before = true;
      say("partition " + std::to_string(owner.id) + " took partition " + std::to_string(P) +
          "'s slots " + Ranges(owner.ranges) + " in an earlier run: nothing to do");
      return out;
    }
  }
  uint16_t at = 0;
  TLDB_ASSIGN_OR_RETURN(
      proto::SlotMap next,
      Split(stored.map, P, running ? std::optional<uint16_t>(running->at) : request.at, &at));
  const proto::PartitionEntry& parent = *stored.map.Partition(P);
  const uint32_t Q = next.partitions().back().id;
  out.child = Q;
  out.at = at;
  out.moved = next.Partition(Q)->ranges;
  out.version = next.version();
  TLDB_ASSIGN_OR_RETURN(auto servers, store_.Servers());
  for (uint32_t s : parent.replicas) {
    if (!running && servers.count(s) == 0) {
      return Status::InvalidArgument("server " + std::to_string(s) + " (a replica of partition " +
                                     std::to_string(P) +
                                     ") is not registered: every replica makes its clone");
    }
  }
  say("check: partition " + std::to_string(P) + " (slots " + Ranges(parent.ranges) +
      ") splits at slot " + std::to_string(at) + ": partition " + std::to_string(Q) + " takes " +
      Ranges(out.moved) + " on servers " +
      [&] {
        std::string s;
        for (uint32_t r : parent.replicas) s += (s.empty() ? "" : ",") + std::to_string(r);
        return s;
      }() +
      ", map version " + std::to_string(out.version));

  // 2. Freeze: the split key on a lease of our own, or the one of the run we go on with.
  std::unique_ptr<LeaseKeeper> keeper;
  int64_t lease = 0, id = 0;
  if (running) {
    if (running->version != out.version) {
      return Abort(running->id, running->lease,
                   Status::Conflict("the map changed since the split began (version " +
                                    std::to_string(stored.map.version()) + ", the split writes " +
                                    std::to_string(running->version) + ")"));
    }
    lease = running->lease;
    id = running->id;
    auto k =
        LeaseKeeper::Start(client_.options(), lease, request.lease_ttl_s, [](const Status&) {});
    if (!k.ok()) return k.status();
    keeper = std::move(k).value();
    say("an earlier run's split (id " + std::to_string(id) + ") goes on");
  } else {
    TLDB_ASSIGN_OR_RETURN(LeaseGrantResult g, client_.LeaseGrant(request.lease_ttl_s));
    lease = g.id;
    auto k = LeaseKeeper::Start(client_.options(), lease, g.ttl_s, [](const Status&) {});
    if (!k.ok()) return k.status();
    keeper = std::move(k).value();
    const Request r{P, Q, at, out.version, lease};
    TLDB_ASSIGN_OR_RETURN(CreateResult c,
                          client_.CreateIfAbsent(Key(prefix_), EncodeRequest(r), lease));
    if (!c.created) {
      keeper->Stop();
      (void)client_.LeaseRevoke(lease);
      return Status::Busy("another split began meanwhile: " +
                          (c.holder ? c.holder->value : std::string("?")));
    }
    id = c.create_revision;
    say("freeze: partition " + std::to_string(P) +
        " admits no write until the map changes (split id " + std::to_string(id) + ")");
  }
  auto wait = [&](const std::function<Result<bool>(const SplitState&)>& done,
                  const std::string& what) -> Status {
    const int64_t until = SteadyMs() + request.timeout_ms;
    while (true) {
      if (keeper->lost()) return Status::TimedOut("the split key's lease was lost");
      auto s = Read(client_, prefix_);
      if (s.ok()) {
        if (!*s || (*s)->id != id) return Status::Conflict("the split key is gone");
        auto d = done(**s);
        if (!d.ok()) return d.status();
        if (*d) return Status::Ok();
      }
      if (SteadyMs() > until) {
        return Status::TimedOut("waited " + std::to_string(request.timeout_ms) + " ms for " + what);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  std::map<std::string, LogPosition> frozen;
  Status s = wait(
      [&](const SplitState& st) -> Result<bool> {
        if (st.frozen) frozen = *st.frozen;
        return st.frozen.has_value();
      },
      "partition " + std::to_string(P) + "'s primary to freeze it");
  if (!s.ok()) return Abort(id, lease, s);
  say("frozen: every admitted write answered; the log ends at " + Ends(frozen));

  // 3. Clone.
  std::map<uint32_t, bool> said;
  s = wait(
      [&](const SplitState& st) -> Result<bool> {
        for (const auto& [server, error] : st.cloned) {
          if (!error.empty()) {
            return Status::IOError("server " + std::to_string(server) + " cannot clone: " + error);
          }
          if (!said[server]) {
            said[server] = true;
            say("cloned: server " + std::to_string(server) + " holds " + CloneDirName(Q, id));
          }
        }
        for (uint32_t r : parent.replicas) {
          if (st.cloned.count(r) == 0) return false;
        }
        return true;
      },
      "every replica of partition " + std::to_string(P) + " to clone");
  if (!s.ok()) return Abort(id, lease, s);

  // 4. The map, with the child's keys, in one transaction.
  json child{{"parent", P}, {"id", std::to_string(id)}};
  auto put =
      client_.PutIf({{store_.MapKey(), false, stored.mod_revision}, {Key(prefix_), true, id}},
                    {{store_.MapKey(), SlotMapStore::ToJson(next)},
                     {EtcdCoordinator::PartitionKey(prefix_, Q, "initialized"), "1"},
                     {ChildKey(prefix_, Q), child.dump()}});
  if (!put.ok()) {
    // The outcome may be unknown (the answer lost): the map says whether it was written.
    auto now = client_.Get(ChildKey(prefix_, Q));
    const bool written = now.ok() && *now && ChildSplitId((*now)->value, P) == id;
    if (!written) return Abort(id, lease, put.status());
  } else if (!*put) {
    return Abort(id, lease,
                 Status::Conflict("the map changed or the split key's lease expired before the "
                                  "map was written: nothing changed"));
  }
  say("map version " + std::to_string(out.version) + ": partition " + std::to_string(Q) + " owns " +
      Ranges(out.moved));

  // 5. Unfreeze: the servers read the key gone and then the new map.
  keeper->Stop();
  (void)client_.DeleteIfCreateRevision(Key(prefix_), id);
  (void)client_.LeaseRevoke(lease);
  say("unfrozen: partition " + std::to_string(P) + "'s writes go on; " + Ranges(out.moved) +
      " route to partition " + std::to_string(Q));
  const int64_t until = SteadyMs() + request.timeout_ms;
  while (true) {
    auto leader = client_.Get(EtcdCoordinator::PartitionKey(prefix_, Q, "leader"));
    if (leader.ok() && *leader) {
      const std::string& v = (*leader)->value;
      std::string server = "?";
      if (!v.empty() && v.size() < 3 && v.find_first_not_of("0123456789") == std::string::npos &&
          std::stoul(v) < parent.replicas.size()) {
        server = std::to_string(parent.replicas[std::stoul(v)]);
      }
      say("partition " + std::to_string(Q) + "'s primary: replica " + v + " (server " + server +
          ")");
      return out;
    }
    if (SteadyMs() > until) {
      return Status::TimedOut("the split is done (map version " + std::to_string(out.version) +
                              ") but partition " + std::to_string(Q) + " has no primary after " +
                              std::to_string(request.timeout_ms) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace tldb::cluster

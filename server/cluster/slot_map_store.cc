#include "cluster/slot_map_store.h"

#include <nlohmann/json.hpp>
#include <optional>

namespace tldb::cluster {
namespace {

// "<prefix>partitions/<P>/leader" -> P; nullopt for any other key.
std::optional<uint32_t> LeaderPartition(std::string_view key, std::string_view prefix) {
  const std::string_view dir = "partitions/", tail = "/leader";
  if (key.size() < prefix.size() + dir.size() + tail.size() + 1) return std::nullopt;
  key.remove_prefix(prefix.size());
  if (key.substr(0, dir.size()) != dir || key.substr(key.size() - tail.size()) != tail) {
    return std::nullopt;
  }
  const std::string_view id = key.substr(dir.size(), key.size() - dir.size() - tail.size());
  if (id.empty() || id.size() > 9 || id.find_first_not_of("0123456789") != id.npos) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(std::stoul(std::string(id)));
}

}  // namespace

std::string SlotMapStore::ToJson(const proto::SlotMap& map) {
  nlohmann::json parts = nlohmann::json::array();
  for (const proto::PartitionEntry& p : map.partitions()) {
    nlohmann::json slots = nlohmann::json::array();
    for (const proto::SlotRange& r : p.ranges) slots.push_back({r.first, r.last});
    nlohmann::json part{{"id", p.id}, {"replicas", p.replicas}, {"slots", slots}};
    if (p.spare != proto::kNoServer) {
      part["spare"] = p.spare;
      part["spare_for"] = p.spare_for;
    }
    parts.push_back(std::move(part));
  }
  return nlohmann::json{{"version", map.version()}, {"partitions", parts}}.dump();
}

Result<proto::SlotMap> SlotMapStore::FromJson(std::string_view json) {
  std::vector<proto::PartitionEntry> parts;
  uint64_t version = 0;
  try {
    const auto j = nlohmann::json::parse(json);
    version = j.at("version").get<uint64_t>();
    for (const auto& p : j.at("partitions")) {
      proto::PartitionEntry e;
      e.id = p.at("id").get<uint32_t>();
      e.replicas = p.at("replicas").get<std::vector<uint32_t>>();
      if (p.contains("spare")) e.spare = p.at("spare").get<uint32_t>();
      if (p.contains("spare_for")) e.spare_for = p.at("spare_for").get<uint32_t>();
      for (const auto& r : p.at("slots")) {
        const bool pair = r.is_array() && r.size() == 2;
        const uint32_t first = pair ? r.at(0).get<uint32_t>() : 1;
        const uint32_t last = pair ? r.at(1).get<uint32_t>() : 0;
        if (first > last || last >= proto::kSlotCount) {
          return Status::InvalidArgument("slot map: partition " + std::to_string(e.id) +
                                         " has a bad range " + r.dump());
        }
        e.ranges.push_back({static_cast<uint16_t>(first), static_cast<uint16_t>(last)});
      }
      parts.push_back(std::move(e));
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(std::string("slot map: not the JSON form: ") + e.what());
  }
  return proto::SlotMap::Make(version, std::move(parts));
}

Result<StoredSlotMap> SlotMapStore::Load() {
  TLDB_ASSIGN_OR_RETURN(auto kv, client_.Get(MapKey()));
  if (!kv) return Status::NotFound("no slot map at " + MapKey());
  auto map = FromJson(kv->value);
  if (!map.ok()) return Status::Corruption(MapKey() + ": " + map.status().message());
  return StoredSlotMap{std::move(map).value(), kv->mod_revision};
}

Result<StoredSlotMap> SlotMapStore::Create(const proto::SlotMap& map) {
  if (map.version() != 1) {
    return Status::InvalidArgument("a new slot map has version 1, not " +
                                   std::to_string(map.version()));
  }
  const std::string json = ToJson(map);
  TLDB_RETURN_IF_ERROR(FromJson(json).status());  // the form written reads back
  auto rev = client_.CompareAndSwap(MapKey(), 0, json);
  if (!rev.ok() && rev.status().code() == Status::Code::kConflict) {
    return Status::AlreadyExists("a slot map exists at " + MapKey() + " (tldb cluster map)");
  }
  if (!rev.ok()) return rev.status();
  return StoredSlotMap{map, *rev};
}

Result<StoredSlotMap> SlotMapStore::Update(const StoredSlotMap& from, const proto::SlotMap& next) {
  if (next.version() != from.map.version() + 1) {
    return Status::InvalidArgument("the next slot map has version " +
                                   std::to_string(from.map.version() + 1) + ", not " +
                                   std::to_string(next.version()));
  }
  const std::string json = ToJson(next);
  TLDB_RETURN_IF_ERROR(FromJson(json).status());
  auto rev = client_.CompareAndSwap(MapKey(), from.mod_revision, json);
  if (!rev.ok() && rev.status().code() == Status::Code::kConflict) {
    return Status::Conflict("the slot map changed since version " +
                            std::to_string(from.map.version()) + " was read");
  }
  if (!rev.ok()) return rev.status();
  return StoredSlotMap{next, *rev};
}

Status SlotMapStore::RegisterServer(uint32_t server, std::string_view client_address,
                                    int64_t lease) {
  const nlohmann::json j{{"client", client_address}};
  return client_.Put(ServerKey(server), j.dump(), lease).status();
}

Result<std::map<uint32_t, std::string>> SlotMapStore::Servers() {
  TLDB_ASSIGN_OR_RETURN(RangeResult r, client_.GetPrefix(prefix_ + "servers/"));
  std::map<uint32_t, std::string> out;
  for (const KeyValue& kv : r.kvs) {
    const std::string id = kv.key.substr(prefix_.size() + 8);
    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos || id.size() > 9) {
      continue;
    }
    try {
      out[static_cast<uint32_t>(std::stoul(id))] =
          nlohmann::json::parse(kv.value).at("client").get<std::string>();
    } catch (const nlohmann::json::exception&) {
    }
  }
  return out;
}

Result<proto::SlotMap> SlotMapStore::Serving(const proto::SlotMap& map) {
  TLDB_ASSIGN_OR_RETURN(RangeResult keys, client_.GetPrefix(prefix_ + "partitions/"));
  std::vector<std::pair<uint32_t, uint32_t>> primaries;
  for (const KeyValue& kv : keys.kvs) {
    const auto p = LeaderPartition(kv.key, prefix_);
    const proto::PartitionEntry* e = p ? map.Partition(*p) : nullptr;
    if (!e || kv.value.empty() || kv.value.size() > 9 ||
        kv.value.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const size_t node = std::stoul(kv.value);
    if (node < e->replicas.size()) primaries.emplace_back(*p, e->replicas[node]);
  }
  TLDB_ASSIGN_OR_RETURN(auto addresses, Servers());
  std::vector<proto::ServerEntry> servers;
  servers.reserve(addresses.size());
  for (auto& [id, a] : addresses) servers.push_back({id, std::move(a)});
  return map.WithServing(primaries, std::move(servers));
}

}  // namespace tldb::cluster

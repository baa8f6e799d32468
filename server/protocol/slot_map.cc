#include "protocol/slot_map.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>

#include "protocol/codes.h"

namespace tldb::proto {

std::string_view RoutingKey(std::string_view timeline) {
  const size_t open = timeline.find('{');
  if (open == std::string_view::npos) return timeline;
  const size_t close = timeline.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return timeline;
  return timeline.substr(open + 1, close - open - 1);
}

uint16_t SlotOf(std::string_view timeline) {
  const std::string_view key = RoutingKey(timeline);
  return static_cast<uint16_t>(XXH3_64bits(key.data(), key.size()) % kSlotCount);
}

uint16_t FanoutHomeSlot(std::span<const std::string_view> timelines) {
  if (timelines.empty()) return 0;
  return SlotOf(*std::min_element(timelines.begin(), timelines.end()));
}

Result<SlotMap> SlotMap::Make(uint64_t version, std::vector<PartitionEntry> partitions,
                              std::vector<ServerEntry> servers) {
  SlotMap m;
  m.version_ = version;
  m.partitions_ = std::move(partitions);
  m.servers_ = std::move(servers);
  if (Status s = m.Index(); !s.ok()) return s;
  return m;
}

Result<SlotMap> SlotMap::Even(uint64_t version, uint32_t partitions,
                              const std::vector<uint32_t>& servers, uint32_t replicas) {
  if (partitions == 0 || partitions > kPartitionsMax) {
    return Status::InvalidArgument("partitions must be 1.." + std::to_string(kPartitionsMax));
  }
  if (replicas == 0 || replicas > kReplicasMax || replicas > servers.size()) {
    return Status::InvalidArgument("replicas must be 1.." + std::to_string(kReplicasMax) +
                                   " and at most the number of servers (" +
                                   std::to_string(servers.size()) + ")");
  }
  std::vector<PartitionEntry> ps(partitions);
  const uint32_t per = kSlotCount / partitions;
  for (uint32_t p = 0; p < partitions; ++p) {
    ps[p].id = p;
    const uint32_t first = p * per;
    const uint32_t last = p + 1 == partitions ? kSlotCount - 1 : first + per - 1;
    ps[p].ranges.push_back({static_cast<uint16_t>(first), static_cast<uint16_t>(last)});
    for (uint32_t i = 0; i < replicas; ++i) {
      ps[p].replicas.push_back(servers[(p + i) % servers.size()]);
    }
  }
  return Make(version, std::move(ps));
}

Status SlotMap::Index() {
  std::sort(partitions_.begin(), partitions_.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  std::sort(servers_.begin(), servers_.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  if (partitions_.empty() || partitions_.size() > kPartitionsMax) {
    return Status::InvalidArgument("a slot map has 1.." + std::to_string(kPartitionsMax) +
                                   " partitions");
  }
  for (size_t i = 1; i < servers_.size(); ++i) {
    if (servers_[i].id == servers_[i - 1].id) {
      return Status::InvalidArgument("server " + std::to_string(servers_[i].id) + " twice");
    }
  }
  auto table = std::make_shared<std::array<uint16_t, kSlotCount>>();
  std::vector<bool> taken(kSlotCount, false);
  for (size_t i = 0; i < partitions_.size(); ++i) {
    auto& p = partitions_[i];
    const std::string name = "partition " + std::to_string(p.id);
    if (i > 0 && p.id == partitions_[i - 1].id) return Status::InvalidArgument(name + " twice");
    if (p.replicas.empty() || p.replicas.size() > kReplicasMax) {
      return Status::InvalidArgument(name + " must have 1.." + std::to_string(kReplicasMax) +
                                     " replicas");
    }
    for (size_t a = 0; a < p.replicas.size(); ++a) {
      if (p.replicas[a] == kNoServer) return Status::InvalidArgument(name + ": bad server id");
      for (size_t b = 0; b < a; ++b) {
        if (p.replicas[a] == p.replicas[b]) {
          return Status::InvalidArgument(name + " names server " + std::to_string(p.replicas[a]) +
                                         " twice");
        }
      }
    }
    if (p.spare != kNoServer) {
      if (std::find(p.replicas.begin(), p.replicas.end(), p.spare) != p.replicas.end()) {
        return Status::InvalidArgument(name + "'s spare, server " + std::to_string(p.spare) +
                                       ", is one of its replicas");
      }
      if (std::find(p.replicas.begin(), p.replicas.end(), p.spare_for) == p.replicas.end()) {
        return Status::InvalidArgument(name + "'s spare is for server " +
                                       std::to_string(p.spare_for) + ", not one of its replicas");
      }
      if (p.replicas.size() + 1 > kReplicasMax) {
        return Status::InvalidArgument(name + " has no room for a spare beside " +
                                       std::to_string(p.replicas.size()) + " replicas");
      }
    }
    if (p.spare == kNoServer && p.spare_for != kNoServer) {
      return Status::InvalidArgument(name + " names a spare_for without a spare");
    }
    if (p.ranges.empty()) return Status::InvalidArgument(name + " owns no slot");
    std::sort(p.ranges.begin(), p.ranges.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& r : p.ranges) {
      if (r.first > r.last || r.last >= kSlotCount) {
        return Status::InvalidArgument(name + ": bad slot range " + std::to_string(r.first) + "-" +
                                       std::to_string(r.last));
      }
      for (uint32_t s = r.first; s <= r.last; ++s) {
        if (taken[s]) {
          return Status::InvalidArgument("slot " + std::to_string(s) + " is owned twice");
        }
        taken[s] = true;
        (*table)[s] = static_cast<uint16_t>(i);
      }
    }
  }
  const auto hole = std::find(taken.begin(), taken.end(), false);
  if (hole != taken.end()) {
    return Status::InvalidArgument("slot " + std::to_string(hole - taken.begin()) +
                                   " is owned by no partition");
  }
  owner_table_ = std::move(table);
  owner_ = owner_table_->data();
  return Status::Ok();
}

void SlotMap::EncodeWire(WireWriter& w) const {
  w.U64(version_);
  w.U32(static_cast<uint32_t>(servers_.size()));
  for (const auto& s : servers_) {
    w.U32(s.id);
    w.Str16(s.client_address);
  }
  w.U32(static_cast<uint32_t>(partitions_.size()));
  for (const auto& p : partitions_) {
    w.U32(p.id);
    w.U32(p.primary);
    w.U32(static_cast<uint32_t>(p.replicas.size()));
    for (uint32_t r : p.replicas) w.U32(r);
    w.U32(static_cast<uint32_t>(p.ranges.size()));
    for (const auto& r : p.ranges) {
      w.U16(r.first);
      w.U16(r.last);
    }
  }
}

Result<SlotMap> SlotMap::DecodeWire(std::string_view body) {
  WireReader r(body);
  SlotMap m;
  uint32_t n = 0;
  const auto bad = [](const std::string& what) {
    return Status::Corruption("CLUSTER_MAP answer: " + what);
  };
  if (!r.U64(&m.version_) || !r.Count(&n, 6)) return bad("bad server count");
  m.servers_.resize(n);
  for (auto& s : m.servers_) {
    std::string_view a;
    if (!r.U32(&s.id) || !r.Str16(&a)) return bad("truncated server list");
    s.client_address = std::string(a);
  }
  if (!r.Count(&n, 16)) return bad("bad partition count");
  m.partitions_.resize(n);
  for (auto& p : m.partitions_) {
    uint32_t k = 0;
    if (!r.U32(&p.id) || !r.U32(&p.primary) || !r.Count(&k, 4)) return bad("bad partition");
    if (k > kReplicasMax) return bad("too many replicas");
    p.replicas.resize(k);
    for (auto& x : p.replicas) {
      if (!r.U32(&x)) return bad("truncated replicas");
    }
    if (!r.Count(&k, 4) || k > kSlotCount) return bad("bad range count");
    p.ranges.resize(k);
    for (auto& x : p.ranges) {
      if (!r.U16(&x.first) || !r.U16(&x.last)) return bad("truncated ranges");
    }
  }
  if (!r.ok() || r.remaining() != 0) return bad("malformed or trailing bytes");
  if (Status s = m.Index(); !s.ok()) return bad(s.message());
  return m;
}

const PartitionEntry* SlotMap::Partition(uint32_t id) const {
  auto it = std::lower_bound(partitions_.begin(), partitions_.end(), id,
                             [](const auto& p, uint32_t v) { return p.id < v; });
  return it != partitions_.end() && it->id == id ? &*it : nullptr;
}

std::string SlotMap::AddressOf(uint32_t server) const {
  auto it = std::lower_bound(servers_.begin(), servers_.end(), server,
                             [](const auto& s, uint32_t v) { return s.id < v; });
  return it != servers_.end() && it->id == server ? it->client_address : "";
}

std::string SlotMap::RouteAddress(uint16_t slot) const {
  const auto& p = Owner(slot);
  if (p.primary != kNoServer) {
    if (auto a = AddressOf(p.primary); !a.empty()) return a;
  }
  for (uint32_t r : p.replicas) {
    if (auto a = AddressOf(r); !a.empty()) return a;
  }
  return "";
}

SlotMap SlotMap::WithServing(const std::vector<std::pair<uint32_t, uint32_t>>& primary_of_partition,
                             std::vector<ServerEntry> servers) const {
  SlotMap m = *this;
  m.servers_ = std::move(servers);
  std::sort(m.servers_.begin(), m.servers_.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  for (auto& p : m.partitions_) p.primary = kNoServer;
  for (const auto& [partition, server] : primary_of_partition) {
    for (auto& p : m.partitions_) {
      if (p.id == partition) p.primary = server;
    }
  }
  return m;
}

std::string MovedMessage(uint16_t slot, uint64_t version, uint32_t partition,
                         std::string_view address) {
  return "slot=" + std::to_string(slot) + " version=" + std::to_string(version) +
         " partition=" + std::to_string(partition) + " address=" + std::string(address);
}

namespace {
// The value after "key=" in `text` up to the next space, or nullopt-like npos.
bool Field(std::string_view text, std::string_view key, std::string_view* value) {
  size_t at = 0;
  while ((at = text.find(key, at)) != std::string_view::npos) {
    if ((at == 0 || text[at - 1] == ' ') && at + key.size() < text.size() + 1 &&
        text.substr(at + key.size(), 1) == "=") {
      const size_t start = at + key.size() + 1;
      const size_t end = text.find(' ', start);
      *value = text.substr(start, end == std::string_view::npos ? end : end - start);
      return true;
    }
    at += key.size();
  }
  return false;
}

template <typename T>
bool Number(std::string_view s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

Result<MovedInfo> ParseMoved(std::string_view message) {
  MovedInfo m;
  std::string_view slot, version, partition, address;
  if (!Field(message, "slot", &slot) || !Field(message, "version", &version) ||
      !Field(message, "partition", &partition) || !Field(message, "address", &address) ||
      !Number(slot, &m.slot) || m.slot >= kSlotCount || !Number(version, &m.version) ||
      !Number(partition, &m.partition)) {
    return Status::InvalidArgument("not a MOVED message: " + std::string(message));
  }
  m.address = std::string(address);
  return m;
}

}  // namespace tldb::proto

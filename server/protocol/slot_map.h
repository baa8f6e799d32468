// SlotMap: where every timeline of a sharded cluster lives (docs/cluster.md "Slots" and "The
// map"). A timeline's slot is XXH3-64 of its routing key modulo kSlotCount; the routing key is
// the part inside the first "{...}" when that part is not empty (as Redis hash tags:
// "inbox:{u42}:phone" and "inbox:{u42}:web" share a slot), and the whole key otherwise. The
// map gives every slot to exactly one partition; a partition lists its replicas (server ids,
// the position being the replica's index inside the partition) and, in the form a server
// answers CLUSTER_MAP with, its current primary and every server's client address.
//
// The map's version grows with every change of slots or replicas (etcd holds the versioned
// form, cluster/slot_map_store.h); the primary and the addresses are not part of the version:
// they change with failovers and restarts, and a NOT_PRIMARY answer names the new primary.
//
// Contract: a SlotMap is immutable once made; Make() and DecodeWire() accept only a map where
// the ranges cover every slot exactly once, partition ids are distinct, and every partition
// has 1..kReplicasMax distinct replicas, its spare (if any) not among them and within
// kReplicasMax too. Thread-safe for readers.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/wire.h"
#include "tldb/status.h"

namespace tldb::proto {

// 16,384 slots as Redis Cluster: a map of ranges stays small (a few KiB) while a partition can
// still be split into 16,384 pieces, far more partitions than a cluster of hundreds of nodes
// needs.
inline constexpr uint32_t kSlotCount = 16'384;
// Replicas per partition: 3 is the design (docs/replication.md); 7 leaves room for a move that
// adds before it removes.
inline constexpr uint32_t kReplicasMax = 7;
// Partitions in one map: each owns at least one slot.
inline constexpr uint32_t kPartitionsMax = kSlotCount;
// "No primary known" / "no server".
inline constexpr uint32_t kNoServer = 0xFFFF'FFFF;
static_assert(kSlotCount <= 0x1'0000, "slots are u16 on the wire");
static_assert(kPartitionsMax <= kSlotCount, "every partition owns a slot");

// The part of `timeline` that picks its slot.
std::string_view RoutingKey(std::string_view timeline);
// The slot of `timeline`: XXH3-64 of its routing key, modulo kSlotCount.
uint16_t SlotOf(std::string_view timeline);
// The home slot of a fan-out (docs/cluster.md "Cross-partition fan-out"): the slot of its
// smallest timeline (bytewise), so that any order of the same timelines has the same home.
// 0 for none.
uint16_t FanoutHomeSlot(std::span<const std::string_view> timelines);

struct SlotRange {
  uint16_t first = 0;  // inclusive
  uint16_t last = 0;   // inclusive
};

struct PartitionEntry {
  uint32_t id = 0;
  std::vector<uint32_t> replicas;  // server ids; index = the replica's node id in the partition
  std::vector<SlotRange> ranges;   // sorted, disjoint
  uint32_t primary = kNoServer;    // server id of the serving primary, when known
  // The server a move is adding (the partition's spare, node id = replicas.size(); see
  // docs/cluster.md "Moving a replica"), or kNoServer. Held in etcd's form of the map only:
  // clients route by the replicas and the primary, and DecodeWire leaves it kNoServer.
  uint32_t spare = kNoServer;
  uint32_t spare_for = kNoServer;  // the server whose position the spare will take
};

struct ServerEntry {
  uint32_t id = 0;
  std::string client_address;  // HOST:PORT clients dial ("" when the server is not registered)
};

class SlotMap {
 public:
  // Checks the contract above; InvalidArgument naming the first fault.
  [[nodiscard]] static Result<SlotMap> Make(uint64_t version,
                                            std::vector<PartitionEntry> partitions,
                                            std::vector<ServerEntry> servers = {});
  // `partitions` partitions of contiguous, equal slot ranges (the last takes the rest); the
  // replicas of partition p are servers[(p + i) % servers.size()] for i < replicas, so
  // primaries (replica 0 is the first to campaign) spread over the servers.
  [[nodiscard]] static Result<SlotMap> Even(uint64_t version, uint32_t partitions,
                                            const std::vector<uint32_t>& servers,
                                            uint32_t replicas);
  // The CLUSTER_MAP body (docs/protocol.md): version u64, servers list<{id u32, client str16}>,
  // partitions list<{id u32, primary u32, replicas list<u32>, ranges list<{first u16, last u16}>}>.
  void EncodeWire(WireWriter& w) const;
  [[nodiscard]] static Result<SlotMap> DecodeWire(std::string_view body);

  uint64_t version() const { return version_; }
  const std::vector<PartitionEntry>& partitions() const { return partitions_; }
  const std::vector<ServerEntry>& servers() const { return servers_; }
  // The partition that owns `slot` (never null in a made map).
  const PartitionEntry& Owner(uint16_t slot) const { return partitions_[owner_[slot]]; }
  // The partition `id`, or null.
  const PartitionEntry* Partition(uint32_t id) const;
  // The client address of server `id` ("" when unknown).
  std::string AddressOf(uint32_t server) const;
  // Where a request for `slot` goes: the owner's primary when known and registered, else its
  // first replica with an address, else "".
  std::string RouteAddress(uint16_t slot) const;
  // The same map with other primaries and addresses (same version, same slots).
  SlotMap WithServing(const std::vector<std::pair<uint32_t, uint32_t>>& primary_of_partition,
                      std::vector<ServerEntry> servers) const;

 private:
  SlotMap() = default;
  [[nodiscard]] Status Index();  // checks the contract and fills owner_

  uint64_t version_ = 0;
  std::vector<PartitionEntry> partitions_;  // sorted by id
  std::vector<ServerEntry> servers_;        // sorted by id
  // owner_[slot]: index into partitions_. Shared so that copies stay cheap.
  std::shared_ptr<std::array<uint16_t, kSlotCount>> owner_table_;
  const uint16_t* owner_ = nullptr;
};

// The text of a MOVED error: "slot=S version=V partition=P address=HOST:PORT" (address empty
// when unknown), and its parse. A client that cannot parse it refreshes the whole map.
std::string MovedMessage(uint16_t slot, uint64_t version, uint32_t partition,
                         std::string_view address);
struct MovedInfo {
  uint16_t slot = 0;
  uint64_t version = 0;
  uint32_t partition = 0;
  std::string address;
};
[[nodiscard]] Result<MovedInfo> ParseMoved(std::string_view message);

}  // namespace tldb::proto

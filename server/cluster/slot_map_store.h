// SlotMapStore: a sharded cluster's slot map and server registrations in etcd
// (docs/cluster.md "The map"). Keys, under the cluster's prefix (default "/tldb/"):
//   <prefix>slotmap       the map as JSON: {"version": V, "partitions": [{"id": P,
//                         "replicas": [S, ...], "slots": [[FIRST, LAST], ...]}, ...]};
//                         a partition a move is adding a replica to also has "spare": T
//                         (the server added) and "spare_for": S (whose position T takes)
//   <prefix>servers/<id>  a server's client address, {"client": "HOST:PORT"}, on its lease
//
// Contract:
// - Every map read or written passes SlotMap::Make (ranges cover every slot once, distinct
//   partition ids, 1..7 distinct replicas); a stored map that does not is Corruption, one
//   offered for writing InvalidArgument, and nothing is written.
// - Load(): NotFound when no map is stored.
// - Create(): writes version 1 only when no map exists (AlreadyExists otherwise).
// - Update(from, next): next.version must be from.version + 1; written only if the key's
//   mod_revision is still from.mod_revision (one etcd transaction), Conflict otherwise, so two
//   changes never interleave.
// - Thread-safe as the EtcdClient it uses (which must outlive it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "cluster/etcd_client.h"
#include "protocol/slot_map.h"

namespace tldb::cluster {

struct StoredSlotMap {
  proto::SlotMap map;
  int64_t mod_revision = 0;  // of the slotmap key when read or written
};

class SlotMapStore {
 public:
  SlotMapStore(EtcdClient& client, std::string prefix)
      : client_(client), prefix_(std::move(prefix)) {}

  std::string MapKey() const { return prefix_ + "slotmap"; }
  std::string ServerKey(uint32_t server) const {
    return prefix_ + "servers/" + std::to_string(server);
  }

  [[nodiscard]] Result<StoredSlotMap> Load();
  [[nodiscard]] Result<StoredSlotMap> Create(const proto::SlotMap& map);
  [[nodiscard]] Result<StoredSlotMap> Update(const StoredSlotMap& from, const proto::SlotMap& next);

  // Puts servers/<id> on `lease` (0: none).
  [[nodiscard]] Status RegisterServer(uint32_t server, std::string_view client_address,
                                      int64_t lease);
  // Every registered server's client address, by server id (entries that do not parse are
  // skipped).
  [[nodiscard]] Result<std::map<uint32_t, std::string>> Servers();
  // `map` with every partition's primary (partitions/<P>/leader: a replica index, mapped to its
  // server id) and every registered server's address: what CLUSTER_MAP answers.
  [[nodiscard]] Result<proto::SlotMap> Serving(const proto::SlotMap& map);

  // The JSON form (without primaries and addresses, which are not part of the map) and its
  // parse, checked by SlotMap::Make (InvalidArgument naming the fault).
  static std::string ToJson(const proto::SlotMap& map);
  [[nodiscard]] static Result<proto::SlotMap> FromJson(std::string_view json);

 private:
  EtcdClient& client_;
  const std::string prefix_;
};

}  // namespace tldb::cluster

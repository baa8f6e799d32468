// SlotMapHistory: every version of a sharded cluster's slot map that etcd still holds, read
// from etcd itself: the map key is changed only by transactions (docs/cluster.md "The map"), and
// etcd keeps every revision of a key until its history is compacted, so a watch of the key from
// revision 1 delivers each version once. Versions must run 1, 2, ... without a gap (Corruption
// otherwise, NotFound when the history was compacted away). For the checks of the process tests and
// the sharded soak (ShardSoak).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/etcd_client.h"
#include "cluster/etcd_watch.h"
#include "cluster/slot_map_store.h"
#include "protocol/slot_map.h"

namespace tldb::faults {

inline Result<std::map<uint64_t, proto::SlotMap>> SlotMapHistory(
    const cluster::EtcdClientOptions& options, const std::string& prefix = "/tldb/") {
  TLDB_ASSIGN_OR_RETURN(auto etcd, cluster::EtcdClient::Create(options));
  cluster::SlotMapStore store(*etcd, prefix);
  TLDB_ASSIGN_OR_RETURN(cluster::StoredSlotMap now, store.Load());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> values;
  int64_t last = 0;
  Status ended = Status::Ok();
  bool over = false;
  cluster::WatchSpec spec;
  spec.key = store.MapKey();
  spec.start_revision = 1;
  spec.on_events = [&](const std::vector<cluster::WatchEvent>& events) {
    std::lock_guard l(mu);
    for (const cluster::WatchEvent& e : events) {
      if (e.type == cluster::WatchEvent::Type::kPut) values.push_back(e.kv.value);
      last = e.kv.mod_revision;
    }
    cv.notify_all();
  };
  spec.on_end = [&](const Status& s) {
    std::lock_guard l(mu);
    ended = s;
    over = true;
    cv.notify_all();
  };
  TLDB_ASSIGN_OR_RETURN(auto watch, etcd->Watch(std::move(spec)));
  {
    std::unique_lock l(mu);
    cv.wait_for(l, std::chrono::seconds(30), [&] { return over || last >= now.mod_revision; });
  }
  watch->Stop();
  if (!ended.ok()) return ended;
  if (last < now.mod_revision) return Status::TimedOut("the map's history was not delivered");
  std::map<uint64_t, proto::SlotMap> out;
  for (const std::string& v : values) {
    TLDB_ASSIGN_OR_RETURN(proto::SlotMap m, cluster::SlotMapStore::FromJson(v));
    const uint64_t version = m.version();
    if (version != out.size() + 1) {
      return Status::Corruption("slot map history: version " + std::to_string(version) + " after " +
                                std::to_string(out.size()) + " versions");
    }
    out.emplace(version, std::move(m));
  }
  return out;
}

}  // namespace tldb::faults

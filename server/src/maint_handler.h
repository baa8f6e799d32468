// MaintHandler: the administrative requests. STATS, NS_LIST and NS_DESCRIBE are answered
// inline, and so is CLUSTER_MAP (from the cluster's cached map); NS_CREATE and NS_SET_OPTIONS run on the admin thread (the engine's catalog is
// rewritten and fsynced there) and are answered through the loop's queue; COMPACT queues a job
// on the compaction thread and answers at once with its id, and COMPACT_STATUS reports that
// job's progress.
//
// Contract: one per Loop; its request methods and completions run on that loop's thread only,
// the tasks it posts to the admin thread run there. On the loop it blocks on nothing: it reads
// the catalog and counters from memory and takes the CompactionJobs lock for a moment; what
// may block (a catalog fsync) is on the admin thread. Owns no lock and no state.
#pragma once

#include <cstdint>
#include <string_view>

#include "connection.h"
#include "handler_context.h"

namespace tldb::server {

class MaintHandler {
 public:
  explicit MaintHandler(HandlerContext& ctx) : ctx_(ctx) {}

  void Stats(Connection& c, uint64_t id, std::string_view body);
  void NsCreate(Connection& c, uint64_t id, std::string_view body);
  void NsList(Connection& c, uint64_t id, std::string_view body);
  void NsDescribe(Connection& c, uint64_t id, std::string_view body);
  void NsSetOptions(Connection& c, uint64_t id, std::string_view body);
  void Compact(Connection& c, uint64_t id, std::string_view body);
  void CompactStatus(Connection& c, uint64_t id, std::string_view body);
  void ClusterMap(Connection& c, uint64_t id, std::string_view body);

 private:
  HandlerContext& ctx_;
};

}  // namespace tldb::server

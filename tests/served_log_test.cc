// ServedLog (tools/faults/served_log.h): the check that no request was answered by a server that
// held no replica of the slot's partition at the map version it routed by. The checker over a
// made-up map history (a replica moved between versions 1 and 2), and the whole path, recorder
// and checker, against in-process servers (shard_cluster_util.h) when one of them is made to
// serve a partition it holds no replica of: the answers it gives are reported, and none when
// every server keeps to the map.
#include "served_log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "shard_cluster_util.h"

namespace tldb::testing {
namespace {

using faults::ServedLog;
using faults::ServedRecord;

// Versions 1 and 2 of a map of two partitions over servers 0..2: partition 0 on [0, 1] at
// version 1, its replica 0 moved to server 2 at version 2; partition 1 on [1, 2] at both.
std::map<uint64_t, SlotMap> History() {
  std::map<uint64_t, SlotMap> h;
  for (uint64_t v : {1, 2}) {
    std::vector<proto::PartitionEntry> parts(2);
    parts[0] = {0, {v == 1 ? 0u : 2u, 1}, {{0, 8191}}, proto::kNoServer};
    parts[1] = {1, {1, 2}, {{8192, 16383}}, proto::kNoServer};
    auto m = SlotMap::Make(v, std::move(parts));
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    h.emplace(v, std::move(m).value());
  }
  return h;
}

TEST(ServedLogTest, AnAnswerIsVouchedForOnlyByAVersionThatListsTheServer) {
  const std::map<std::string, uint32_t> servers = {{"s0", 0}, {"s1", 1}, {"s2", 2}};
  struct Case {
    ServedRecord r;
    bool violation;
  };
  const Case cases[] = {
      {{"s0", 10, 1, 1, "s0 at v1"}, false},
      {{"s0", 10, 2, 2, "s0 at v2, moved away"}, true},
      {{"s0", 10, 1, 2, "s0 between v1 and v2"}, false},
      {{"s2", 10, 1, 1, "s2 at v1, not yet there"}, true},
      {{"s2", 10, 2, 2, "s2 at v2"}, false},
      {{"s0", 9000, 1, 1, "s0 for partition 1"}, true},
      {{"s1", 9000, 1, 2, "s1 for partition 1"}, false},
      {{"s0", 10, 2, 0, "s0 from v2, probe after failed"}, true},
      {{"s0", 10, 1, 0, "s0 from v1, probe after failed"}, false},
      {{"s1", 10, 3, 3, "s1 at a version not in the history"}, true},
      {{"s9", 10, 1, 1, "an unknown server"}, true},
  };
  for (const Case& c : cases) {
    ServedLog log;
    log.Add(c.r);
    const auto v = log.Check(History(), servers);
    EXPECT_EQ(v.size(), c.violation ? 1u : 0u) << c.r.what << (v.empty() ? "" : ": " + v[0]);
  }
  ServedLog log;
  log.Add({"s1", 10, 1, 1, "x"});
  EXPECT_EQ(log.Check({}, servers).size(), 1u);  // no history: nothing is vouched for
}

// Appends through a ClusterClient to timelines of every partition, each answer recorded by
// ServedLog::Served as the workload records them.
void AppendRecorded(ClusterClient& cc, ServedLog& log, const std::vector<std::string>& timelines) {
  for (const std::string& t : timelines) {
    auto r = cc.CallFor<AppendResult>(t, [&](Client& c) -> Result<AppendResult> {
      Result<AppendResult> out = Status::IOError("not sent");
      TLDB_RETURN_IF_ERROR(log.Served(c, SlotOf(t), "append to " + t, [&] {
        out = c.Append("store", t, "x");
        return out.status();
      }));
      return out;
    });
    ASSERT_TRUE(r.ok()) << t << ": " << r.status().ToString();
  }
}

TEST_F(ShardTest, ServedLogCatchesAServerServingAPartitionItHoldsNoReplicaOf) {
  std::map<std::string, uint32_t> servers;
  for (uint32_t id = 0; id < kServers; ++id) servers[cluster_.addresses[id]] = id;
  std::map<uint64_t, SlotMap> history;
  {
    std::lock_guard l(cluster_.mu);
    history.emplace(1, *cluster_.map);
  }
  auto cc = NewClient();
  ASSERT_TRUE(cc);
  const std::vector<std::string> timelines = TimelinesIn({0, 1, 2, 0, 1, 2});

  ServedLog good;
  AppendRecorded(*cc, good, timelines);
  EXPECT_EQ(good.records().size(), timelines.size());
  for (const ServedRecord& r : good.records()) {
    EXPECT_EQ(r.version_before, 1u);
    EXPECT_EQ(r.version_after, 1u);
  }
  EXPECT_TRUE(good.Check(history, servers).empty());

  // Partition 0's replicas are servers 0 and 1; server 2 now serves it (a broken server), and
  // server 0 sends clients there (NOT_PRIMARY naming it).
  {
    std::lock_guard l(cluster_.mu);
    cluster_.serving[0] = 2;
  }
  ServedLog broken;
  AppendRecorded(*cc, broken, timelines);
  const auto v = broken.Check(history, servers);
  ASSERT_EQ(v.size(), 2u);  // the two timelines of partition 0
  for (const std::string& line : v) {
    EXPECT_NE(line.find("answered by " + cluster_.addresses[2]), std::string::npos) << line;
    EXPECT_NE(line.find("v1: partition 0"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace tldb::testing

// ClusterClient against a sharded cluster (docs/cluster.md "Clients"), over the in-process
// cluster of shard_cluster_util.h: routing, stale maps, redirects, split multi-timeline
// requests and redirect loops; and against an unsharded server.
#include <chrono>
#include <string>
#include <vector>

#include "shard_cluster_util.h"

namespace tldb::testing {
namespace {

using proto::SlotOf;

TEST_F(ShardTest, ClientClusterMapDecodesTheServersMap) {
  ClientOptions o;
  o.server = cluster_.addresses[1];
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  auto m = (*c)->ClusterMap();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->version(), 1u);
  ASSERT_EQ(m->partitions().size(), 3u);
  EXPECT_EQ(m->partitions()[1].primary, 1u);
  EXPECT_EQ(m->AddressOf(2), cluster_.addresses[2]);
  EXPECT_EQ(m->RouteAddress(SlotOf("conv:1")),
            cluster_.addresses[m->Owner(SlotOf("conv:1")).primary]);
}

TEST_F(ShardTest, EachTimelineGoesToItsPartitionsPrimary) {
  auto cc = NewClient();
  ASSERT_TRUE(cc);
  const auto tls = TimelinesIn({0, 1, 2, 0, 1, 2});
  for (const auto& t : tls) {
    auto r = cc->Append("store", t, "m:" + t);
    ASSERT_TRUE(r.ok()) << t << ": " << r.status().ToString();
    EXPECT_EQ(r->seq, 1u);
  }
  EXPECT_TRUE(cc->sharded());
  EXPECT_EQ(cc->map_version(), 1u);
  EXPECT_EQ(cc->moved(), 0u);  // routed right the first time: no server was asked in vain
  EXPECT_EQ(cc->redirects(), 0u);
  for (uint32_t id = 0; id < kServers; ++id) {
    std::set<std::string> want;
    for (const auto& t : tls) {
      if (PartitionOf(t) == id) want.insert(t);
    }
    EXPECT_EQ(nodes_[id].db->seen(), want) << "server " << id;
  }
  for (const auto& t : tls) {
    auto m = cc->Get("store", t, 1);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->payload, "m:" + t);
    auto s = cc->Scan("store", t, ScanOptions{});
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->size(), 1u);
  }
  EXPECT_EQ(cc->moved(), 0u);
  EXPECT_EQ(cluster_.map_requests.load(), 1);  // asked once, at the first call
}

TEST_F(ShardTest, MultiTimelineCallsAreSplitAndAnsweredInRequestOrder) {
  auto cc = NewClient();
  ASSERT_TRUE(cc);
  // Interleaved partitions, so that putting answers back in order is what is tested.
  const auto tls = TimelinesIn({2, 0, 1, 1, 0, 2});
  for (size_t i = 0; i < tls.size(); ++i) {
    for (size_t k = 0; k <= i; ++k) {  // timeline i gets i+1 messages
      ASSERT_TRUE(cc->Append("store", tls[i], tls[i] + "#" + std::to_string(k + 1)).ok());
    }
  }
  auto views = Views(tls);
  auto last = cc->LastSeq("store", views);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(*last, (std::vector<Seq>{1, 2, 3, 4, 5, 6}));

  std::vector<TimelineAfter> after;
  for (size_t i = 0; i < tls.size(); ++i) after.push_back({tls[i], static_cast<Seq>(i)});
  auto read = cc->ReadMulti("store", after);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  ASSERT_EQ(read->size(), tls.size());
  for (size_t i = 0; i < tls.size(); ++i) {
    // after_seq i of i+1 messages: just the last one.
    ASSERT_EQ((*read)[i].messages.size(), 1u) << i;
    EXPECT_EQ((*read)[i].messages[0].payload, tls[i] + "#" + std::to_string(i + 1));
    EXPECT_EQ((*read)[i].last_seq, i + 1);
  }

  for (size_t i = 0; i < tls.size(); ++i) {
    auto set = cc->SetCursor("phone", "store", tls[i], 1);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
  }
  auto cursors = cc->GetCursors("phone", "store", views);
  ASSERT_TRUE(cursors.ok()) << cursors.status().ToString();
  ASSERT_EQ(cursors->size(), tls.size());
  for (size_t i = 0; i < tls.size(); ++i) {
    EXPECT_EQ((*cursors)[i].cursor, 1u);
    EXPECT_EQ((*cursors)[i].last_seq, i + 1);
    EXPECT_EQ((*cursors)[i].unread, i);
  }

  // A fan-out over three partitions: one APPEND_FANOUT each, results in request order.
  AppendOptions opts;
  opts.client_msg_id = "fan-1";
  auto fan = cc->AppendFanout("store", views, "fan", opts);
  ASSERT_TRUE(fan.ok()) << fan.status().ToString();
  ASSERT_EQ(fan->size(), tls.size());
  for (size_t i = 0; i < tls.size(); ++i) EXPECT_EQ((*fan)[i].seq, i + 2) << i;
  for (uint32_t id = 0; id < kServers; ++id) EXPECT_EQ(nodes_[id].db->fanouts(), 1) << id;
  // Retried whole with the same id (as after a failure half way): every part is deduplicated.
  auto again = cc->AppendFanout("store", views, "fan", opts);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  for (size_t i = 0; i < tls.size(); ++i) EXPECT_EQ((*again)[i].seq, i + 2) << i;
  auto after_fan = cc->LastSeq("store", views);
  ASSERT_TRUE(after_fan.ok());
  EXPECT_EQ(*after_fan, (std::vector<Seq>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(cc->moved(), 0u);
}

TEST_F(ShardTest, FanoutCutShortByAFailedPartIsCompletedByARetryWithTheSameId) {
  auto cc = NewClient(/*retry_ms_max=*/500);
  ASSERT_TRUE(cc);
  const auto tls = TimelinesIn({0, 1, 2, 2});
  auto views = Views(tls);
  {
    // Partition 2 cannot be served: its replicas answer NOT_PRIMARY naming no primary.
    std::lock_guard l(cluster_.mu);
    cluster_.serving[2] = 7;
  }
  AppendOptions opts;
  opts.client_msg_id = "fan-cut";
  auto cut = cc->AppendFanout("store", views, "m", opts);
  ASSERT_FALSE(cut.ok());
  // Parts go in partition order: partitions 0 and 1 got the message, partition 2 did not.
  auto mid = cc->LastSeq("store", std::span(views).first(2));
  ASSERT_TRUE(mid.ok()) << mid.status().ToString();
  EXPECT_EQ(*mid, (std::vector<Seq>{1, 1}));
  EXPECT_EQ(nodes_[2].db->fanouts(), 0);
  {
    std::lock_guard l(cluster_.mu);
    cluster_.serving.clear();
  }
  auto done = cc->AppendFanout("store", views, "m", opts);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  for (const auto& r : *done) EXPECT_EQ(r.seq, 1u);
  EXPECT_TRUE((*done)[0].deduplicated);  // written by the first call
  EXPECT_TRUE((*done)[1].deduplicated);
  EXPECT_FALSE((*done)[2].deduplicated);  // written now
  auto last = cc->LastSeq("store", views);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, (std::vector<Seq>{1, 1, 1, 1}));  // once each, no duplicate
}

TEST_F(ShardTest, StaleMapIsFixedByMovedAndOneRefresh) {
  auto cc = NewClient();
  ASSERT_TRUE(cc);
  const auto tls = TimelinesIn({0, 1, 2});
  for (const auto& t : tls) ASSERT_TRUE(cc->Append("store", t, "v1").ok());
  ASSERT_EQ(cc->map_version(), 1u);
  ASSERT_EQ(cluster_.map_requests.load(), 1);

  // Version 2: every partition's primary moves to another server; the client still has v1,
  // so its next request goes to a server that no longer serves the slot.
  SetMap(2, {1, 2, 0});
  auto r = cc->Append("store", tls[0], "v2");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(cc->map_version(), 2u);
  EXPECT_GE(cc->moved(), 1u);
  EXPECT_EQ(cluster_.map_requests.load(), 2);       // one refresh for version 2
  EXPECT_TRUE(nodes_[1].db->seen().count(tls[0]));  // partition 0's new primary served it

  // The refreshed map routes everything right: no more MOVED, no more refresh.
  const uint64_t moved = cc->moved();
  for (const auto& t : tls) ASSERT_TRUE(cc->Append("store", t, "again").ok());
  EXPECT_EQ(cc->moved(), moved);
  EXPECT_EQ(cluster_.map_requests.load(), 2);

  // A split request with a stale map whose partitions have other ranges: the parts are MOVED,
  // the map refreshed once, the request split again by the new partitions, and the answers
  // still come back in request order. Partition 1 of version 2 straddles the border of the
  // new halves (slot 8192): its part is grouped by the old map and must be split again too,
  // not sent to one server after partition 0's part brought the new map. (The test's Dbs do
  // not move data with the slots: the expected values are read from each timeline's new owner.)
  proto::SlotRange p1;
  {
    std::lock_guard l(cluster_.mu);
    p1 = cluster_.map->Partition(1)->ranges.at(0);
  }
  ASSERT_LT(p1.first, 8192);
  ASSERT_GE(p1.last, 8192);
  const std::vector<std::string> split = {tls[0], TimelineInSlots(p1.first, 8191),
                                          TimelineInSlots(8192, p1.last), tls[2]};
  SetHalvesMap(3);
  std::vector<Seq> want;
  for (size_t i = 0; i < split.size(); ++i) {
    ClientOptions o;
    o.server = cluster_.addresses[PartitionOf(split[i])];  // partition p is on server p
    auto direct = Client::Connect(o);
    ASSERT_TRUE(direct.ok());
    for (size_t k = 0; k < 10 * (i + 1); ++k) {
      ASSERT_TRUE((*direct)->Append("store", split[i], "x").ok());
    }
    std::string_view one[] = {split[i]};
    auto l = (*direct)->LastSeq("store", one);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    want.push_back(l->front());
  }
  auto views = Views(split);
  auto last = cc->LastSeq("store", views);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(*last, want);
  EXPECT_EQ(cc->map_version(), 3u);
  EXPECT_EQ(cluster_.map_requests.load(), 3);
  EXPECT_GT(cc->moved(), moved);

  // RefreshMap asks even when nothing is stale.
  ASSERT_TRUE(cc->RefreshMap().ok());
  EXPECT_EQ(cluster_.map_requests.load(), 4);
  EXPECT_EQ(cc->map_version(), 3u);
}

TEST_F(ShardTest, AFailedRefreshIsAskedAgainByALaterMoved) {
  auto cc = NewClient();
  ASSERT_TRUE(cc);
  const auto tls = TimelinesIn({0, 0});
  ASSERT_TRUE(cc->Append("store", tls[0], "a").ok());
  SetMap(2, {1, 2, 0});
  cluster_.map_fails = true;
  ASSERT_TRUE(cc->Append("store", tls[0], "b").ok());  // MOVED's address is enough
  EXPECT_EQ(cc->map_version(), 1u);
  EXPECT_EQ(cluster_.map_requests.load(), 2);
  cluster_.map_fails = false;
  ASSERT_TRUE(cc->Append("store", tls[1], "c").ok());
  EXPECT_EQ(cc->map_version(), 2u);
  EXPECT_EQ(cluster_.map_requests.load(), 3);
}

TEST_F(ShardTest, NotPrimaryWithinAPartitionIsFollowedAndRemembered) {
  auto cc = NewClient();
  ASSERT_TRUE(cc);
  const auto tls = TimelinesIn({1, 1});
  ASSERT_TRUE(cc->Append("store", tls[0], "a").ok());
  {
    // A failover the map does not show yet: partition 1 is served by its other replica.
    std::lock_guard l(cluster_.mu);
    cluster_.serving[1] = 2;
  }
  ASSERT_TRUE(cc->Append("store", tls[0], "b").ok());
  EXPECT_EQ(cc->redirects(), 1u);
  EXPECT_EQ(cc->moved(), 0u);
  ASSERT_TRUE(cc->Append("store", tls[1], "c").ok());
  EXPECT_EQ(cc->redirects(), 1u);  // remembered: straight to server 2
  EXPECT_TRUE(nodes_[2].db->seen().count(tls[1]));
  EXPECT_FALSE(nodes_[1].db->seen().count(tls[1]));
}

TEST_F(ShardTest, RedirectLoopEndsAtRetryMax) {
  auto cc = NewClient(/*retry_ms_max=*/500);
  ASSERT_TRUE(cc);
  const auto tls = TimelinesIn({0, 1});
  ASSERT_TRUE(cc->Append("store", tls[0], "before").ok());
  {
    // Every server now sends the client to the next one, claiming a newer map it never gives.
    std::lock_guard l(cluster_.mu);
    cluster_.storm_version = 9;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto r = cc->Append("store", tls[0], "storm");
  EXPECT_EQ(r.status().code(), Status::Code::kMoved) << r.status().ToString();
  const int64_t ms = ElapsedMs(t0);
  EXPECT_GE(ms, 500);
  EXPECT_LT(ms, 30'000);  // bounded by retry_ms_max (a generous bound for a loaded machine)
  EXPECT_GT(cc->moved(), 2u);
  // The map was fetched again once for version 9, not once per MOVED.
  EXPECT_EQ(cluster_.map_requests.load(), 2);
  // A split request ends too.
  auto views = Views(tls);
  auto last = cc->LastSeq("store", views);
  EXPECT_EQ(last.status().code(), Status::Code::kMoved);
  EXPECT_EQ(cluster_.map_requests.load(), 2);
}

TEST_F(ShardTest, UnparsableMovedFetchesTheMapOncePerCall) {
  auto cc = NewClient(/*retry_ms_max=*/300);
  ASSERT_TRUE(cc);
  const auto tls = TimelinesIn({1});
  ASSERT_TRUE(cc->Append("store", tls[0], "a").ok());
  ASSERT_EQ(cluster_.map_requests.load(), 1);
  {
    std::lock_guard l(cluster_.mu);
    cluster_.garbled_moved = true;
  }
  auto r = cc->Append("store", tls[0], "b");
  EXPECT_EQ(r.status().code(), Status::Code::kMoved);
  EXPECT_EQ(cluster_.map_requests.load(), 2);
  EXPECT_GT(cc->moved(), 1u);
  {
    std::lock_guard l(cluster_.mu);
    cluster_.garbled_moved = false;
  }
  ASSERT_TRUE(cc->Append("store", tls[0], "c").ok());
  EXPECT_EQ(cluster_.map_requests.load(), 2);
}

TEST(ShardUnshardedTest, WithoutAMapTheClientBehavesAsBefore) {
  TestServer ts;  // no cluster_map provider: CLUSTER_MAP answers NOT_SUPPORTED
  {
    auto c = ts.Connect();
    ASSERT_TRUE(c);
    EXPECT_EQ(c->ClusterMap().status().code(), Status::Code::kNotSupported);
  }
  ClusterClientOptions o;
  o.servers = {ts.address()};
  auto cc = ClusterClient::Connect(o);
  ASSERT_TRUE(cc.ok());
  std::vector<std::string_view> tls = {"u:a", "u:b", "u:c"};
  auto fan = (*cc)->AppendFanout("store", tls, "x");
  ASSERT_TRUE(fan.ok()) << fan.status().ToString();
  ASSERT_TRUE((*cc)->Append("store", "u:b", "y").ok());
  auto last = (*cc)->LastSeq("store", tls);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, (std::vector<Seq>{1, 2, 1}));
  const TimelineAfter after[] = {{"u:b", 1}};
  auto read = (*cc)->ReadMulti("store", after);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ((*read)[0].messages.size(), 1u);
  EXPECT_EQ((*read)[0].messages[0].payload, "y");
  EXPECT_FALSE((*cc)->sharded());
  EXPECT_EQ((*cc)->map_version(), 0u);
  EXPECT_EQ((*cc)->current(), ts.address());
  EXPECT_TRUE((*cc)->RefreshMap().ok());  // still unsharded
  EXPECT_FALSE((*cc)->sharded());
}

}  // namespace
}  // namespace tldb::testing

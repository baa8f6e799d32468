// EtcdCoordinator's registration (server/cluster/etcd_coordinator.h) against a real etcd: the
// node key holds the replica's addresses and its incarnation, Nodes() reads them back, a
// restart of the same server takes its own key over, and a server whose position now runs
// elsewhere (moved while it was cut off from etcd) does not take the key back. Without etcd
// installed these tests fail.
#include "cluster/etcd_coordinator.h"

#include <gtest/gtest.h>

#include "cluster/testing/etcd_test.h"

namespace tldb::cluster {
namespace {

using tldb::cluster::testing::EtcdTest;

class EtcdCoordinatorTest : public EtcdTest {
 protected:
  // Replica 1 of partition 0, run by the server at `client` as `incarnation`.
  Result<std::unique_ptr<EtcdCoordinator>> Run(const std::string& client, uint64_t incarnation) {
    EtcdCoordinatorOptions o;
    o.etcd = etcd_.ClientOptions();
    o.prefix = "/t/";
    o.node = 1;
    o.client_address = client;
    o.peer_address = client + "0";
    o.incarnation = incarnation;
    return EtcdCoordinator::Start(std::move(o));
  }
  // A registration refused because the key names the server at `runs_at`.
  static void ExpectRefused(const Result<std::unique_ptr<EtcdCoordinator>>& r,
                            const std::string& runs_at) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kBusy) << r.status().ToString();
    EXPECT_NE(r.status().message().find("now runs at " + runs_at), std::string::npos)
        << r.status().ToString();
  }
  uint64_t NamedIncarnation(EtcdCoordinator& c) {
    auto nodes = c.Nodes();
    EXPECT_TRUE(nodes.ok()) << nodes.status().ToString();
    if (!nodes.ok() || nodes->count(1) == 0) return 0;
    return nodes->at(1).incarnation;
  }
};

TEST_F(EtcdCoordinatorTest, TheNodeKeyNamesTheIncarnationAndOnlyItsServerTakesItOver) {
  auto a = Run("10.0.0.1:7070", 0xfedcba9876543210ull);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(NamedIncarnation(**a), 0xfedcba9876543210ull) << "all 64 bits survive the JSON";
  auto nodes = (*a)->Nodes();
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ(nodes->at(1).client, "10.0.0.1:7070");
  EXPECT_EQ(nodes->at(1).peer, "10.0.0.1:70700");

  // The same server again (a restart while its old lease lives): its key is taken over.
  auto again = Run("10.0.0.1:7070", 7);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(NamedIncarnation(**again), 7u);

  // Another server while the key names this one: refused, and the key is left as it was.
  ExpectRefused(Run("10.0.0.2:7070", 8), "10.0.0.1:7070");
  EXPECT_EQ(NamedIncarnation(**again), 7u);

  // The position moves: the first server's replica leaves, the second registers...
  a->reset();
  ASSERT_TRUE((*again)->Unregister().ok());
  auto moved = Run("10.0.0.2:7070", 9);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(NamedIncarnation(**moved), 9u);
  // ... and the first server, back from a cut (its lease lost, so it registers again), does
  // not take the position back: its peers go on dropping its messages.
  ExpectRefused(Run("10.0.0.1:7070", 10), "10.0.0.2:7070");
  EXPECT_EQ(NamedIncarnation(**moved), 9u);
}

// A node key written before incarnations existed (or by hand) names none: read as 0, which
// peers take as "not fenced" rather than dropping the node.
TEST_F(EtcdCoordinatorTest, AKeyWithoutAnIncarnationReadsAsNone) {
  auto a = Run("10.0.0.1:7070", 5);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(client_->Put("/t/partitions/0/nodes/2", R"({"client":"c:1","peer":"c:2"})").ok());
  ASSERT_TRUE(client_
                  ->Put("/t/partitions/0/nodes/3", R"({"client":"c:1","peer":"c:2",)"
                                                   R"("incarnation":"x"})")
                  .ok());
  auto nodes = (*a)->Nodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->count(2), 1u);
  EXPECT_EQ(nodes->at(2).incarnation, 0u);
  EXPECT_EQ(nodes->count(3), 0u) << "a key that does not parse is skipped";
}

}  // namespace
}  // namespace tldb::cluster

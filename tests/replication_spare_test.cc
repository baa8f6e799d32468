// The partition's spare (ReplicaConfig::node == nodes), simulated: the replica a move adds
// before it removes another (docs/cluster.md "Moving a replica"). It follows like a learner and
// is told when it holds every committed frame, but never counts: with only the primary and the
// spare reachable nothing commits, and with the primary gone the spare never leads. Its
// directory then opens as a voter's position, as a learner, and votes once it holds every
// committed frame again; one that lacks frames committed after it last caught up never forms a
// majority that could lose them.
#include <gtest/gtest.h>

#include "replication_sim_cluster.h"

namespace tldb::repl {
namespace {

constexpr uint32_t kSpare = SimCluster::kSpare;

void AddAppends(SimCluster& c, int n, uint64_t* next) {
  for (int i = 0; i < n; ++i, ++*next) {
    c.ledger().Add(kSimNamespaces[*next % 2], "t" + std::to_string(*next % 11),
                   "spare payload " + std::to_string(*next));
  }
}

// Drives appends until the spare is told it caught up; false if it is not within `steps_max`.
bool UntilSpareCaughtUp(SimCluster& c, int steps_max = 100'000) {
  for (int i = 0; i < steps_max; ++i) {
    c.Client(16);
    c.Step();
    if (c.replica(kSpare).status().spare_caught_up) return true;
  }
  return false;
}

// An elected primary with `appends` appends settled on every replica; none after a failed
// assertion.
std::optional<uint32_t> ElectedWithAppends(SimCluster& c, int appends, uint64_t* next) {
  auto p = Elect(c);
  EXPECT_TRUE(p);
  if (!p) return std::nullopt;
  AddAppends(c, appends, next);
  if (!c.Settle(200'000)) {
    ADD_FAILURE() << "the appends did not settle";
    return std::nullopt;
  }
  return p;
}

// An elected primary, `appends` appends settled, then a spare started and caught up. The primary,
// or none after a failed assertion.
std::optional<uint32_t> WithCaughtUpSpare(SimCluster& c, int appends, uint64_t* next) {
  auto p = ElectedWithAppends(c, appends, next);
  if (!p) return std::nullopt;
  c.StartSpare();
  AddAppends(c, appends / 2, next);
  const bool told = UntilSpareCaughtUp(c);
  EXPECT_TRUE(told) << "the spare was never told it holds every committed frame";
  if (!told) return std::nullopt;
  return p;
}

// The primary's view of the spare: listed and joined.
bool SpareJoined(SimCluster& c, uint32_t primary) {
  for (const PeerLag& lag : c.replica(primary).status().peers) {
    if (lag.node == kSpare) return lag.joined;
  }
  return false;
}

// Steps (no client traffic) until the spare holds the primary's log in every namespace and the
// primary counts it as joined; false if that does not happen within `steps_max`.
bool UntilSpareFollows(SimCluster& c, uint32_t primary, int steps_max, int messages_per_step) {
  for (int i = 0; i < steps_max; ++i) {
    c.Step(messages_per_step);
    bool same = SpareJoined(c, primary);
    for (const std::string& ns : c.Namespaces(primary)) {
      same = same && c.End(kSpare, ns) == c.End(primary, ns);
    }
    if (same) return true;
  }
  return false;
}

size_t Acked(SimCluster& c) {
  size_t n = 0;
  for (const auto& op : c.ledger().All()) n += op.acked ? 1 : 0;
  return n;
}

// Adds 20 appends and drives the client for 1,500 steps (under majority_timeout_ms, so the
// primary does not resign meanwhile); returns how many appends were acknowledged then.
size_t AckedOfTwentyMore(SimCluster& c, uint64_t* next) {
  const size_t before = Acked(c);
  AddAppends(c, 20, next);
  for (int i = 0; i < 1'500; ++i) {
    c.Client(16);
    c.Step();
  }
  return Acked(c) - before;
}

TEST(ReplicationSpareTest, SpareCatchesUpButItsAcknowledgementsAndPromisesNeverCount) {
  SimCluster c(41);
  uint64_t next = 0;
  auto p = WithCaughtUpSpare(c, 200, &next);
  ASSERT_TRUE(p);
  const uint32_t a = (*p + 1) % SimCluster::kNodes, b = (*p + 2) % SimCluster::kNodes;
  ASSERT_TRUE(c.Settle(200'000));
  const ReplicaStatus spare = c.replica(kSpare).status();
  EXPECT_TRUE(spare.spare);
  EXPECT_EQ(spare.membership, Membership::kLearner) << "a spare is never told to vote";
  EXPECT_EQ(c.End(kSpare, kSimNamespaces[0]), c.End(*p, kSimNamespaces[0]));
  bool listed = false;
  for (const PeerLag& lag : c.replica(*p).status().peers) {
    if (lag.node == kSpare) listed = lag.joined && lag.learner;
  }
  EXPECT_TRUE(listed) << "the primary reports the spare's lag, as a learner";

  // Only the primary and the spare reach each other: had the spare counted, these would commit.
  c.net().Isolate(a, SimCluster::kSlots);
  c.net().Isolate(b, SimCluster::kSlots);
  EXPECT_EQ(AckedOfTwentyMore(c, &next), 0u) << "an append was acknowledged with the spare's help";

  // The primary dies and the voters stay cut off: the spare never campaigns, nobody serves.
  c.Crash(*p, UnsyncedMode::kKeep, /*restart=*/false);
  for (int i = 0; i < 10'000; ++i) {
    c.Step();
    ASSERT_NE(c.replica(kSpare).status().role, Role::kCandidate) << "the spare campaigned";
    ASSERT_FALSE(c.Serving());
  }
  c.net().HealAll();
  c.Start(*p);
  ASSERT_TRUE(c.Settle(200'000));
  c.Check();
}

// A move hands position `a` to another server while the replica running it is cut off from
// etcd but not from its peers (docs/cluster.md "Moving a replica", "Fenced"): etcd now names
// another incarnation for `a`, so the primary drops the old run's messages, and with the third
// replica cut off nothing is acknowledged on that run's word. Once etcd names it again (it
// was never replaced after all), it counts as before.
TEST(ReplicationSpareTest, AReplicaEtcdNoLongerNamesNeverCounts) {
  SimCluster c(43);
  uint64_t next = 0;
  auto p = ElectedWithAppends(c, 100, &next);
  ASSERT_TRUE(p);
  const uint32_t a = (*p + 1) % SimCluster::kNodes, b = (*p + 2) % SimCluster::kNodes;
  const uint64_t own = c.Registered(a);
  c.Register(a, own + 1'000'000);  // the server `a` moved to registered its run
  c.net().Isolate(b, SimCluster::kSlots);
  EXPECT_EQ(AckedOfTwentyMore(c, &next), 0u)
      << "an append was acknowledged on the word of a replaced run";
  EXPECT_GT(c.replica(*p).status().stale_messages_dropped, 0u);
  EXPECT_EQ(c.other_incarnations(), c.replica(*p).status().stale_messages_dropped)
      << "each drop asks for the registrations again (a server reads them soon)";
  bool reported = false;
  for (const std::string& e : c.Events(*p)) {
    reported = reported ||
               e.find("dropped a message from replica " + std::to_string(a)) != std::string::npos;
  }
  EXPECT_TRUE(reported) << "the primary reports the messages it drops";

  c.Register(a, own);
  c.net().HealAll();
  ASSERT_TRUE(c.Settle(200'000));
  EXPECT_EQ(Acked(c), c.ledger().All().size());
  c.Check();
}

// A spare joins while the primary ticks between its Join and its first Ack (here every message
// takes its own millisecond): the primary must not take the new spare for one unheard for
// majority_timeout_ms and forget it, or it never counts as joined (a cluster move's spare then
// never caught up).
TEST(ReplicationSpareTest, ASpareJoiningOneMessagePerTickIsNotForgotten) {
  SimCluster c(53);
  uint64_t next = 0;
  auto p = ElectedWithAppends(c, 50, &next);
  ASSERT_TRUE(p);
  while (c.now_ms() <= 2 * ReplicaConfig{}.majority_timeout_ms) c.Step();
  c.StartSpare();
  EXPECT_TRUE(UntilSpareFollows(c, *p, 10'000, /*messages_per_step=*/1))
      << "the primary does not count the spare as joined, or the spare lags";
  AddAppends(c, 20, &next);
  ASSERT_TRUE(c.Settle(200'000));
  EXPECT_TRUE(UntilSpareFollows(c, *p, 10'000, 64));
  c.Check();
}

// A spare cut off for longer than majority_timeout_ms is forgotten by its primary (its lag is
// no longer reported) while it still takes itself for joined. Once it is back, its Acks are
// answered with a Nack of the same epoch, it joins again and catches up.
TEST(ReplicationSpareTest, ASpareForgottenWhileCutOffJoinsAgainWhenItIsBack) {
  SimCluster c(59);
  uint64_t next = 0;
  auto p = WithCaughtUpSpare(c, 100, &next);
  ASSERT_TRUE(p);
  ASSERT_TRUE(c.Settle(200'000));
  ASSERT_TRUE(SpareJoined(c, *p));
  c.net().Isolate(kSpare, SimCluster::kSlots);
  AddAppends(c, 50, &next);
  for (int i = 0; i < ReplicaConfig{}.majority_timeout_ms + 500; ++i) {
    c.Client(16);
    c.Step();
  }
  bool listed = false;
  for (const PeerLag& lag : c.replica(*p).status().peers) listed = listed || lag.node == kSpare;
  EXPECT_FALSE(listed) << "the primary still lists a spare it has not heard from";
  c.net().HealAll();
  AddAppends(c, 50, &next);
  ASSERT_TRUE(c.Settle(200'000));
  EXPECT_TRUE(UntilSpareFollows(c, *p, 20'000, 64))
      << "the spare never joined again after it came back";
  bool asked = false;
  for (const std::string& e : c.Events(kSpare)) {
    asked = asked || e.find("asks it to join again") != std::string::npos;
  }
  EXPECT_TRUE(asked);
  c.Check();
}

// The move's last step: a voter's replica stops for good and the spare's directory opens in
// its position. It starts as a learner with the spare's log (no snapshot, nothing cut), catches
// up the frames committed meanwhile and votes; every acknowledged append stays.
TEST(ReplicationSpareTest, SparesDirectoryTakesAVotersPositionAsALearnerThenVotes) {
  SimCluster c(43);
  uint64_t next = 0;
  auto p = WithCaughtUpSpare(c, 300, &next);
  ASSERT_TRUE(p);
  const uint32_t k = (*p + 1) % SimCluster::kNodes;
  AddAppends(c, 100, &next);  // in flight while the position changes hands
  for (int i = 0; i < 50; ++i) {
    c.Client(16);
    c.Step();
  }
  c.MoveSpareTo(k);
  EXPECT_EQ(c.replica(k).status().membership, Membership::kLearner);
  EXPECT_FALSE(c.replica(k).status().spare);
  AddAppends(c, 100, &next);
  ASSERT_TRUE(c.Settle(200'000));
  EXPECT_TRUE(WaitUntilVoter(c, k)) << "the caught-up replica was never told to vote";
  EXPECT_EQ(c.replica(k).status().rebuilds, 0u) << "the spare's log should have been enough";
  for (const std::string& e : c.Events(k)) {
    EXPECT_EQ(e.find("cut namespace"), std::string::npos) << e;
  }
  c.Check();
}

// Frames committed by the primary and the replica being replaced after the spare last caught
// up: the spare's directory in that position is a learner, so with the primary dead the other
// voter and it are no majority, and nobody serves until the primary returns with them.
TEST(ReplicationSpareTest, SpareThatLacksCommittedFramesNeverFormsAMajorityInItsNewPosition) {
  SimCluster c(47);
  uint64_t next = 0;
  auto p = WithCaughtUpSpare(c, 100, &next);
  ASSERT_TRUE(p);
  const uint32_t k = (*p + 1) % SimCluster::kNodes, other = (*p + 2) % SimCluster::kNodes;
  ASSERT_TRUE(c.Settle(200'000));
  // Committed by the primary and k only.
  c.net().Isolate(kSpare, SimCluster::kSlots);
  c.net().Isolate(other, SimCluster::kSlots);
  AddAppends(c, 200, &next);
  for (int i = 0; i < 50'000 && !(c.ledger().in_flight() == 0 && c.ledger().Due(1).empty()); ++i) {
    c.Client(16);
    c.Step();
  }
  for (const auto& op : c.ledger().All()) ASSERT_TRUE(op.acked) << op.cmid;
  c.Crash(*p, UnsyncedMode::kKeep, /*restart=*/false);
  c.MoveSpareTo(k);
  c.net().HealAll();
  for (int i = 0; i < 10'000; ++i) {
    c.Step();
    ASSERT_FALSE(c.Serving()) << "a majority counted the spare's log in position " << k;
  }
  EXPECT_EQ(c.replica(k).status().membership, Membership::kLearner);
  c.Start(*p);
  AddAppends(c, 50, &next);
  ASSERT_TRUE(c.Settle(200'000));
  c.Check();
  EXPECT_TRUE(WaitUntilVoter(c, k));
}

}  // namespace
}  // namespace tldb::repl

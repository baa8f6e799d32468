// LedgerCheckTest: the fault suites' one checker (tools/faults/ledger.h), used by the kill -9
// suite, the cluster test and the cluster soak: each invariant on hand-made stored timelines,
// including the workload's own recalls (the only permitted change to what a reader saw).
#include "ledger.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tldb::faults {
namespace {

Message M(Seq seq, const std::string& id) {
  return Message{seq, 0, id, "p-" + id};
}

// Three acknowledged messages a, b, c at seqs 1..3 of timeline "t".
void ThreeAcked(Ledger& l) {
  for (const char* id : {"a", "b", "c"}) l.Sent(0, "t", id, std::string("p-") + id);
  l.Acked("t", "a", 1);
  l.Acked("t", "b", 2);
  l.Acked("t", "c", 3);
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + "\n";
  return out;
}

TEST(LedgerCheckTest, CleanTimelinePasses) {
  Ledger l;
  ThreeAcked(l);
  l.Seen("t", M(2, "b"));
  l.Acked("t", "b", 2);  // a deduplicated retry: the same seq
  EXPECT_EQ(Joined(l.Check({{"t", {M(1, "a"), M(2, "b"), M(3, "c")}}})), "");
}

TEST(LedgerCheckTest, AcknowledgedMessageMissingOrElsewhere) {
  Ledger l;
  ThreeAcked(l);
  auto v = l.Check({{"t", {M(1, "a"), M(2, "c")}}});
  EXPECT_NE(Joined(v).find("acknowledged 'b' (seq 2) is missing"), std::string::npos) << Joined(v);
  EXPECT_NE(Joined(v).find("'c' acknowledged as seq 3 but stored at 2"), std::string::npos);
}

TEST(LedgerCheckTest, DuplicateAndUnknownMessages) {
  Ledger l;
  ThreeAcked(l);
  auto v = l.Check({{"t", {M(1, "a"), M(2, "b"), M(3, "c"), M(4, "a"), M(5, "zz")}}});
  EXPECT_NE(Joined(v).find("'a' stored twice"), std::string::npos) << Joined(v);
  EXPECT_NE(Joined(v).find("never sent"), std::string::npos);
  Message changed = M(2, "b");
  changed.payload = "other";
  v = l.Check({{"t", {M(1, "a"), changed, M(3, "c")}}});
  EXPECT_NE(Joined(v).find("payload differs"), std::string::npos) << Joined(v);
}

TEST(LedgerCheckTest, RecallMayRemoveAMessageAndLeaveItsSeqUnused) {
  Ledger l;
  ThreeAcked(l);
  l.Seen("t", M(2, "b"));
  l.RecallRequested("t", "b");
  // Requested, not acknowledged: either state is right.
  EXPECT_EQ(Joined(l.Check({{"t", {M(1, "a"), M(3, "c")}}})), "");
  EXPECT_EQ(Joined(l.Check({{"t", {M(1, "a"), M(2, "b"), M(3, "c")}}})), "");
  l.RecallAcked("t", "b");
  EXPECT_EQ(Joined(l.Check({{"t", {M(1, "a"), M(3, "c")}}})), "");
  auto v = l.Check({{"t", {M(1, "a"), M(2, "b"), M(3, "c")}}});
  EXPECT_NE(Joined(v).find("served after its recall was acknowledged"), std::string::npos);
  EXPECT_EQ(l.recalled(), 1u);
}

TEST(LedgerCheckTest, GapThatNoRecallExplains) {
  Ledger l;
  ThreeAcked(l);
  l.RecallRequested("t", "c");
  auto v = l.Check({{"t", {M(1, "a"), M(3, "c")}}});  // b's seq 2 skipped, b not recalled
  EXPECT_NE(Joined(v).find("seq 2 is missing"), std::string::npos) << Joined(v);
  v = l.Check({{"t", {M(1, "a"), M(2, "b"), M(1'000'000'000, "c")}}});
  EXPECT_NE(Joined(v).find("more than every recall explains"), std::string::npos) << Joined(v);
  v = l.Check({{"t", {M(2, "b"), M(1, "a"), M(3, "c")}}});
  EXPECT_NE(Joined(v).find("reorder or duplicate seq"), std::string::npos) << Joined(v);
}

TEST(LedgerCheckTest, WhatAReaderSawMustNotVanishOrChange) {
  Ledger l;
  l.Sent(0, "t", "a", "p-a");
  l.Sent(1, "t", "x", "p-x");  // never acknowledged (its writer's outcome unknown), but seen
  l.Acked("t", "a", 1);
  l.Seen("t", M(2, "x"));
  // Seen, then gone, without a recall.
  auto v = l.Check({{"t", {M(1, "a")}}});
  EXPECT_NE(Joined(v).find("'x' was seen at seq 2 and is gone"), std::string::npos) << Joined(v);
  // Seen at 2, now elsewhere.
  v = l.Check({{"t", {M(1, "a"), M(3, "x")}}});
  EXPECT_NE(Joined(v).find("but is stored at 3"), std::string::npos) << Joined(v);
  // Seen holding x; now holds another message.
  l.Sent(1, "t", "y", "p-y");
  v = l.Check({{"t", {M(1, "a"), M(2, "y")}}});
  EXPECT_NE(Joined(v).find("was seen holding 'x' and now holds 'y'"), std::string::npos)
      << Joined(v);
  EXPECT_EQ(Joined(l.Check({{"t", {M(1, "a"), M(2, "x")}}})), "");
}

TEST(LedgerCheckTest, ConflictingSightingsAreViolationsWhenSeen) {
  Ledger l;
  ThreeAcked(l);
  l.Seen("t", M(1, "a"));
  l.Seen("t", M(1, "b"));  // seq 1 held a, then b
  Message edited = M(3, "c");
  edited.payload = "not what was sent";
  l.Seen("t", edited);
  auto v = l.Check({{"t", {M(1, "a"), M(2, "b"), M(3, "c")}}});
  EXPECT_NE(Joined(v).find("seq 1 was seen holding 'a' and later 'b'"), std::string::npos)
      << Joined(v);
  EXPECT_NE(Joined(v).find("with a payload other than the one sent"), std::string::npos);
}

TEST(LedgerCheckTest, WritersAcknowledgedMessagesKeepSendOrder) {
  Ledger l;
  l.Sent(0, "t", "a", "p-a");
  l.Sent(0, "t", "b", "p-b");
  l.Acked("t", "a", 2);
  l.Acked("t", "b", 1);
  auto v = l.Check({{"t", {M(1, "b"), M(2, "a")}}});
  EXPECT_NE(Joined(v).find("out of order"), std::string::npos) << Joined(v);
}

// A fan-out over several partitions: the home's member acknowledged with its seq, the others
// pending (seq 0) and delivered later, at any seq, after the writer's later messages; each
// member must hold it exactly once.
TEST(LedgerCheckTest, AFanoutReachesEveryMemberExactlyOnce) {
  const auto sent = [](Ledger& l) {
    for (const char* t : {"m0", "m1", "m2"}) l.Sent(0, t, "f", "p-f");
    l.Fanout("f", {"m0", "m1", "m2"});
    l.Acked("m0", "f", 1);  // the home's member
    l.Acked("m1", "f", 0);  // pending
    l.Acked("m2", "f", 0);
    l.Sent(0, "m1", "later", "p-later");  // the writer's next message, written first
    l.Acked("m1", "later", 1);
  };
  Ledger ok;
  sent(ok);
  EXPECT_EQ(Joined(ok.Check(
                {{"m0", {M(1, "f")}}, {"m1", {M(1, "later"), M(2, "f")}}, {"m2", {M(1, "f")}}})),
            "");
  Ledger lost;
  sent(lost);
  auto v = lost.Check({{"m0", {M(1, "f")}}, {"m1", {M(1, "later"), M(2, "f")}}});
  EXPECT_NE(Joined(v).find("fan-out 'f' (3 members) is missing from: m2"), std::string::npos)
      << Joined(v);
  EXPECT_NE(Joined(v).find("m2: acknowledged 'f' (seq 0) is missing"), std::string::npos)
      << Joined(v);
  Ledger twice;
  sent(twice);
  v = twice.Check(
      {{"m0", {M(1, "f")}}, {"m1", {M(1, "later"), M(2, "f"), M(3, "f")}}, {"m2", {M(1, "f")}}});
  EXPECT_NE(Joined(v).find("m1: client_msg_id 'f' stored twice"), std::string::npos) << Joined(v);
  // The home's member is held to its acknowledged seq.
  Ledger moved;
  sent(moved);
  v = moved.Check({{"m0", {M(2, "f")}}, {"m1", {M(1, "later"), M(2, "f")}}, {"m2", {M(1, "f")}}});
  EXPECT_NE(Joined(v).find("'f' acknowledged as seq 1 but stored at 2"), std::string::npos)
      << Joined(v);
}

}  // namespace
}  // namespace tldb::faults

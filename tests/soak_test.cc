// The soak (tools/faults/soak_run.h) in short, and its read check (soak_model.h) on made-up
// reads. The long soak is `tldb-faults soak` (docs/reliability.md).
#include <gtest/gtest.h>

#include "common/temp_dir.h"
#include "soak_model.h"
#include "soak_run.h"

namespace tldb::faults {
namespace {

Message Msg(Seq seq, std::string payload) {
  Message m;
  m.seq = seq;
  m.payload = std::move(payload);
  return m;
}

TEST(SoakModelTest, AcceptsAConsistentReadAndReportsEachViolation) {
  SoakModel model;
  model.Sent("a", "a|1", 1'000);
  model.Acked("a", 1);
  model.Sent("b", "b|2", 1'000);
  model.Acked("b", 2);
  model.Sent("c", "c|3", 1'000);
  model.Acked("c", 3);
  model.EditRequested("b", "b|edited");
  model.EditAcked("b");
  model.RecallRequested("c");
  model.RecallAcked("c");
  const SoakSnapshot s = model.Take();
  SoakReadLimits lim;
  lim.read_end_ms = 2'000;
  EXPECT_TRUE(CheckSoakRead("t", s, s, {Msg(1, "a|1"), Msg(2, "b|edited")}, lim).empty());
  EXPECT_EQ(CheckSoakRead("t", s, s, {Msg(2, "b|edited")}, lim).size(), 1u);            // a missing
  EXPECT_EQ(CheckSoakRead("t", s, s, {Msg(1, "a|1"), Msg(2, "b|2")}, lim).size(), 1u);  // stale
  EXPECT_EQ(
      CheckSoakRead("t", s, s, {Msg(1, "a|1"), Msg(2, "b|edited"), Msg(3, "c|3")}, lim).size(),
      1u);  // recalled
  EXPECT_EQ(CheckSoakRead("t", s, s, {Msg(2, "b|edited"), Msg(1, "a|1")}, lim).size(), 1u);
  EXPECT_EQ(
      CheckSoakRead("t", s, s, {Msg(1, "a|1"), Msg(2, "b|edited"), Msg(4, "x|?")}, lim).size(),
      1u);  // never sent
  EXPECT_EQ(CheckSoakRead("t", s, s, {Msg(1, "a|1"), Msg(5, "b|edited")}, lim).size(), 1u);
  model.TrimRequested(2);
  model.TrimAcked(2);
  const SoakSnapshot t = model.Take();
  EXPECT_TRUE(CheckSoakRead("t", t, t, {Msg(2, "b|edited")}, lim).empty());
  EXPECT_FALSE(CheckSoakRead("t", t, t, {Msg(1, "a|1"), Msg(2, "b|edited")}, lim).empty());
  // Trimmed while the read ran: served from before the trim, forgotten after it.
  EXPECT_TRUE(CheckSoakRead("t", s, t, {Msg(1, "a|1"), Msg(2, "b|edited")}, lim).empty());
  // With a TTL, old messages may be missing; recent ones may not.
  lim.ttl_ms = 500;
  EXPECT_TRUE(CheckSoakRead("t", s, s, {}, lim).empty());
  lim.ttl_ms = 60'000;
  EXPECT_EQ(CheckSoakRead("t", s, s, {}, lim).size(), 2u);
}

// A short soak: the invariants hold while compaction and TTL run and the server restarts. It
// runs at least 12 s and goes on (up to 180 s, for a loaded machine) until the server has
// compacted, expired a segment and been restarted.
TEST(SoakTest, ShortMixedLoadWithCompactionTtlAndRestarts) {
  common::TempDir dir;
  SoakOptions o;
  o.server_binary = TLDB_SERVER_PATH;
  o.data_dir = dir.path();
  o.duration_ms = 12'000;
  o.duration_max_ms = 180'000;
  o.compactions_min = 1;
  o.segments_expired_min = 1;
  o.restarts_min = 1;
  o.sample_ms = 2'000;
  o.restart_every_ms = 5'000;
  o.ttl_ms = 3'000;
  auto r = RunSoak(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::printf("%s\n", r->ToString().c_str());
  for (const auto& v : r->violations) ADD_FAILURE() << v;
  EXPECT_EQ(r->violation_count, 0u);
  EXPECT_GT(r->appends, 100u);
  EXPECT_GT(r->recalls, 0u);
  EXPECT_GT(r->edits, 0u);
  EXPECT_GT(r->fanouts, 0u);
  EXPECT_GT(r->reads_checked, 10u);
  EXPECT_GE(r->restarts, 1u);
  EXPECT_GT(r->compactions, 0u);
  EXPECT_GT(r->segments_expired, 0u);
  EXPECT_LT(r->fds_max, 200u);  // a leak of one descriptor per segment or connection shows
}

}  // namespace
}  // namespace tldb::faults

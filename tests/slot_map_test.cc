// SlotMap (server/protocol/slot_map.h): routing keys and slots, the map's contract (every slot
// owned once), even placement, the CLUSTER_MAP wire form, and MOVED messages.
#include "protocol/slot_map.h"

#include <gtest/gtest.h>

#include <set>

namespace tldb::proto {
namespace {

TEST(SlotMapTest, TheRoutingKeyIsTheFirstNonEmptyBraceGroup) {
  EXPECT_EQ(RoutingKey("inbox:{u42}:phone"), "u42");
  EXPECT_EQ(RoutingKey("inbox:{u42}:web"), "u42");
  EXPECT_EQ(SlotOf("inbox:{u42}:phone"), SlotOf("inbox:{u42}:web"));
  EXPECT_EQ(SlotOf("inbox:{u42}:phone"), SlotOf("u42"));
  EXPECT_EQ(RoutingKey("conv:1"), "conv:1");    // no braces: the whole key
  EXPECT_EQ(RoutingKey("a{}b{c}"), "a{}b{c}");  // empty first group: the whole key
  EXPECT_EQ(RoutingKey("a{b"), "a{b");          // unclosed: the whole key
  EXPECT_EQ(RoutingKey("{x}{y}"), "x");         // the first group only
  EXPECT_EQ(RoutingKey("a}{b}"), "b");          // a '}' before the '{' does not count
}

TEST(SlotMapTest, SlotsAreStableAndSpreadOverTheWholeRange) {
  // The worked examples of docs/cluster.md: the hash is part of the format, and a client in
  // any language must compute the same slots.
  EXPECT_EQ(SlotOf("conv:1"), 14334);
  EXPECT_EQ(SlotOf("inbox:{u42}:phone"), 12267);
  std::vector<int> per_quarter(4, 0);
  std::set<uint16_t> seen;
  for (int i = 0; i < 40'000; ++i) {
    const uint16_t s = SlotOf("user:" + std::to_string(i));
    ASSERT_LT(s, kSlotCount);
    seen.insert(s);
    ++per_quarter[s / (kSlotCount / 4)];
  }
  EXPECT_GT(seen.size(), kSlotCount * 9 / 10);
  for (int q : per_quarter) EXPECT_NEAR(q, 10'000, 600);
}

TEST(SlotMapTest, EvenPlacementCoversEverySlotAndSpreadsPrimaries) {
  auto m = SlotMap::Even(1, 4, {10, 11, 12, 13, 14}, 3);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->partitions().size(), 4u);
  EXPECT_EQ(m->Owner(0).id, 0u);
  EXPECT_EQ(m->Owner(kSlotCount - 1).id, 3u);
  EXPECT_EQ(m->Owner(4095).id, 0u);
  EXPECT_EQ(m->Owner(4096).id, 1u);
  std::set<uint32_t> first_replicas;
  for (const auto& p : m->partitions()) {
    EXPECT_EQ(p.replicas.size(), 3u);
    first_replicas.insert(p.replicas[0]);
  }
  EXPECT_EQ(first_replicas.size(), 4u);  // four partitions, four different first replicas
  EXPECT_FALSE(SlotMap::Even(1, 2, {1, 2}, 3).ok());  // more replicas than servers
  EXPECT_FALSE(SlotMap::Even(1, 0, {1, 2, 3}, 3).ok());
}

TEST(SlotMapTest, MakeRefusesHolesOverlapsAndBadReplicas) {
  const auto make = [](std::vector<PartitionEntry> ps) { return SlotMap::Make(1, std::move(ps)); };
  auto hole = make({{0, {1}, {{0, 100}}}, {1, {2}, {{102, kSlotCount - 1}}}});
  ASSERT_FALSE(hole.ok());
  EXPECT_NE(hole.status().message().find("slot 101 is owned by no partition"), std::string::npos);
  auto overlap = make({{0, {1}, {{0, 100}}}, {1, {2}, {{100, kSlotCount - 1}}}});
  ASSERT_FALSE(overlap.ok());
  EXPECT_NE(overlap.status().message().find("slot 100 is owned twice"), std::string::npos);
  EXPECT_FALSE(make({{0, {1, 1}, {{0, kSlotCount - 1}}}}).ok());                   // a server twice
  EXPECT_FALSE(make({{0, {}, {{0, kSlotCount - 1}}}}).ok());                       // no replica
  EXPECT_FALSE(make({{0, {1}, {{5, 4}}}, {1, {1}, {{0, kSlotCount - 1}}}}).ok());  // bad range
  EXPECT_FALSE(make({{0, {1}, {{0, 99}}}, {0, {1}, {{100, kSlotCount - 1}}}}).ok());  // id twice
  auto two = make({{7, {1, 2, 3}, {{0, 99}, {200, kSlotCount - 1}}}, {3, {2}, {{100, 199}}}});
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->Owner(150).id, 3u);
  EXPECT_EQ(two->Owner(250).id, 7u);
  EXPECT_EQ(two->Partition(7)->replicas.size(), 3u);
  EXPECT_EQ(two->Partition(8), nullptr);
}

TEST(SlotMapTest, TheWireFormRoundTripsAndRoutesToThePrimary) {
  auto base = SlotMap::Even(9, 2, {1, 2, 3}, 3);
  ASSERT_TRUE(base.ok());
  SlotMap m = base->WithServing({{0, 2}, {1, 3}}, {{1, "h1:7070"}, {2, "h2:7070"}});
  std::string body;
  WireWriter w(&body);
  m.EncodeWire(w);
  auto back = SlotMap::DecodeWire(body);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->version(), 9u);
  EXPECT_EQ(back->Partition(0)->primary, 2u);
  EXPECT_EQ(back->RouteAddress(0), "h2:7070");
  // Partition 1's primary (server 3) has no address: its first registered replica is used.
  EXPECT_EQ(back->RouteAddress(kSlotCount - 1), "h2:7070");
  EXPECT_EQ(back->AddressOf(1), "h1:7070");
  // Every truncation, and a trailing byte, is refused.
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(SlotMap::DecodeWire(std::string_view(body).substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(SlotMap::DecodeWire(body + "x").ok());
  // A map that breaks the contract is refused on decode too.
  std::string holed = body;
  holed[holed.size() - 1] = 0;  // the last range now ends at slot 255, before it starts
  EXPECT_FALSE(SlotMap::DecodeWire(holed).ok());
}

TEST(SlotMapTest, TheProtocolPagesExampleIsWhatTheEncoderWrites) {
  // docs/protocol.md "CLUSTER_MAP": one partition of servers 0, 1, 2, primary server 1.
  auto base = SlotMap::Even(1, 1, {0, 1, 2}, 3);
  ASSERT_TRUE(base.ok());
  SlotMap m = base->WithServing(
      {{0, 1}}, {{0, "127.0.0.1:7070"}, {1, "127.0.0.2:7070"}, {2, "127.0.0.3:7070"}});
  std::string body;
  WireWriter w(&body);
  m.EncodeWire(w);
  std::string want("\x01\0\0\0\0\0\0\0\x03\0\0\0", 12);
  for (int i = 0; i < 3; ++i) {
    want += std::string("\0\0\0\0", 4);
    want[want.size() - 4] = static_cast<char>(i);
    want += std::string("\x0e\0", 2) + "127.0.0." + std::to_string(i + 1) + ":7070";
  }
  want += std::string("\x01\0\0\0\0\0\0\0\x01\0\0\0\x03\0\0\0", 16);
  want += std::string("\0\0\0\0\x01\0\0\0\x02\0\0\0", 12);
  want += std::string("\x01\0\0\0\0\0\xff\x3f", 8);
  EXPECT_EQ(body, want);
}

TEST(SlotMapTest, MovedMessagesRoundTrip) {
  const std::string text = MovedMessage(1234, 7, 2, "127.0.0.3:7070");
  EXPECT_EQ(text, "slot=1234 version=7 partition=2 address=127.0.0.3:7070");
  auto m = ParseMoved(text);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->slot, 1234);
  EXPECT_EQ(m->version, 7u);
  EXPECT_EQ(m->partition, 2u);
  EXPECT_EQ(m->address, "127.0.0.3:7070");
  auto none = ParseMoved(MovedMessage(1, 2, 3, ""));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->address, "");
  EXPECT_FALSE(ParseMoved("slot=99999 version=1 partition=0 address=").ok());
  EXPECT_FALSE(ParseMoved("primary=h:1").ok());
  EXPECT_FALSE(ParseMoved("slot=1 version=x partition=0 address=").ok());
}

}  // namespace
}  // namespace tldb::proto

// The records of a cross-partition fan-out (protocol/intent_record.h, docs/protocol.md
// "APPEND_FANOUT"): the intent key and its home slot whatever the order of the members, the
// namespace a key is about, the intent and mark codecs (round trip, bytes as documented, cut
// records refused), and when an intent's records say every member is delivered.
#include "protocol/intent_record.h"

#include <gtest/gtest.h>

#include "protocol/slot_map.h"

namespace tldb::proto {
namespace {

TEST(IntentRecordTest, TheKeyAndHomeDoNotDependOnTheOrder) {
  const std::string_view a[] = {"zeta", "alpha", "mid"};
  const std::string_view b[] = {"mid", "zeta", "alpha"};
  EXPECT_EQ(FanoutHomeSlot(a), SlotOf("alpha"));
  EXPECT_EQ(IntentKey("store", a, "id|1"), IntentKey("store", b, "id|1"));
  const std::string key = IntentKey("store", a, "id|1");
  EXPECT_EQ(key, std::to_string(SlotOf("alpha")) + "|store|id|1");
  EXPECT_EQ(IntentSlot(key), SlotOf("alpha"));
  EXPECT_EQ(IntentNamespaceOf(key), "store");
  // Keys of another form route as any timeline and name no namespace.
  for (std::string_view other : {"#journal", "abc|store|x", "16384|store|x", "|store|x", "12|x"}) {
    EXPECT_FALSE(IntentSlot(other) && IntentNamespaceOf(other)) << other;
  }
  EXPECT_FALSE(IntentSlot("16384|store|x"));
}

TEST(IntentRecordTest, RecordsRoundTripAndCutOnesAreRefused) {
  Intent in{"store", "m-1", "payload", {"a", "b"}, Durability::kSync};
  const std::string bytes = EncodeIntent(in);
  EXPECT_EQ(bytes[0], 'I');
  // 'I', ns str16, id str16, durability u8, u32 count, 2 x str16, bytes32 payload.
  EXPECT_EQ(bytes.size(), 1u + (2 + 5) + (2 + 3) + 1 + 4 + (2 + 1) * 2 + (4 + 7));
  auto out = DecodeIntent(bytes);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->ns, "store");
  EXPECT_EQ(out->client_msg_id, "m-1");
  EXPECT_EQ(out->payload, "payload");
  EXPECT_EQ(out->targets, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(out->durability, Durability::kSync);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeIntent(bytes.substr(0, n)).ok()) << n;
  }
  const std::string mark = EncodeMark({{"a", 7}, {"b", 0}});
  EXPECT_EQ(mark[0], 'D');
  auto m = DecodeMark(mark);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, (std::vector<std::pair<std::string, Seq>>{{"a", 7}, {"b", 0}}));
  EXPECT_FALSE(DecodeMark(mark.substr(0, mark.size() - 1)).ok());
  EXPECT_FALSE(DecodeMark(bytes).ok());
  EXPECT_FALSE(DecodeIntent(mark).ok());
}

TEST(IntentRecordTest, CompleteOnceEveryMemberIsMarked) {
  Intent in{"store", "m-1", "p", {"a", "b", "c"}, Durability::kDefault};
  std::vector<Message> records(1);
  records[0].seq = 1;
  records[0].payload = EncodeIntent(in);
  auto state = ReadIntentState(records);
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->complete);
  records.push_back(Message{2, 0, "", EncodeMark({{"a", 3}})});
  records.push_back(Message{3, 0, "", EncodeMark({{"a", 3}, {"c", 9}})});
  state = ReadIntentState(records);
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state->complete);
  EXPECT_EQ(state->delivered.size(), 2u);  // "a" once
  records.push_back(Message{4, 0, "", EncodeMark({{"b", 0}})});
  state = ReadIntentState(records);
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->complete);
  EXPECT_FALSE(ReadIntentState({}).ok());
  EXPECT_FALSE(ReadIntentState(std::span<const Message>(records).subspan(1)).ok());
}

}  // namespace
}  // namespace tldb::proto

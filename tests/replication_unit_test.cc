// The replication protocol's pure parts: epoch histories (where two logs agree, which is
// better), the message codec (round trip, refusal of damaged input), the durable replica
// state file and the catalog record.
#include <gtest/gtest.h>

#include "io/sim_file_system.h"
#include "replication/catalog_record.h"
#include "replication/epoch_history.h"
#include "replication/message_codec.h"
#include "replication/replica_state_file.h"

namespace tldb::repl {
namespace {

EpochHistory H(std::vector<EpochStart> e) {
  EpochHistory h;
  for (const auto& x : e) EXPECT_TRUE(h.Append(x.epoch, x.start));
  return h;
}

TEST(EpochHistoryTest, LastEpochAndTruncate) {
  EpochHistory h = H({{3, {1, 64}}, {5, {1, 500}}, {9, {2, 64}}});
  EXPECT_EQ(h.LastEpoch({1, 64}), 0u);
  EXPECT_EQ(h.LastEpoch({1, 100}), 3u);
  EXPECT_EQ(h.LastEpoch({1, 500}), 3u);  // epoch 5 wrote nothing before 500
  EXPECT_EQ(h.LastEpoch({1, 900}), 5u);
  EXPECT_EQ(h.LastEpoch({2, 70}), 9u);
  EXPECT_FALSE(h.Append(9, {3, 64})) << "epochs must grow";
  EXPECT_FALSE(h.Append(10, {1, 64})) << "starts never go back";
  h.TruncateTo({1, 700});
  EXPECT_EQ(h.entries().size(), 2u);
}

TEST(EpochHistoryTest, CommonPrefix) {
  const LogPosition s{1, 64};
  // Same epochs: the shorter log is a prefix of the longer.
  EpochHistory a = H({{1, s}}), b = H({{1, s}});
  EXPECT_EQ(EpochHistory::CommonPrefix(a, {1, 300}, b, {1, 900}), (LogPosition{1, 300}));
  // b went on in epoch 2 from 500; a kept writing in epoch 1 past 500 (a deposed primary):
  // they agree up to 500.
  b = H({{1, s}, {2, {1, 500}}});
  EXPECT_EQ(EpochHistory::CommonPrefix(a, {1, 800}, b, {1, 900}), (LogPosition{1, 500}));
  EXPECT_EQ(EpochHistory::CommonPrefix(b, {1, 900}, a, {1, 800}), (LogPosition{1, 500}));
  // a never saw epoch 1's frames past 400, then joined epoch 2's primary: all of a agrees.
  a = H({{1, s}, {2, {1, 500}}});
  EXPECT_EQ(EpochHistory::CommonPrefix(a, {1, 400}, b, {1, 900}), (LogPosition{1, 400}));
  // An epoch the other never had, starting mid-log: cut at its start.
  a = H({{1, s}, {3, {1, 600}}});
  EXPECT_EQ(EpochHistory::CommonPrefix(a, {1, 700}, b, {1, 900}), (LogPosition{1, 500}));
  // An empty log agrees with anything up to its end.
  EXPECT_EQ(EpochHistory::CommonPrefix(EpochHistory(), s, b, {1, 900}), s);
  // Better: the later last epoch wins over length.
  EXPECT_TRUE(EpochHistory::Better(b, {1, 600}, H({{1, s}}), {3, 64}));
  EXPECT_TRUE(EpochHistory::Better(b, {1, 900}, b, {1, 600}));
  EXPECT_FALSE(EpochHistory::Better(b, {1, 600}, b, {1, 600}));
}

TEST(MessageCodecTest, RoundTripAndRefusals) {
  PeerMessage m{.type = MsgType::kJoinReply,
                .epoch = 42,
                .from = 2,
                .catalog_seq = 17,
                .incarnation = 0x0123456789abcdefull,
                .ns = "chat"};
  m.frames.push_back(LogFrame{FrameKind::kRecords, 3, 128, std::string(100, 'x'), false});
  m.frames.push_back(LogFrame{FrameKind::kRoll, 4, 228, std::string(64, 'h'), true});
  m.position = {3, 128};
  m.logs.push_back(
      NsLog{"inbox", H({{1, {1, 64}}, {42, {3, 64}}}), {{3, 900}, {3, 800}}, {3, 700}});
  const std::string bytes = MessageCodec::Encode(m);
  auto back = MessageCodec::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->type, m.type);
  EXPECT_EQ(back->epoch, 42u);
  EXPECT_EQ(back->from, 2u);
  EXPECT_EQ(back->ns, "chat");
  EXPECT_EQ(back->catalog_seq, 17u);
  EXPECT_EQ(back->incarnation, 0x0123456789abcdefull);
  ASSERT_EQ(back->frames.size(), 2u);
  EXPECT_EQ(back->frames[0].bytes, m.frames[0].bytes);
  EXPECT_FALSE(back->frames[0].sync);
  EXPECT_EQ(back->frames[1].kind, FrameKind::kRoll);
  EXPECT_EQ(back->frames[1].end(), (LogPosition{4, 64}));
  ASSERT_EQ(back->logs.size(), 1u);
  EXPECT_EQ(back->logs[0].history, m.logs[0].history);
  EXPECT_EQ(back->logs[0].ends.durable, (LogPosition{3, 800}));
  EXPECT_EQ(back->logs[0].cut, (LogPosition{3, 700}));
  EXPECT_FALSE(back->learner);
  // The learner flag and the kVoter message survive the trip; unknown flags are refused.
  PeerMessage v{.type = MsgType::kVoter, .epoch = 9, .from = 1, .learner = true};
  auto vb = MessageCodec::Decode(MessageCodec::Encode(v));
  ASSERT_TRUE(vb.ok()) << vb.status().ToString();
  EXPECT_EQ(vb->type, MsgType::kVoter);
  EXPECT_TRUE(vb->learner);
  std::string bad_flags = MessageCodec::Encode(v);
  bad_flags[1 + 1 + 8 + 4] = 0x02;  // version, type, epoch, from, then the flags byte
  EXPECT_EQ(MessageCodec::Decode(bad_flags).status().code(), Status::Code::kInvalidArgument);
  // Every truncation is refused, and so is a trailing byte.
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(MessageCodec::Decode(std::string_view(bytes).substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(MessageCodec::Decode(bytes + "x").ok());
  std::string bad_type = bytes;
  bad_type[1] = 99;
  EXPECT_EQ(MessageCodec::Decode(bad_type).status().code(), Status::Code::kInvalidArgument);
}

TEST(ReplicaStateFileTest, StoresAndLoads) {
  SimFileSystem fs;
  ASSERT_TRUE(fs.CreateDir("/d").ok());
  auto fresh = ReplicaStateFile::Load(fs, "/d");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->promised_epoch, 0u);
  // No file: nothing is known of this replica's past, so it is undecided until etcd says.
  EXPECT_EQ(fresh->membership, Membership::kUndecided);
  for (Membership m : {Membership::kLearner, Membership::kUndecided}) {
    ReplicaState l;
    l.membership = m;
    ASSERT_TRUE(ReplicaStateFile::Store(fs, "/d", l).ok());
    auto lb = ReplicaStateFile::Load(fs, "/d");
    ASSERT_TRUE(lb.ok()) << lb.status().ToString();
    EXPECT_EQ(lb->membership, m) << "a learner that restarts must stay one";
  }
  // A file written before memberships existed belongs to a voter.
  ASSERT_TRUE(fs.WriteFileAtomic("/d/REPLICA", std::string("{\"format\":1,\"promised_epoch\":3,"
                                                           "\"histories\":{}}"))
                  .ok());
  auto old = ReplicaStateFile::Load(fs, "/d");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->membership, Membership::kVoter);
  ASSERT_TRUE(fs.WriteFileAtomic("/d/REPLICA", std::string("{\"format\":1,\"promised_epoch\":3,"
                                                           "\"membership\":\"boss\","
                                                           "\"histories\":{}}"))
                  .ok());
  EXPECT_EQ(ReplicaStateFile::Load(fs, "/d").status().code(), Status::Code::kCorruption);
  ReplicaState s;
  s.promised_epoch = 7;
  s.catalog_seq = 5;
  s.histories["chat"] = H({{2, {1, 64}}, {7, {2, 640}}});
  ASSERT_TRUE(ReplicaStateFile::Store(fs, "/d", s).ok());
  auto back = ReplicaStateFile::Load(fs, "/d");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
  ASSERT_TRUE(fs.WriteFileAtomic("/d/REPLICA", std::string("{\"format\":1}")).ok());
  EXPECT_EQ(ReplicaStateFile::Load(fs, "/d").status().code(), Status::Code::kCorruption);
}

TEST(CatalogRecordTest, RoundTripAndRefusals) {
  NamespaceOptions o;
  o.ttl_ms = 1;
  o.messages_per_timeline_max = 2;
  o.compact_live_pct = 3;
  o.compress_block_bytes = 4;
  o.compress_level = -5;
  o.segment_bytes_max = 6;
  o.durability = Durability::kBuffered;
  const std::vector<CatalogRecordEntry> entries = {
      {1, "store", NamespaceOptions{}}, {2, "sync", o}, {4, std::string(kCatalogNamespace), {}}};
  const std::string bytes = EncodeCatalogRecord(entries);
  auto back = DecodeCatalogRecord(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, entries) << "every option field survives the trip";
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeCatalogRecord(std::string_view(bytes).substr(0, n)).status().code(),
              Status::Code::kCorruption)
        << n;
  }
  EXPECT_FALSE(DecodeCatalogRecord(bytes + "x").ok());
  // Ids out of order or a name twice would give replicas different catalogs: refused.
  EXPECT_FALSE(DecodeCatalogRecord(EncodeCatalogRecord({entries[1], entries[0]})).ok());
  EXPECT_FALSE(
      DecodeCatalogRecord(EncodeCatalogRecord({entries[0], {3, "store", NamespaceOptions{}}}))
          .ok());
  std::string bad_version = bytes;
  bad_version[0] = 9;
  EXPECT_FALSE(DecodeCatalogRecord(bad_version).ok());
}

}  // namespace
}  // namespace tldb::repl

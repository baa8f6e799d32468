// tldb verify (the admin library): sound stores, and each kind of damage found at its offset;
// on plain stores and on stores that went through maintenance and compaction.
#include "admin_test_util.h"

namespace tldb::admin {
namespace {

TEST_F(AdminTest, VerifyCallsAFreshStoreSoundEvenBesideAnOpenDb) {
  auto db = Db::Open(dir_, DbOptions());  // a running server holds the LOCK
  ASSERT_TRUE(db.ok());
  VerifyReport r = MustVerify(dir_);
  EXPECT_TRUE(r.sound()) << Problems(r);
  EXPECT_EQ(r.messages, messages_);
  EXPECT_GE(r.segments, 4u);
  EXPECT_GT(r.index_entries, 0u);
}

TEST_F(AdminTest, VerifyFindsBitFlipInSealedSegmentAtItsOffset) {
  const uint64_t off = RecordOffset(2, 5);
  std::string image = Read(Seg(2));
  image[off + 40] ^= 0x10;
  Write(Seg(2), image);
  VerifyReport r = MustVerify(dir_);
  EXPECT_FALSE(r.sound());
  EXPECT_TRUE(HasProblem(r, Seg(2), off, "sealed segment damaged")) << Problems(r);
}

TEST_F(AdminTest, VerifyFindsTruncatedSealedSegment) {
  const uint64_t off = RecordOffset(1, 10);
  fsys::resize_file(Seg(1), off + 20);
  VerifyReport r = MustVerify(dir_);
  EXPECT_FALSE(r.sound());
  EXPECT_TRUE(HasProblem(r, Seg(1), off, "truncated")) << Problems(r);
  EXPECT_TRUE(HasProblem(r, Idx(1), 24, "index covers")) << Problems(r);
}

TEST_F(AdminTest, VerifyFindsIndexOfAnotherSegment) {
  Write(Idx(1), Read(Idx(2)));
  VerifyReport r = MustVerify(dir_);
  EXPECT_FALSE(r.sound());
  EXPECT_TRUE(HasProblem(r, Idx(1), 0, "another segment")) << Problems(r);
}

TEST_F(AdminTest, VerifyFindsIndexOffsetPointingElsewhere) {
  std::string idx = Read(Idx(1));
  const uint32_t timelines = DecodeFixed32(idx.data() + 28);
  const uint64_t directory = ((uint64_t{1} << DecodeFixed32(idx.data() + 56)) + 1) * 4;
  const uint64_t slot = 96 + directory + uint64_t{timelines} * 40 + 4 * 2;  // third offset
  EncodeFixed32(idx.data() + slot, DecodeFixed32(idx.data() + slot) + 1);
  EncodeFixed64(idx.data() + idx.size() - 8, Hash64(idx.data(), idx.size() - 8));
  Write(Idx(1), idx);
  VerifyReport r = MustVerify(dir_);
  EXPECT_FALSE(r.sound());
  EXPECT_TRUE(HasProblem(r, Idx(1), slot, "index points at segment offset")) << Problems(r);
}

TEST_F(AdminTest, VerifyCallsATornTailAWarning) {
  const std::string active = ActivePath();
  std::string image = Read(active);
  const size_t end = image.find_last_not_of('\0') + 1;
  image.resize(end);
  Write(active, image + std::string(40, '\x77'));
  VerifyReport r = MustVerify(dir_);
  EXPECT_TRUE(r.sound()) << Problems(r);
  EXPECT_TRUE(HasProblem(r, active, end, "torn tail")) << Problems(r);
  EXPECT_EQ(r.messages, messages_);
}

TEST_F(AdminTest, VerifyCallsAMaintainedStoreSoundAndReportsGapsAsInfo) {
  MakeMaintainedStore(ChatDir());
  VerifyReport r = MustVerify(ChatDir());
  EXPECT_TRUE(r.sound()) << Problems(r);
  EXPECT_EQ(r.Count(Problem::Severity::kWarning), 0u) << Problems(r);
  EXPECT_GT(r.blocks, 0u);
  EXPECT_GE(r.maintenance_records, 4u);
  EXPECT_GT(r.index_entries, 0u);
  const SegmentRef out = Compressed(ChatDir());
  bool gap = false;
  for (const auto& p : r.problems) {
    gap |=
        p.severity == Problem::Severity::kInfo && p.file == out.path &&
        p.what.find("timeline 'conv:a' skips 1 SeqIds up to this segment: 5") != std::string::npos;
  }
  EXPECT_TRUE(gap) << Problems(r);
  EXPECT_EQ(RunCli("verify " + ChatDir()), 0);
}

TEST_F(AdminTest, VerifyFindsABitFlipInACompressedBlockAtTheBlock) {
  MakeMaintainedStore(ChatDir());
  const SegmentRef out = Compressed(ChatDir());
  auto idx = IndexFile::Load(*fs_, out.index_path, 1, out.id);
  ASSERT_TRUE(idx.ok() && (*idx)->status().ok());
  ASSERT_GE((*idx)->reader().block_count(), 2u);
  const IndexBlock b = (*idx)->reader().Block(1);
  std::string image = Read(out.path);
  image[b.file_offset + 30] ^= 0x04;  // inside the compressed bytes
  Write(out.path, image);
  VerifyReport r = MustVerify(ChatDir());
  EXPECT_FALSE(r.sound());
  EXPECT_TRUE(HasProblem(r, out.path, b.file_offset, "block checksum mismatch")) << Problems(r);
  EXPECT_EQ(RunCli("verify " + ChatDir()), 1);
  // The blocks after the damaged one are decoded too, each at its place in the record space
  // (what repair salvages from): every one of them starts with a record that verifies.
  auto seg = LoadSegmentFile(*fs_, out.path, out.id, true, out.gen);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  ASSERT_GE(seg->blocks.size(), 3u);
  EXPECT_FALSE(seg->blocks[1].ok);
  for (size_t i = 2; i < seg->blocks.size(); ++i) {
    const BlockHeader& h = seg->blocks[i].header;
    ASSERT_TRUE(seg->blocks[i].ok) << "block " << i;
    ASSERT_LE(uint64_t{h.raw_start} + h.raw_bytes, seg->raw.size()) << "block " << i;
    RecordView rec;
    EXPECT_EQ(DecodeRecord({seg->raw.data() + h.raw_start, h.raw_bytes}, seg->checksum_id,
                           h.raw_start, &rec),
              DecodeOutcome::kOk)
        << "block " << i;
  }

  auto rep = Repair(*fs_, ChatDir());
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  std::ostringstream text;
  PrintRepairReport(*rep, false, text);
  EXPECT_NE(text.str().find("damaged block at file offset " + std::to_string(b.file_offset)),
            std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("(SeqIds from its index)"), std::string::npos) << text.str();
  EXPECT_TRUE(rep->after.sound()) << text.str();
  OnFreshThread([&] {
    auto db = Db::Open(ChatDir(), DbOptions());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
  });
}

TEST_F(AdminTest, VerifyFindsABlockTableEntryThatDisagreesWithTheBlock) {
  MakeMaintainedStore(ChatDir());
  const SegmentRef out = Compressed(ChatDir());
  std::string idx = Read(out.index_path);
  auto f = IndexFile::Load(*fs_, out.index_path, 1, out.id);
  ASSERT_TRUE(f.ok() && (*f)->status().ok());
  const SegmentIndexReader& r0 = (*f)->reader();
  const uint64_t dir = ((uint64_t{1} << DecodeFixed32(idx.data() + 56)) + 1) * 4;
  const uint64_t blocks = 96 + dir + uint64_t{r0.timeline_count()} * 40 +
                          uint64_t{r0.offset_count()} * 4 + uint64_t{r0.dedupe_count()} * 32 +
                          uint64_t{r0.mutation_count()} * 24;
  const uint64_t entry = blocks + 16;                                                // block 1
  EncodeFixed32(idx.data() + entry + 8, DecodeFixed32(idx.data() + entry + 8) + 1);  // stored
  EncodeFixed64(idx.data() + idx.size() - 8, Hash64(idx.data(), idx.size() - 8));
  Write(out.index_path, idx);
  VerifyReport r = MustVerify(ChatDir());
  EXPECT_FALSE(r.sound());
  EXPECT_TRUE(HasProblem(r, out.index_path, entry, "block table entry 1")) << Problems(r);
}

// A stray index of generation 0 beside the compaction output of the same id. The engine once took
// generation 0 as the live one and deleted the output; now a generation without its segment never
// wins, so verify only notes the stray file and the engine keeps the output (and every message).
TEST_F(AdminTest, AStrayIndexBesideACompactionOutputIsHarmless) {
  MakeMaintainedStore(ChatDir());
  const SegmentRef out = Compressed(ChatDir());
  const std::string stray = ChatDir() + "/ns/chat/0000000000000001.idx";
  Write(stray, "stray");
  VerifyReport r = MustVerify(ChatDir());
  EXPECT_TRUE(r.sound()) << Problems(r);
  EXPECT_EQ(r.Count(Problem::Severity::kWarning), 0u) << Problems(r);
  EXPECT_TRUE(HasProblem(r, stray, 0, "deleted when the store opens")) << Problems(r);
  EXPECT_EQ(ExportedByTimeline(ChatDir()), ServedByEngine(ChatDir()));
  EXPECT_TRUE(fsys::exists(out.path)) << "the engine kept the output";
  EXPECT_FALSE(fsys::exists(stray)) << "the engine removed the stray index at open";
}

// Index files written before fan-outs were remembered under every target hold a fan-out's
// dedupe entry under its first target only (docs/format.md): still a sound index. One with a
// first-target entry missing is not.
TEST_F(AdminTest, VerifyAcceptsFanoutDedupeEntriesUnderTheFirstTargetOnly) {
  auto seg = LoadSegmentFile(*fs_, Seg(1), 1, true);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  IndexModel m = BuildIndexModel(*seg);
  ASSERT_FALSE(m.later_target_dedupes.empty());  // the fixture has fan-outs with ids here
  const uint32_t ns_id = DecodeFixed32(Read(Idx(1)).data() + 12);
  const size_t all = m.dedupes.size();
  std::erase_if(m.dedupes, [&](const IndexModel::Dedupe& d) {
    return std::find(m.later_target_dedupes.begin(), m.later_target_dedupes.end(), d) !=
           m.later_target_dedupes.end();
  });
  ASSERT_EQ(m.dedupes.size(), all - m.later_target_dedupes.size());
  Write(Idx(1), SerializeIndex(m, ns_id, 1));
  VerifyReport old_form = MustVerify(dir_);
  EXPECT_TRUE(old_form.sound()) << Problems(old_form);
  m.dedupes.pop_back();
  Write(Idx(1), SerializeIndex(m, ns_id, 1));
  VerifyReport missing = MustVerify(dir_);
  EXPECT_FALSE(missing.sound());
  bool found = false;
  for (const auto& p : missing.problems) {
    found =
        found || (p.file == Idx(1) && p.what.find("dedupe entries differ") != std::string::npos);
  }
  EXPECT_TRUE(found) << Problems(missing);
}

}  // namespace
}  // namespace tldb::admin

// tldb repair (the admin library): torn tails, damaged active segments, quarantined segments
// and rebuilt indexes, on plain and on compacted stores.
#include "admin_test_util.h"

namespace tldb::admin {
namespace {

TEST_F(AdminTest, RepairCutsAnActiveSegmentDamagedBeforeItsDurablePoint) {
  const std::string active = ActivePath();
  uint64_t id = 0;
  ASSERT_TRUE(IsSegmentPath(active, &id));
  auto seg = LoadSegmentFile(*fs_, active, id, false);
  ASSERT_TRUE(seg.ok());
  uint64_t first = 0, records = 0;
  seg->ForEachRecord([&](uint64_t off, const RecordView&) {
    if (records++ == 0) first = off;
  });
  ASSERT_GE(records, 2u) << "a later record must vouch for the first";
  std::string image = Read(active);
  image[first + 40] ^= 0x20;
  Write(active, image);
  VerifyReport r = MustVerify(dir_);
  EXPECT_TRUE(HasProblem(r, active, first, "before its durable point")) << Problems(r);
  EXPECT_FALSE(Db::Open(dir_, DbOptions()).ok()) << "the engine refuses it too";

  auto rep = Repair(*fs_, dir_);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  std::ostringstream out;
  PrintRepairReport(*rep, false, out);
  EXPECT_NE(out.str().find("copied " + active), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("unreachable: valid records after the damage"), std::string::npos)
      << out.str();
  EXPECT_TRUE(rep->after.sound()) << out.str();
  EXPECT_EQ(Read(dir_ + "/quarantine/store/" + active.substr(active.size() - 20)), image);
  auto db = Db::Open(dir_, DbOptions());
  ASSERT_TRUE(db.ok()) << db.status().ToString();
}

// Bytes inserted inside a record of the active segment (issue #16): the records after them are
// moved off the offsets their checksums are seeded with. Verify reports it (it used to call the
// store sound while the engine cut them as a torn tail); repair removes the inserted bytes, as
// salvage does, and loses nothing.
TEST_F(AdminTest, RepairRemovesBytesInsertedInTheActiveSegment) {
  const std::string before = ExportOf(dir_);
  const std::string active = ActivePath();
  uint64_t id = 0;
  ASSERT_TRUE(IsSegmentPath(active, &id));
  auto seg = LoadSegmentFile(*fs_, active, id, false);
  ASSERT_TRUE(seg.ok());
  std::vector<uint64_t> offs;
  seg->ForEachRecord([&](uint64_t off, const RecordView&) { offs.push_back(off); });
  ASSERT_GE(offs.size(), 3u);
  std::string image = Read(active);
  std::string inserted = "\x13\x37 thirty-seven inserted bytes \x01\x02";
  inserted.resize(37, 'z');  // 37 bytes, as the case
  image.insert(offs[1] + 5, inserted);
  Write(active, image);
  VerifyReport r = MustVerify(dir_);
  EXPECT_FALSE(r.sound());
  EXPECT_TRUE(HasProblem(r, active, offs[1], "bytes were inserted")) << Problems(r);
  auto refused = Db::Open(dir_, DbOptions());
  ASSERT_FALSE(refused.ok()) << "the engine refuses it too";
  EXPECT_NE(refused.status().message().find(active + " offset " + std::to_string(offs[1])),
            std::string::npos)
      << refused.status().ToString();

  auto rep = Repair(*fs_, dir_);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  std::ostringstream out;
  PrintRepairReport(*rep, false, out);
  EXPECT_NE(out.str().find("removed 37 bytes inserted at " + active + " offset " +
                           std::to_string(offs[1] + 5)),
            std::string::npos)
      << out.str();
  EXPECT_TRUE(rep->after.sound()) << out.str();
  EXPECT_EQ(ExportOf(dir_), before) << "repair lost or changed messages";
}

TEST_F(AdminTest, RepairRefusesWhileTheStoreIsOpen) {
  auto db = Db::Open(dir_, DbOptions());
  ASSERT_TRUE(db.ok());
  auto r = Repair(*fs_, dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("stop the server"), std::string::npos);
}

TEST_F(AdminTest, RepairCutsTornTailAndRebuildsIndexesLosingNothing) {
  const std::string before = ExportOf(dir_);
  fsys::remove(Idx(1));
  Write(Idx(2), "garbage");
  std::string active_path;
  StoreLayout layout = *ReadStoreLayout(*fs_, dir_);
  for (const auto& s : layout.Find("store")->segments) {
    if (s.active) active_path = s.path;
  }
  ASSERT_FALSE(active_path.empty());
  std::string image = Read(active_path);
  const size_t end = image.find_last_not_of('\0') + 1;
  image.resize(end);
  image += std::string(100, '\x5a');  // a torn, never-synced tail
  Write(active_path, image);

  auto r = Repair(*fs_, dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::ostringstream out;
  PrintRepairReport(*r, false, out);
  EXPECT_NE(out.str().find("rebuilt " + Idx(1) + " (missing)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("rebuilt " + Idx(2)), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("cut torn tail of " + active_path), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("no data became unreachable"), std::string::npos) << out.str();
  EXPECT_TRUE(r->after.sound()) << out.str();
  EXPECT_EQ(ExportOf(dir_), before);
  auto db = Db::Open(dir_, DbOptions());
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto m = (*db)->Get("store", "conv:1", 3);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->payload, std::string("\x00\x01\xff binary", 10));
}

TEST_F(AdminTest, RepairQuarantinesCorruptSegmentAndKeepsEverythingSound) {
  const std::string before = ExportOf(dir_);
  const uint64_t off = RecordOffset(1, 3);
  std::string image = Read(Seg(1));
  image[off + 50] ^= 0x01;
  Write(Seg(1), image);

  auto r = Repair(*fs_, dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::ostringstream out;
  PrintRepairReport(*r, false, out);
  EXPECT_TRUE(fsys::exists(dir_ + "/quarantine/store/0000000000000001.seg")) << out.str();
  EXPECT_TRUE(fsys::exists(dir_ + "/quarantine/store/0000000000000001.idx"));
  EXPECT_FALSE(fsys::exists(Seg(1)));
  EXPECT_NE(out.str().find("unreachable: quarantined " + Seg(1)), std::string::npos) << out.str();
  EXPECT_TRUE(r->after.sound()) << out.str();

  // Every message outside segment 1 (which verify called damaged) is still there.
  const std::string after = ExportOf(dir_);
  std::istringstream lines(after);
  std::string line;
  uint64_t kept = 0;
  while (std::getline(lines, line)) {
    EXPECT_NE(before.find(line), std::string::npos);
    ++kept;
  }
  EXPECT_GT(kept, messages_ / 2);
  auto db = Db::Open(dir_, DbOptions());
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto last = (*db)->Get("store", "conv:0", 100);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
}

TEST_F(AdminTest, RepairOfAQuarantinedMiddleSegmentOpensAndNamesTheLostRanges) {
  // What segment 2 holds, per timeline, before it is damaged.
  std::map<std::string, std::pair<Seq, Seq>> held;
  {
    auto f = LoadSegmentFile(*fs_, Seg(2), 2, true);
    ASSERT_TRUE(f.ok());
    f->ForEachRecord([&](uint64_t, const RecordView& r) {
      ForEachMessage(r, [&](std::string_view key, Seq seq) {
        auto [it, fresh] = held.try_emplace(std::string(key), seq, seq);
        it->second.second = std::max(it->second.second, seq);
      });
    });
  }
  ASSERT_TRUE(held.count("conv:0"));
  std::string image = Read(Seg(2));
  image[RecordOffset(2, 4) + 45] ^= 0x08;
  Write(Seg(2), image);
  EXPECT_FALSE(MustVerify(dir_).sound());

  auto rep = Repair(*fs_, dir_);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  std::ostringstream text;
  PrintRepairReport(*rep, false, text);
  for (const auto& [key, range] : held) {
    const std::string seqs = range.first == range.second ? std::to_string(range.first)
                                                         : std::to_string(range.first) + ".." +
                                                               std::to_string(range.second);
    const std::string line = "  timeline '" + key + "' seq " + seqs + "\n";
    EXPECT_NE(text.str().find(line), std::string::npos) << line << text.str();
  }
  EXPECT_TRUE(rep->after.sound()) << text.str();
  EXPECT_GT(rep->after.Count(Problem::Severity::kInfo), 0u) << "the gaps are noted";

  auto db = Db::Open(dir_, DbOptions());
  ASSERT_TRUE(db.ok()) << "the engine accepts the gap: " << db.status().ToString();
  const auto [lo, hi] = held.at("conv:0");
  EXPECT_FALSE((*db)->Get("store", "conv:0", lo).ok());
  EXPECT_FALSE((*db)->Get("store", "conv:0", hi).ok());
  EXPECT_TRUE((*db)->Get("store", "conv:0", lo - 1).ok());
  EXPECT_TRUE((*db)->Get("store", "conv:0", hi + 1).ok());
  auto next = (*db)->Append("store", "conv:0", "after repair");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->seq, 101u) << "conv:0 had 100 messages";
}

// In a compaction output a fan-out sits in its first target's cluster, so its other targets'
// SeqIds are out of record order: the rebuilt index must sort them (the engine's own
// RebuildIndex did not at the time of writing; repair's is compared byte for byte with the
// index the compactor wrote).
TEST_F(AdminTest, RepairRebuildsTheIndexOfACompactedSegmentWithFanouts) {
  const std::string dir = tmp_.path() + "/fan";
  OnFreshThread([&] {
    auto db = Db::Open(dir, DbOptions());
    ASSERT_TRUE(db.ok());
    NamespaceOptions small;
    small.segment_bytes_max = 64 << 10;
    ASSERT_TRUE((*db)->CreateNamespace("n", small).ok());
    for (int i = 1; i <= 150; ++i) {
      ASSERT_TRUE((*db)->Append("n", "b", "own " + std::to_string(i) + std::string(700, 'o')).ok());
      std::vector<std::string_view> targets = {"a", "b"};
      ASSERT_TRUE((*db)->AppendFanout("n", targets, "fan " + std::to_string(i)).ok());
    }
    ASSERT_TRUE((*db)->Compact("n", {.full = true}).ok());
    ASSERT_TRUE((*db)->Close().ok());
  });
  StoreLayout layout = *ReadStoreLayout(*fs_, dir);
  SegmentRef out;
  for (const auto& s : layout.Find("n")->segments) {
    if (s.gen > 0) out = s;
  }
  ASSERT_GT(out.gen, 0u);
  const std::string written = Read(out.index_path);
  fsys::remove(out.index_path);
  auto rep = Repair(*fs_, dir);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  std::ostringstream text;
  PrintRepairReport(*rep, false, text);
  EXPECT_NE(text.str().find("rebuilt " + out.index_path + " (missing)"), std::string::npos)
      << text.str();
  EXPECT_TRUE(rep->after.sound()) << text.str();
  EXPECT_EQ(Read(out.index_path), written);
  OnFreshThread([&] {
    auto db = Db::Open(dir, DbOptions());
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    auto own = (*db)->Get("n", "b", 1);
    ASSERT_TRUE(own.ok()) << own.status().ToString();
    EXPECT_EQ(own->payload.substr(0, 6), "own 1o");
    auto fan = (*db)->Get("n", "b", 2);
    ASSERT_TRUE(fan.ok()) << fan.status().ToString();
    EXPECT_EQ(fan->payload, "fan 1");
  });
}

// Segment 2 holds all of 'lonely' and the newest messages of 'fading' (whose older ones are in
// segment 1): once it is quarantined, FLOORS keeps both timelines' last SeqIds.
TEST_F(AdminTest, RepairKeepsTheLastSeqsOfTimelinesThatLostTheirNewestMessagesInFloors) {
  const std::string dir = tmp_.path() + "/solo";
  {
    auto db = Db::Open(dir, DbOptions());
    ASSERT_TRUE(db.ok());
    NamespaceOptions small;
    small.segment_bytes_max = 64 << 10;
    small.durability = Durability::kBuffered;
    ASSERT_TRUE((*db)->CreateNamespace("solo", small).ok());
    auto append = [&](const char* t, int n, size_t bytes) {
      for (int i = 0; i < n; ++i)
        ASSERT_TRUE((*db)->Append("solo", t, std::string(bytes, 'p')).ok());
    };
    append("fading", 3, 20);
    append("busy", 100, 700);  // segment 1 rolls
    append("lonely", 7, 20);
    append("fading", 4, 20);
    append("busy", 250, 700);
    ASSERT_TRUE((*db)->Close().ok());
  }
  const std::string seg2 = dir + "/ns/solo/0000000000000002.seg";
  std::string image = Read(seg2);
  image[100] ^= 0x01;
  Write(seg2, image);
  auto rep = Repair(*fs_, dir);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  std::ostringstream text;
  PrintRepairReport(*rep, false, text);
  EXPECT_NE(text.str().find("timeline 'lonely' seq 1..7\n"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("timeline 'fading' seq 4..7\n"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("FLOORS of solo: timeline 'lonely' last seq 7"), std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("FLOORS of solo: timeline 'fading' last seq 7 (its newest stored seq "
                            "is now 3"),
            std::string::npos)
      << text.str();
  EXPECT_TRUE(rep->after.sound()) << text.str();
  auto db = Db::Open(dir, DbOptions());
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  for (const char* t : {"lonely", "fading"}) {
    auto next = (*db)->Append("solo", t, "after repair");
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next->seq, 8u) << t << ": SeqIds up to 7 are never handed out again";
  }
}

}  // namespace
}  // namespace tldb::admin

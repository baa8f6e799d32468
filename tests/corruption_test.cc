// Corruption sweep on real files: truncations, flipped bits, zeroed blocks, misdirected and
// duplicated records (the store, the checks and the sweep sizes: corruption_sweep.h).
#include "corruption_sweep.h"

namespace tldb {
namespace {

TEST_F(CorruptionSweep, StoreHasEveryKindOfFile) {
  for (auto k : {StoreFile::kActive, StoreFile::kSealed, StoreFile::kCompacted, StoreFile::kIndex})
    EXPECT_TRUE(HasKind(k)) << KindName(k);
  for (const auto& f : *files_) {
    if (f.kind != StoreFile::kIndex) {
      EXPECT_GT(f.units.size(), 2u) << f.name;
    }
    std::printf("  %s: %s, %zu bytes, %zu %s\n", f.name.c_str(), KindName(f.kind), f.bytes.size(),
                f.units.size(), f.kind == StoreFile::kCompacted ? "blocks" : "records");
  }
  Tally t;
  Variant(files_->front(), files_->front().bytes, "unchanged", &t);
  EXPECT_EQ(t.unchanged, 1u);
  // The undamaged store serves the whole ledger.
  Install(files_->front(), files_->front().bytes);
  std::vector<std::string> events;
  auto db = Db::Open(work_.path() + "/db", StoreOptions(false, &events));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  std::vector<std::pair<std::string, Seq>> silent;
  uint64_t corrupt_reads = 0;
  EXPECT_EQ(CheckServed(db->get(), &silent, &corrupt_reads), "");
  EXPECT_TRUE(silent.empty());
  EXPECT_EQ(corrupt_reads, 0u);
  EXPECT_TRUE(events.empty());
}

TEST_F(CorruptionSweep, EveryBlockZeroed) {
  Tally t;
  for (const auto& f : *files_) {
    if (!Wanted(f)) continue;
    for (uint64_t b = 0; b * kBlock < f.bytes.size(); ++b) {
      std::string bad = f.bytes;
      const uint64_t end = std::min<uint64_t>(bad.size(), (b + 1) * kBlock);
      std::fill(bad.begin() + static_cast<int64_t>(b * kBlock),
                bad.begin() + static_cast<int64_t>(end), '\0');
      Variant(f, bad, "4 KiB block " + std::to_string(b) + " zeroed", &t);
    }
  }
  Print("zeroed 4 KiB blocks", t);
  EXPECT_GT(t.refused + t.opened_reported, 0u);
}

TEST_F(CorruptionSweep, MisdirectedWrite) {
  // Each record (block) copied over the next one's offset and over the previous one's; the
  // full sweep copies every record over every other record of its file.
  Tally t;
  const bool full = SweepMode() == kFull;
  for (const auto& f : *files_) {
    if (!Wanted(f)) continue;
    const auto& u = f.units;
    for (size_t from : Picked(f)) {
      for (size_t to = 0; to < u.size(); ++to) {
        if (to == from || (!full && to + 1 != from && to != from + 1)) continue;
        std::string bad = f.bytes;
        const uint64_t n = std::min<uint64_t>(u[from].len, bad.size() - u[to].off);
        bad.replace(u[to].off, n, f.bytes, u[from].off, n);
        Variant(f, bad, "unit " + std::to_string(from) + " copied over unit " + std::to_string(to),
                &t);
      }
    }
  }
  Print("misdirected writes", t);
  EXPECT_GT(t.variants, 100u);
}

TEST_F(CorruptionSweep, RecordDuplicated) {
  Tally t;
  for (const auto& f : *files_) {
    if (!Wanted(f)) continue;
    const auto& u = f.units;
    for (size_t i : Picked(f)) {
      const std::string copy = f.bytes.substr(u[i].off, u[i].len);
      std::string inserted = f.bytes;
      inserted.insert(u[i].off + u[i].len, copy);
      Variant(f, inserted, "unit " + std::to_string(i) + " inserted again after itself", &t);
      std::string appended = f.bytes;
      appended.replace(
          u.back().off + u.back().len,
          std::min<uint64_t>(copy.size(), appended.size() - u.back().off - u.back().len), copy);
      Variant(f, appended, "unit " + std::to_string(i) + " written again after the tail", &t);
    }
  }
  Print("duplicated records", t);
  EXPECT_GT(t.variants, 100u);
  // A duplicate is a byte-identical copy of an earlier record, which no torn write produces:
  // recovery refuses it (or finds it harmless) instead of cutting what it displaced.
  EXPECT_EQ(t.tail_cut, 0u) << t.tail_cut_messages << " acknowledged messages cut as a torn tail";
}

TEST_F(CorruptionSweep, TruncationAtOffsets) {
  // Around the boundaries of the picked records; other offsets at a stride (every offset in
  // the full sweep).
  Tally t;
  const uint64_t stride = Stride(8191, 251);
  for (const auto& f : *files_) {
    if (!Wanted(f)) continue;
    std::vector<bool> take(f.bytes.size(), false);
    for (uint64_t n = 0; n < f.bytes.size(); n += stride) take[n] = true;
    for (size_t i : Picked(f)) {
      const auto& u = f.units[i];
      for (uint64_t d : {u.off - 1, u.off, u.off + 1, u.off + 16, u.off + u.len - 1}) {
        if (d < take.size()) take[d] = true;
      }
    }
    for (uint64_t n = 0; n < take.size(); ++n) {
      if (take[n]) Variant(f, f.bytes.substr(0, n), "truncated at " + std::to_string(n), &t);
    }
  }
  Print("truncations", t);
  EXPECT_GT(t.variants, 100u);
}

TEST_F(CorruptionSweep, BitsFlipped) {
  // The bits of the 32-byte record headers in the active segment and of the first byte of each
  // picked record or block of the other files; other bits at a stride (every bit in the full
  // sweep).
  Tally t;
  const uint64_t stride = Stride(65521, 997);
  for (const auto& f : *files_) {
    if (!Wanted(f)) continue;
    std::vector<bool> take(f.bytes.size() * 8, false);
    for (uint64_t b = 0; b < take.size(); b += stride) take[b] = true;
    const size_t n = f.units.size();
    for (size_t i : Picked(f)) {
      const auto& u = f.units[i];
      const bool ci = SweepMode() == kCi;
      // The first byte (part of the checksum field); the test suite two of its bits.
      uint64_t header_bits = 8, step = ci ? 5 : 1;
      if (f.kind == StoreFile::kActive) {
        // Every header bit; the test suite every eighth bit of three records, which still reaches
        // every field (a recovered active segment is rewritten and synced per variant).
        const bool sampled = i == 0 || i == n / 2 || i + 1 == n;
        header_bits = !ci || sampled ? 32 * 8 : 0;
        step = ci ? 8 : 1;
      }
      for (uint64_t b = 0; b < header_bits && (u.off * 8 + b) < take.size(); b += step)
        take[u.off * 8 + b] = true;
    }
    for (uint64_t b = 0; b < take.size(); ++b) {
      if (!take[b]) continue;
      std::string bad = f.bytes;
      bad[b / 8] = static_cast<char>(bad[b / 8] ^ (1 << (b % 8)));
      Variant(f, bad, "bit " + std::to_string(b) + " flipped", &t);
    }
  }
  Print("bit flips", t);
  EXPECT_GT(t.refused + t.opened_reported, 0u);
}

}  // namespace
}  // namespace tldb

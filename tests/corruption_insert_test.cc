// Corruption sweep, inserted bytes (issue #16): random bytes of several lengths inserted at
// record (block) boundaries and inside records of every file of the sweep's store
// (corruption_sweep.h), before and after the durable point. Checked as for every other damage
// (nothing wrong served, nothing lost silently), and more strictly: in the active segment the
// only silent cut allowed is damage inside its last record (nothing after it can vouch for it;
// a flipped bit there is the same case), and salvage serves every message.
#include "corruption_sweep.h"
#include "recovery_test_util.h"

namespace tldb {
namespace {

TEST_F(CorruptionSweep, BytesInserted) {
  const bool ci = SweepMode() == kCi;
  uint64_t rng = 37;
  Tally active, other;
  uint64_t in_last_record = 0;
  for (const auto& f : *files_) {
    if (!Wanted(f)) continue;
    const bool is_active = f.kind == StoreFile::kActive;
    // Where: each picked record's (block's) first byte, inside its header (checksum, length,
    // fields), in its body and at its last byte, and right after the last one (the test suite:
    // fewer places inside). An index file
    // has no units: at a stride.
    std::vector<uint64_t> where;
    const size_t n = f.units.size();
    for (size_t i : Picked(f)) {
      const auto& u = f.units[i];
      std::vector<uint64_t> inside = {0, 1, 6, 13, 31, u.len / 2, u.len - 1};
      if (ci)
        inside = is_active ? std::vector<uint64_t>{0, 6, u.len / 2, u.len - 1}
                           : std::vector<uint64_t>{0, u.len / 2};
      for (uint64_t d : inside) {
        if (d < u.len) where.push_back(u.off + d);
      }
    }
    if (n > 0) where.push_back(f.units.back().off + f.units.back().len);
    if (f.kind == StoreFile::kIndex) {
      for (uint64_t at = 0; at < f.bytes.size(); at += Stride(4099, 257)) where.push_back(at);
    }
    std::vector<size_t> lengths = {1, 7, 37, 512};
    if (ci && !is_active) lengths = {7, 512};
    for (size_t len : lengths) {
      for (uint64_t at : where) {
        std::string bad = f.bytes;
        bad.insert(at, RandomBytes(&rng, len));
        inserted_at_ = at;
        inserted_bytes_ = len;
        Tally& t = is_active ? active : other;
        const uint64_t cuts = t.tail_cut;
        Variant(f, bad, std::to_string(len) + " bytes inserted at " + std::to_string(at), &t);
        const bool last = is_active && n > 0 && at > f.units.back().off &&
                          at < f.units.back().off + f.units.back().len;
        in_last_record += last ? 1 : 0;
        if (t.tail_cut > cuts && !last) {
          ADD_FAILURE() << f.name << ": " << len << " bytes inserted at " << at
                        << " cut acknowledged messages as a torn tail";
        }
      }
    }
  }
  inserted_at_ = inserted_bytes_ = 0;
  Print("inserted bytes, active segment", active);
  Print("inserted bytes, other files", other);
  std::printf("inserted bytes: %llu variants inside the active segment's last record\n",
              static_cast<unsigned long long>(in_last_record));
  EXPECT_GT(active.variants, 100u);
  EXPECT_LE(active.tail_cut, in_last_record);
  // Every refusal of the active segment is salvaged with every message kept.
  EXPECT_EQ(active.salvage_whole, active.salvage_opened);
  EXPECT_EQ(active.salvage_opened, active.refused);
}

}  // namespace
}  // namespace tldb

// The corruption sweep's store and checks, shared by corruption_test.cc (truncations, flips,
// zeroed blocks, misdirected and duplicated records) and corruption_insert_test.cc (inserted
// bytes). Corruption sweep on real files (issue 7, suite 4). A store on the POSIX backend holds a
// compacted segment (`<id>-<gen>.seg/.idx`, zstd blocks), plain sealed segments with their index
// files and an active segment, all written with kSync (every message acknowledged durable). Each
// variant damages one file: truncation, a flipped bit, a zeroed 4 KiB block, a valid record
// (a block, in a compacted segment) copied over another one's offset (misdirected write), a
// record duplicated right after itself or after the tail. The store is reopened strictly and,
// if that is refused, with Options::salvage. Checked for every variant:
// - nothing crashes; a refusal is a Corruption status;
// - every message served (forward and backward scans, Get of every SeqId) is byte-identical to
//   what was written at that SeqId (payload, client_msg_id, timestamp), SeqIds strictly
//   increase, nothing is served that was never written, no duplicate;
// - a message that is not served is reported: the open is refused, its read answers Corruption,
//   or (salvage) the salvage was reported through on_event. The only silent loss allowed is in
//   the active segment at or after the damage when no intact later record vouches
//   (synced_through) that the damaged bytes were durable: recovery cannot tell that from a torn
//   or unwritten tail (docs/design.md "Recovery"). That oracle is computed here from the
//   original record layout, not by the engine.
// - damage to an index file is reported (rebuilt from its segment, on_event) and costs nothing.
// Three sizes (docs/reliability.md): the test suite takes every record of the active segment, a
// sample of the sealed ones and truncations and bit flips at a wide stride (seconds);
// TLDB_CORRUPT_SWEEP=long takes every record and narrower strides (10-30 minutes);
// TLDB_CORRUPT_SWEEP=full every offset, every bit and every record over every other (~2.5M).
// TLDB_CORRUPT_SHARD=i/n runs every n-th variant from the i-th (0 <= i < n), so that a long sweep
// can be split over processes; the shards' totals add up to the whole sweep's (except the
// variants that leave a file unchanged, which every shard counts). TLDB_CORRUPT_FILE=NAME damages
// only that file of the store, and TLDB_CORRUPT_SKIP=N skips its first N variants.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/temp_dir.h"
#include "log/record.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "util/coding.h"

namespace tldb {
namespace {

namespace stdfs = std::filesystem;

constexpr uint64_t kHeaderBytes = 64;  // segment header (docs/format.md)
constexpr uint64_t kBlock = 4096;

struct Sent {
  std::string payload, cmid;
  TimestampMs ts = 0;
};
using Ledger = std::map<std::string, std::map<Seq, Sent>>;  // timeline -> seq -> message

// One file of the namespace directory and its framing, parsed here from the format spec.
struct StoreFile {
  enum Kind { kActive, kSealed, kCompacted, kIndex } kind = kSealed;
  std::string name, bytes;
  struct Unit {
    uint64_t off = 0, len = 0;
    uint32_t synced_through = 0;  // records only
  };
  std::vector<Unit> units;  // records (plain segments) or zstd blocks (compacted)
};

const char* KindName(StoreFile::Kind k) {
  switch (k) {
    case StoreFile::kActive:
      return "active";
    case StoreFile::kSealed:
      return "sealed";
    case StoreFile::kCompacted:
      return "compacted";
    case StoreFile::kIndex:
      return "index";
  }
  return "?";
}

// Reads a file whole (false if it cannot be read).
bool ReadWhole(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return false;
  out->resize(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  in.read(out->data(), static_cast<std::streamsize>(out->size()));
  return static_cast<bool>(in);
}

std::vector<StoreFile::Unit> ParseUnits(const std::string& b, bool blocks) {
  std::vector<StoreFile::Unit> units;
  for (uint64_t off = kHeaderBytes; off + 16 <= b.size();) {
    const uint32_t len = DecodeFixed32(b.data() + off + 4);
    if (len == 0 || off + len > b.size()) break;
    units.push_back({off, len, blocks ? 0 : DecodeFixed32(b.data() + off + 12)});
    off += len;
  }
  return units;
}

Options StoreOptions(bool salvage, std::vector<std::string>* events) {
  Options o;
  o.io_backend = "posix";
  o.clock = std::make_shared<ManualClock>(1'700'000'000'000);
  o.background_maintenance = false;
  o.prezero = Options::Prezero::kInline;  // the active segment is a pre-zeroed file
  o.compaction_bytes_per_s = 0;
  o.salvage = salvage;
  o.on_event = [events](std::string_view e) { events->emplace_back(e); };
  return o;
}

std::string Letters(uint64_t* rng, size_t n) {
  std::string s(n, ' ');
  for (char& c : s) {
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    c = static_cast<char>('a' + (*rng >> 33) % 26);
  }
  return s;
}

// Totals of one sweep, printed at the end and checked.
struct Tally {
  uint64_t variants = 0, unchanged = 0, refused = 0, salvage_opened = 0, salvage_refused = 0;
  uint64_t opened_intact = 0, opened_reported = 0, tail_cut = 0, tail_cut_messages = 0;
  uint64_t wrong = 0, undetected = 0;
  uint64_t salvage_whole = 0;  // salvage opened and served every message
};

class CorruptionSweep : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pristine_ = new ::tldb::common::TempDir();
    ledger_ = new Ledger();
    files_ = new std::vector<StoreFile>();
    active_at_ = new std::map<std::pair<std::string, Seq>, uint64_t>();
    BuildStore(pristine_->path() + "/db");
  }
  static void TearDownTestSuite() {
    delete pristine_;
    delete ledger_;
    delete files_;
    delete active_at_;
  }

  // A compacted segment (phase 1, compacted), a sealed plain one and an active one (phase 2).
  static void BuildStore(const std::string& dir) {
    std::vector<std::string> events;
    auto clock = std::make_shared<ManualClock>(1'700'000'000'000);
    Options o = StoreOptions(false, &events);
    o.clock = clock;
    auto db = std::move(Db::Open(dir, o).value());
    NamespaceOptions n;
    n.segment_bytes_max = 64 << 10;
    n.compress_block_bytes = 4 << 10;
    ASSERT_TRUE(db->CreateNamespace("store", n).ok());
    uint64_t rng = 7;
    auto append = [&](int i, Durability d) {
      clock->Advance(1);
      const std::string payload = Letters(&rng, 60 + i % 200);
      AppendOptions a;
      a.durability = d;
      const std::string cmid = i % 3 == 0 ? "cm" + std::to_string(i) : "";
      a.client_msg_id = cmid;
      if (i % 17 == 5) {
        const std::vector<std::string> keys = {"g", "inbox:" + std::string(1, 'a' + i % 3)};
        const std::vector<std::string_view> t(keys.begin(), keys.end());
        auto r = db->AppendFanout("store", t, payload, a);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        for (size_t k = 0; k < t.size(); ++k) {
          (*ledger_)[std::string(t[k])][(*r)[k].seq] = {payload, cmid, (*r)[k].timestamp_ms};
        }
        return;
      }
      const std::string key = "conv:" + std::to_string(i % 4);
      auto r = db->Append("store", key, payload, a);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      (*ledger_)[key][r->seq] = {payload, cmid, r->timestamp_ms};
    };
    // Sealed segments are synced when sealed, so buffered appends fill them quickly; the
    // active segment's records are written with kSync, each vouching (synced_through) for the
    // ones before it, as in a store of acknowledged durable messages.
    int i = 0;
    for (; i < 500; ++i) append(i, Durability::kBuffered);  // ~80 KiB: one sealed segment
    ASSERT_TRUE(db->Compact("store", {}).ok());
    while (db->DescribeNamespace("store")->segments < 4) append(i++, Durability::kBuffered);
    for (int k = 0; k < 40; ++k) append(i++, Durability::kSync);  // the active segment
    ASSERT_TRUE(db->Close().ok());
    const std::string ns = dir + "/ns/store";
    for (const auto& e : stdfs::directory_iterator(ns)) {
      // Segments and their indexes: the files that hold data or say where it is. SCRUB (the
      // scrub's position, written when the namespace closes) holds neither; its damage is
      // reported and the file replaced (ScrubFileTest, scrub_test.cc).
      const std::string ext = e.path().extension().string();
      if (ext != ".seg" && ext != ".idx") continue;
      StoreFile f;
      f.name = e.path().filename().string();
      std::ifstream in(e.path(), std::ios::binary);
      f.bytes.assign(std::istreambuf_iterator<char>(in), {});
      const bool seg = e.path().extension() == ".seg";
      const bool compacted = f.name.find('-') != std::string::npos;
      const bool indexed = stdfs::exists(stdfs::path(e.path()).replace_extension(".idx"));
      f.kind = !seg        ? StoreFile::kIndex
               : compacted ? StoreFile::kCompacted
               : indexed   ? StoreFile::kSealed
                           : StoreFile::kActive;
      if (seg) f.units = ParseUnits(f.bytes, compacted);
      if (f.kind == StoreFile::kActive) LocateActive(f);
      files_->push_back(std::move(f));
    }
    std::sort(files_->begin(), files_->end(),
              [](const StoreFile& a, const StoreFile& b) { return a.name < b.name; });
  }

  static void LocateActive(const StoreFile& f) {
    const uint64_t id = std::stoull(f.name.substr(0, 16), nullptr, 16);
    for (const auto& u : f.units) {
      RecordView r;
      ASSERT_EQ(DecodeRecord({f.bytes.data() + u.off, u.len}, id, u.off, &r), DecodeOutcome::kOk);
      if (r.type == format::RecordType::kFanout) {
        ForEachTarget(r, [&](const FanoutTarget& t) {
          (*active_at_)[{std::string(t.key), t.seq}] = u.off + u.len;
        });
      } else {
        (*active_at_)[{std::string(r.key), r.seq}] = u.off + u.len;
      }
    }
  }

  enum Mode { kCi, kLong, kFull };
  static Mode SweepMode() {
    const char* s = std::getenv("TLDB_CORRUPT_SWEEP");
    const std::string m = s == nullptr ? "" : s;
    return m == "full" ? kFull : m == "long" ? kLong : kCi;
  }
  static uint64_t Stride(uint64_t ci, uint64_t long_stride) {
    const Mode m = SweepMode();
    return m == kFull ? 1 : m == kLong ? long_stride : ci;
  }
  // Whether the sweep damages file `f`: all of them, or only the one TLDB_CORRUPT_FILE names
  // (a long sweep split by file).
  static bool Wanted(const StoreFile& f) {
    const char* only = std::getenv("TLDB_CORRUPT_FILE");
    return only == nullptr || f.name == only;
  }

  // Whether this process runs the next variant (TLDB_CORRUPT_SHARD); every variant counts, so
  // the shards partition the sweep. Outside the test suite, prints progress to stderr and the
  // running tally of this shard's variants of the current test to stdout.
  static bool MineToRun(const std::string& label, const Tally& t) {
    static const std::pair<uint64_t, uint64_t> shard = [] {
      const char* s = std::getenv("TLDB_CORRUPT_SHARD");
      uint64_t i = 0, n = 1;
      if (s != nullptr) {
        const std::string v = s;
        const size_t slash = v.find('/');
        const bool ok = slash != std::string::npos && slash > 0 && slash + 1 < v.size() &&
                        v.find_first_not_of("0123456789/") == std::string::npos;
        if (ok) {
          i = std::stoull(v.substr(0, slash));
          n = std::stoull(v.substr(slash + 1));
        }
        if (!ok || n == 0 || i >= n) {
          std::fprintf(stderr, "TLDB_CORRUPT_SHARD='%s': expected i/n with 0 <= i < n\n", s);
          std::exit(2);
        }
      }
      return std::pair{i, n};
    }();
    // TLDB_CORRUPT_SKIP=N: the first N variants are not run (a sweep resumed where another
    // stopped; the numbering is the same for the same filters).
    static const uint64_t skip = [] {
      const char* s = std::getenv("TLDB_CORRUPT_SKIP");
      return s == nullptr ? uint64_t{0} : std::strtoull(s, nullptr, 10);
    }();
    static uint64_t seen = 0;
    const uint64_t k = seen++;
    if (k < skip) return false;
    if (SweepMode() != kCi && k % 100'000 == 0) {
      std::fprintf(stderr, "[sweep] variant %llu: %s\n", static_cast<unsigned long long>(k),
                   label.c_str());
      Print("[sweep] this test so far", t);
      std::fflush(stdout);
    }
    return k % shard.second == shard.first;
  }

  // Which records (blocks) of a file a sweep damages: all of them, except in the test suite,
  // which samples about 24 of a sealed or compacted file (the first and the last included).
  static std::vector<size_t> Picked(const StoreFile& f) {
    std::vector<size_t> p;
    const size_t n = f.units.size();
    const size_t step = SweepMode() != kCi || f.kind == StoreFile::kActive ? 1 : 1 + n / 24;
    for (size_t i = 0; i < n; i += step) p.push_back(i);
    if (!p.empty() && p.back() != n - 1) p.push_back(n - 1);
    return p;
  }

  // Restores the pristine directory with `file` replaced by `bytes`.
  void Install(const StoreFile& file, const std::string& bytes) {
    const std::string ns = work_.path() + "/db/ns/store";
    if (!stdfs::exists(ns)) {
      stdfs::copy(pristine_->path() + "/db", work_.path() + "/db", stdfs::copy_options::recursive);
    }
    // Only files that differ are rewritten: a rewritten file is dirty, and recovery's
    // fdatasync of it would dominate the sweep's time.
    std::map<std::string, const std::string*> want;
    for (const auto& f : *files_) want[f.name] = f.name == file.name ? &bytes : &f.bytes;
    for (const auto& e : stdfs::directory_iterator(ns)) {
      if (!want.contains(e.path().filename().string())) stdfs::remove(e.path());
    }
    for (const auto& [name, b] : want) {
      if (std::string have; ReadWhole(ns + "/" + name, &have) && have == *b) continue;
      std::ofstream out(ns + "/" + name, std::ios::binary | std::ios::trunc);
      out.write(b->data(), static_cast<std::streamsize>(b->size()));
    }
  }

  // The provable durable point of a damaged active segment: the highest synced_through of an
  // original record that is still intact at its offset and lies at or after the damage.
  // With bytes inserted (inserted_bytes_ at inserted_at_), the records after them are looked
  // for where the insertion moved them.
  uint64_t DurablePoint(const StoreFile& f, const std::string& bad, uint64_t damage) const {
    uint64_t d = 0;
    for (const auto& u : f.units) {
      const uint64_t at =
          inserted_bytes_ > 0 && u.off >= inserted_at_ ? u.off + inserted_bytes_ : u.off;
      if (u.off < damage || at + u.len > bad.size()) continue;
      if (bad.compare(at, u.len, f.bytes, u.off, u.len) == 0) {
        d = std::max<uint64_t>(d, u.synced_through);
      }
    }
    return d;
  }

  // Reads everything back. Returns a description of wrong data ("" if none); fills the ledger
  // messages not served, and whether any read answered Corruption for them.
  static std::string CheckServed(Db* db, std::vector<std::pair<std::string, Seq>>* silent,
                                 uint64_t* corrupt_reads) {
    for (const auto& [key, msgs] : *ledger_) {
      auto same = [&](const Message& m) -> std::string {
        auto it = msgs.find(m.seq);
        if (it == msgs.end()) return key + ": seq " + std::to_string(m.seq) + " never written";
        if (m.payload != it->second.payload || m.client_msg_id != it->second.cmid ||
            m.timestamp_ms != it->second.ts) {
          return key + ": seq " + std::to_string(m.seq) + " differs from what was written (cmid '" +
                 m.client_msg_id + "' vs '" + it->second.cmid + "', ts " +
                 std::to_string(m.timestamp_ms) + " vs " + std::to_string(it->second.ts) + ")";
        }
        return "";
      };
      for (Direction dir : {Direction::kForward, Direction::kBackward}) {
        ScanOptions all;
        all.direction = dir;
        all.limit = 1'000'000;
        all.bytes_max = 1ull << 30;
        auto s = db->Scan("store", key, all);
        if (!s.ok()) {
          if (!s.status().IsCorruption()) return key + ": scan: " + s.status().ToString();
          ++*corrupt_reads;
          continue;
        }
        for (size_t k = 0; k < s->size(); ++k) {
          if (std::string w = same((*s)[k]); !w.empty()) return w;
          if (k > 0 && (dir == Direction::kForward ? (*s)[k].seq <= (*s)[k - 1].seq
                                                   : (*s)[k].seq >= (*s)[k - 1].seq)) {
            return key + ": scan order broken (duplicate or reordered SeqId)";
          }
        }
      }
      for (const auto& [seq, sent] : msgs) {
        auto g = db->Get("store", key, seq);
        if (g.ok()) {
          if (std::string w = same(*g); !w.empty()) return w;
        } else if (g.status().IsCorruption()) {
          ++*corrupt_reads;
        } else if (g.status().IsNotFound() || g.status().code() == Status::Code::kDeleted) {
          silent->push_back({key, seq});
        } else {
          return key + ": get: " + g.status().ToString();
        }
      }
      const Seq last = msgs.rbegin()->first;
      if (db->Get("store", key, last + 1).ok()) return key + ": a message after the last";
    }
    return "";
  }

  // Runs one variant: `bad` replaces `f`.
  void Variant(const StoreFile& f, const std::string& bad, const std::string& what, Tally* t) {
    if (bad == f.bytes) {  // counted by every shard
      ++t->unchanged;
      return;
    }
    if (!MineToRun(f.name + ": " + what, *t)) return;
    ++t->variants;
    uint64_t damage = 0;
    while (damage < bad.size() && damage < f.bytes.size() && bad[damage] == f.bytes[damage]) {
      ++damage;
    }
    const std::string label = f.name + " (" + KindName(f.kind) + "): " + what;
    for (bool salvage : {false, true}) {
      Install(f, bad);
      std::vector<std::string> events;
      auto db = Db::Open(work_.path() + "/db", StoreOptions(salvage, &events));
      if (!db.ok()) {
        ASSERT_TRUE(db.status().IsCorruption()) << label << ": " << db.status().ToString();
        ++(salvage ? t->salvage_refused : t->refused);
        continue;
      }
      if (salvage) ++t->salvage_opened;
      std::vector<std::pair<std::string, Seq>> silent;
      uint64_t corrupt_reads = 0;
      const std::string wrong = CheckServed(db->get(), &silent, &corrupt_reads);
      if (!wrong.empty()) {
        ++t->wrong;
        ADD_FAILURE() << label << (salvage ? " (salvage)" : "") << ": " << wrong;
        return;
      }
      const bool salvage_reported =
          salvage && std::any_of(events.begin(), events.end(), [](const std::string& e) {
            return e.find("salvage") != std::string::npos;
          });
      uint64_t cut = 0, unexplained = 0;
      const uint64_t durable = f.kind == StoreFile::kActive ? DurablePoint(f, bad, damage) : 0;
      for (const auto& m : silent) {
        auto at = active_at_->find(m);
        const bool after_durable = f.kind == StoreFile::kActive && at != active_at_->end() &&
                                   at->second > damage && damage >= durable;
        if (after_durable) {
          ++cut;
        } else if (!salvage_reported) {
          ++unexplained;
        }
      }
      if (unexplained > 0) {
        ++t->undetected;
        ADD_FAILURE() << label << (salvage ? " (salvage)" : "") << ": " << unexplained
                      << " messages silently missing (damage at " << damage << ", durable point "
                      << durable << "; first " << silent.front().first << "/"
                      << silent.front().second << ")";
        return;
      }
      if (salvage && silent.empty() && corrupt_reads == 0) ++t->salvage_whole;
      if (f.kind == StoreFile::kIndex && !salvage) {
        const bool rebuilt = std::any_of(events.begin(), events.end(), [](const std::string& e) {
          return e.find("rebuilding index") != std::string::npos;
        });
        EXPECT_TRUE(rebuilt) << label << ": damaged index accepted without a report";
        EXPECT_EQ(silent.size() + corrupt_reads, 0u) << label << ": index damage cost messages";
      }
      if (!salvage) {
        if (cut > 0) {
          ++t->tail_cut;
          t->tail_cut_messages += cut;
        } else if (corrupt_reads > 0 || !events.empty()) {
          ++t->opened_reported;
        } else {
          ++t->opened_intact;
        }
      }
      break;  // opened: salvage adds nothing
    }
  }

  static void Print(const char* name, const Tally& t) {
    std::printf(
        "%s: %llu variants (%llu left a file unchanged, not counted); strict open refused %llu "
        "(salvage then opened %llu, %llu of them serving every message, refused %llu); opened "
        "with the damage reported %llu, with "
        "nothing lost %llu, with a tail cut after the provable durable point %llu (%llu "
        "acknowledged messages); crashes 0, wrong data %llu, undetected %llu\n",
        name, static_cast<unsigned long long>(t.variants),
        static_cast<unsigned long long>(t.unchanged), static_cast<unsigned long long>(t.refused),
        static_cast<unsigned long long>(t.salvage_opened),
        static_cast<unsigned long long>(t.salvage_whole),
        static_cast<unsigned long long>(t.salvage_refused),
        static_cast<unsigned long long>(t.opened_reported),
        static_cast<unsigned long long>(t.opened_intact),
        static_cast<unsigned long long>(t.tail_cut),
        static_cast<unsigned long long>(t.tail_cut_messages),
        static_cast<unsigned long long>(t.wrong), static_cast<unsigned long long>(t.undetected));
  }

  static bool HasKind(StoreFile::Kind k) {
    return std::any_of(files_->begin(), files_->end(),
                       [k](const StoreFile& f) { return f.kind == k; });
  }

  ::tldb::common::TempDir work_;
  uint64_t inserted_at_ = 0, inserted_bytes_ = 0;  // set by the insertion sweep per variant
  static ::tldb::common::TempDir* pristine_;
  static Ledger* ledger_;
  static std::vector<StoreFile>* files_;
  static std::map<std::pair<std::string, Seq>, uint64_t>* active_at_;  // (key, seq) -> record end
};

inline ::tldb::common::TempDir* CorruptionSweep::pristine_ = nullptr;
inline Ledger* CorruptionSweep::ledger_ = nullptr;
inline std::vector<StoreFile>* CorruptionSweep::files_ = nullptr;
inline std::map<std::pair<std::string, Seq>, uint64_t>* CorruptionSweep::active_at_ = nullptr;

}  // namespace
}  // namespace tldb

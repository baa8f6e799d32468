// Segment / index / recovery fuzz target (see fuzz_targets.h).
//
// The input picks a layout: (0) raw bytes after a valid segment header as the active segment;
// (1) an active segment of valid records built from the input, then damaged by input-chosen
// edits; (2) the same as a sealed segment 1 with an index built from its records (possibly
// lying: wrong offsets, seqs, dedupe entries, still checksummed) plus an active segment 2;
// (3) a sealed segment with raw input bytes as its index file.
// Invariants: the scanners never step outside the image and agree with their own rules; a store
// opens or refuses with an error, never crashes; every message it serves is a record whose
// checksum verifies at its position in one of the files (nothing invented, nothing unverified);
// forward scans return strictly increasing SeqIds; an append after opening is served back, and a
// store that opened reopens after Close with the same last SeqIds.
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "fuzz/fuzz_targets.h"
#include "index/segment_index.h"
#include "io/sim_file_system.h"
#include "log/file_names.h"
#include "log/record.h"
#include "log/segment_header.h"
#include "log/segment_scan.h"
#include "tldb/clock.h"
#include "tldb/db.h"
#include "util/coding.h"

namespace tldb::fuzz {
namespace {

constexpr char kDir[] = "/db";
constexpr char kNs[] = "store";
constexpr TimestampMs kNow = 1'700'000'000'000;
const char* const kKeys[] = {"a", "b", "conv:1", "inbox:22", "g"};

std::string NsDir() {
  return std::string(kDir) + "/ns/" + kNs;
}

Options SimOptions(std::shared_ptr<SimFileSystem> fs, bool salvage) {
  Options o;
  o.file_system = std::move(fs);
  o.clock = std::make_shared<ManualClock>(kNow + 10'000'000);
  o.salvage = salvage;
  o.prezero = Options::Prezero::kInline;
  o.background_maintenance = false;  // deterministic: no compaction or TTL thread
  return o;
}

// The catalog of a store holding namespace "store" (made once by the engine itself), and the
// namespace's id. Every input starts from a fresh file system holding only this catalog plus
// the input's files: a Db::Open per input costs an 8 MiB zeroed buffer for the active segment,
// so the target opens as few stores as it can.
struct Template {
  std::string catalog;
  uint32_t ns_id = 0;
};

const Template& StoreTemplate() {
  static const Template t = [] {
    Template r;
    auto fs = std::make_shared<SimFileSystem>();
    auto db = Db::Open(kDir, SimOptions(fs, false));
    TLDB_FUZZ_CHECK(db.ok());
    NamespaceOptions n;
    n.segment_bytes_max = kSegmentBytesMin;
    TLDB_FUZZ_CHECK((*db)->CreateNamespace(kNs, n).ok());
    auto info = (*db)->DescribeNamespace(kNs);
    TLDB_FUZZ_CHECK(info.ok());
    r.ns_id = info->id;
    TLDB_FUZZ_CHECK((*db)->Close().ok());
    auto catalog = fs->GetFileData(CatalogFileName(kDir));
    TLDB_FUZZ_CHECK(catalog.ok());
    r.catalog = std::move(catalog).value();
    return r;
  }();
  return t;
}

struct Files {
  std::map<std::string, std::string> by_path;  // segment and index files, by full path
  std::map<uint64_t, std::string> segments;    // segment images by id (for the reference)
  std::map<uint64_t, std::string> indexes;
  // The builder's segment images before any damage, by id: salvage may serve a record that
  // damage moved (bytes inserted before it) or split (bytes inserted inside it) once it removed
  // the inserted bytes, and such a record verifies at its offset only in the image as written.
  std::map<uint64_t, std::string> as_written;
};

// What the workload put in a segment, for building its index.
struct Rec {
  uint64_t offset;
  TimestampMs ts;
  std::vector<std::pair<std::string, Seq>> keys;  // message: one; fan-out: its targets
  std::string cmid;
};

class Builder {
 public:
  Builder(FuzzInput& in, uint32_t ns_id) : in_(in), ns_id_(ns_id) {}

  std::string Header(uint64_t id) {
    char h[format::kSegmentHeaderBytes];
    EncodeSegmentHeader({ns_id_, id, kNow, 0}, h);
    return std::string(h, sizeof h);
  }

  std::string Key() {
    const uint64_t k = in_.Range(0, 7);
    if (k < 5) return kKeys[k];
    std::string s = in_.String(12);
    return s.empty() ? "e" : s;
  }

  // Valid records with input-chosen fields (mostly what the engine would write).
  std::string Segment(uint64_t id, std::vector<Rec>* recs) {
    std::string image = Header(id);
    const size_t n = in_.Range(0, 20);
    for (size_t i = 0; i < n && image.size() < 48 * 1024; ++i) {
      Rec r;
      r.offset = image.size();
      ts_ += static_cast<TimestampMs>(in_.Range(0, 3));
      if (in_.Range(0, 31) == 0) ts_ = static_cast<TimestampMs>(in_.U64());
      r.ts = ts_;
      const bool fanout = in_.Range(0, 3) == 0;
      const size_t targets = fanout ? in_.Range(1, 4) : 1;
      for (size_t t = 0; t < targets; ++t) {
        std::string key = Key();
        bool dup = false;
        for (const auto& kv : r.keys) dup |= kv.first == key;
        if (dup) continue;
        Seq seq = ++next_seq_[key];
        if (in_.Range(0, 31) == 0) seq = std::max<Seq>(1, in_.U64());  // a gap or a repeat
        r.keys.emplace_back(key, seq);
      }
      if (in_.Bool()) r.cmid = "cm" + std::to_string(in_.Range(0, 9));
      const std::string payload = in_.String(200);
      // Durable point when encoded: usually this record's offset (the previous group synced).
      uint32_t synced = static_cast<uint32_t>(r.offset);
      const uint64_t mode = in_.Range(0, 7);
      if (mode == 0) synced = static_cast<uint32_t>(in_.Range(0, 64 * 1024));
      if (mode == 1) synced = format::kSegmentHeaderBytes;
      std::string rec;
      if (!fanout) {
        rec.resize(EncodedMessageBytes(r.keys[0].first, r.cmid, payload));
        EncodeMessage(rec.data(), id, r.offset, synced, r.keys[0].second, r.ts, r.keys[0].first,
                      r.cmid, payload);
      } else {
        std::vector<FanoutTarget> t;
        for (const auto& [k, s] : r.keys) t.push_back({k, s});
        rec.resize(EncodedFanoutBytes(t, r.cmid, payload));
        EncodeFanout(rec.data(), id, r.offset, synced, t, r.ts, r.cmid, payload);
      }
      image += rec;
      recs->push_back(std::move(r));
    }
    return image;
  }

  // Input-chosen damage: bit flips, byte writes, truncation, zeros or garbage appended, a
  // record-sized range copied elsewhere.
  void Damage(std::string* image) {
    const size_t edits = in_.Range(0, 4);
    for (size_t i = 0; i < edits && !image->empty(); ++i) {
      switch (in_.Range(0, 5)) {
        case 0: {
          const size_t bit = in_.Range(0, image->size() * 8 - 1);
          (*image)[bit / 8] = static_cast<char>((*image)[bit / 8] ^ (1 << (bit % 8)));
          break;
        }
        case 1:
          (*image)[in_.Range(0, image->size() - 1)] = static_cast<char>(in_.Byte());
          break;
        case 2:
          image->resize(in_.Range(0, image->size()));
          break;
        case 3:
          image->append(in_.Range(0, 4096), '\0');
          break;
        case 4:
          *image += in_.String(256);
          break;
        case 5: {
          const size_t from = in_.Range(0, image->size() - 1);
          const size_t len = in_.Range(1, 512);
          const std::string part = image->substr(from, len);
          const size_t to = in_.Range(0, image->size());
          image->replace(to, std::min(part.size(), image->size() - to), part);
          break;
        }
      }
    }
  }

  // An index for `recs`; with `lie` its contents may disagree with the segment (the checksum
  // is still right, so only the engine's own checks stand between it and wrong answers).
  std::string Index(uint64_t id, const std::vector<Rec>& recs, uint32_t data_end, bool lie) {
    struct Acc {
      Seq first = 0;
      TimestampMs last_ts = 0;
      std::vector<uint32_t> offsets;
    };
    std::map<std::string, Acc> acc;
    SegmentIndexBuilder b(ns_id_, id);
    TimestampMs min_ts = 0, max_ts = 0;
    for (const Rec& r : recs) {
      for (size_t i = 0; i < r.keys.size(); ++i) {
        Acc& a = acc[r.keys[i].first];
        if (a.first == 0) a.first = r.keys[i].second;
        a.last_ts = r.ts;
        uint32_t off = static_cast<uint32_t>(r.offset);
        if (lie && in_.Range(0, 7) == 0) off = static_cast<uint32_t>(in_.Range(0, data_end + 64));
        a.offsets.push_back(off);
      }
      min_ts = min_ts == 0 ? r.ts : std::min(min_ts, r.ts);
      max_ts = std::max(max_ts, r.ts);
    }
    if (lie && in_.Bool()) acc[Key()].offsets.push_back(static_cast<uint32_t>(in_.U32()));
    for (auto& [key, a] : acc) {
      if (lie && in_.Range(0, 7) == 0) a.first = in_.U64();
      if (lie && in_.Range(0, 7) == 0) a.offsets.push_back(a.offsets.back());
      if (lie && in_.Range(0, 15) == 0) continue;  // a timeline missing from the index
      if (a.first == 0) a.first = 1;
      b.AddTimeline(key, KeyHash(key), a.first, a.last_ts, a.offsets);
      if (lie && in_.Range(0, 3) == 0) {
        b.AddDedupe(key, DedupeHash(KeyHash(key), "cm" + std::to_string(in_.Range(0, 9))),
                    in_.Range(0, 40), kNow + static_cast<TimestampMs>(in_.Range(0, 100)));
      }
    }
    if (lie && in_.Range(0, 7) == 0) data_end = in_.U32();
    return b.Finish(data_end, min_ts, max_ts);
  }

 private:
  FuzzInput& in_;
  uint32_t ns_id_;
  TimestampMs ts_ = kNow;
  std::map<std::string, Seq> next_seq_;
};

Files BuildFiles(FuzzInput& in, uint32_t ns_id) {
  Builder b(in, ns_id);
  Files f;
  const uint8_t layout = in.Byte() % 4;
  if (layout == 0) {
    f.segments[1] = b.Header(1) + in.Rest();
  } else if (layout == 1) {
    std::vector<Rec> recs;
    f.segments[1] = f.as_written[1] = b.Segment(1, &recs);
    b.Damage(&f.segments[1]);
  } else {
    std::vector<Rec> recs;
    std::string sealed = f.as_written[1] = b.Segment(1, &recs);
    const auto data_end = static_cast<uint32_t>(sealed.size());
    const bool with_index = layout == 3 || in.Range(0, 7) != 0;
    if (with_index) {
      f.indexes[1] = layout == 3 ? in.String(4096) : b.Index(1, recs, data_end, in.Bool());
      if (layout == 2 && in.Range(0, 7) == 0) b.Damage(&f.indexes[1]);
    }
    if (in.Range(0, 3) == 0) b.Damage(&sealed);
    f.segments[1] = std::move(sealed);
    std::vector<Rec> active;
    f.segments[2] = f.as_written[2] = b.Segment(2, &active);
    if (in.Range(0, 3) == 0) b.Damage(&f.segments[2]);
  }
  for (const auto& [id, data] : f.segments) f.by_path[SegmentFileName(NsDir(), id)] = data;
  for (const auto& [id, data] : f.indexes) f.by_path[IndexFileName(NsDir(), id)] = data;
  return f;
}

// ---- direct checks of the scanners and the index reader ----

void CheckScan(std::string_view image, uint64_t id) {
  const SegmentScan s = ScanSegment(image, id);
  TLDB_FUZZ_CHECK(s.valid_end <= image.size());
  uint64_t off = format::kSegmentHeaderBytes;
  if (image.size() >= off) {
    while (off < s.valid_end) {  // the records before valid_end decode in sequence up to it
      RecordView r;
      TLDB_FUZZ_CHECK(DecodeRecord({image.data() + off, image.size() - off}, id, off, &r) ==
                      DecodeOutcome::kOk);
      off += r.length;
    }
    TLDB_FUZZ_CHECK(off == s.valid_end);
  }
  const std::string_view rest = image.substr(s.valid_end);
  TLDB_FUZZ_CHECK(s.tail_zero == (rest.find_first_not_of('\0') == std::string_view::npos));
  // Without a moved record the resynchronising search visits exactly the records that verify at
  // their own offsets; a moved one (which the record found there must be, verified with the
  // offset it was written at, at or after the damage) makes the tail corrupt.
  if (!s.tail_zero && s.moved_at == 0) {
    TLDB_FUZZ_CHECK(s.claim_after == MaxClaimAfter(image, id, s.valid_end));
  }
  if (s.moved_at != 0) {
    RecordView r;
    TLDB_FUZZ_CHECK(s.moved_at >= s.valid_end && s.moved_from >= s.valid_end &&
                    s.moved_at != s.moved_from);
    TLDB_FUZZ_CHECK(DecodeRecord({image.data() + s.moved_at, image.size() - s.moved_at}, id,
                                 s.moved_from, &r) == DecodeOutcome::kOk);
    TLDB_FUZZ_CHECK(ClassifyTail(s, image.size(), false) == TailState::kCorrupt);
  }
  if (s.copy_at != 0) {  // a copy of a record of the valid prefix, with data after it
    TLDB_FUZZ_CHECK(s.copy_at >= s.valid_end && s.copy_of < s.valid_end);
    const uint64_t len = DecodeFixed32(image.data() + s.copy_of + format::kOffLength);
    TLDB_FUZZ_CHECK(image.substr(s.copy_at, len) == image.substr(s.copy_of, len));
    TLDB_FUZZ_CHECK(image.find_first_not_of('\0', s.copy_at + len) != std::string_view::npos);
  }
  const TailState sealed = ClassifyTail(s, image.size(), true);
  const TailState active = ClassifyTail(s, image.size(), false);
  TLDB_FUZZ_CHECK(sealed != TailState::kTornTail);
  if (active == TailState::kCorrupt) TLDB_FUZZ_CHECK(sealed == TailState::kCorrupt);
  if (s.tail_zero) TLDB_FUZZ_CHECK(active == TailState::kClean);
}

void CheckIndexReader(std::string_view file, uint32_t ns_id, uint64_t id) {
  SegmentIndexReader r;
  if (!r.Open({file.data(), file.size()}, ns_id, id, "fuzz.idx").ok()) return;
  for (uint32_t i = 0; i < r.timeline_count(); ++i) {
    const IndexEntry e = r.Entry(i);
    TLDB_FUZZ_CHECK(!e.key.empty() && e.key.data() >= file.data() &&
                    e.key.data() + e.key.size() <= file.data() + file.size());
    for (uint32_t j = 0; j < e.count && j < 4096; ++j) (void)r.Offset(e, j);
    IndexEntry found;
    if (r.Find(e.key, e.key_hash, &found)) TLDB_FUZZ_CHECK(found.key == e.key);
  }
  for (uint32_t i = 0; i < r.dedupe_count(); ++i) {
    TLDB_FUZZ_CHECK(r.Dedupe(i).entry < r.timeline_count());
  }
}

// ---- the store ----

// Every record whose checksum verifies at its position in one of the segment files, or in one
// of the builder's images as written (Files::as_written: a record that salvage put back together).
class Reference {
 public:
  explicit Reference(const Files& f) {
    for (const auto* images : {&f.segments, &f.as_written}) {
      for (const auto& [id, image] : *images) {
        ForEachRecordFrom(image, id, 0, [&](uint64_t, const RecordView& r) { AddRecord(r); });
      }
    }
  }
  void AddRecord(const RecordView& r) {
    if (r.type == format::RecordType::kMessage) {
      Add(r.key, r.seq, r);
    } else {
      ForEachTarget(r, [&](const FanoutTarget& t) { Add(t.key, t.seq, r); });
    }
  }
  void Add(std::string_view key, Seq seq, const RecordView& r) {
    keys_.emplace(key);
    valid_.emplace(std::string(key), seq, r.timestamp_ms, std::string(r.client_msg_id),
                   std::string(r.payload));
  }
  void Add(const std::string& key, const Message& m) {
    keys_.insert(key);
    valid_.emplace(key, m.seq, m.timestamp_ms, m.client_msg_id, m.payload);
  }
  // A served message must be one of the verified records (a fan-out's cmid is given once).
  bool Holds(const std::string& key, const Message& m) const {
    return valid_.count({key, m.seq, m.timestamp_ms, m.client_msg_id, m.payload}) ||
           (m.client_msg_id.empty() &&
            std::any_of(valid_.lower_bound({key, m.seq, m.timestamp_ms, "", ""}), valid_.end(),
                        [&](const auto& v) {
                          return std::get<0>(v) == key && std::get<1>(v) == m.seq &&
                                 std::get<2>(v) == m.timestamp_ms && std::get<4>(v) == m.payload;
                        }));
  }
  const std::set<std::string>& keys() const { return keys_; }

 private:
  std::set<std::tuple<std::string, Seq, TimestampMs, std::string, std::string>> valid_;
  std::set<std::string> keys_;
};

std::shared_ptr<SimFileSystem> Place(const Files& f) {
  auto fs = std::make_shared<SimFileSystem>();
  TLDB_FUZZ_CHECK(fs->SetFileData(CatalogFileName(kDir), StoreTemplate().catalog).ok());
  for (const auto& [path, data] : f.by_path) TLDB_FUZZ_CHECK(fs->SetFileData(path, data).ok());
  return fs;
}

// Reads every timeline the files mention; returns the last SeqId of each.
std::map<std::string, Seq> ReadAll(Db& db, const Reference& ref) {
  std::map<std::string, Seq> lasts;
  size_t budget = 400;  // Gets per input, so that big inputs stay fast
  for (const std::string& key : ref.keys()) {
    if (key.empty() || key.size() > kTimelineKeyBytesMax) continue;
    const std::string_view k = key;
    auto last = db.LastSeq(kNs, std::span<const std::string_view>(&k, 1));
    TLDB_FUZZ_CHECK(last.ok() && last->size() == 1);
    const Seq l = (*last)[0];
    lasts[key] = l;
    ScanOptions fwd;
    fwd.limit = 1000;
    auto all = db.Scan(kNs, key, fwd);
    if (all.ok()) {
      for (size_t i = 0; i < all->size(); ++i) {
        const Message& m = (*all)[i];
        TLDB_FUZZ_CHECK(ref.Holds(key, m));
        // Strictly increasing, not consecutive: a timeline may continue above its last SeqId
        // in a later segment (the segments between expired, or repair quarantined one).
        TLDB_FUZZ_CHECK(i == 0 || m.seq > (*all)[i - 1].seq);
        TLDB_FUZZ_CHECK(m.seq <= l);
      }
    }
    ScanOptions back;
    back.direction = Direction::kBackward;
    back.limit = 10;
    auto latest = db.Scan(kNs, key, back);
    if (latest.ok()) {
      for (const Message& m : *latest) TLDB_FUZZ_CHECK(ref.Holds(key, m) && m.seq <= l);
    }
    for (Seq s = l > 64 ? l - 64 : 0; s <= l + 1 && budget > 0; ++s, --budget) {
      auto m = db.Get(kNs, key, s);
      if (m.ok()) TLDB_FUZZ_CHECK(m->seq == s && s <= l && ref.Holds(key, *m));
    }
  }
  return lasts;
}

// Opens without salvage, and with salvage only if that was refused (otherwise salvage changes
// nothing); then reads, appends, closes and reopens.
void OpenAndRead(const Files& f) {
  Reference ref(f);
  auto fs = Place(f);
  bool salvage = false;
  auto opened = Db::Open(kDir, SimOptions(fs, salvage));
  if (!opened.ok()) {
    salvage = true;
    fs = Place(f);
    opened = Db::Open(kDir, SimOptions(fs, salvage));
  }
  if (!opened.ok()) return;  // refused even with salvage: fine, as long as nothing crashed
  auto db = std::move(opened).value();
  const std::map<std::string, Seq> before = ReadAll(*db, ref);
  // The store accepts a new message after whatever recovery did, and serves it back.
  std::map<std::string, Seq> expect = before;
  AppendOptions sync;
  sync.durability = Durability::kSync;
  auto a = db->Append(kNs, "fz-new", "fresh", sync);
  if (a.ok()) {
    auto m = db->Get(kNs, "fz-new", a->seq);
    TLDB_FUZZ_CHECK(m.ok() && m->payload == "fresh");
    ref.Add("fz-new", *m);
    expect["fz-new"] = a->seq;
  }
  TLDB_FUZZ_CHECK(db->Close().ok());
  db.reset();
  // A store that opened once reopens after a clean close, with the same timelines.
  auto again = Db::Open(kDir, SimOptions(fs, salvage));
  if (!again.ok()) {
    std::fprintf(stderr, "reopen failed: %s\n", again.status().ToString().c_str());
    Fail("a store that opened and closed cleanly must reopen");
  }
  const std::map<std::string, Seq> after = ReadAll(**again, ref);
  for (const auto& [key, seq] : expect) {
    if (after.at(key) != seq) {
      std::fprintf(stderr, "timeline '%s': last seq %llu before close, %llu after reopen\n",
                   key.c_str(), static_cast<unsigned long long>(seq),
                   static_cast<unsigned long long>(after.at(key)));
      Fail("last SeqIds must survive a clean close and reopen");
    }
  }
}

}  // namespace

void SegmentTarget(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint32_t ns_id = StoreTemplate().ns_id;
  const Files f = BuildFiles(in, ns_id);
  for (const auto& [id, image] : f.segments) CheckScan(image, id);
  for (const auto& [id, file] : f.indexes) CheckIndexReader(file, ns_id, id);
  OpenAndRead(f);
}

}  // namespace tldb::fuzz

#include "rocksdb_target.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "process_stats.h"

namespace tldb::peerbench {
namespace {

using Key = std::array<char, 16>;

void PutBe(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}
uint64_t GetBe(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
Key MakeKey(uint64_t tl, uint64_t seq) {
  Key k;
  PutBe(k.data(), tl);
  PutBe(k.data() + 8, seq);
  return k;
}
rocksdb::Slice S(const Key& k) {
  return {k.data(), k.size()};
}

// A push-mode member entry: kRefTag, then the conversation message's key. Payloads are
// chat JSON and never start with a zero byte.
constexpr char kRefTag = '\0';
std::string RefValue(const Key& k) {
  std::string v(1, kRefTag);
  v.append(k.data(), k.size());
  return v;
}
bool IsRef(const rocksdb::Slice& v) {
  return v.size() == 1 + sizeof(Key) && v[0] == kRefTag;
}

rocksdb::WriteOptions WriteOpts(Dur d) {
  rocksdb::WriteOptions w;
  w.sync = d == Dur::kSync;
  return w;
}

class RocksSession : public Session {
 public:
  explicit RocksSession(RocksDbTarget* t) : t_(t), db_(t->db()) {}

  bool Append(const TimelineRef& tl, std::string_view payload, Dur d) override {
    const Key k = MakeKey(tl.id, t_->NextSeq(tl.id));
    return Check(db_->Put(WriteOpts(d), S(k), rocksdb::Slice(payload.data(), payload.size())));
  }
  bool AppendBatch(std::span<const TimelineRef* const> tls,
                   std::span<const std::string_view> payloads, Dur d) override {
    rocksdb::WriteBatch b;
    for (size_t i = 0; i < tls.size(); ++i) {
      const Key k = MakeKey(tls[i]->id, t_->NextSeq(tls[i]->id));
      (void)b.Put(S(k), rocksdb::Slice(payloads[i].data(), payloads[i].size()));
    }
    return Check(db_->Write(WriteOpts(d), &b));
  }
  bool Fanout(const TimelineRef& conv, std::span<const TimelineRef* const> members,
              std::string_view payload, Dur d) override {
    rocksdb::WriteBatch b;
    const Key ck = MakeKey(conv.id, t_->NextSeq(conv.id));
    (void)b.Put(S(ck), rocksdb::Slice(payload.data(), payload.size()));
    const std::string ref = RefValue(ck);
    for (const auto* m : members) {
      const Key mk = MakeKey(m->id, t_->NextSeq(m->id));
      (void)b.Put(S(mk), ref);  // reference: tag + conversation id + SeqId
    }
    return Check(db_->Write(WriteOpts(d), &b));
  }
  bool Get(const TimelineRef& tl, uint64_t seq, ReadResult* r) override {
    const Key k = MakeKey(tl.id, seq);
    rocksdb::PinnableSlice v;
    if (!Check(db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), S(k), &v))) {
      return false;
    }
    r->count = 1;
    r->last_seq = seq;
    r->bytes = v.size();
    return true;
  }
  bool Latest(const TimelineRef& tl, uint32_t n, ReadResult* r) override {
    return Backward(tl, ~0ull, n, r);
  }
  bool Before(const TimelineRef& tl, uint64_t before_seq, uint32_t n, ReadResult* r) override {
    if (before_seq <= 1) return true;
    return Backward(tl, before_seq - 1, n, r);
  }
  bool After(const TimelineRef& tl, uint64_t after_seq, uint32_t n, ReadResult* r) override {
    const Key lower = MakeKey(tl.id, after_seq + 1);
    const Key upper = MakeKey(tl.id + 1, 0);
    rocksdb::Slice ub = S(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &ub;
    ro.prefix_same_as_start = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    refs_.clear();
    for (it->Seek(S(lower)); it->Valid() && r->count < n; it->Next()) Take(it.get(), r, &refs_);
    return Check(it->status()) && Resolve(r);
  }
  bool PullMany(std::span<const TimelineRef* const> tls, std::span<uint64_t> checkpoints,
                uint32_t n, ReadResult* r) override {
    for (size_t i = 0; i < tls.size(); ++i) {
      ReadResult one;
      if (!After(*tls[i], checkpoints[i], n, &one)) return false;
      r->count += one.count;
      r->bytes += one.bytes;
      if (one.count > 0) checkpoints[i] = one.last_seq;
    }
    return true;
  }

 private:
  bool Backward(const TimelineRef& tl, uint64_t from_seq, uint32_t n, ReadResult* r) {
    const Key start = MakeKey(tl.id, from_seq);
    const Key lower = MakeKey(tl.id, 0);
    rocksdb::Slice lb = S(lower);
    rocksdb::ReadOptions ro;
    ro.iterate_lower_bound = &lb;
    ro.prefix_same_as_start = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    for (it->SeekForPrev(S(start)); it->Valid() && r->count < n; it->Prev()) Take(it.get(), r);
    return Check(it->status());
  }
  // A message, or (refs given) a fan-out reference the device still has to resolve.
  static void Take(rocksdb::Iterator* it, ReadResult* r, std::vector<Key>* refs = nullptr) {
    ++r->count;
    r->last_seq = GetBe(it->key().data() + 8);
    const rocksdb::Slice v = it->value();
    if (refs != nullptr && IsRef(v)) {
      refs->emplace_back();
      std::memcpy(refs->back().data(), v.data() + 1, sizeof(Key));
    } else {
      r->bytes += v.size();
    }
  }
  // A device needs the messages, not references to them: one MultiGet of the payloads.
  bool Resolve(ReadResult* r) {
    if (refs_.empty()) return true;
    std::vector<rocksdb::Slice> keys;
    for (const Key& k : refs_) keys.push_back(S(k));
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> st(keys.size());
    db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), keys.size(), keys.data(),
                  values.data(), st.data());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!Check(st[i])) return false;
      r->bytes += values[i].size();
    }
    return true;
  }
  bool Check(const rocksdb::Status& s) { return s.ok() || Fail(s.ToString()); }

  RocksDbTarget* t_;
  rocksdb::DB* db_;
  std::vector<Key> refs_;  // After's fan-out references, reused
};

}  // namespace

std::string RocksDbTarget::Describe() const {
  return "RocksDB " + std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) +
         " in-process; key = timeline id BE64 + SeqId BE64; LRU block cache " +
         std::to_string(cache_bytes_ >> 20) +
         " MiB, bloom 10 bits/key, 8-byte prefix extractor, 64 MiB memtable, 2 background "
         "jobs, Snappy; sync = WriteOptions::sync (WAL fdatasync), buffered = WAL without sync";
}

bool RocksDbTarget::Start(const std::string& dir, std::string* err) {
  dir_ = dir;
  rocksdb::Options o;
  o.create_if_missing = true;
  o.IncreaseParallelism(2);
  o.max_background_jobs = 2;
  o.write_buffer_size = 64ull << 20;
  o.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(8));
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = rocksdb::NewLRUCache(cache_bytes_);
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  t.whole_key_filtering = true;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, dir, &raw);
  if (!s.ok()) {
    *err = s.ToString();
    return false;
  }
  db_.reset(raw);
  return true;
}

uint64_t RocksDbTarget::NextSeq(uint64_t timeline_id) {
  Shard& sh = shards_[(timeline_id * 0x9E3779B97F4A7C15ull) >> 58];
  std::lock_guard l(sh.mu);
  return ++sh.last[timeline_id];
}

std::unique_ptr<Session> RocksDbTarget::Connect(std::string*) {
  return std::make_unique<RocksSession>(this);
}

bool RocksDbTarget::Flush(std::string* err) {
  rocksdb::Status s = db_->FlushWAL(true);
  if (!s.ok()) {
    *err = s.ToString();
    return false;
  }
  // Let the flushes and compactions the preload started finish (at most 2 minutes), so the
  // measured workloads do not pay for the preload: this favours RocksDB, never penalises it.
  for (int i = 0; i < 1200; ++i) {
    uint64_t flushes = 0, compactions = 0, pending = 0;
    db_->GetIntProperty("rocksdb.num-running-flushes", &flushes);
    db_->GetIntProperty("rocksdb.num-running-compactions", &compactions);
    db_->GetIntProperty("rocksdb.compaction-pending", &pending);
    if (flushes + compactions + pending == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

ResourceSample RocksDbTarget::Sample() {
  ResourceSample s;
  s.cpu_s = ProcessCpuSeconds(0);
  s.rss_bytes = ProcessRssBytes(0);
  s.write_bytes = ProcessWriteBytes(0);
  return s;
}

uint64_t RocksDbTarget::DiskBytes() {
  return DirAllocatedBytes(dir_);
}

void RocksDbTarget::Stop() {
  if (db_) (void)db_->Close();
  db_.reset();
}

}  // namespace tldb::peerbench

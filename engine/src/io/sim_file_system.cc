// SimFileSystem (see sim_file_system.h for the model and the fault contract).
//
// Implementation notes:
// - Files are inodes (SimInode) named by normalised paths in `files` (the visible namespace).
//   `durable_files` is the namespace a power loss falls back to; every create/rename/remove is
//   also appended to `journal`. SyncDir(d) copies d's visible entries to `durable_files` and
//   marks d's side of each journal entry committed. PowerLoss replays each journal entry on
//   the durable namespace with a seeded coin flip (an entry is kept or dropped as a whole, so
//   a rename lands at the new name or stays at the old one, never half-way).
// - Directories are durable as soon as CreateDir returns (the engine creates them once).
// - Open handles keep their inode (POSIX semantics: writes to a renamed or removed file still
//   land in it). A PowerLoss invalidates every handle opened before it ("stale handle").
// - Unsynced bytes are the bytes where `data` differs from `durable` (plus any size change).
// - Operations without a SimOp kind (CreateDir, ListDir, Exists, FileSize, Size, Truncate,
//   Lock) count towards ops() and obey crashes, but FailNth cannot target them.
// - Truncate, Allocate and Write obey the capacity; usage is the sum over named files of
//   max(size, allocated bytes); a truncate that does not grow a file frees its allocation past
//   the new size (as ext4 and tmpfs do).
#include "io/sim_file_system.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <set>

namespace tldb {
namespace {

struct SimInode {
  uint64_t id = 0;
  std::string data;     // visible
  std::string durable;  // survives PowerLoss
  uint64_t reserved = 0;
  // The medium under the file fails reads (FailReads): mappings report failed(), reads fail.
  std::shared_ptr<std::atomic<bool>> unreadable = std::make_shared<std::atomic<bool>>(false);
};
using InodePtr = std::shared_ptr<SimInode>;

enum class MetaKind : uint8_t { kCreate, kRename, kRemove };

// One unsynced namespace change. `from` is empty for creates, `to` for removes.
struct MetaOp {
  MetaKind kind;
  std::string from;
  std::string to;
  InodePtr inode;
  bool from_committed = false;
  bool to_committed = false;
};

struct FailRule {
  SimOp op;
  uint64_t nth;
  bool persistent;
  Status status;
  uint64_t seen = 0;
  bool spent = false;
};

struct ShortWriteRule {
  uint64_t nth;
  size_t keep;
  uint64_t seen = 0;
  bool spent = false;
};

// "a//b/./c/" -> "a/b/c"; "" -> "."; keeps a leading "/".
std::string Normalize(const std::string& path) {
  std::string out = !path.empty() && path[0] == '/' ? "/" : "";
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    const std::string_view part(path.data() + i, j - i);
    if (!part.empty() && part != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out += part;
    }
    i = j + 1;
  }
  return out.empty() ? "." : out;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status CrashStatus() {
  return Status::IOError("simulated crash");
}

// Index of the first byte where a and b differ (the shorter size if one is a prefix).
size_t FirstDiff(const std::string& a, const std::string& b) {
  const size_t n = std::min(a.size(), b.size());
  const auto mm = std::mismatch(a.begin(), a.begin() + static_cast<ptrdiff_t>(n), b.begin());
  return static_cast<size_t>(mm.first - a.begin());
}

// A prefix of the unsynced bytes survives, cut at a 512-byte boundary (or nothing survives).
std::string Tear512(const std::string& durable, const std::string& data, std::mt19937_64& rng) {
  if (data.size() < durable.size()) return (rng() & 1) ? data : durable;  // a truncation
  const size_t first = FirstDiff(durable, data);
  const size_t lo = (first / 512 + 1) * 512;  // first boundary after `first`
  const size_t count = lo <= data.size() ? (data.size() - lo) / 512 + 1 : 0;
  const size_t pick = static_cast<size_t>(rng() % (count + 1));
  const size_t cut = pick == 0 ? first : lo + (pick - 1) * 512;
  std::string out = data.substr(0, cut);
  if (cut < durable.size()) out.append(durable, cut, std::string::npos);
  return out;
}

// The visible size survives but every unsynced byte reads back as gen().
template <typename Gen>
std::string Fill(const std::string& durable, const std::string& data, Gen gen) {
  std::string out = data;
  for (size_t i = 0; i < out.size(); ++i) {
    if (i >= durable.size() || data[i] != durable[i]) out[i] = gen();
  }
  return out;
}

std::string ApplyMode(UnsyncedMode mode, const std::string& durable, const std::string& data,
                      std::mt19937_64& rng) {
  switch (mode) {
    case UnsyncedMode::kKeep:
      return data;
    case UnsyncedMode::kDrop:
      return durable;
    case UnsyncedMode::kTear512:
      return Tear512(durable, data, rng);
    case UnsyncedMode::kZeroFill:
      return Fill(durable, data, [] { return '\0'; });
    case UnsyncedMode::kGarbageFill:
      return Fill(durable, data, [&rng] { return static_cast<char>(rng() & 0xff); });
    case UnsyncedMode::kRandom:
      return ApplyMode(static_cast<UnsyncedMode>(rng() % 5), durable, data, rng);
  }
  return durable;
}

}  // namespace

struct SimFileSystem::State {
  mutable std::mutex mu;
  std::map<std::string, InodePtr> files;          // visible namespace
  std::map<std::string, InodePtr> durable_files;  // namespace after a power loss
  std::set<std::string> dirs{".", "/"};
  std::vector<MetaOp> journal;            // namespace changes not yet synced on both sides
  std::map<std::string, uint64_t> locks;  // path -> token of the live FileLock
  uint64_t next_token = 1;
  uint64_t next_inode = 1;
  uint64_t epoch = 0;  // bumped by PowerLoss; older handles are stale
  uint64_t ops = 0;
  std::vector<FailRule> fail_rules;
  std::vector<ShortWriteRule> short_writes;
  uint64_t capacity = 0;
  std::optional<uint64_t> crash_at;
  bool crashed = false;

  bool Crashed() const { return crashed || (crash_at && ops >= *crash_at); }

  // Every counted operation starts here: crash check, op count, then FailNth rules.
  Status Begin(std::optional<SimOp> op) {
    if (Crashed()) {
      crashed = true;
      return CrashStatus();
    }
    ++ops;
    return op ? CheckFail(*op) : Status::Ok();
  }

  Status CheckFail(SimOp op) {
    Status result;
    for (auto& r : fail_rules) {
      if (r.op != op || r.spent) continue;
      ++r.seen;
      if (r.seen < r.nth) continue;
      if (!r.persistent) r.spent = true;
      if (result.ok()) result = r.status;
    }
    return result;
  }

  // The kept prefix length when this write is the chosen short write.
  std::optional<size_t> TakeShortWrite(size_t len) {
    std::optional<size_t> keep;
    for (auto& r : short_writes) {
      if (r.spent || ++r.seen < r.nth) continue;
      r.spent = true;
      keep = std::min(r.keep, len);
    }
    return keep;
  }

  bool Named(const SimInode& f) const {
    return std::any_of(files.begin(), files.end(),
                       [&f](const auto& e) { return e.second.get() == &f; });
  }

  uint64_t Usage() const {
    std::set<const SimInode*> seen;
    uint64_t total = 0;
    for (const auto& [path, f] : files) {
      if (seen.insert(f.get()).second) total += std::max<uint64_t>(f->data.size(), f->reserved);
    }
    return total;
  }

  // NoSpace when growing `f` to (new_size, new_reserved) would exceed the capacity.
  Status CheckCapacity(const SimInode& f, uint64_t new_size, uint64_t new_reserved,
                       const std::string& path) const {
    if (capacity == 0 || !Named(f)) return Status::Ok();
    const uint64_t before = std::max<uint64_t>(f.data.size(), f.reserved);
    const uint64_t after = std::max(new_size, new_reserved);
    if (after <= before || Usage() + (after - before) <= capacity) return Status::Ok();
    return Status::NoSpace(path + ": No space left on device (simulated capacity " +
                           std::to_string(capacity) + " bytes)");
  }

  bool ParentExists(const std::string& path) const { return dirs.count(DirName(path)) > 0; }

  InodePtr NewInode() {
    auto f = std::make_shared<SimInode>();
    f->id = next_inode++;
    return f;
  }

  InodePtr Create(const std::string& path) {
    InodePtr f = NewInode();
    files[path] = f;
    journal.push_back({MetaKind::kCreate, "", path, f});
    return f;
  }

  void SyncDirLocked(const std::string& dir) {
    std::erase_if(durable_files, [&](const auto& e) { return DirName(e.first) == dir; });
    for (const auto& [path, f] : files) {
      if (DirName(path) == dir) durable_files[path] = f;
    }
    for (auto& op : journal) {
      if (!op.from.empty() && DirName(op.from) == dir) op.from_committed = true;
      if (!op.to.empty() && DirName(op.to) == dir) op.to_committed = true;
    }
    std::erase_if(journal, [](const MetaOp& op) {
      return (op.from.empty() || op.from_committed) && (op.to.empty() || op.to_committed);
    });
  }

  // The namespace after a power loss: each unsynced change survives on a coin flip.
  std::map<std::string, InodePtr> RecoveredNamespace(std::mt19937_64& rng) const {
    auto ns = durable_files;
    for (const auto& op : journal) {
      if ((rng() & 1) == 0) continue;  // this change was lost
      if (!op.from.empty() && !op.from_committed) {
        auto it = ns.find(op.from);
        if (it != ns.end() && it->second == op.inode) ns.erase(it);
      }
      if (!op.to.empty() && !op.to_committed) ns[op.to] = op.inode;
    }
    return ns;
  }

  void AddAncestors(const std::string& path) {
    for (std::string d = DirName(path); dirs.insert(d).second; d = DirName(d)) {
    }
  }

  void ApplyPowerLoss(UnsyncedMode mode, uint64_t seed) {
    std::mt19937_64 rng(seed);
    files = RecoveredNamespace(rng);
    durable_files = files;
    journal.clear();
    std::set<uint64_t> done;
    for (const auto& [path, f] : files) {
      AddAncestors(path);
      if (!done.insert(f->id).second) continue;
      f->data = ApplyMode(mode, f->durable, f->data, rng);
      f->durable = f->data;
    }
    locks.clear();
    ++epoch;
    ClearFaultsLocked();
  }

  void ClearFaultsLocked() {
    fail_rules.clear();
    short_writes.clear();
    capacity = 0;
    crash_at.reset();
    crashed = false;
  }
};

namespace {

using State = SimFileSystem::State;

// Shared by the file classes: the state, the inode, the path and the epoch at open time.
struct SimHandle {
  std::shared_ptr<State> state;
  InodePtr inode;
  std::string path;
  uint64_t epoch;

  // Begin() plus the stale-handle check; the caller holds state->mu.
  Status Begin(std::optional<SimOp> op) const {
    TLDB_RETURN_IF_ERROR(state->Begin(op));
    if (epoch != state->epoch) return Status::IOError(path + ": stale handle (power loss)");
    return Status::Ok();
  }
};

std::string At(const std::string& path, uint64_t offset) {
  return path + " at " + std::to_string(offset);
}

void Store(SimInode& f, uint64_t offset, std::span<const char> data) {
  if (data.empty()) return;
  if (f.data.size() < offset + data.size()) f.data.resize(offset + data.size(), '\0');
  std::copy(data.begin(), data.end(), f.data.begin() + static_cast<ptrdiff_t>(offset));
}

class SimWritableFile : public WritableFile {
 public:
  explicit SimWritableFile(SimHandle h) : h_(std::move(h)) {}

  Status Write(uint64_t offset, std::span<const char> data) override {
    std::lock_guard lock(h_.state->mu);
    TLDB_RETURN_IF_ERROR(Begin(SimOp::kWrite));
    SimInode& f = *h_.inode;
    const uint64_t end =
        data.empty() ? f.data.size() : std::max<uint64_t>(f.data.size(), offset + data.size());
    TLDB_RETURN_IF_ERROR(h_.state->CheckCapacity(f, end, f.reserved, h_.path));
    const std::optional<size_t> keep = h_.state->TakeShortWrite(data.size());
    Store(f, offset, keep ? data.first(*keep) : data);
    if (!keep) return Status::Ok();
    return Status::IOError("write " + At(h_.path, offset) + ": simulated short write (" +
                           std::to_string(*keep) + " of " + std::to_string(data.size()) +
                           " bytes)");
  }

  Status Sync() override {
    std::lock_guard lock(h_.state->mu);
    TLDB_RETURN_IF_ERROR(Begin(SimOp::kSync));
    h_.inode->durable = h_.inode->data;
    return Status::Ok();
  }

  // Nothing becomes durable: written back without a cache flush, bytes may still be lost.
  Status WriteBack(uint64_t offset, uint64_t len) override {
    (void)offset;
    (void)len;
    std::lock_guard lock(h_.state->mu);
    return Begin(std::nullopt);
  }

  Status Truncate(uint64_t size) override {
    std::lock_guard lock(h_.state->mu);
    TLDB_RETURN_IF_ERROR(Begin(std::nullopt));
    TLDB_RETURN_IF_ERROR(h_.state->CheckCapacity(*h_.inode, size, h_.inode->reserved, h_.path));
    // Like ext4 and tmpfs: a truncate that does not grow the file frees the blocks past the new
    // end, also those reserved with fallocate(FALLOC_FL_KEEP_SIZE).
    if (size <= h_.inode->data.size()) h_.inode->reserved = std::min(h_.inode->reserved, size);
    h_.inode->data.resize(size, '\0');
    return Status::Ok();
  }

  Status Allocate(uint64_t offset, uint64_t len) override {
    std::lock_guard lock(h_.state->mu);
    TLDB_RETURN_IF_ERROR(Begin(SimOp::kAllocate));
    SimInode& f = *h_.inode;
    const uint64_t reserved = std::max(f.reserved, offset + len);
    TLDB_RETURN_IF_ERROR(h_.state->CheckCapacity(f, f.data.size(), reserved, h_.path));
    f.reserved = reserved;
    return Status::Ok();
  }

  Result<uint64_t> Size() override {
    std::lock_guard lock(h_.state->mu);
    TLDB_RETURN_IF_ERROR(Begin(std::nullopt));
    return static_cast<uint64_t>(h_.inode->data.size());
  }

  Status Close() override {
    std::lock_guard lock(h_.state->mu);
    closed_ = true;
    return Status::Ok();
  }

 private:
  Status Begin(std::optional<SimOp> op) {
    TLDB_RETURN_IF_ERROR(h_.Begin(op));
    if (closed_) return Status::IOError(h_.path + ": file is closed");
    return Status::Ok();
  }

  SimHandle h_;
  bool closed_ = false;  // guarded by state->mu
};

class SimReadableFile : public ReadableFile {
 public:
  explicit SimReadableFile(SimHandle h) : h_(std::move(h)) {}

  Result<size_t> Read(uint64_t offset, size_t len, char* buf) override {
    std::lock_guard lock(h_.state->mu);
    TLDB_RETURN_IF_ERROR(h_.Begin(SimOp::kRead));
    if (h_.inode->unreadable->load()) return Status::IOError("read " + h_.path + ": I/O error");
    const std::string& d = h_.inode->data;
    if (offset >= d.size()) return size_t{0};
    const size_t n = std::min<uint64_t>(len, d.size() - offset);
    std::copy_n(d.begin() + static_cast<ptrdiff_t>(offset), n, buf);
    return n;
  }

  Result<uint64_t> Size() override {
    std::lock_guard lock(h_.state->mu);
    TLDB_RETURN_IF_ERROR(h_.Begin(std::nullopt));
    return static_cast<uint64_t>(h_.inode->data.size());
  }

 private:
  SimHandle h_;
};

// A snapshot of the file's bytes at Map() time. Once the file's medium fails reads, failed()
// is true and data() reads zeros, as a real mapping's faulted pages do (MapFaultRegistry).
class SimMappedFile : public MappedFile {
 public:
  SimMappedFile(std::shared_ptr<const std::string> bytes,
                std::shared_ptr<std::atomic<bool>> unreadable)
      : bytes_(std::move(bytes)), unreadable_(std::move(unreadable)) {}
  std::span<const char> data() const override {
    if (!failed()) return {bytes_->data(), bytes_->size()};
    std::call_once(zeros_once_, [&] { zeros_ = std::string(bytes_->size(), '\0'); });
    return {zeros_.data(), zeros_.size()};
  }
  bool failed() const override { return unreadable_->load(); }

 private:
  std::shared_ptr<const std::string> bytes_;
  std::shared_ptr<std::atomic<bool>> unreadable_;
  mutable std::once_flag zeros_once_;
  mutable std::string zeros_;
};

// Releases the path on destruction unless a PowerLoss already did (token check).
class SimFileLock : public FileLock {
 public:
  SimFileLock(std::shared_ptr<State> state, std::string path, uint64_t token)
      : state_(std::move(state)), path_(std::move(path)), token_(token) {}
  ~SimFileLock() override {
    std::lock_guard lock(state_->mu);
    auto it = state_->locks.find(path_);
    if (it != state_->locks.end() && it->second == token_) state_->locks.erase(it);
  }
  SimFileLock(const SimFileLock&) = delete;
  SimFileLock& operator=(const SimFileLock&) = delete;

 private:
  std::shared_ptr<State> state_;
  std::string path_;
  uint64_t token_;
};

Status NoEntry(std::string_view op, const std::string& path) {
  return Status::NotFound(std::string(op) + " " + path + ": No such file or directory");
}

}  // namespace

SimFileSystem::SimFileSystem() : state_(std::make_shared<State>()) {}
SimFileSystem::~SimFileSystem() = default;

Result<std::unique_ptr<WritableFile>> SimFileSystem::OpenWritable(const std::string& path,
                                                                  bool create, bool exclusive) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(SimOp::kOpen));
  if (state_->dirs.count(p)) return Status::IOError("open " + p + ": Is a directory");
  InodePtr f;
  if (auto it = state_->files.find(p); it != state_->files.end()) {
    if (create && exclusive) return Status::IOError("open " + p + ": File exists");
    f = it->second;
  } else {
    if (!create || !state_->ParentExists(p)) return NoEntry("open", p);
    f = state_->Create(p);
  }
  return std::unique_ptr<WritableFile>(
      std::make_unique<SimWritableFile>(SimHandle{state_, f, p, state_->epoch}));
}

Result<std::unique_ptr<ReadableFile>> SimFileSystem::OpenReadable(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(SimOp::kOpen));
  auto it = state_->files.find(p);
  if (it == state_->files.end()) return NoEntry("open", p);
  return std::unique_ptr<ReadableFile>(
      std::make_unique<SimReadableFile>(SimHandle{state_, it->second, p, state_->epoch}));
}

Result<std::unique_ptr<MappedFile>> SimFileSystem::Map(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(SimOp::kOpen));
  auto it = state_->files.find(p);
  if (it == state_->files.end()) return NoEntry("open", p);
  auto bytes = std::make_shared<const std::string>(it->second->data);
  return std::unique_ptr<MappedFile>(
      std::make_unique<SimMappedFile>(std::move(bytes), it->second->unreadable));
}

Status SimFileSystem::CreateDir(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(std::nullopt));
  for (std::string d = p; !state_->dirs.count(d); d = DirName(d)) {
    if (state_->files.count(d)) return Status::IOError("mkdir " + d + ": File exists");
  }
  for (std::string d = p; state_->dirs.insert(d).second; d = DirName(d)) {
  }
  return Status::Ok();
}

Status SimFileSystem::SyncDir(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(SimOp::kSyncDir));
  if (!state_->dirs.count(p)) return NoEntry("open directory", p);
  state_->SyncDirLocked(p);
  return Status::Ok();
}

Result<std::vector<std::string>> SimFileSystem::ListDir(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(std::nullopt));
  if (!state_->dirs.count(p)) {
    if (state_->files.count(p)) return Status::IOError("opendir " + p + ": Not a directory");
    return NoEntry("opendir", p);
  }
  std::vector<std::string> names;
  for (const auto& [f, inode] : state_->files) {
    if (DirName(f) == p) names.push_back(BaseName(f));
  }
  for (const auto& d : state_->dirs) {
    if (d != p && DirName(d) == p) names.push_back(BaseName(d));
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> SimFileSystem::Exists(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(std::nullopt));
  return state_->files.count(p) > 0 || state_->dirs.count(p) > 0;
}

Result<uint64_t> SimFileSystem::FileSize(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(std::nullopt));
  auto it = state_->files.find(p);
  if (it != state_->files.end()) return static_cast<uint64_t>(it->second->data.size());
  if (state_->dirs.count(p)) return Status::IOError("stat " + p + ": Is a directory");
  return NoEntry("stat", p);
}

Status SimFileSystem::Rename(const std::string& from, const std::string& to) {
  const std::string f = Normalize(from);
  const std::string t = Normalize(to);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(SimOp::kRename));
  const std::string what = "rename " + f + " -> " + t;
  auto it = state_->files.find(f);
  if (it == state_->files.end()) {
    if (state_->dirs.count(f)) return Status::NotSupported(what + ": directories cannot move");
    return NoEntry("rename", f + " -> " + t);
  }
  if (!state_->ParentExists(t)) return NoEntry("rename", f + " -> " + t);
  if (state_->dirs.count(t)) return Status::IOError(what + ": Is a directory");
  if (f == t) return Status::Ok();
  InodePtr inode = it->second;
  state_->files.erase(it);
  state_->files[t] = inode;
  state_->journal.push_back({MetaKind::kRename, f, t, inode});
  return Status::Ok();
}

Status SimFileSystem::Remove(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(SimOp::kRemove));
  if (auto it = state_->files.find(p); it != state_->files.end()) {
    state_->journal.push_back({MetaKind::kRemove, p, "", it->second});
    state_->files.erase(it);
    return Status::Ok();
  }
  if (!state_->dirs.count(p)) return NoEntry("unlink", p);
  if (p == "/" || p == ".") return Status::IOError("rmdir " + p + ": Device or resource busy");
  const auto in_p = [&p](const std::string& e) { return e != p && DirName(e) == p; };
  const bool empty = std::none_of(state_->dirs.begin(), state_->dirs.end(), in_p) &&
                     std::none_of(state_->files.begin(), state_->files.end(),
                                  [&](const auto& e) { return in_p(e.first); });
  if (!empty) return Status::IOError("rmdir " + p + ": Directory not empty");
  state_->dirs.erase(p);
  return Status::Ok();
}

Result<std::unique_ptr<FileLock>> SimFileSystem::Lock(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  TLDB_RETURN_IF_ERROR(state_->Begin(std::nullopt));
  if (state_->locks.count(p)) return Status::IOError(p + " is locked by another process");
  if (state_->dirs.count(p)) return Status::IOError("open lock file " + p + ": Is a directory");
  if (!state_->files.count(p)) {
    if (!state_->ParentExists(p)) return NoEntry("open lock file", p);
    state_->Create(p);
  }
  const uint64_t token = state_->next_token++;
  state_->locks[p] = token;
  return std::unique_ptr<FileLock>(std::make_unique<SimFileLock>(state_, p, token));
}

// ---- fault injection ----

void SimFileSystem::FailNth(SimOp op, uint64_t nth, bool persistent, Status status) {
  std::lock_guard lock(state_->mu);
  state_->fail_rules.push_back({op, std::max<uint64_t>(nth, 1), persistent, std::move(status)});
}

void SimFileSystem::SetCapacityBytes(uint64_t bytes) {
  std::lock_guard lock(state_->mu);
  state_->capacity = bytes;
}

void SimFileSystem::ShortWriteNth(uint64_t nth, size_t keep_bytes) {
  std::lock_guard lock(state_->mu);
  state_->short_writes.push_back({std::max<uint64_t>(nth, 1), keep_bytes});
}

void SimFileSystem::CrashAfterOps(uint64_t k) {
  std::lock_guard lock(state_->mu);
  state_->crash_at = state_->ops + k;
}

bool SimFileSystem::crashed() const {
  std::lock_guard lock(state_->mu);
  return state_->Crashed();
}

uint64_t SimFileSystem::ops() const {
  std::lock_guard lock(state_->mu);
  return state_->ops;
}

void SimFileSystem::PowerLoss(UnsyncedMode mode, uint64_t seed) {
  std::lock_guard lock(state_->mu);
  state_->ApplyPowerLoss(mode, seed);
}

void SimFileSystem::FailReads(const std::string& path) {
  std::lock_guard lock(state_->mu);
  auto it = state_->files.find(Normalize(path));
  if (it != state_->files.end()) it->second->unreadable->store(true);
}

void SimFileSystem::ClearFaults() {
  std::lock_guard lock(state_->mu);
  state_->ClearFaultsLocked();
}

// ---- test helpers ----

Result<std::string> SimFileSystem::GetFileData(const std::string& path) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  auto it = state_->files.find(p);
  if (it == state_->files.end()) return NoEntry("open", p);
  return it->second->data;
}

Status SimFileSystem::SetFileData(const std::string& path, std::string data) {
  const std::string p = Normalize(path);
  std::lock_guard lock(state_->mu);
  if (state_->dirs.count(p)) return Status::IOError("open " + p + ": Is a directory");
  state_->AddAncestors(p);
  InodePtr& f = state_->files[p];
  if (!f) f = state_->NewInode();
  f->data = std::move(data);
  f->durable = f->data;
  state_->durable_files[p] = f;
  return Status::Ok();
}

uint64_t SimFileSystem::TotalBytes() const {
  std::lock_guard lock(state_->mu);
  return state_->Usage();
}

}  // namespace tldb

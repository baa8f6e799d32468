#include "replication/peer_snapshots.h"

#include <xxhash.h>

#include <algorithm>
#include <memory>

namespace tldb::repl {
PeerSnapshots::~PeerSnapshots() {
  {
    std::lock_guard l(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  worker_.join();
}

void PeerSnapshots::Post(std::function<void()> task) {
  tasks_.push_back(std::move(task));
  cv_.notify_all();
}

void PeerSnapshots::Work() {
  std::unique_lock l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stopping_ || !tasks_.empty(); });
    if (stopping_) return;  // what is left is removed by RemoveLeftovers at the next start
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    l.unlock();
    task();
    l.lock();
  }
}

Result<uint64_t> PeerSnapshots::ChecksumFile(const std::string& path) {
  TLDB_ASSIGN_OR_RETURN(auto file, fs_.OpenReadable(path));
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> st(XXH3_createState(), &XXH3_freeState);
  XXH3_64bits_reset(st.get());
  std::string buf(1 << 20, '\0');
  for (uint64_t off = 0;;) {
    TLDB_ASSIGN_OR_RETURN(size_t n, file->Read(off, buf.size(), buf.data()));
    if (n == 0) break;
    XXH3_64bits_update(st.get(), buf.data(), n);
    off += n;
  }
  return static_cast<uint64_t>(XXH3_64bits_digest(st.get()));
}

void PeerSnapshots::Take(uint32_t peer, uint64_t generation) {
  const std::string dir = DirOf(peer);
  (void)RemoveTree(fs_, dir);
  (void)fs_.CreateDir(root_);
  auto info = take_(dir);
  if (info.ok()) {
    // Each file's checksum, for the follower to check what it received (the snapshot's files
    // are read once more here, mostly from the page cache).
    for (SnapshotFile& f : info->files) {
      auto sum = ChecksumFile(dir + "/" + f.path);
      if (!sum.ok()) {
        info = sum.status();
        break;
      }
      f.xxh3 = *sum;
    }
  }
  std::unique_lock l(mu_);
  taking_ = false;
  auto it = entries_.find(peer);
  if (it == entries_.end() || it->second.generation != generation || !info.ok()) {
    if (it != entries_.end() && it->second.generation == generation) {
      it->second.failed = info.status();
    }
    l.unlock();
    (void)RemoveTree(fs_, dir);  // released meanwhile, or failed
    return;
  }
  it->second.ready = true;
  it->second.files = info->files;
}

Result<std::optional<std::vector<SnapshotFile>>> PeerSnapshots::Open(uint32_t peer) {
  std::lock_guard l(mu_);
  auto it = entries_.find(peer);
  if (it != entries_.end()) {
    if (it->second.failed) {
      Status s = *it->second.failed;
      entries_.erase(it);
      return s;
    }
    if (it->second.ready) return std::optional<std::vector<SnapshotFile>>(it->second.files);
    return std::optional<std::vector<SnapshotFile>>();
  }
  if (taking_) return std::optional<std::vector<SnapshotFile>>();
  taking_ = true;
  const uint64_t generation = ++generation_;
  entries_[peer].generation = generation;
  Post([this, peer, generation] { Take(peer, generation); });
  return std::optional<std::vector<SnapshotFile>>();
}

Result<std::string> PeerSnapshots::Read(uint32_t peer, const std::string& path, uint64_t offset,
                                        uint64_t bytes_max) {
  uint64_t size = 0;
  {
    std::lock_guard l(mu_);
    auto it = entries_.find(peer);
    if (it == entries_.end() || !it->second.ready) {
      return Status::NotFound("no snapshot taken for replica " + std::to_string(peer));
    }
    auto f = std::find_if(it->second.files.begin(), it->second.files.end(),
                          [&](const SnapshotFile& x) { return x.path == path; });
    if (f == it->second.files.end()) {
      return Status::NotFound("snapshot for replica " + std::to_string(peer) + " has no " + path);
    }
    size = f->bytes;
  }
  if (offset >= size) return std::string();
  TLDB_ASSIGN_OR_RETURN(auto file, fs_.OpenReadable(DirOf(peer) + "/" + path));
  std::string out(std::min(bytes_max, size - offset), '\0');
  TLDB_ASSIGN_OR_RETURN(size_t got, file->Read(offset, out.size(), out.data()));
  out.resize(got);
  return out;
}

void PeerSnapshots::Release(uint32_t peer) {
  std::lock_guard l(mu_);
  auto it = entries_.find(peer);
  if (it == entries_.end()) return;
  const bool ready = it->second.ready;
  entries_.erase(it);
  // One being taken is removed by its Take, which finds it gone.
  if (ready) Post([this, dir = DirOf(peer)] { (void)RemoveTree(fs_, dir); });
}

void PeerSnapshots::Clear() {
  std::vector<uint32_t> peers;
  {
    std::lock_guard l(mu_);
    for (const auto& [peer, e] : entries_) peers.push_back(peer);
  }
  for (uint32_t p : peers) Release(p);
}

void PeerSnapshots::RemoveLeftovers() {
  (void)RemoveTree(fs_, root_);
}

}  // namespace tldb::repl

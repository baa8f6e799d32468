// SimFileSystem: an in-memory, deterministic, fault-injecting FileSystem for tests
// (after LevelDB's fault_injection_test.cc, RocksDB's FaultInjectionTestFS and TigerBeetle's
// testing/storage.zig).
//
// Model: each file has `data` (what readers see: the page cache) and `durable` (what survives
// a power loss). Write() changes `data` only; Sync() copies data -> durable. Directory entries
// are likewise volatile until SyncDir(): a file created or renamed since the last SyncDir of its
// directory may vanish (or revert to its old name) at a crash.
//
// Faults:
// - Fail the Nth operation of a kind, once or persistently (write, sync, rename, allocate, read,
//   open, syncdir), with EIO or ENOSPC-like NoSpace.
// - A byte capacity: writes that would grow total file bytes beyond it fail with NoSpace.
// - Short writes (a write persists only a prefix of its bytes, then fails).
// - Crash at operation k: once `ops()` reaches k, every further operation fails with
//   IOError("simulated crash") and nothing changes any more, as if the process had died.
// - PowerLoss(mode, seed): turns the current state into what a machine would show after a power
//   cut, then clears all faults, so the engine can be reopened on it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tldb/file_system.h"

namespace tldb {

enum class SimOp : uint8_t { kWrite, kSync, kRename, kAllocate, kRead, kOpen, kSyncDir, kRemove };

// What happens to bytes written but not synced when the power goes.
enum class UnsyncedMode : uint8_t {
  kKeep,         // all written bytes survived
  kDrop,         // none survived
  kTear512,      // a random prefix, cut at a 512-byte boundary, survived
  kZeroFill,     // unsynced ranges read back as zeros
  kGarbageFill,  // unsynced ranges read back as random bytes
  kRandom,       // each file picks one of the above (seeded)
};

class SimFileSystem : public FileSystem {
 public:
  SimFileSystem();
  ~SimFileSystem() override;

  std::string Name() const override { return "sim"; }
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool create,
                                                     bool exclusive) override;
  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override;
  Result<std::unique_ptr<MappedFile>> Map(const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<bool> Exists(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> Lock(const std::string& path) override;

  // ---- fault injection ----
  // Fail the nth (1-based, counted from this call) operation of `op`; persistent: that and all
  // later ones. `status` is what the failing call returns.
  void FailNth(SimOp op, uint64_t nth, bool persistent, Status status);
  // Total bytes of file data allowed (0 = unlimited); beyond it writes fail with NoSpace.
  void SetCapacityBytes(uint64_t bytes);
  // The nth write (1-based, from this call) stores only `keep_bytes` of its data then fails.
  void ShortWriteNth(uint64_t nth, size_t keep_bytes);
  // After `k` more mutating-or-reading operations, everything fails ("the process died").
  void CrashAfterOps(uint64_t k);
  bool crashed() const;
  // Operations counted so far (every FileSystem/File call that touches state counts as one).
  uint64_t ops() const;
  // Apply a power loss: unsynced bytes per `mode`, unsynced directory changes may be undone
  // (seeded coin flips), then clear every fault and the crashed flag.
  void PowerLoss(UnsyncedMode mode, uint64_t seed);
  // The medium under `path` fails reads from now on (a bad disk under a sealed segment):
  // mappings of it report failed() and reads of it fail with IOError. ClearFaults keeps it.
  void FailReads(const std::string& path);
  // Clear all faults without losing anything (a clean process restart).
  void ClearFaults();

  // ---- test helpers ----
  // Direct access to the visible bytes of a file (corruption tests flip bits here). Writes
  // through these bypass faults and are made durable at once.
  Result<std::string> GetFileData(const std::string& path);
  Status SetFileData(const std::string& path, std::string data);
  uint64_t TotalBytes() const;

  struct State;  // implementation detail, public for the file classes in the .cc

 private:
  std::shared_ptr<State> state_;
};

}  // namespace tldb

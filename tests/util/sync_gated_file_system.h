// SyncGatedFileSystem: a FileSystem that forwards every call to an inner one, except that each
// fdatasync of a writable file (Sync, and the sync of WriteAndSync) goes through a SyncGate,
// which may park it, run it, or fail it. Tests use it to choose when, and in which order, the
// engine's fdatasyncs return.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tldb/file_system.h"

namespace tldb::testing {

// Decides what one fdatasync of `path` does; it runs it with `file.Sync()` (or not).
class SyncGate {
 public:
  virtual ~SyncGate() = default;
  virtual Status Sync(const std::string& path, WritableFile& file) = 0;
  // One WriteBack (sync_file_range) of `path`; forwarded unless a gate says otherwise.
  virtual Status WriteBack(const std::string& path, WritableFile& file, uint64_t offset,
                           uint64_t len) {
    (void)path;
    return file.WriteBack(offset, len);
  }
};

class SyncGatedFile : public WritableFile {
 public:
  SyncGatedFile(std::unique_ptr<WritableFile> f, std::string path, SyncGate* gate)
      : f_(std::move(f)), path_(std::move(path)), gate_(gate) {}
  Status Write(uint64_t offset, std::span<const char> data) override {
    return f_->Write(offset, data);
  }
  Status Sync() override { return gate_->Sync(path_, *f_); }
  Status WriteAndSync(uint64_t offset, std::span<const char> data) override {
    TLDB_RETURN_IF_ERROR(f_->Write(offset, data));
    return Sync();
  }
  Status WriteBack(uint64_t offset, uint64_t len) override {
    return gate_->WriteBack(path_, *f_, offset, len);
  }
  Status Truncate(uint64_t size) override { return f_->Truncate(size); }
  Status Allocate(uint64_t offset, uint64_t len) override { return f_->Allocate(offset, len); }
  Result<uint64_t> Size() override { return f_->Size(); }
  Status Close() override { return f_->Close(); }

 private:
  std::unique_ptr<WritableFile> f_;
  std::string path_;
  SyncGate* gate_;
};

class SyncGatedFileSystem : public FileSystem {
 public:
  SyncGatedFileSystem(std::shared_ptr<FileSystem> inner, SyncGate* gate)
      : inner_(std::move(inner)), gate_(gate) {}
  std::string Name() const override { return "gated-" + inner_->Name(); }
  Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, bool create,
                                                     bool exclusive) override {
    TLDB_ASSIGN_OR_RETURN(auto f, inner_->OpenWritable(path, create, exclusive));
    return std::unique_ptr<WritableFile>(
        std::make_unique<SyncGatedFile>(std::move(f), path, gate_));
  }
  Result<std::unique_ptr<ReadableFile>> OpenReadable(const std::string& path) override {
    return inner_->OpenReadable(path);
  }
  Result<std::unique_ptr<MappedFile>> Map(const std::string& path) override {
    return inner_->Map(path);
  }
  Status CreateDir(const std::string& path) override { return inner_->CreateDir(path); }
  Status SyncDir(const std::string& path) override { return inner_->SyncDir(path); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    return inner_->ListDir(path);
  }
  Result<bool> Exists(const std::string& path) override { return inner_->Exists(path); }
  Result<uint64_t> FileSize(const std::string& path) override { return inner_->FileSize(path); }
  Status Rename(const std::string& from, const std::string& to) override {
    return inner_->Rename(from, to);
  }
  Status Link(const std::string& from, const std::string& to) override {
    return inner_->Link(from, to);
  }
  Status Remove(const std::string& path) override { return inner_->Remove(path); }
  Result<std::unique_ptr<FileLock>> Lock(const std::string& path) override {
    return inner_->Lock(path);
  }

 private:
  std::shared_ptr<FileSystem> inner_;
  SyncGate* gate_;
};

}  // namespace tldb::testing

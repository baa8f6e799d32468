#include "read_side.h"

#include <algorithm>

namespace tldb {

void ReadSide::CallerWaits(Caller* c) {
  if (owner_ == Owner::kNone && connected_ && !MustYield()) {
    owner_ = Owner::kCaller;
    caller_ = c;
    return;
  }
  queue_.push_back(c);
}

ReadSide::Wake ReadSide::Finished(Caller* c) {
  if (Owns(c)) return {Wake::Kind::kOwner, c};
  Dequeue(c);
  return {Wake::Kind::kCaller, c};
}

ReadSide::Wake ReadSide::Leave(Caller* c) {
  if (!Owns(c)) {
    Dequeue(c);
    return {};
  }
  owner_ = Owner::kNone;
  caller_ = nullptr;
  return Release();
}

ReadSide::Wake ReadSide::Yield(Caller* c) {
  if (!Owns(c)) return {};
  owner_ = Owner::kNone;
  caller_ = nullptr;
  queue_.push_front(c);
  return Release();
}

ReadSide::Wake ReadSide::IoRelease() {
  if (owner_ != Owner::kIo || !connected_ || closing_ || hangup_) return {};
  if (queue_.empty() && io_work_) return {};
  owner_ = Owner::kNone;
  Wake w = Release();
  // The I/O thread released the side itself: it need not be woken when it keeps it.
  return w.kind == Wake::Kind::kIo ? Wake{} : w;
}

ReadSide::Wake ReadSide::SetIoWork(bool has_work) {
  io_work_ = has_work;
  if (has_work && owner_ == Owner::kNone && connected_) return ToIo();
  return {};
}

ReadSide::Wake ReadSide::Hangup() {
  hangup_ = true;
  if (owner_ == Owner::kNone) return ToIo();
  if (owner_ == Owner::kCaller) return {Wake::Kind::kOwner, caller_};
  return {};
}

void ReadSide::Disconnected() {
  connected_ = false;
  hangup_ = false;
}

void ReadSide::Connected() {
  connected_ = true;
}

ReadSide::Wake ReadSide::Close() {
  closing_ = true;
  if (owner_ == Owner::kNone) return ToIo();
  if (owner_ == Owner::kCaller) return {Wake::Kind::kOwner, caller_};
  return {Wake::Kind::kIo, nullptr};
}

ReadSide::Wake ReadSide::Release() {
  if (closing_ || hangup_ || !connected_) return ToIo();
  if (!queue_.empty()) {
    owner_ = Owner::kCaller;
    caller_ = queue_.front();
    queue_.pop_front();
    return {Wake::Kind::kCaller, caller_};
  }
  if (io_work_) return ToIo();
  return {};
}

ReadSide::Wake ReadSide::ToIo() {
  owner_ = Owner::kIo;
  caller_ = nullptr;
  return {Wake::Kind::kIo, nullptr};
}

void ReadSide::Dequeue(Caller* c) {
  auto it = std::find(queue_.begin(), queue_.end(), c);
  if (it != queue_.end()) queue_.erase(it);
}

}  // namespace tldb

#include "protocol/backup_messages.h"

#include "protocol/codes.h"

namespace tldb::proto {
namespace {

bool ReadString(WireReader& r, std::string* s) {
  std::string_view v;
  if (!r.Str16(&v)) return false;
  s->assign(v);
  return true;
}

}  // namespace

void Encode(const BackupOpenResponse& m, WireWriter& w) {
  w.U64(m.backup_id);
  w.U32(m.chunk_bytes_max);
  w.U32(static_cast<uint32_t>(m.files.size()));
  for (const auto& f : m.files) {
    w.Str16(f.path);
    w.U64(f.bytes);
    w.U64(f.xxh3);
  }
  w.U32(static_cast<uint32_t>(m.namespaces.size()));
  for (const auto& n : m.namespaces) {
    w.Str16(n.ns);
    w.U64(n.segment);
    w.U64(n.offset);
  }
}
void Encode(const BackupReadRequest& m, WireWriter& w) {
  w.U64(m.backup_id);
  w.U32(m.file_index);
  w.U64(m.offset);
  w.U32(m.bytes_max);
}
void Encode(const BackupReadResponse& m, WireWriter& w) {
  w.U64(m.offset);
  w.Bytes32(m.data);
}
void Encode(const BackupCloseRequest& m, WireWriter& w) {
  w.U64(m.backup_id);
}

bool Decode(std::string_view body, BackupOpenResponse* m) {
  WireReader r(body);
  uint32_t n = 0;
  if (!r.U64(&m->backup_id) || !r.U32(&m->chunk_bytes_max) || !r.Count(&n, 18)) return false;
  m->files.resize(n);
  for (auto& f : m->files) {
    if (!ReadString(r, &f.path) || !r.U64(&f.bytes) || !r.U64(&f.xxh3)) return false;
  }
  if (!r.Count(&n, 18)) return false;
  m->namespaces.resize(n);
  for (auto& ns : m->namespaces) {
    if (!ReadString(r, &ns.ns) || !r.U64(&ns.segment) || !r.U64(&ns.offset)) return false;
  }
  return r.Done();
}
bool Decode(std::string_view body, BackupReadRequest* m) {
  WireReader r(body);
  return r.U64(&m->backup_id) && r.U32(&m->file_index) && r.U64(&m->offset) &&
         r.U32(&m->bytes_max) && r.Done();
}
bool Decode(std::string_view body, BackupReadResponse* m) {
  WireReader r(body);
  return r.U64(&m->offset) && r.Bytes32(&m->data) && r.Done();
}
bool Decode(std::string_view body, BackupCloseRequest* m) {
  WireReader r(body);
  return r.U64(&m->backup_id) && r.Done();
}

bool DecodeBackupRequest(uint8_t op, std::string_view body) {
  switch (static_cast<Op>(op)) {
    case Op::kBackupOpen:
      return body.empty();
    case Op::kBackupRead: {
      BackupReadRequest m;
      return Decode(body, &m);
    }
    case Op::kBackupClose: {
      BackupCloseRequest m;
      return Decode(body, &m);
    }
    default:
      return false;
  }
}

}  // namespace tldb::proto

// BackupHandler: BACKUP_OPEN, BACKUP_READ, BACKUP_CLOSE.
#include "backup_handler.h"

#include <algorithm>

#include "async_call.h"
#include "loop.h"
#include "protocol/backup_messages.h"

namespace tldb::server {

using proto::Op;

void BackupHandler::Open(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kBackupOpen);
  if (!proto::DecodeEmpty(body)) return ctx_.Malformed(c, op, id);
  // A backup holds every namespace, the system ones too: admin on '*'.
  if (!ctx_.CheckAdmin(c, op, id, "")) return;
  ServerCore& core = ctx_.core();
  auto call = ctx_.StartAsync(c, op, id);
  Status refused;
  const bool started = core.backups.Open(
      c.id(),
      [call](Result<proto::BackupOpenResponse> r) {
        if (r.ok()) {
          call.core().Log("backup " + std::to_string(r->backup_id) +
                          " opened: " + std::to_string(r->files.size()) + " files");
        } else {
          call.core().Log("backup failed: " + r.status().ToString());
        }
        call.Complete([id = call.id(), r = std::move(r)](HandlerContext& ctx, Connection& c) {
          const uint8_t op = static_cast<uint8_t>(Op::kBackupOpen);
          if (!r.ok()) return ctx.Fail(c, op, id, r.status());
          size_t f = c.Begin(Op::kBackupOpen, proto::kFlagResponse, id);
          auto w = c.Writer();
          proto::Encode(*r, w);
          c.End(f);
        });
      },
      &refused);
  if (!started) {
    c.DropInflight();
    ctx_.Fail(c, op, id, refused);
  }
}

void BackupHandler::Read(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kBackupRead);
  proto::BackupReadRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (!ctx_.CheckAdmin(c, op, id, "")) return;
  // At most one chunk, and small enough for the client's frame limit (the response carries 12
  // bytes besides the data).
  uint32_t bytes_max = std::min(req.bytes_max, proto::kBackupChunkBytesMax);
  bytes_max = std::min(bytes_max, ctx_.core().config.frame_body_bytes_max - 12);
  if (bytes_max == 0) {
    return ctx_.Fail(c, op, id, Status::InvalidArgument("bytes_max must be at least 1"));
  }
  auto data = ctx_.core().backups.Read(c.id(), req, bytes_max);
  if (!data.ok()) return ctx_.Fail(c, op, id, data.status());
  size_t f = c.Begin(Op::kBackupRead, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(proto::BackupReadResponse{req.offset, *data}, w);
  c.End(f);
}

void BackupHandler::Close(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kBackupClose);
  proto::BackupCloseRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  Status s = ctx_.core().backups.Close(c.id(), req.backup_id);
  if (!s.ok()) return ctx_.Fail(c, op, id, s);
  ctx_.Empty(c, Op::kBackupClose, id);
}

void BackupHandler::Forget(Connection& c) {
  ctx_.core().backups.ReleaseConnection(c.id());
}

}  // namespace tldb::server

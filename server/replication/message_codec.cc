#include "replication/message_codec.h"

#include "protocol/wire.h"

namespace tldb::repl {
namespace {

// 2: a flags byte after `from` (bit 0: the sender is a learner), the kVoter and snapshot
// messages, and the files and data sections at the end. 3: the sender's catalog version
// (u64) after the flags byte, and each snapshot file's XXH3-64 after its size. 4: the sender's
// incarnation (u64) after the catalog version.
constexpr uint8_t kVersion = 4;
constexpr uint8_t kFlagLearner = 1;

void Pos(proto::WireWriter& w, LogPosition p) {
  w.U64(p.segment);
  w.U64(p.offset);
}
bool Pos(proto::WireReader& r, LogPosition* p) {
  return r.U64(&p->segment) && r.U64(&p->offset);
}

}  // namespace

std::string MessageCodec::Encode(const PeerMessage& m) {
  std::string out;
  proto::WireWriter w(&out);
  w.U8(kVersion);
  w.U8(static_cast<uint8_t>(m.type));
  w.U64(m.epoch);
  w.U32(m.from);
  w.U8(m.learner ? kFlagLearner : 0);
  w.U64(m.catalog_seq);
  w.U64(m.incarnation);
  w.Bytes32(m.ns);
  Pos(w, m.position);
  w.U32(static_cast<uint32_t>(m.frames.size()));
  for (const LogFrame& f : m.frames) {
    w.U8(static_cast<uint8_t>(f.kind));
    w.U8(f.sync ? 1 : 0);
    w.U64(f.segment);
    w.U64(f.offset);
    w.Bytes32(f.bytes);
  }
  w.U32(static_cast<uint32_t>(m.logs.size()));
  for (const NsLog& l : m.logs) {
    w.Bytes32(l.ns);
    Pos(w, l.ends.written);
    Pos(w, l.ends.durable);
    Pos(w, l.cut);
    w.U32(static_cast<uint32_t>(l.history.entries().size()));
    for (const EpochStart& e : l.history.entries()) {
      w.U64(e.epoch);
      Pos(w, e.start);
    }
  }
  w.U32(static_cast<uint32_t>(m.files.size()));
  for (const SnapshotFile& f : m.files) {
    w.Bytes32(f.path);
    w.U64(f.bytes);
    w.U64(f.xxh3);
  }
  w.Bytes32(m.data);
  return out;
}

Result<PeerMessage> MessageCodec::Decode(std::string_view bytes) {
  proto::WireReader r(bytes);
  PeerMessage m;
  uint8_t version = 0, type = 0, flags = 0;
  std::string_view ns;
  uint32_t frames = 0;
  bool ok = r.U8(&version) && r.U8(&type) && r.U64(&m.epoch) && r.U32(&m.from) && r.U8(&flags) &&
            r.U64(&m.catalog_seq) && r.U64(&m.incarnation) && r.Bytes32(&ns) &&
            Pos(r, &m.position) && r.U32(&frames);
  if (!ok) return Status::InvalidArgument("replication message truncated in its header");
  if (version != kVersion) {
    return Status::InvalidArgument("replication message version " + std::to_string(version));
  }
  if (type < static_cast<uint8_t>(MsgType::kAppend) ||
      type > static_cast<uint8_t>(MsgType::kSnapshotChunk)) {
    return Status::InvalidArgument("unknown replication message type " + std::to_string(type));
  }
  if (frames > kFramesMax) return Status::InvalidArgument("too many frames in one message");
  if ((flags & ~kFlagLearner) != 0) {
    return Status::InvalidArgument("unknown replication message flags " + std::to_string(flags));
  }
  m.type = static_cast<MsgType>(type);
  m.learner = (flags & kFlagLearner) != 0;
  m.ns = std::string(ns);
  for (uint32_t i = 0; i < frames; ++i) {
    LogFrame f;
    uint8_t kind = 0, sync = 0;
    std::string_view b;
    if (!(r.U8(&kind) && r.U8(&sync) && r.U64(&f.segment) && r.U64(&f.offset) && r.Bytes32(&b))) {
      return Status::InvalidArgument("replication message truncated in frame " + std::to_string(i));
    }
    if (kind != static_cast<uint8_t>(FrameKind::kRecords) &&
        kind != static_cast<uint8_t>(FrameKind::kRoll)) {
      return Status::InvalidArgument("unknown frame kind " + std::to_string(kind));
    }
    f.kind = static_cast<FrameKind>(kind);
    f.sync = sync != 0;
    f.bytes = std::string(b);
    m.frames.push_back(std::move(f));
  }
  uint32_t logs = 0;
  if (!r.U32(&logs) || logs > kLogsMax) {
    return Status::InvalidArgument("replication message: bad namespace count");
  }
  for (uint32_t i = 0; i < logs; ++i) {
    NsLog l;
    std::string_view lns;
    uint32_t epochs = 0;
    if (!(r.Bytes32(&lns) && Pos(r, &l.ends.written) && Pos(r, &l.ends.durable) && Pos(r, &l.cut) &&
          r.U32(&epochs)) ||
        epochs > kEpochsMax) {
      return Status::InvalidArgument("replication message truncated in namespace " +
                                     std::to_string(i));
    }
    l.ns = std::string(lns);
    std::vector<EpochStart> entries(epochs);
    for (auto& e : entries) {
      if (!(r.U64(&e.epoch) && Pos(r, &e.start))) {
        return Status::InvalidArgument("replication message truncated in an epoch history");
      }
    }
    EpochHistory h;
    for (const auto& e : entries) {
      if (!h.Append(e.epoch, e.start)) {
        return Status::InvalidArgument("replication message: epochs out of order");
      }
    }
    l.history = std::move(h);
    m.logs.push_back(std::move(l));
  }
  uint32_t files = 0;
  if (!r.U32(&files) || files > kFilesMax) {
    return Status::InvalidArgument("replication message: bad file count");
  }
  for (uint32_t i = 0; i < files; ++i) {
    std::string_view path;
    SnapshotFile f;
    if (!(r.Bytes32(&path) && r.U64(&f.bytes) && r.U64(&f.xxh3))) {
      return Status::InvalidArgument("replication message truncated in file " + std::to_string(i));
    }
    f.path = std::string(path);
    m.files.push_back(std::move(f));
  }
  std::string_view data;
  if (!r.Bytes32(&data)) return Status::InvalidArgument("replication message truncated in data");
  m.data = std::string(data);
  if (r.remaining() != 0) return Status::InvalidArgument("replication message has trailing bytes");
  return m;
}

}  // namespace tldb::repl

#include "protocol/frame.h"

#include "protocol/wire.h"

namespace tldb::proto {

namespace {
void PutLe(char* dst, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) dst[i] = static_cast<char>(v >> (8 * i));
}
}  // namespace

void EncodeHeader(const FrameHeader& h, char* dst) {
  PutLe(dst, kMagic, 2);
  PutLe(dst + 2, h.version, 1);
  PutLe(dst + 3, h.op, 1);
  PutLe(dst + 4, h.flags, 2);
  PutLe(dst + 6, 0, 2);
  PutLe(dst + 8, h.request_id, 8);
  PutLe(dst + 16, h.body_length, 4);
}

bool DecodeHeader(const char* src, FrameHeader* h) {
  WireReader r(src, kHeaderBytes);
  uint16_t magic = 0, reserved = 0;
  r.U16(&magic);
  r.U8(&h->version);
  r.U8(&h->op);
  r.U16(&h->flags);
  r.U16(&reserved);
  r.U64(&h->request_id);
  r.U32(&h->body_length);
  return r.Done() && magic == kMagic && reserved == 0 && (h->flags & ~kFlagsKnown) == 0;
}

ParseResult ParseFrame(const char* data, size_t size, uint32_t body_bytes_max, Frame* frame) {
  ParseResult res;
  if (size < kHeaderBytes) return res;  // kNeedMore
  FrameHeader h;
  bool valid = DecodeHeader(data, &h);
  res.op = h.op;
  res.request_id = h.request_id;
  res.outcome = ParseOutcome::kError;
  if (!valid) return res;  // kMalformedFrame
  if (h.version != kVersion) {
    res.error = ErrorCode::kUnsupportedVersion;
    return res;
  }
  if (h.body_length > body_bytes_max) {
    res.error = ErrorCode::kFrameTooLarge;
    return res;
  }
  if (size - kHeaderBytes < h.body_length) {
    res.outcome = ParseOutcome::kNeedMore;
    return res;
  }
  res.outcome = ParseOutcome::kFrame;
  res.frame_bytes = kHeaderBytes + h.body_length;
  frame->header = h;
  frame->body = std::string_view(data + kHeaderBytes, h.body_length);
  return res;
}

size_t BeginFrame(std::string* out, uint8_t op, uint16_t flags, uint64_t request_id) {
  size_t start = out->size();
  FrameHeader h;
  h.op = op;
  h.flags = flags;
  h.request_id = request_id;
  out->resize(start + kHeaderBytes);
  EncodeHeader(h, out->data() + start);
  return start;
}

void EndFrame(std::string* out, size_t frame_start) {
  uint32_t len = static_cast<uint32_t>(out->size() - frame_start - kHeaderBytes);
  PutLe(out->data() + frame_start + 16, len, 4);
}

std::string EncodeFrame(uint8_t op, uint16_t flags, uint64_t request_id, std::string_view body) {
  std::string out;
  out.reserve(kHeaderBytes + body.size());
  size_t start = BeginFrame(&out, op, flags, request_id);
  out.append(body);
  EndFrame(&out, start);
  return out;
}

}  // namespace tldb::proto

// Frame: the unit of the tldb protocol, a fixed 20-byte header followed by a body.
//
// Contract: ParseFrame() looks at the front of a receive buffer and says whether a whole,
// well-formed frame is there; it never reads past `size`, never allocates, and classifies
// every input as kFrame, kNeedMore or kError (with a protocol error code), so a server can feed
// it arbitrary bytes. BeginFrame()/EndFrame() build a frame in place at the end of an output
// string so bodies are encoded without an extra copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/codes.h"

namespace tldb::proto {

struct FrameHeader {
  uint8_t version = kVersion;
  uint8_t op = 0;
  uint16_t flags = 0;
  uint64_t request_id = 0;
  uint32_t body_length = 0;
};

struct Frame {
  FrameHeader header;
  std::string_view body;  // view into the caller's buffer
};

enum class ParseOutcome { kFrame, kNeedMore, kError };

struct ParseResult {
  ParseOutcome outcome = ParseOutcome::kNeedMore;
  size_t frame_bytes = 0;                        // header + body, when kFrame
  ErrorCode error = ErrorCode::kMalformedFrame;  // when kError
  // When kError: the header's opcode and request id as received, for the error reply (a bad
  // header is still answered under the request it claims to be).
  uint8_t op = 0;
  uint64_t request_id = 0;
};

// Encodes a header into exactly kHeaderBytes bytes at `dst`.
void EncodeHeader(const FrameHeader& h, char* dst);
// Decodes a header from kHeaderBytes bytes. Checks magic, reserved bits, known flags; the
// version is returned as is (the caller decides what it accepts).
bool DecodeHeader(const char* src, FrameHeader* h);

// Looks for one frame at the front of [data, data+size). Body lengths above `body_bytes_max`
// are kError/kFrameTooLarge as soon as the header is in; other versions are
// kError/kUnsupportedVersion.
ParseResult ParseFrame(const char* data, size_t size, uint32_t body_bytes_max, Frame* frame);

// Appends a header with body_length 0 to *out and returns its offset; encode the body after it,
// then call EndFrame() with that offset to patch the body length.
size_t BeginFrame(std::string* out, uint8_t op, uint16_t flags, uint64_t request_id);
void EndFrame(std::string* out, size_t frame_start);

// Whole frame in one call (tests, tools, clients).
std::string EncodeFrame(uint8_t op, uint16_t flags, uint64_t request_id, std::string_view body);

}  // namespace tldb::proto

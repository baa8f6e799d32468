// SessionHandler: HELLO and PING.
#include "session_handler.h"

#include "loop.h"

namespace tldb::server {

using proto::ErrorCode;
using proto::Op;

namespace {
constexpr char kServerName[] = "tldb-server/0.1.0";
}  // namespace

void SessionHandler::Hello(Connection& c, uint64_t id, std::string_view body) {
  const uint8_t op = static_cast<uint8_t>(Op::kHello);
  proto::HelloRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, op, id);
  if (c.handshaken()) {
    return ctx_.Fail(c, op, id, Status::InvalidArgument("HELLO already done on this connection"));
  }
  if (req.version != proto::kVersion) {
    return ctx_.Fatal(c, op, id, ErrorCode::kUnsupportedVersion,
                      "server speaks protocol version " + std::to_string(proto::kVersion));
  }
  ServerCore& core = ctx_.core();
  std::string token_name;  // not kept: the rights are what the connection needs
  const AccessRights* rights = core.auth.Authenticate(req.token, &token_name);
  if (!rights) {
    core.Log("client " + c.peer() + ": authentication failed");
    return ctx_.Fatal(c, op, id, ErrorCode::kAuthFailed,
                      req.token.empty() ? "this server requires a token" : "unknown token");
  }
  // Accountable by its token where it connects from (its address alone where the server has no
  // tokens): a client whose requests keep being refused (FailureBudgets) is refused here until
  // its budget refills. The address bounds what one misbehaving host costs the token's others.
  // The client's name is built only where the budget is on (it is its key).
  if (core.refusals) {
    const std::string address = PeerBudgets::KeyText(c.peer_key());
    std::string client =
        core.auth.required() ? "token " + token_name + " at " + address : "address " + address;
    if (!core.refusals->Admit(client, core.PeerNowMs())) {
      ServerStats::Inc(ctx_.stats().hellos_refused);
      ctx_.Fatal(
          c, op, 0, ErrorCode::kTooManyConnections,
          "too many refused requests from this client (refused-requests-per-s); retry later");
      ctx_.loop().HoldAnswer(c, client);
      return;
    }
    c.set_client(std::move(client));
  }
  c.Handshaken(rights);
  if (c.peer_charged()) {  // an authenticated client is never charged by its address's budget
    core.peers->Refund(c.peer_key(), core.PeerNowMs());
    c.clear_peer_charged();
  }
  const ServerConfig& cfg = core.config;
  proto::HelloResponse resp;
  resp.server_name = kServerName;
  resp.frame_body_bytes_max = cfg.frame_body_bytes_max;
  resp.payload_bytes_max = cfg.payload_bytes_max;
  resp.inflight_requests_max = cfg.inflight_requests_max;
  resp.fanout_timelines_max = cfg.fanout_timelines_max;
  resp.wait_timeout_ms_max = proto::kWaitTimeoutMsMax;
  resp.grants = rights->Grants();
  size_t start = c.Begin(Op::kHello, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(resp, w);
  c.End(start);
}

void SessionHandler::Ping(Connection& c, uint64_t id, std::string_view body) {
  proto::PingRequest req;
  if (!proto::Decode(body, &req)) return ctx_.Malformed(c, static_cast<uint8_t>(Op::kPing), id);
  size_t start = c.Begin(Op::kPing, proto::kFlagResponse, id);
  auto w = c.Writer();
  proto::Encode(req, w);  // req.data views the input buffer, not `out`: safe to copy
  c.End(start);
}

}  // namespace tldb::server

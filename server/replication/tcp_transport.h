// TcpTransport: replication messages between the tldb-servers of a partition over TCP
// (docs/replication.md "Message encoding"): each message is a u32 little-endian length and the
// encoded PeerMessage. One listener takes peers' connections (a reader thread each, handing
// every message to `on_message`); one sender thread per peer keeps one outgoing connection,
// reconnecting after a failure, and sends its queue in order. Best effort, as the Transport
// contract allows: a message queued while the peer cannot be reached, or beyond
// queue_bytes_max, is dropped and the protocol sends again what matters. With `tls` set, every
// connection is mutual TLS (docs/replication.md "Peer TLS"): a peer must present a certificate
// its CA signed, and a node checks the certificate of the peer it dials against the peer's
// address; a connection that fails either check carries nothing.
//
// Contract: thread-safe. Stop() (or the destructor) closes every socket and joins the threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "replication/transport.h"
#include "tldb/status.h"
#include "tls/tls_context.h"

namespace tldb::repl {

class TcpTransport : public Transport {
 public:
  struct Options {
    std::string listen;  // HOST:PORT for peers' connections (port 0: any)
    std::function<void(std::string bytes)> on_message;
    // Where node `n` listens ("" while unknown).
    std::function<std::string(uint32_t n)> address_of;
    uint64_t queue_bytes_max = 64ull << 20;  // per peer
    uint32_t message_bytes_max = 64u << 20;  // a larger incoming length closes the connection
    // Mutual TLS: both or neither. `tls_server` (TlsContext::ForServer with the peers' CA as
    // client CA) for accepted connections, `tls_client` (ForClient with that CA and this node's
    // certificate) for the ones this node dials.
    std::shared_ptr<const tls::TlsContext> tls_server, tls_client;
  };
  // The contexts of Options for a node whose certificate (for both roles) is `cert_file` /
  // `key_file`, signed by the peers' CA `ca_file`.
  [[nodiscard]] static Status LoadTls(const std::string& cert_file, const std::string& key_file,
                                      const std::string& ca_file, Options* options);
  [[nodiscard]] static Result<std::unique_ptr<TcpTransport>> Start(Options options);
  ~TcpTransport() override;

  void Send(uint32_t from, uint32_t to, std::string bytes) override;
  std::string listen_address() const { return listen_address_; }
  void Stop();

 private:
  struct Peer {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::string> queue;
    uint64_t queued_bytes = 0;
    std::thread sender;
  };
  explicit TcpTransport(Options options) : options_(std::move(options)) {}
  void AcceptLoop();
  void ReadLoop(int fd);
  void SendLoop(uint32_t to, Peer* p);

  const Options options_;
  std::string listen_address_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;  // guards peers_, readers_ and reader_fds_
  std::map<uint32_t, std::unique_ptr<Peer>> peers_;
  std::vector<std::thread> readers_;
  std::vector<int> reader_fds_;
};

}  // namespace tldb::repl

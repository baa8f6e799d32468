#include "tldb/cluster_client.h"

#include <chrono>
#include <random>
#include <thread>

namespace tldb {

Result<std::unique_ptr<ClusterClient>> ClusterClient::Connect(ClusterClientOptions options) {
  if (options.servers.empty()) return Status::InvalidArgument("no server address given");
  std::unique_ptr<ClusterClient> c(new ClusterClient(std::move(options)));
  std::random_device rd;
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "cc-%08x%08x-", rd(), rd());
  c->id_prefix_ = prefix;
  c->address_ = c->options_.servers.front();
  c->next_ = 1 % c->options_.servers.size();
  return c;
}

std::string ClusterClient::current() const {
  std::lock_guard l(mu_);
  return client_ ? address_ : "";
}

std::string ClusterClient::NewClientMsgId() {
  return id_prefix_ + std::to_string(ids_.fetch_add(1));
}

Status ClusterClient::Run(const std::function<Status(Client&)>& fn) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.retry_ms_max);
  size_t tried_in_round = 0;
  for (;;) {
    Status last;
    auto c = Current();
    if (c.ok()) {
      last = fn(**c);
      if (last.ok() || !Redirect(*c, last)) return last;
    } else {
      last = c.status();
      (void)Redirect(nullptr, last);
    }
    if (std::chrono::steady_clock::now() >= deadline) return last;
    if (++tried_in_round >= options_.servers.size()) {
      tried_in_round = 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_pause_ms));
    }
  }
}

Result<std::shared_ptr<Client>> ClusterClient::Current() {
  std::string address;
  {
    std::lock_guard l(mu_);
    if (client_) return client_;
    address = address_;
  }
  ClientOptions o = options_.client;
  o.server = address;
  o.reconnect_attempts = 0;  // another replica is tried instead
  auto c = Client::Connect(o);
  if (!c.ok()) return c.status();
  std::lock_guard l(mu_);
  if (!client_ && address_ == address) client_ = std::shared_ptr<Client>(std::move(c).value());
  if (!client_) return Status::IOError("the address changed while connecting");
  return client_;
}

bool ClusterClient::Redirect(const std::shared_ptr<Client>& used, const Status& s) {
  using C = Status::Code;
  const bool retry = s.code() == C::kNotPrimary || s.code() == C::kIOError ||
                     s.code() == C::kClosed || s.code() == C::kTimedOut || s.code() == C::kBusy;
  if (!retry) return false;
  std::lock_guard l(mu_);
  if (used && client_ != used) return true;  // another call moved on already
  client_.reset();
  const std::string& m = s.message();
  const size_t at = m.rfind("primary=");
  if (s.code() == C::kNotPrimary && at != std::string::npos) {
    const std::string named = m.substr(at + 8);
    if (named != address_) {
      address_ = named;
      redirects_++;
      return true;
    }
  }
  if (s.code() == C::kBusy) return true;  // the same server, a little later
  address_ = options_.servers[next_];
  next_ = (next_ + 1) % options_.servers.size();
  return true;
}

Result<AppendResult> ClusterClient::Append(std::string_view ns, std::string_view timeline,
                                           std::string_view payload, AppendOptions opts) {
  std::string id;
  if (opts.client_msg_id.empty()) {
    id = NewClientMsgId();
    opts.client_msg_id = id;
  }
  return Call<AppendResult>([&](Client& c) { return c.Append(ns, timeline, payload, opts); });
}

Result<Message> ClusterClient::Get(std::string_view ns, std::string_view timeline, Seq seq) {
  return Call<Message>([&](Client& c) { return c.Get(ns, timeline, seq); });
}

Result<std::vector<Message>> ClusterClient::Scan(std::string_view ns, std::string_view timeline,
                                                 const ScanOptions& opts) {
  return Call<std::vector<Message>>([&](Client& c) { return c.Scan(ns, timeline, opts); });
}

}  // namespace tldb

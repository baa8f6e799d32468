#include "redis_target.h"

#include <hiredis/hiredis.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "process_stats.h"

namespace tldb::peerbench {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

uint64_t SeqOf(const redisReply* id) {
  const char* dash = id->type == REDIS_REPLY_STRING ? std::strchr(id->str, '-') : nullptr;
  return dash ? std::strtoull(dash + 1, nullptr, 10) : 0;
}

// Adds the entries of an XRANGE-style array ([id, [field, value]]...) to r. With `refs`, a
// fan-out reference (field "r", value "<stream> <id>") is collected there instead of counted.
void TakeEntries(const redisReply* arr, ReadResult* r, std::vector<std::string>* refs = nullptr) {
  if (arr == nullptr || arr->type != REDIS_REPLY_ARRAY) return;
  for (size_t i = 0; i < arr->elements; ++i) {
    const redisReply* e = arr->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
    ++r->count;
    r->last_seq = SeqOf(e->element[0]);
    const redisReply* fv = e->element[1];
    if (fv->type != REDIS_REPLY_ARRAY || fv->elements < 2) continue;
    const std::string_view field(fv->element[0]->str, fv->element[0]->len);
    if (refs != nullptr && field == "r") {
      refs->emplace_back(fv->element[1]->str, fv->element[1]->len);
    } else {
      r->bytes += fv->element[1]->len;
    }
  }
}

class RedisSession : public Session {
 public:
  explicit RedisSession(redisContext* c) : c_(c) {}
  ~RedisSession() override { redisFree(c_); }

  bool Append(const TimelineRef& tl, std::string_view payload, Dur) override {
    Reply r = Cmd({"XADD", tl.name, "0-*", "m", payload});
    return r != nullptr;
  }
  bool AppendBatch(std::span<const TimelineRef* const> tls,
                   std::span<const std::string_view> payloads, Dur) override {
    for (size_t i = 0; i < tls.size(); ++i) Send({"XADD", tls[i]->name, "0-*", "m", payloads[i]});
    for (size_t i = 0; i < tls.size(); ++i) {
      if (Receive() == nullptr) return false;
    }
    return true;
  }
  bool Fanout(const TimelineRef& conv, std::span<const TimelineRef* const> members,
              std::string_view payload, Dur) override {
    Reply id = Cmd({"XADD", conv.name, "0-*", "m", payload});
    if (id == nullptr) return false;
    const std::string ref = conv.name + " " + std::string(id->str, id->len);
    for (const auto* m : members) Send({"XADD", m->name, "0-*", "r", ref});
    for (size_t i = 0; i < members.size(); ++i) {
      if (Receive() == nullptr) return false;
    }
    return true;
  }
  bool Ping() override {
    Reply r = Cmd({"PING"});
    return r != nullptr;
  }
  bool Get(const TimelineRef& tl, uint64_t seq, ReadResult* out) override {
    const std::string id = "0-" + std::to_string(seq);
    Reply r = Cmd({"XRANGE", tl.name, id, id});
    if (r == nullptr) return false;
    TakeEntries(r.get(), out);
    return out->count == 1 || Fail("XRANGE " + tl.name + " " + id + ": not found");
  }
  bool Latest(const TimelineRef& tl, uint32_t n, ReadResult* out) override {
    Reply r = Cmd({"XREVRANGE", tl.name, "+", "-", "COUNT", std::to_string(n)});
    if (r == nullptr) return false;
    TakeEntries(r.get(), out);
    return true;
  }
  bool Before(const TimelineRef& tl, uint64_t before_seq, uint32_t n, ReadResult* out) override {
    if (before_seq <= 1) return true;
    Reply r = Cmd({"XREVRANGE", tl.name, "(0-" + std::to_string(before_seq), "-", "COUNT",
                   std::to_string(n)});
    if (r == nullptr) return false;
    TakeEntries(r.get(), out);
    return true;
  }
  bool After(const TimelineRef& tl, uint64_t after_seq, uint32_t n, ReadResult* out) override {
    Reply r = Cmd({"XREAD", "COUNT", std::to_string(n), "STREAMS", tl.name,
                   "0-" + std::to_string(after_seq)});
    if (r == nullptr) return false;
    refs_.clear();
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
      TakeEntries(r->element[0]->element[1], out, &refs_);
    return Resolve(out);
  }
  // XREAD BLOCK: Redis answers as soon as the stream has an entry after the ID (nil on timeout).
  bool WaitAfter(const TimelineRef& tl, uint64_t after_seq, uint32_t n, const WaitSpec& w,
                 ReadResult* out) override {
    Reply r = Cmd({"XREAD", "COUNT", std::to_string(n), "BLOCK", std::to_string(w.timeout_ms),
                   "STREAMS", tl.name, "0-" + std::to_string(after_seq)});
    if (r == nullptr) return false;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
      TakeEntries(r->element[0]->element[1], out);
    return true;
  }
  bool PullMany(std::span<const TimelineRef* const> tls, std::span<uint64_t> checkpoints,
                uint32_t n, ReadResult* out) override {
    std::vector<std::string> args = {"XREAD", "COUNT", std::to_string(n), "STREAMS"};
    for (const auto* t : tls) args.push_back(t->name);
    for (uint64_t c : checkpoints) args.push_back("0-" + std::to_string(c));
    std::vector<std::string_view> views(args.begin(), args.end());
    Reply r = Cmd(views);
    if (r == nullptr) return false;
    if (r->type != REDIS_REPLY_ARRAY) return true;  // nil: nothing new
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply* kv = r->element[i];
      ReadResult one;
      TakeEntries(kv->element[1], &one);
      const std::string_view key(kv->element[0]->str, kv->element[0]->len);
      for (size_t j = 0; j < tls.size(); ++j) {
        if (tls[j]->name == key && one.count > 0) checkpoints[j] = one.last_seq;
      }
      out->count += one.count;
      out->bytes += one.bytes;
    }
    return true;
  }

 private:
  // A device needs the messages, not references to them: one pipelined round of XRANGEs.
  bool Resolve(ReadResult* out) {
    for (const std::string& ref : refs_) {
      const size_t sp = ref.find(' ');
      const std::string_view stream(ref.data(), sp), id(ref.data() + sp + 1, ref.size() - sp - 1);
      Send({"XRANGE", stream, id, id});
    }
    for (size_t i = 0; i < refs_.size(); ++i) {
      Reply r = Receive();
      if (r == nullptr) return false;
      ReadResult payload;
      TakeEntries(r.get(), &payload);
      if (payload.count != 1) return Fail("fan-out reference " + refs_[i] + ": not found");
      out->bytes += payload.bytes;
    }
    return true;
  }

  void Send(std::initializer_list<std::string_view> args) {
    Send(std::span<const std::string_view>(args.begin(), args.size()));
  }
  void Send(std::span<const std::string_view> args) {
    argv_.clear();
    lens_.clear();
    for (auto a : args) {
      argv_.push_back(a.data());
      lens_.push_back(a.size());
    }
    redisAppendCommandArgv(c_, static_cast<int>(argv_.size()), argv_.data(), lens_.data());
  }
  Reply Receive() {
    void* raw = nullptr;
    if (redisGetReply(c_, &raw) != REDIS_OK || raw == nullptr) {
      Fail(std::string("redis: ") + c_->errstr);
      return nullptr;
    }
    Reply r(static_cast<redisReply*>(raw));
    if (r->type == REDIS_REPLY_ERROR) {
      Fail(std::string("redis: ") + std::string(r->str, r->len));
      return nullptr;
    }
    return r;
  }
  Reply Cmd(std::initializer_list<std::string_view> args) {
    Send(args);
    return Receive();
  }
  Reply Cmd(std::span<const std::string_view> args) {
    Send(args);
    return Receive();
  }

  redisContext* c_;
  std::vector<std::string> refs_;  // After's fan-out references, reused
  std::vector<const char*> argv_;
  std::vector<size_t> lens_;
};

redisContext* Dial(uint16_t port, std::string* err) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err) {
    *err = c ? c->errstr : "redisConnect failed";
    if (c) redisFree(c);
    return nullptr;
  }
  return c;
}

bool Simple(uint16_t port, std::initializer_list<const char*> args, std::string* err,
            std::string* out = nullptr) {
  redisContext* c = Dial(port, err);
  if (c == nullptr) return false;
  std::vector<const char*> argv(args);
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), nullptr));
  bool ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
  if (!ok) *err = r ? std::string(r->str, r->len) : std::string(c->errstr);
  if (ok && out && r->type == REDIS_REPLY_STRING) *out = std::string(r->str, r->len);
  if (r) freeReplyObject(r);
  redisFree(c);
  return ok;
}

}  // namespace

std::string RedisTarget::Describe() const {
  return "Redis " + version_ +
         " Streams on 127.0.0.1 (appendonly yes, save \"\", other settings default), hiredis, "
         "one connection per client thread; sync = appendfsync always, buffered = everysec";
}

bool RedisTarget::Start(const std::string& dir, std::string* err) {
  dir_ = dir + "/data";
  std::filesystem::create_directories(dir_);
  port_ = common::FreeLoopbackPort();
  common::ServerProcessOptions so = HarnessServerOptions(dir + "/redis.log");
  so.command = {bin_, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir", dir_};
  so.command.insert(so.command.end(), {"--appendonly", "yes", "--appendfsync", "always", "--save",
                                       "", "--protected-mode", "no", "--daemonize", "no"});
  so.port = port_;
  server_ = StartHarnessServer(std::move(so), err);
  if (!server_) return false;
  std::string info;
  if (Simple(port_, {"INFO", "server"}, err, &info)) {
    const size_t p = info.find("redis_version:");
    if (p != std::string::npos) version_ = info.substr(p + 14, info.find('\r', p) - p - 14);
  }
  // XADD with an explicit "0-*" ID needs Redis 7.
  return Simple(port_, {"XADD", "probe", "0-*", "m", "x"}, err) &&
         Simple(port_, {"DEL", "probe"}, err);
}

bool RedisTarget::SetDurability(Dur d, std::string* err) {
  return Simple(port_, {"CONFIG", "SET", "appendfsync", d == Dur::kSync ? "always" : "everysec"},
                err);
}

std::unique_ptr<Session> RedisTarget::Connect(std::string* err) {
  redisContext* c = Dial(port_, err);
  if (c == nullptr) return nullptr;
  return std::make_unique<RedisSession>(c);
}

bool RedisTarget::Flush(std::string* err) {
  // Under appendfsync always, one write fsyncs the AOF, and with it everything before it.
  return SetDurability(Dur::kSync, err) && Simple(port_, {"XADD", "flush", "0-*", "m", "x"}, err);
}

ResourceSample RedisTarget::Sample() {
  ResourceSample s;
  const pid_t pid = server_ ? server_->pid() : -1;
  s.store_cpu_s = ProcessCpuSeconds(pid);
  s.cpu_s = s.store_cpu_s + ProcessCpuSeconds(0);
  s.rss_bytes = ProcessRssBytes(pid);
  s.write_bytes = ProcessWriteBytes(pid);
  return s;
}

uint64_t RedisTarget::DiskBytes() {
  return DirAllocatedBytes(dir_);
}

}  // namespace tldb::peerbench

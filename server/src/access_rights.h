// AccessRights: what one authenticated connection may do, per namespace.
//
// Contract: system namespaces (names starting with "__") are never readable or writable
// through data operations, whatever the grant; they are reached only through the operations
// built on them (CURSOR_*). "*" grants every other namespace. Admin (NS_SET_OPTIONS,
// COMPACT) is a third right; an admin grant includes read and write. Operations on every
// namespace at once (COMPACT with no namespace) need admin on "*".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/messages.h"
#include "tldb/server.h"

namespace tldb::server {

class AccessRights {
 public:
  static AccessRights All();
  static AccessRights FromToken(const ServerToken& token);

  bool CanRead(std::string_view ns) const { return Has(ns, proto::kRightRead); }
  bool CanWrite(std::string_view ns) const { return Has(ns, proto::kRightWrite); }
  // `ns` empty: admin on "*" (every namespace).
  bool CanAdmin(std::string_view ns) const { return Has(ns, proto::kRightAdmin); }
  std::vector<proto::NsGrant> Grants() const;

  static bool IsSystemNamespace(std::string_view ns) { return ns.starts_with("__"); }

 private:
  bool Has(std::string_view ns, uint8_t right) const;
  uint8_t all_ = 0;  // rights on "*"
  std::unordered_map<std::string, uint8_t> per_ns_;
};

// Authenticator: maps a HELLO token (the secret) to the configured token's name and rights.
// Comparison does not stop at the first differing byte (no timing oracle on the secret).
class Authenticator {
 public:
  explicit Authenticator(const std::vector<ServerToken>& tokens);
  bool required() const { return !tokens_.empty(); }
  // Null when no token matches. With no tokens configured, every secret (even empty) gets All.
  const AccessRights* Authenticate(std::string_view secret, std::string* name) const;

 private:
  struct Entry {
    std::string name, secret;
    AccessRights rights;
  };
  std::vector<Entry> tokens_;
  AccessRights all_ = AccessRights::All();
};

}  // namespace tldb::server

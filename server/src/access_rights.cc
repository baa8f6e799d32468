#include "access_rights.h"

namespace tldb::server {

AccessRights AccessRights::All() {
  AccessRights r;
  r.all_ = proto::kRightRead | proto::kRightWrite | proto::kRightAdmin;
  return r;
}

AccessRights AccessRights::FromToken(const ServerToken& token) {
  AccessRights r;
  auto grant = [&r](const std::string& ns, uint8_t bits) {
    if (ns == "*") {
      r.all_ |= bits;
    } else {
      r.per_ns_[ns] |= bits;
    }
  };
  for (const auto& ns : token.read_namespaces) grant(ns, proto::kRightRead);
  for (const auto& ns : token.write_namespaces) {
    grant(ns, proto::kRightRead | proto::kRightWrite);
  }
  for (const auto& ns : token.admin_namespaces) {
    grant(ns, proto::kRightRead | proto::kRightWrite | proto::kRightAdmin);
  }
  return r;
}

bool AccessRights::Has(std::string_view ns, uint8_t right) const {
  if (IsSystemNamespace(ns)) return false;
  if (all_ & right) return true;
  auto it = per_ns_.find(std::string(ns));
  return it != per_ns_.end() && (it->second & right);
}

std::vector<proto::NsGrant> AccessRights::Grants() const {
  std::vector<proto::NsGrant> out;
  if (all_) out.push_back({"*", all_});
  for (const auto& [ns, bits] : per_ns_) out.push_back({ns, bits});
  return out;
}

Authenticator::Authenticator(const std::vector<ServerToken>& tokens) {
  for (const auto& t : tokens) tokens_.push_back({t.name, t.secret, AccessRights::FromToken(t)});
}

namespace {
bool SameSecret(std::string_view a, std::string_view b) {
  if (b.empty()) return false;
  unsigned diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % b.size()]);
  return diff == 0;
}
}  // namespace

const AccessRights* Authenticator::Authenticate(std::string_view secret, std::string* name) const {
  if (tokens_.empty()) {
    *name = "anonymous";
    return &all_;
  }
  const Entry* match = nullptr;
  for (const auto& e : tokens_) {
    if (SameSecret(secret, e.secret)) match = &e;
  }
  if (!match) return nullptr;
  *name = match->name;
  return &match->rights;
}

}  // namespace tldb::server

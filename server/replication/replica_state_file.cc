#include "replication/replica_state_file.h"

#include <nlohmann/json.hpp>

namespace tldb::repl {
namespace {

const char* MembershipName(Membership m) {
  switch (m) {
    case Membership::kVoter:
      return "voter";
    case Membership::kLearner:
      return "learner";
    case Membership::kUndecided:
      return "undecided";
  }
  return "voter";
}

}  // namespace

std::string ReplicaStateFile::Encode(const ReplicaState& s) {
  nlohmann::json j;
  j["format"] = 1;
  j["promised_epoch"] = s.promised_epoch;
  j["membership"] = MembershipName(s.membership);
  nlohmann::json hs = nlohmann::json::object();
  for (const auto& [ns, h] : s.histories) {
    nlohmann::json list = nlohmann::json::array();
    for (const EpochStart& e : h.entries()) {
      list.push_back({e.epoch, e.start.segment, e.start.offset});
    }
    hs[ns] = list;
  }
  j["histories"] = hs;
  j["catalog_seq"] = s.catalog_seq;
  return j.dump() + "\n";
}

Result<ReplicaState> ReplicaStateFile::Decode(std::string_view bytes, const std::string& what) {
  try {
    const nlohmann::json j = nlohmann::json::parse(bytes);
    if (j.at("format").get<int>() != 1) {
      return Status::Corruption(what + ": unknown format " + j.at("format").dump());
    }
    ReplicaState s;
    s.promised_epoch = j.at("promised_epoch").get<uint64_t>();
    // Absent in files written before learners existed: those replicas were voters.
    const std::string membership = j.value("membership", std::string("voter"));
    if (membership == "voter") {
      s.membership = Membership::kVoter;
    } else if (membership == "learner") {
      s.membership = Membership::kLearner;
    } else if (membership == "undecided") {
      s.membership = Membership::kUndecided;
    } else {
      return Status::Corruption(what + ": unknown membership '" + membership + "'");
    }
    // Absent in files written before the catalog was replicated: no record applied.
    s.catalog_seq = j.value("catalog_seq", uint64_t{0});
    for (const auto& [ns, list] : j.at("histories").items()) {
      EpochHistory h;
      for (const auto& e : list) {
        if (!h.Append(e.at(0).get<uint64_t>(),
                      {e.at(1).get<uint64_t>(), e.at(2).get<uint64_t>()})) {
          return Status::Corruption(what + ": namespace '" + ns + "': epochs out of order");
        }
      }
      s.histories.emplace(ns, std::move(h));
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(what + ": " + e.what());
  }
}

Result<ReplicaState> ReplicaStateFile::Load(FileSystem& fs, const std::string& data_dir) {
  const std::string path = PathIn(data_dir);
  TLDB_ASSIGN_OR_RETURN(bool exists, fs.Exists(path));
  if (!exists) return ReplicaState{.membership = Membership::kUndecided};
  TLDB_ASSIGN_OR_RETURN(std::string bytes, fs.ReadFileToString(path));
  return Decode(bytes, path);
}

Status ReplicaStateFile::Store(FileSystem& fs, const std::string& data_dir, const ReplicaState& s) {
  return fs.WriteFileAtomic(PathIn(data_dir), Encode(s));
}

}  // namespace tldb::repl

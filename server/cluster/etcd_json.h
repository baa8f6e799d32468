// Helpers shared by the etcd client classes for etcd's JSON gateway (grpc-gateway): keys and
// values are base64 (admin/base64.h), int64 fields sent as JSON strings and left out when zero,
// key-value and error objects. Free functions, no state; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "cluster/etcd_types.h"
#include "tldb/status.h"

namespace tldb::cluster::etcd_json {

// The end of the range that holds every key starting with `prefix` (etcd's range_end): the
// prefix with its last byte below 0xff incremented; "\0" (all keys) when there is none.
std::string PrefixEnd(std::string_view prefix);

// A key for an error message: printable ASCII as is, other bytes as \xNN, at most 80 bytes.
std::string Printable(std::string_view key);

// object[name] as int64: a JSON string of digits or a number; 0 when absent. Error when
// malformed.
Result<int64_t> Int64Field(const nlohmann::json& object, const char* name);

// An etcd mvccpb.KeyValue object.
Result<KeyValue> ParseKeyValue(const nlohmann::json& object);

// The Status for a gateway error body {"error","message","code"} (gRPC codes) answered with
// HTTP status `http_status`; `where` (endpoint and call) prefixes the message.
Status ErrorStatus(const std::string& where, long http_status, std::string_view body);

}  // namespace tldb::cluster::etcd_json

// EnterPrivateNetworkNamespace: moves the calling process (before it starts any thread or
// child) into a network namespace of its own with its loopback up, so that a process test's
// servers and etcd listen on 127.0.0.x ports no other test or service on the machine uses.
// Returns "" on success, else why it could not (not root, no CLONE_NEWNET): the caller skips.
#pragma once

#include <string>

namespace tldb::testing {

std::string EnterPrivateNetworkNamespace();

}  // namespace tldb::testing

// Test hooks: named places where a test can run code of its own, to park a thread in the middle
// of a long operation (a compaction planning pass, a compaction's decide step) and check what
// other threads can do meanwhile. Kill points (kill_point.h) end the process; hooks let it go on.
//
// Contract: TLDB_TEST_HOOK(name) costs one relaxed atomic load when no hook is set (always
// compiled in; none is set outside tests). A hook runs on the thread that reaches the place,
// never under a lock the engine's appends or reads need (each place says so).
#pragma once

#include <functional>
#include <string_view>

namespace tldb {

// Runs `fn` every time `name` is reached (replaces an earlier hook of that name).
void SetTestHook(std::string_view name, std::function<void()> fn);
void ClearTestHooks();

namespace internal {
void RunTestHook(const char* name);
bool TestHooksActive();
}  // namespace internal

#define TLDB_TEST_HOOK(name)                                                      \
  do {                                                                            \
    if (::tldb::internal::TestHooksActive()) ::tldb::internal::RunTestHook(name); \
  } while (0)

}  // namespace tldb

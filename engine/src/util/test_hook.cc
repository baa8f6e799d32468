#include "util/test_hook.h"

#include <atomic>
#include <map>
#include <mutex>
#include <string>

namespace tldb {
namespace {
std::atomic<bool> active{false};
std::mutex mu;
std::map<std::string, std::function<void()>, std::less<>>& Hooks() {
  static auto* hooks = new std::map<std::string, std::function<void()>, std::less<>>();
  return *hooks;
}
}  // namespace

void SetTestHook(std::string_view name, std::function<void()> fn) {
  std::lock_guard l(mu);
  Hooks()[std::string(name)] = std::move(fn);
  active = true;
}

void ClearTestHooks() {
  std::lock_guard l(mu);
  Hooks().clear();
  active = false;
}

namespace internal {
bool TestHooksActive() {
  return active.load(std::memory_order_relaxed);
}
void RunTestHook(const char* name) {
  std::function<void()> fn;
  {
    std::lock_guard l(mu);
    auto it = Hooks().find(std::string_view(name));
    if (it == Hooks().end()) return;
    fn = it->second;
  }
  fn();  // outside mu: a hook may park
}
}  // namespace internal

}  // namespace tldb

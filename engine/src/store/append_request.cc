#include "store/append_request.h"

namespace tldb {

void AppendRequest::Own() {
  std::vector<std::string_view*> views;
  std::visit(
      [&](auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, MessageAppend> || std::is_same_v<T, ImportAppend>) {
          views = {&a.key, &a.payload, &a.cmid};
        } else if constexpr (std::is_same_v<T, FanoutAppend>) {
          views = {&a.payload, &a.cmid};
          for (auto& t : a.targets) views.push_back(&t);
        } else if constexpr (std::is_same_v<T, MutationAppend>) {
          views = {&a.key, &a.payload};
        }
      },
      op);
  size_t n = 0;
  for (const std::string_view* v : views) n += v->size();
  owned.clear();
  owned.reserve(n);  // no reallocation below: the views stay valid
  for (std::string_view* v : views) {
    const size_t at = owned.size();
    owned.append(*v);
    *v = std::string_view(owned.data() + at, v->size());
  }
}

}  // namespace tldb

// Which sanitizer the tests were built with (gcc defines __SANITIZE_ADDRESS__, clang answers
// __has_feature). Tests whose checks mean nothing under a sanitizer (RSS bounds: ASan's
// quarantine keeps freed memory resident) or only mean something under one (LeakSanitizer's
// checks) ask here.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define TLDB_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TLDB_TEST_ASAN 1
#endif
#endif

#ifdef TLDB_TEST_ASAN
#include <sanitizer/lsan_interface.h>  // AddressSanitizer builds include LeakSanitizer
#endif

namespace tldb::testing {

#ifdef TLDB_TEST_ASAN
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace tldb::testing

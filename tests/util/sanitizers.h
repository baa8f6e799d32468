// Which sanitizer the tests were built with (gcc defines __SANITIZE_ADDRESS__ and
// __SANITIZE_THREAD__, clang answers __has_feature). Tests whose checks mean nothing under a
// sanitizer (RSS bounds: ASan's quarantine keeps freed memory resident, TSan shadows every
// buffer it touched) or only mean something under one (LeakSanitizer's checks) ask here.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define TLDB_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TLDB_TEST_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define TLDB_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TLDB_TEST_TSAN 1
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

#ifdef TLDB_TEST_TSAN
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif

}  // namespace tldb::testing

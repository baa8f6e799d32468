// Helpers shared by the I/O seam tests (io_*_test.cc): OK-assertions over Status and Result,
// and position-dependent test content.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>

#include "tldb/status.h"

namespace tldb {

inline Status ToStatus(const Status& s) {
  return s;
}
template <typename T>
inline Status ToStatus(const Result<T>& r) {
  return r.status();
}

#define IO_ASSERT_OK(expr)                                  \
  do {                                                      \
    const ::tldb::Status _s = ToStatus(expr);               \
    ASSERT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define IO_EXPECT_OK(expr)                                  \
  do {                                                      \
    const ::tldb::Status _s = ToStatus(expr);               \
    EXPECT_TRUE(_s.ok()) << #expr << ": " << _s.ToString(); \
  } while (0)
#define IO_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  IO_ASSERT_OK_AND_ASSIGN_IMPL(TLDB_CONCAT(_io_r_, __LINE__), lhs, expr)
#define IO_ASSERT_OK_AND_ASSIGN_IMPL(r, lhs, expr)               \
  auto r = (expr);                                               \
  ASSERT_TRUE(r.ok()) << #expr << ": " << r.status().ToString(); \
  lhs = std::move(r).value()

inline std::span<const char> Bytes(const std::string& s) {
  return {s.data(), s.size()};
}

// Deterministic, position-dependent content so misplaced bytes show up.
inline std::string Pattern(size_t n, uint32_t salt = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 131 + size_t{salt} * 7 + i / 251) & 0xff);
  return s;
}

}  // namespace tldb

// Always-on invariant checks (TigerBeetle's TIGER_STYLE): they guard on-disk state, so they stay
// in release builds. A failed check prints where and aborts; it is for bugs, never for bad input
// or I/O errors (those are Status values).
#pragma once

#include <cstdio>
#include <cstdlib>

#define TLDB_CHECK(cond)                                                                        \
  do {                                                                                          \
    if (!(cond)) [[unlikely]] {                                                                 \
      std::fprintf(stderr, "tldb: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)

// TextTable: the readable default output of the admin commands: columns padded to their widest
// cell, a header row, and numbers right-aligned. Plus the human formats the tables use.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "tldb/types.h"

namespace tldb::admin {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : rows_{std::move(header)} {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.size() <= 1; }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "2026-11-29T14:40:00.123Z"; "-" for 0.
std::string FormatTime(TimestampMs ms);
// "65.0 KiB", "1.2 MiB", "512 B".
std::string FormatBytes(uint64_t bytes);
// "1..35" or "-" when empty.
std::string FormatRange(uint64_t lo, uint64_t hi);

}  // namespace tldb::admin

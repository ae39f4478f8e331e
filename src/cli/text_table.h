// Plain-text tables with aligned columns, for the CLI's human-readable output.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace quantlm::cli {

class TextTable {
 public:
  enum class Align { left, right };
  struct Column {
    std::string header;
    Align align = Align::left;
  };

  explicit TextTable(std::vector<Column> columns) : columns_(std::move(columns)) {}
  void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // A horizontal rule before the next row (e.g. above a totals line).
  void add_rule() { rules_.push_back(rows_.size()); }
  void print(std::FILE* out) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<std::size_t> rules_;
};

// 1234567 -> "1.18 MiB"; exact byte counts stay available in --json.
std::string human_bytes(std::uint64_t bytes);
// 1234567 -> "1,234,567".
std::string grouped(std::int64_t value);

}  // namespace quantlm::cli

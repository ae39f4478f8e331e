// Tensor size arithmetic shared by the GGUF reader and writer, overflow-checked.
#include "io/gguf/gguf_layout.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <limits>
#include <optional>

namespace quantlm::gguf::layout {
namespace {

constexpr auto kInt64Max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

// a * b when it stays within int64 (both operands are already known to be in range).
bool mul_within_int64(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  if (a != 0 && b > kInt64Max / a) return false;
  out = a * b;
  return true;
}

}  // namespace

std::string tensor_bytes(std::span<const std::uint64_t> ne, const formats::FormatTraits& format, std::uint64_t& bytes) {
  for (std::size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] > kInt64Max) {
      return fmt::format("dimension ne[{}] = {} is negative as int64 (dims {})", i, static_cast<std::int64_t>(ne[i]),
                         dims_to_string(ne));
    }
  }
  // Not just the element count and byte size must fit: with a zero dimension
  // both are 0 whatever the others hold, yet Shape::rows(), elements() and
  // TensorView::row_bytes() multiply the others. So the products are taken
  // over the nonzero dimensions, which bounds every partial product.
  std::uint64_t nonzero_product = 1;
  std::uint64_t outer = 1;  // product of the nonzero dimensions but ne[0]
  bool has_zero = false;
  for (std::size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] == 0) {
      has_zero = true;
      continue;
    }
    if (!mul_within_int64(nonzero_product, ne[i], nonzero_product)) {
      return fmt::format("element count of dims {} overflows int64", dims_to_string(ne));
    }
    if (i > 0) outer *= ne[i];  // a factor of nonzero_product, so it fits
  }
  const std::uint64_t row = ne.empty() ? 1 : ne[0];
  // The format's own row size: the block rule for ggml's types, per-row
  // headers and a ragged last group for quantlm's row-level formats.
  if (!format.row_length_ok(static_cast<std::int64_t>(row))) {
    return fmt::format("row length ne[0] = {} is not a multiple of {}'s block size {}", row, format.name,
                       format.block_elems);
  }
  const std::optional<std::int64_t> row_bytes = format.row_bytes_checked(static_cast<std::int64_t>(row));
  std::uint64_t all_bytes = 0;
  if (!row_bytes || !mul_within_int64(outer, static_cast<std::uint64_t>(*row_bytes), all_bytes)) {
    return fmt::format("byte size of dims {} in {} overflows int64", dims_to_string(ne), format.name);
  }
  bytes = has_zero ? 0 : all_bytes;
  return {};
}

std::string dims_to_string(std::span<const std::uint64_t> ne) { return fmt::format("[{}]", fmt::join(ne, ", ")); }

}  // namespace quantlm::gguf::layout

// Quantizing, decoding and rescaling rows of quantlm's group and per-row formats (layouts in blocks_quantlm.h).
#include "formats/group_quants.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <span>
#include <vector>

#include "core/half.h"

namespace quantlm::formats {
namespace {

// Bytes of n codes of `bits` bits, written so that n * bits cannot overflow.
std::int64_t code_bytes(std::int64_t n, int bits) { return n / 8 * bits + (n % 8 * bits + 7) / 8; }

bool per_row(std::int64_t group) { return group == 0; }

std::int64_t header_bytes(const Grid& g, std::int64_t group) {
  const std::int64_t scales = g.affine ? 2 : 1;  // d, then m
  return scales * (per_row(group) ? 4 : 2);      // fp32 per row, fp16 per group
}

ScalePrecision precision(std::int64_t group) { return per_row(group) ? ScalePrecision::f32 : ScalePrecision::f16; }

GroupScale read_header(const std::byte* p, const Grid& g, std::int64_t group) {
  GroupScale s;
  if (per_row(group)) {
    std::memcpy(&s.d, p, 4);
    if (g.affine) std::memcpy(&s.m, p + 4, 4);
  } else {
    std::uint16_t h = 0;
    std::memcpy(&h, p, 2);
    s.d = fp16_to_fp32(h);
    if (g.affine) {
      std::memcpy(&h, p + 2, 2);
      s.m = fp16_to_fp32(h);
    }
  }
  return s;
}

// `s` must already be representable at the header's precision.
void write_header(std::byte* p, const Grid& g, std::int64_t group, GroupScale s) {
  if (per_row(group)) {
    std::memcpy(p, &s.d, 4);
    if (g.affine) std::memcpy(p + 4, &s.m, 4);
  } else {
    const std::uint16_t d = fp32_to_fp16(s.d);
    std::memcpy(p, &d, 2);
    if (g.affine) {
      const std::uint16_t m = fp32_to_fp16(s.m);
      std::memcpy(p + 2, &m, 2);
    }
  }
}

// Code i of a little-endian bit stream of `bits`-bit codes. The second byte
// is read only when the code crosses into it, so a ragged tail's last byte is
// never read past.
unsigned read_code(const std::byte* p, std::int64_t i, int bits) {
  const std::int64_t bit = i * bits;
  const auto shift = static_cast<unsigned>(bit & 7);
  unsigned v = std::to_integer<unsigned>(p[bit >> 3]) >> shift;
  if (shift + static_cast<unsigned>(bits) > 8) v |= std::to_integer<unsigned>(p[(bit >> 3) + 1]) << (8 - shift);
  return v & ((1U << bits) - 1U);
}

// ORs code i into a zeroed bit stream.
void write_code(std::byte* p, std::int64_t i, int bits, unsigned code) {
  const std::int64_t bit = i * bits;
  const auto shift = static_cast<unsigned>(bit & 7);
  p[bit >> 3] |= static_cast<std::byte>((code << shift) & 0xFFU);
  if (shift + static_cast<unsigned>(bits) > 8) p[(bit >> 3) + 1] |= static_cast<std::byte>(code >> (8 - shift));
}

unsigned stored_code(const Grid& g, std::uint8_t level) { return g.code_of.empty() ? level : g.code_of[level]; }

// Calls fn(start, length, header) for each group of a row of n values.
template <typename Byte, typename Fn>
void for_each_group(const Grid& g, std::int64_t group, Byte* row, std::int64_t n, Fn&& fn) {
  const std::int64_t size = per_row(group) ? n : group;
  const std::int64_t header = header_bytes(g, group);
  for (std::int64_t start = 0; start < n; start += size) {
    const std::int64_t len = std::min(size, n - start);
    fn(start, len, row);
    row += header + code_bytes(len, g.bits);
  }
}

}  // namespace

std::int64_t grouped_row_bytes(const Grid& grid, std::int64_t group, std::int64_t n) {
  if (n <= 0) return n == 0 ? 0 : -1;
  const std::int64_t header = header_bytes(grid, group);
  std::int64_t bytes = 0;
  if (per_row(group)) {
    if (__builtin_add_overflow(header, code_bytes(n, grid.bits), &bytes)) return -1;
    return bytes;
  }
  const std::int64_t rest = n % group;
  if (__builtin_mul_overflow(n / group, header + code_bytes(group, grid.bits), &bytes)) return -1;
  if (rest != 0 && __builtin_add_overflow(bytes, header + code_bytes(rest, grid.bits), &bytes)) return -1;
  return bytes;
}

void dequantize_grouped(const Grid& grid, std::int64_t group, const std::byte* src, float* dst, std::int64_t n) {
  assert(!grid.decode.empty());
  const std::int64_t header = header_bytes(grid, group);
  for_each_group(grid, group, src, n, [&](std::int64_t start, std::int64_t len, const std::byte* p) {
    const GroupScale s = read_header(p, grid, group);
    const std::byte* codes = p + header;
    // d * level + m, the expression the scale search evaluates candidates with.
    for (std::int64_t i = 0; i < len; ++i) dst[start + i] = s.d * grid.decode[read_code(codes, i, grid.bits)] + s.m;
  });
}

void quantize_grouped(const Grid& grid, std::int64_t group, const float* src, std::byte* dst, std::int64_t n,
                      const RowQuantizeOptions& options) {
  const std::int64_t header = header_bytes(grid, group);
  std::vector<std::uint8_t> levels(static_cast<std::size_t>(per_row(group) ? n : group));
  for_each_group(grid, group, dst, n, [&](std::int64_t start, std::int64_t len, std::byte* p) {
    const std::span<const float> x(src + start, static_cast<std::size_t>(len));
    const GroupScale s = options.fixed != nullptr
                             ? round_scale(*options.fixed, precision(group))
                             : search_scale(x, options.importance != nullptr ? options.importance + start : nullptr,
                                            grid, options.search, precision(group));
    write_header(p, grid, group, s);
    encode_levels(x, grid, s, levels.data());
    std::byte* codes = p + header;
    std::fill(codes, codes + code_bytes(len, grid.bits), std::byte{0});
    for (std::int64_t i = 0; i < len; ++i) {
      write_code(codes, i, grid.bits, stored_code(grid, levels[static_cast<std::size_t>(i)]));
    }
  });
}

void rescale_grouped(const Grid& grid, std::int64_t group, std::byte* row, std::int64_t n, float factor) {
  for_each_group(grid, group, row, n, [&](std::int64_t, std::int64_t, std::byte* p) {
    const GroupScale s = read_header(p, grid, group);
    write_header(p, grid, group, round_scale({s.d * factor, s.m * factor}, precision(group)));
  });
}

}  // namespace quantlm::formats

// Searched, importance-weighted quantizers writing llama.cpp's Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/IQ4_NL blocks; scale rescaling.
#include "formats/legacy_search.h"

#include <array>
#include <cassert>
#include <cstring>
#include <span>

#include "core/half.h"
#include "formats/blocks_legacy.h"
#include "formats/grids.h"

namespace quantlm::formats {
namespace {

constexpr std::size_t kQK = kLegacyBlock;
constexpr std::size_t kHalfQK = kQK / 2;
using Levels = std::array<std::uint8_t, kQK>;

// Per block: the search (or the fixed scale) over the format's levels, then
// `pack` writes the stored scale and level indices into the block struct,
// which is copied out (dst is not aligned for Block).
template <typename Block, typename Pack>
void quantize_with(const Grid& grid, const float* x, std::byte* dst, std::int64_t n, const RowQuantizeOptions& o,
                   Pack pack) {
  assert(n % kLegacyBlock == 0);
  for (std::int64_t b = 0; b < n / kLegacyBlock; ++b) {
    const std::int64_t start = b * kLegacyBlock;
    const std::span<const float> xs(x + start, kQK);
    const GroupScale s = o.fixed != nullptr ? round_scale(*o.fixed, ScalePrecision::f16)
                                            : search_scale(xs, o.importance != nullptr ? o.importance + start : nullptr,
                                                           grid, o.search, ScalePrecision::f16);
    Levels levels{};
    encode_levels(xs, grid, s, levels.data());
    Block block{};
    pack(block, s, levels);
    std::memcpy(dst + b * static_cast<std::int64_t>(sizeof(Block)), &block, sizeof(Block));
  }
}

// Level indices are the legacy codes themselves (Q4_0's q = level + 8 is the
// index into -8..7, and so on); the nibble and fifth-bit layouts are ggml's.
template <typename Block>
void pack_nibbles(Block& b, const Levels& q) {
  for (std::size_t j = 0; j < kHalfQK; ++j) {
    b.qs[j] = static_cast<std::uint8_t>((q[j] & 0x0F) | ((q[j + kHalfQK] & 0x0F) << 4));
  }
}
template <typename Block>
void pack_fifth_bits(Block& b, const Levels& q) {
  std::uint32_t qh = 0;
  for (std::size_t j = 0; j < kQK; ++j) qh |= static_cast<std::uint32_t>((q[j] >> 4) & 1) << j;
  for (std::size_t k = 0; k < 4; ++k) b.qh[k] = static_cast<std::uint8_t>(qh >> (8 * k));
}

}  // namespace

void quantize_q4_0_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options) {
  quantize_with<BlockQ4_0>(grids::kSym<4>, src, dst, n, options, [](BlockQ4_0& b, GroupScale s, const Levels& q) {
    b.d = fp32_to_fp16(s.d);
    pack_nibbles(b, q);
  });
}

void quantize_q4_1_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options) {
  quantize_with<BlockQ4_1>(grids::kAffine<4>, src, dst, n, options, [](BlockQ4_1& b, GroupScale s, const Levels& q) {
    b.d = fp32_to_fp16(s.d);
    b.m = fp32_to_fp16(s.m);
    pack_nibbles(b, q);
  });
}

void quantize_q5_0_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options) {
  quantize_with<BlockQ5_0>(grids::kSym<5>, src, dst, n, options, [](BlockQ5_0& b, GroupScale s, const Levels& q) {
    b.d = fp32_to_fp16(s.d);
    pack_nibbles(b, q);
    pack_fifth_bits(b, q);
  });
}

void quantize_q5_1_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options) {
  quantize_with<BlockQ5_1>(grids::kAffine<5>, src, dst, n, options, [](BlockQ5_1& b, GroupScale s, const Levels& q) {
    b.d = fp32_to_fp16(s.d);
    b.m = fp32_to_fp16(s.m);
    pack_nibbles(b, q);
    pack_fifth_bits(b, q);
  });
}

void quantize_q8_0_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options) {
  quantize_with<BlockQ8_0>(grids::kQ8_0, src, dst, n, options, [](BlockQ8_0& b, GroupScale s, const Levels& q) {
    b.d = fp32_to_fp16(s.d);
    for (std::size_t j = 0; j < kQK; ++j) b.qs[j] = static_cast<std::int8_t>(q[j] - 127);  // levels -127..127
  });
}

void quantize_iq4_nl_with(const float* src, std::byte* dst, std::int64_t n, const RowQuantizeOptions& options) {
  quantize_with<BlockIQ4_NL>(grids::kIq4Nl, src, dst, n, options, [](BlockIQ4_NL& b, GroupScale s, const Levels& q) {
    b.d = fp32_to_fp16(s.d);
    pack_nibbles(b, q);
  });
}

void rescale_fp16_at(std::byte* p, float factor) {
  std::uint16_t h = 0;
  std::memcpy(&h, p, 2);
  const GroupScale s = round_scale({fp16_to_fp32(h) * factor, 0.0F}, ScalePrecision::f16);
  h = fp32_to_fp16(s.d);
  std::memcpy(p, &h, 2);
}

}  // namespace quantlm::formats

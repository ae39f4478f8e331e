// The table itself: block layouts of ggml's types (bytes per block as llama.cpp stores them).
#include "formats/format_traits.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <cstddef>
#include <optional>

#include "formats/float_formats.h"
#include "formats/grids.h"
#include "formats/group_quants.h"
#include "formats/kquants.h"
#include "formats/legacy_quants.h"
#include "formats/legacy_search.h"
#include "formats/row_codec.h"
#include "formats/ternary_quants.h"

namespace quantlm::formats {
namespace {

using enum FormatId;
constexpr auto kBlocks = ElementType::blocks;
constexpr auto kGgml = Origin::ggml;

// A quantlm group (Group > 0) or per-row (Group = 0) format on grid G; the
// layout and its byte counts are in blocks_quantlm.h.
template <const Grid& G, int Group>
constexpr FormatTraits grouped(FormatId id, std::string_view name) {
  return FormatTraits{id,
                      name,
                      grouped_block_elems<G, Group>(),
                      grouped_block_bytes<G, Group>(),
                      ElementType::blocks,
                      Origin::quantlm,
                      false,
                      &dequantize_grouped_fn<G, Group>,
                      &quantize_grouped_ref_fn<G, Group>,
                      &grouped_row_bytes_fn<G, Group>,
                      &quantize_grouped_fn<G, Group>,
                      &rescale_grouped_fn<G, Group>,
                      &G,
                      Group};
}

// The fp16 scales of ggml's blocks, for folding a correction factor:
// (block elems, block bytes, offset of d, offset of dmin or m).
constexpr RescaleRowFn kRescaleD32_18 = rescale_blocks_fn<32, 18, 0>;      // Q4_0, IQ4_NL
constexpr RescaleRowFn kRescaleDM32_20 = rescale_blocks_fn<32, 20, 0, 2>;  // Q4_1
constexpr RescaleRowFn kRescaleD32_22 = rescale_blocks_fn<32, 22, 0>;      // Q5_0
constexpr RescaleRowFn kRescaleDM32_24 = rescale_blocks_fn<32, 24, 0, 2>;  // Q5_1
constexpr RescaleRowFn kRescaleD32_34 = rescale_blocks_fn<32, 34, 0>;      // Q8_0
constexpr RescaleRowFn kRescaleQ2K = rescale_blocks_fn<256, 84, 80, 82>;   // d, dmin
constexpr RescaleRowFn kRescaleQ3K = rescale_blocks_fn<256, 110, 108>;     // d
constexpr RescaleRowFn kRescaleQ4K = rescale_blocks_fn<256, 144, 0, 2>;    // d, dmin
constexpr RescaleRowFn kRescaleQ5K = rescale_blocks_fn<256, 176, 0, 2>;    // d, dmin
constexpr RescaleRowFn kRescaleQ6K = rescale_blocks_fn<256, 210, 208>;     // d
constexpr RescaleRowFn kRescaleIQ4XS = rescale_blocks_fn<256, 136, 0>;     // d
constexpr RescaleRowFn kRescaleTQ1 = rescale_blocks_fn<256, 54, 52>;       // d
constexpr RescaleRowFn kRescaleTQ2 = rescale_blocks_fn<256, 66, 64>;       // d
static_assert(offsetof(BlockQ2K, d) == 80 && offsetof(BlockQ2K, dmin) == 82 && offsetof(BlockQ3K, d) == 108 &&
              offsetof(BlockQ4K, dmin) == 2 && offsetof(BlockQ5K, dmin) == 2 && offsetof(BlockQ6K, d) == 208 &&
              offsetof(BlockTQ1_0, d) == 52 && offsetof(BlockTQ2_0, d) == 64 && offsetof(BlockQ4_1, m) == 2 &&
              offsetof(BlockQ5_1, m) == 2);

// Block sizes: QK = 32 for the legacy types, 256 (a "super-block") for the
// k-, i- and ternary quants. Byte counts follow the block structs' layouts,
// e.g. Q4_0 = fp16 scale + 32 nibbles = 2 + 16 = 18 bytes (4.5 bits per weight).
// clang-format off: the table is read row by row, one format per row.
constexpr std::array kTable = {
    FormatTraits{F32, "F32", 1, 4, ElementType::f32, kGgml, true, dequantize_f32_bytes, quantize_f32_bytes},
    FormatTraits{F16, "F16", 1, 2, ElementType::f16, kGgml, true, dequantize_f16_bytes, quantize_f16_bytes},
    FormatTraits{Q4_0, "Q4_0", 32, 18, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q4_0>,
                 erase_quantize<&quantize_row_q4_0>, nullptr, quantize_q4_0_with, kRescaleD32_18, &grids::kSym<4>, 32},
    FormatTraits{Q4_1, "Q4_1", 32, 20, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q4_1>,
                 erase_quantize<&quantize_row_q4_1>, nullptr, quantize_q4_1_with, kRescaleDM32_20, &grids::kAffine<4>,
                 32},
    FormatTraits{Q5_0, "Q5_0", 32, 22, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q5_0>,
                 erase_quantize<&quantize_row_q5_0>, nullptr, quantize_q5_0_with, kRescaleD32_22, &grids::kSym<5>, 32},
    FormatTraits{Q5_1, "Q5_1", 32, 24, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q5_1>,
                 erase_quantize<&quantize_row_q5_1>, nullptr, quantize_q5_1_with, kRescaleDM32_24, &grids::kAffine<5>,
                 32},
    FormatTraits{Q8_0, "Q8_0", 32, 34, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q8_0>,
                 erase_quantize<&quantize_row_q8_0>, nullptr, quantize_q8_0_with, kRescaleD32_34, &grids::kQ8_0, 32},
    FormatTraits{Q8_1, "Q8_1", 32, 36, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q8_1>,
                 erase_quantize<&quantize_row_q8_1>},
    FormatTraits{Q2_K, "Q2_K", 256, 84, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q2_k>,
                 erase_quantize<&quantize_row_q2_k_ref>, nullptr, nullptr, kRescaleQ2K},
    FormatTraits{Q3_K, "Q3_K", 256, 110, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q3_k>,
                 erase_quantize<&quantize_row_q3_k_ref>, nullptr, nullptr, kRescaleQ3K},
    FormatTraits{Q4_K, "Q4_K", 256, 144, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q4_k>,
                 erase_quantize<&quantize_row_q4_k_ref>, nullptr, nullptr, kRescaleQ4K},
    FormatTraits{Q5_K, "Q5_K", 256, 176, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q5_k>,
                 erase_quantize<&quantize_row_q5_k_ref>, nullptr, nullptr, kRescaleQ5K},
    FormatTraits{Q6_K, "Q6_K", 256, 210, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q6_k>,
                 erase_quantize<&quantize_row_q6_k_ref>, nullptr, nullptr, kRescaleQ6K},
    FormatTraits{Q8_K, "Q8_K", 256, 292, kBlocks, kGgml, false, dequantize_q8_k_bytes, quantize_q8_k_bytes},
    FormatTraits{IQ2_XXS, "IQ2_XXS", 256, 66, kBlocks, kGgml, false},
    FormatTraits{IQ2_XS, "IQ2_XS", 256, 74, kBlocks, kGgml, false},
    FormatTraits{IQ3_XXS, "IQ3_XXS", 256, 98, kBlocks, kGgml, false},
    FormatTraits{IQ1_S, "IQ1_S", 256, 50, kBlocks, kGgml, false},
    FormatTraits{IQ4_NL, "IQ4_NL", 32, 18, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_iq4_nl>,
                 erase_quantize<&quantize_row_iq4_nl>, nullptr, quantize_iq4_nl_with, kRescaleD32_18, &grids::kIq4Nl,
                 32},
    FormatTraits{IQ3_S, "IQ3_S", 256, 110, kBlocks, kGgml, false},
    FormatTraits{IQ2_S, "IQ2_S", 256, 82, kBlocks, kGgml, false},
    FormatTraits{IQ4_XS, "IQ4_XS", 256, 136, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_iq4_xs>,
                 erase_quantize<&quantize_row_iq4_xs_ref>, nullptr, nullptr, kRescaleIQ4XS},
    FormatTraits{I8, "I8", 1, 1, kBlocks, kGgml, false},
    FormatTraits{I16, "I16", 1, 2, kBlocks, kGgml, false},
    FormatTraits{I32, "I32", 1, 4, kBlocks, kGgml, false},
    FormatTraits{I64, "I64", 1, 8, kBlocks, kGgml, false},
    FormatTraits{F64, "F64", 1, 8, kBlocks, kGgml, false},
    FormatTraits{IQ1_M, "IQ1_M", 256, 56, kBlocks, kGgml, false},
    FormatTraits{BF16, "BF16", 1, 2, ElementType::bf16, kGgml, true, dequantize_bf16_bytes, quantize_bf16_bytes},
    FormatTraits{TQ1_0, "TQ1_0", 256, 54, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_tq1_0>,
                 erase_quantize<&quantize_row_tq1_0>, nullptr, nullptr, kRescaleTQ1},
    FormatTraits{TQ2_0, "TQ2_0", 256, 66, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_tq2_0>,
                 erase_quantize<&quantize_row_tq2_0>, nullptr, nullptr, kRescaleTQ2},
    FormatTraits{MXFP4, "MXFP4", 32, 17, kBlocks, kGgml, false},
    grouped<grids::kSym<8>, 0>(I8_ROW, "I8_ROW"),
    grouped<grids::kAffine<8>, 0>(I8_ROWA, "I8_ROWA"),
    grouped<grids::kSym<8>, 32>(I8_G32, "I8_G32"),
    grouped<grids::kAffine<8>, 32>(I8_G32A, "I8_G32A"),
    grouped<grids::kSym<8>, 64>(I8_G64, "I8_G64"),
    grouped<grids::kAffine<8>, 64>(I8_G64A, "I8_G64A"),
    grouped<grids::kSym<8>, 128>(I8_G128, "I8_G128"),
    grouped<grids::kAffine<8>, 128>(I8_G128A, "I8_G128A"),
    grouped<grids::kSym<4>, 0>(I4_ROW, "I4_ROW"),
    grouped<grids::kAffine<4>, 0>(I4_ROWA, "I4_ROWA"),
    grouped<grids::kSym<4>, 32>(I4_G32, "I4_G32"),
    grouped<grids::kAffine<4>, 32>(I4_G32A, "I4_G32A"),
    grouped<grids::kSym<4>, 64>(I4_G64, "I4_G64"),
    grouped<grids::kAffine<4>, 64>(I4_G64A, "I4_G64A"),
    grouped<grids::kSym<4>, 128>(I4_G128, "I4_G128"),
    grouped<grids::kAffine<4>, 128>(I4_G128A, "I4_G128A"),
    grouped<grids::kSym<3>, 0>(I3_ROW, "I3_ROW"),
    grouped<grids::kAffine<3>, 0>(I3_ROWA, "I3_ROWA"),
    grouped<grids::kSym<3>, 32>(I3_G32, "I3_G32"),
    grouped<grids::kAffine<3>, 32>(I3_G32A, "I3_G32A"),
    grouped<grids::kSym<3>, 64>(I3_G64, "I3_G64"),
    grouped<grids::kAffine<3>, 64>(I3_G64A, "I3_G64A"),
    grouped<grids::kSym<3>, 128>(I3_G128, "I3_G128"),
    grouped<grids::kAffine<3>, 128>(I3_G128A, "I3_G128A"),
    grouped<grids::kSym<2>, 0>(I2_ROW, "I2_ROW"),
    grouped<grids::kAffine<2>, 0>(I2_ROWA, "I2_ROWA"),
    grouped<grids::kSym<2>, 32>(I2_G32, "I2_G32"),
    grouped<grids::kAffine<2>, 32>(I2_G32A, "I2_G32A"),
    grouped<grids::kSym<2>, 64>(I2_G64, "I2_G64"),
    grouped<grids::kAffine<2>, 64>(I2_G64A, "I2_G64A"),
    grouped<grids::kSym<2>, 128>(I2_G128, "I2_G128"),
    grouped<grids::kAffine<2>, 128>(I2_G128A, "I2_G128A"),
    grouped<grids::kNf4, 64>(NF4_G64, "NF4_G64"),
    grouped<grids::kLog2, 32>(LOG2_4_G32, "LOG2_4_G32"),
    grouped<grids::kFp8E4M3, 32>(FP8_G32, "FP8_G32"),
    grouped<grids::kBinary, 32>(BIN_G32, "BIN_G32"),
    grouped<grids::kBinary, 0>(BIN_ROW, "BIN_ROW"),
    grouped<grids::kTernary, 32>(TERN_G32, "TERN_G32"),
    grouped<grids::kTernary, 0>(TERN_ROW, "TERN_ROW"),
};
// clang-format on

constexpr bool sorted_by_id() {
  for (std::size_t i = 1; i < kTable.size(); ++i) {
    if (static_cast<std::uint32_t>(kTable[i - 1].id) >= static_cast<std::uint32_t>(kTable[i].id)) return false;
  }
  return true;
}
static_assert(sorted_by_id(), "the format table must be in strictly increasing id order");

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

}  // namespace

double FormatTraits::bits_per_weight(std::int64_t cols) const {
  const std::optional<std::int64_t> bytes = row_bytes_checked(cols);
  if (!bytes || cols == 0) return bits_per_weight();
  return 8.0 * static_cast<double>(*bytes) / static_cast<double>(cols);
}

std::optional<std::int64_t> FormatTraits::row_bytes_checked(std::int64_t cols) const {
  if (!row_length_ok(cols)) return std::nullopt;
  if (row_bytes_fn != nullptr) {
    const std::int64_t bytes = row_bytes_fn(cols);
    return bytes >= 0 ? std::optional<std::int64_t>(bytes) : std::nullopt;
  }
  std::int64_t bytes = 0;
  if (__builtin_mul_overflow(cols / block_elems, block_bytes, &bytes)) return std::nullopt;
  return bytes;
}

std::int64_t FormatTraits::row_bytes(std::int64_t cols) const {
  const std::optional<std::int64_t> bytes = row_bytes_checked(cols);
  assert(bytes.has_value());
  return bytes.value_or(0);
}

std::span<const FormatTraits> all_formats() { return kTable; }

const FormatTraits* find_format(std::uint32_t id) {
  const auto* it = std::lower_bound(kTable.begin(), kTable.end(), id, [](const FormatTraits& t, std::uint32_t v) {
    return static_cast<std::uint32_t>(t.id) < v;
  });
  return (it != kTable.end() && static_cast<std::uint32_t>(it->id) == id) ? &*it : nullptr;
}

const FormatTraits* find_format(std::string_view name) {
  const auto* it =
      std::find_if(kTable.begin(), kTable.end(), [&](const FormatTraits& t) { return iequals(t.name, name); });
  return it != kTable.end() ? &*it : nullptr;
}

const FormatTraits& traits(FormatId id) {
  const FormatTraits* t = find_format(static_cast<std::uint32_t>(id));
  assert(t != nullptr);
  return *t;
}

}  // namespace quantlm::formats

// The table itself: block layouts of ggml's types (bytes per block as llama.cpp stores them).
#include "formats/format_traits.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>

#include "formats/float_formats.h"
#include "formats/kquants.h"
#include "formats/legacy_quants.h"
#include "formats/row_codec.h"
#include "formats/ternary_quants.h"

namespace quantlm::formats {
namespace {

using enum FormatId;
constexpr auto kBlocks = ElementType::blocks;
constexpr auto kGgml = Origin::ggml;

// Block sizes: QK = 32 for the legacy types, 256 (a "super-block") for the
// k-, i- and ternary quants. Byte counts follow the block structs' layouts,
// e.g. Q4_0 = fp16 scale + 32 nibbles = 2 + 16 = 18 bytes (4.5 bits per weight).
// clang-format off: the table is read row by row, one format per row.
constexpr std::array kTable = {
    FormatTraits{F32, "F32", 1, 4, ElementType::f32, kGgml, true, dequantize_f32_bytes, quantize_f32_bytes},
    FormatTraits{F16, "F16", 1, 2, ElementType::f16, kGgml, true, dequantize_f16_bytes, quantize_f16_bytes},
    FormatTraits{Q4_0, "Q4_0", 32, 18, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q4_0>,
                 erase_quantize<&quantize_row_q4_0>},
    FormatTraits{Q4_1, "Q4_1", 32, 20, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q4_1>,
                 erase_quantize<&quantize_row_q4_1>},
    FormatTraits{Q5_0, "Q5_0", 32, 22, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q5_0>,
                 erase_quantize<&quantize_row_q5_0>},
    FormatTraits{Q5_1, "Q5_1", 32, 24, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q5_1>,
                 erase_quantize<&quantize_row_q5_1>},
    FormatTraits{Q8_0, "Q8_0", 32, 34, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q8_0>,
                 erase_quantize<&quantize_row_q8_0>},
    FormatTraits{Q8_1, "Q8_1", 32, 36, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q8_1>,
                 erase_quantize<&quantize_row_q8_1>},
    FormatTraits{Q2_K, "Q2_K", 256, 84, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q2_k>,
                 erase_quantize<&quantize_row_q2_k_ref>},
    FormatTraits{Q3_K, "Q3_K", 256, 110, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q3_k>,
                 erase_quantize<&quantize_row_q3_k_ref>},
    FormatTraits{Q4_K, "Q4_K", 256, 144, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q4_k>,
                 erase_quantize<&quantize_row_q4_k_ref>},
    FormatTraits{Q5_K, "Q5_K", 256, 176, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q5_k>,
                 erase_quantize<&quantize_row_q5_k_ref>},
    FormatTraits{Q6_K, "Q6_K", 256, 210, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_q6_k>,
                 erase_quantize<&quantize_row_q6_k_ref>},
    FormatTraits{Q8_K, "Q8_K", 256, 292, kBlocks, kGgml, false, dequantize_q8_k_bytes, quantize_q8_k_bytes},
    FormatTraits{IQ2_XXS, "IQ2_XXS", 256, 66, kBlocks, kGgml, false},
    FormatTraits{IQ2_XS, "IQ2_XS", 256, 74, kBlocks, kGgml, false},
    FormatTraits{IQ3_XXS, "IQ3_XXS", 256, 98, kBlocks, kGgml, false},
    FormatTraits{IQ1_S, "IQ1_S", 256, 50, kBlocks, kGgml, false},
    FormatTraits{IQ4_NL, "IQ4_NL", 32, 18, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_iq4_nl>,
                 erase_quantize<&quantize_row_iq4_nl>},
    FormatTraits{IQ3_S, "IQ3_S", 256, 110, kBlocks, kGgml, false},
    FormatTraits{IQ2_S, "IQ2_S", 256, 82, kBlocks, kGgml, false},
    FormatTraits{IQ4_XS, "IQ4_XS", 256, 136, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_iq4_xs>,
                 erase_quantize<&quantize_row_iq4_xs_ref>},
    FormatTraits{I8, "I8", 1, 1, kBlocks, kGgml, false},
    FormatTraits{I16, "I16", 1, 2, kBlocks, kGgml, false},
    FormatTraits{I32, "I32", 1, 4, kBlocks, kGgml, false},
    FormatTraits{I64, "I64", 1, 8, kBlocks, kGgml, false},
    FormatTraits{F64, "F64", 1, 8, kBlocks, kGgml, false},
    FormatTraits{IQ1_M, "IQ1_M", 256, 56, kBlocks, kGgml, false},
    FormatTraits{BF16, "BF16", 1, 2, ElementType::bf16, kGgml, true, dequantize_bf16_bytes, quantize_bf16_bytes},
    FormatTraits{TQ1_0, "TQ1_0", 256, 54, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_tq1_0>,
                 erase_quantize<&quantize_row_tq1_0>},
    FormatTraits{TQ2_0, "TQ2_0", 256, 66, kBlocks, kGgml, false, erase_dequantize<&dequantize_row_tq2_0>,
                 erase_quantize<&quantize_row_tq2_0>},
    FormatTraits{MXFP4, "MXFP4", 32, 17, kBlocks, kGgml, false},
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

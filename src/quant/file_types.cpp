// The preset table: llama-quantize's file types that quantlm can produce, with their LLAMA_FTYPE numbers.
#include "quant/file_types.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace quantlm::quant {
namespace {

using enum formats::FormatId;

// Numbers from llama.h's enum llama_ftype; descriptions from llama-quantize's
// listing (its sizes and perplexity deltas are llama.cpp's figures for 8B models).
// clang-format off: one preset per line reads as the table it is.
constexpr std::array kFileTypes = {
    FileType{"Q4_0", 2, Q4_0, "4.5 bpw, symmetric 4-bit blocks of 32"},
    FileType{"Q4_1", 3, Q4_1, "5.0 bpw, 4-bit blocks of 32 with a minimum"},
    FileType{"Q5_0", 8, Q5_0, "5.5 bpw, symmetric 5-bit blocks of 32"},
    FileType{"Q5_1", 9, Q5_1, "6.0 bpw, 5-bit blocks of 32 with a minimum"},
    FileType{"TQ1_0", 36, TQ1_0, "1.69 bpw ternary"},
    FileType{"TQ2_0", 37, TQ2_0, "2.06 bpw ternary"},
    FileType{"Q2_K", 10, Q2_K, "mix: Q2_K, attn_v Q3_K/Q4_K, ffn_down and attn_output Q3_K"},
    FileType{"Q2_K_S", 21, Q2_K, "mix: Q2_K almost everywhere; needs --imatrix"},
    FileType{"Q3_K_S", 11, Q3_K, "mix: Q3_K everywhere but output.weight"},
    FileType{"Q3_K_M", 12, Q3_K, "mix: Q3_K, attn_v Q5_K/Q4_K, ffn_down Q5_K/Q4_K, attn_output Q4_K"},
    FileType{"Q3_K_L", 13, Q3_K, "mix: Q3_K, attn_v, ffn_down and attn_output Q5_K"},
    FileType{"IQ4_NL", 25, IQ4_NL, "4.5 bpw non-linear 4-bit blocks of 32"},
    FileType{"IQ4_XS", 30, IQ4_XS, "4.25 bpw non-linear 4-bit super-blocks of 256"},
    FileType{"Q4_K_S", 14, Q4_K, "mix: Q4_K, the first attn_v and ffn_down Q5_K"},
    FileType{"Q4_K_M", 15, Q4_K, "mix: Q4_K, half of attn_v and ffn_down Q6_K (use_more_bits)"},
    FileType{"Q5_K_S", 16, Q5_K, "mix: Q5_K everywhere but output.weight"},
    FileType{"Q5_K_M", 17, Q5_K, "mix: Q5_K, half of attn_v and ffn_down Q6_K (use_more_bits)"},
    FileType{"Q6_K", 18, Q6_K, "6.56 bpw super-blocks of 256"},
    FileType{"Q8_0", 7, Q8_0, "8.5 bpw, symmetric 8-bit blocks of 32"},
    FileType{"F16", 1, F16, "16 bpw IEEE half"},
    FileType{"BF16", 32, BF16, "16 bpw bfloat16"},
    FileType{"F32", 0, F32, "32 bpw, no conversion"},
};
// clang-format on

struct Alias {
  std::string_view name;
  std::string_view target;
};
constexpr std::array kAliases = {Alias{"Q3_K", "Q3_K_M"}, Alias{"Q4_K", "Q4_K_M"}, Alias{"Q5_K", "Q5_K_M"}};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::span<const FileType> file_types() { return kFileTypes; }

const FileType* find_file_type(std::string_view name) {
  for (const Alias& a : kAliases) {
    if (iequals(a.name, name)) name = a.target;
  }
  const auto* it =
      std::find_if(kFileTypes.begin(), kFileTypes.end(), [&](const FileType& t) { return iequals(t.name, name); });
  return it != kFileTypes.end() ? &*it : nullptr;
}

std::string file_type_names() {
  std::string out;
  for (const FileType& t : kFileTypes) {
    if (!out.empty()) out += ", ";
    out += t.name;
  }
  return out;
}

bool is_quantized(const formats::FormatTraits& format) {
  // ggml's integer and F64 types are blocks of one element: plain data, not quantized.
  return format.origin == formats::Origin::quantlm ||
         (format.element_type == ElementType::blocks && format.block_elems > 1);
}

}  // namespace quantlm::quant

// llama.cpp's file types (llama_ftype): the preset names `quantize` accepts and the number general.file_type stores.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "formats/format_traits.h"

namespace quantlm::quant {

// One preset. `ftype` is llama.cpp's LLAMA_FTYPE_* value, persisted in
// general.file_type, so it is never renumbered; `base` is the format most
// matrices get (llama_ftype_get_default_type). Only presets whose every
// format quantlm can produce are listed: the IQ1/IQ2/IQ3 and MXFP4 mixes are not.
struct FileType {
  std::string_view name;  // as llama-quantize spells it: "Q4_K_M"
  std::uint32_t ftype;
  formats::FormatId base;
  std::string_view description;
};

// The presets in llama-quantize's listing order, aliases excluded.
[[nodiscard]] std::span<const FileType> file_types();

// Case-insensitive lookup by name, accepting llama-quantize's aliases (Q3_K =
// Q3_K_M, Q4_K = Q4_K_M, Q5_K = Q5_K_M); nullptr when unknown.
[[nodiscard]] const FileType* find_file_type(std::string_view name);

// "Q4_0, Q4_1, ...": every preset name, for error messages and --help.
[[nodiscard]] std::string file_type_names();

// Whether a format is "quantized" in ggml's sense (blocks with scales), which
// decides whether llama.cpp's per-tensor mixes and overrides apply at all:
// F32, F16 and BF16 presets convert every matrix and ignore them.
[[nodiscard]] bool is_quantized(const formats::FormatTraits& format);

}  // namespace quantlm::quant

// Quantizing a GGUF model file tensor by tensor into a new GGUF, as llama-quantize does, with a report.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string_view>

#include "core/progress.h"
#include "quant/hessian_source.h"
#include "quant/recipe.h"
#include "quant/report.h"

namespace quantlm::quant {

// The metadata key that records, as a JSON string, the recipe a file was made with.
inline constexpr std::string_view kRecipeKey = "quantlm.quantize.recipe";

struct QuantizeOptions {
  std::filesystem::path input;
  std::filesystem::path output;
  Recipe recipe;
  std::size_t threads = 0;  // 0: the hardware's count; the output does not depend on it
  ProgressMode progress = ProgressMode::automatic;
  bool dry_run = false;  // plan and report sizes, write nothing
  // Called after each tensor's data is written (file order). An exception
  // thrown here aborts the run like any failure: the tests inject one.
  std::function<void(const TensorReport&)> on_tensor;
  // Each Linear's input Gram matrix, for recipe.method == "gptq" (required
  // then; quant/calibration.h builds one from the model and a text).
  HessianSource* hessians = nullptr;
};

// Reads `input` (mmapped) and writes `output` atomically: tensors in
// llama-quantize's order, each decoded to float if needed, quantized by
// formats::quantize_rows in chunks of rows spread over a thread pool, and
// written before the next is read, so memory holds about one tensor's output
// (source pages are released once a tensor is done). Metadata is the
// source's with llama-quantize's changes (general.quantization_version = 2,
// general.file_type = the preset's LLAMA_FTYPE, split keys dropped, the
// quantize.imatrix.* keys) plus the recipe under kRecipeKey.
//
// Throws quantlm::Error, before anything is written, for a bad recipe, an
// output path that is the input, an input tensor already quantized (unless
// recipe.allow_requantize), a source format quantlm cannot decode, and options
// a target format does not support; after the writer has started, any error
// removes the temporary file, so no partial output ever remains.
[[nodiscard]] QuantizeReport quantize_model(const QuantizeOptions& options);

}  // namespace quantlm::quant

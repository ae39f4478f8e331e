// A tiny Llama with matrices in quantlm's row-level formats (ragged groups, row headers) runs like its F32 decode.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "formats/format_traits.h"
#include "formats/quantize.h"
#include "model/llama_model.h"
#include "tiny_llama.h"

namespace quantlm::model {
namespace {

using formats::FormatTraits;
using test::TinySpec;

// The source with every matrix (rank 2, token_embd and output included)
// stored in `format`, and the same source with those matrices decoded back
// to F32: the model must compute the same function from both.
struct Pair {
  io::ModelSource quantized;
  io::ModelSource decoded;
};

Pair quantize_matrices(const io::ModelSource& source, const FormatTraits& format) {
  Pair p{source, source};
  const FormatTraits& f32 = formats::traits(formats::FormatId::F32);
  for (std::size_t i = 0; i < source.tensors.size(); ++i) {
    const io::SourceTensor& t = source.tensors[i];
    if (t.shape.rank != 2) continue;
    const std::int64_t rows = t.shape.rows();
    const std::int64_t cols = t.shape.innermost();
    std::vector<float> values(static_cast<std::size_t>(rows * cols));
    std::memcpy(values.data(), t.data.data(), values.size() * sizeof(float));
    auto bytes = std::make_shared<std::vector<std::byte>>(static_cast<std::size_t>(rows * format.row_bytes(cols)));
    formats::quantize_rows(format, values.data(), bytes->data(), rows, cols, formats::QuantizeParams{});
    auto floats = std::make_shared<std::vector<float>>(values.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      format.dequantize(bytes->data() + r * format.row_bytes(cols), floats->data() + r * cols, cols);
    }
    p.quantized.tensors[i].format = &format;
    p.quantized.tensors[i].data = std::span<const std::byte>(*bytes);
    p.quantized.keep_alive.push_back(bytes);
    p.decoded.tensors[i].format = &f32;
    p.decoded.tensors[i].data = std::as_bytes(std::span<const float>(*floats));
    p.decoded.keep_alive.push_back(floats);
  }
  return p;
}

// Largest |a - b| over a position, relative to the largest |b| of that position.
double max_relative_error(const std::vector<float>& got, const std::vector<double>& want, std::size_t vocab) {
  double worst = 0;
  for (std::size_t p = 0; p < want.size() / vocab; ++p) {
    double err = 0;
    double scale = 0;
    for (std::size_t i = p * vocab; i < (p + 1) * vocab; ++i) {
      err = std::max(err, std::fabs(got[i] - want[i]));
      scale = std::max(scale, std::fabs(want[i]));
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

// Rows of 24 (dim) and 40 (ff): one ragged group of 24, or 32 + a ragged 8,
// in G32 formats; a ragged group only in G64 and G128; fp32 headers in ROW ones.
TEST(QuantlmFormatsModel, EveryFormatRunsThroughTheDequantizePath) {
  TinySpec spec;
  const io::ModelSource source = test::make_tiny_source(spec);
  std::vector<std::int32_t> tokens;
  for (std::int32_t i = 0; i < 19; ++i) tokens.push_back((i * 7 + 3) % static_cast<std::int32_t>(spec.vocab));
  int tested = 0;
  for (const FormatTraits& f : formats::all_formats()) {
    if (f.origin != formats::Origin::quantlm || f.quantize_ref == nullptr) continue;
    SCOPED_TRACE(std::string(f.name));
    const Pair p = quantize_matrices(source, f);
    const std::vector<double> want = test::reference_logits(p.decoded, spec, tokens);
    LlamaModel model(p.quantized);
    const std::string kernels = model.kernel_summary();
    EXPECT_NE(kernels.find(std::string(f.name)), std::string::npos) << kernels;
    std::vector<float> got(tokens.size() * static_cast<std::size_t>(spec.vocab));
    model.forward(tokens, got);
    // The dequantize path multiplies the decoded weights in f32: float rounding
    // only. A format-specific integer kernel (int8 activations) may round more.
    const bool dequantizes = kernels.find("dequantize") != std::string::npos;
    EXPECT_LT(max_relative_error(got, want, static_cast<std::size_t>(spec.vocab)), dequantizes ? 1e-5 : 5e-2)
        << kernels;
    ++tested;
  }
  EXPECT_GE(tested, 39);
}

}  // namespace
}  // namespace quantlm::model

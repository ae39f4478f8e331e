// Quantizing whole rows with options (scale search, importance weights, scale correction): the one entry point.
#pragma once

#include <cstddef>
#include <cstdint>

#include "formats/format_traits.h"
#include "formats/scale_search.h"  // ScaleSearch

namespace quantlm::formats {

// A correction factor folded into stored scales after rounding.
enum class ScaleCorrection : std::uint8_t {
  none,
  gamma,          // the seed paper's sqrt(E[x^2] / E[Q(x)^2])
  least_squares,  // E[x Q(x)] / E[Q(x)^2], the MSE-optimal factor (importance-weighted when importance is given)
};

struct QuantizeParams {
  // format_default is the format's reference quantizer (byte-identical to
  // llama.cpp's for ggml types); with importance it means mse.
  ScaleSearch search = ScaleSearch::format_default;
  ScaleCorrection correction = ScaleCorrection::none;
  bool correction_per_channel = true;  // per row; false: one factor for the whole tensor (the rows of this call)
  float percentile = 99.9F;            // for ScaleSearch::percentile, in (0, 100]
  // Per-column importance (length = cols, finite, >= 0), e.g. an imatrix's
  // mean squared activations; nullptr means uniform. It weights the MSE
  // search's objective sum_c importance[c] (x - Q(x))^2, absmean's mean and
  // the least-squares correction; min-max, percentile and s* have no
  // objective, so importance with them is an error.
  const float* importance = nullptr;
  // One scale for the whole tensor (the rows of this call), searched over all
  // of its values and stored in every scale slot: per-tensor quantization with
  // a per-row format (I4_ROW, TERN_ROW: BitNet b1.58's per-tensor absmean).
  bool tensor_scale = false;
  // ScaleSearch::mse: clipping ratios from 1 down to mse_min_ratio in
  // mse_steps steps (formats/scale_search.h).
  float mse_min_ratio = 0.3F;
  int mse_steps = 35;
};

// Quantizes `rows` rows of `cols` values from `src` (row-major) into `dst`
// (rows * format.row_bytes(cols) bytes). cols must satisfy
// format.row_length_ok(cols): a multiple of block_elems for ggml's types, any
// length for quantlm's. With default params this is exactly the format's
// reference quantizer. Throws quantlm::Error when the format cannot be
// produced with these params (the message names the format and the option).
void quantize_rows(const FormatTraits& format, const float* src, std::byte* dst, std::int64_t rows, std::int64_t cols,
                   const QuantizeParams& params = {});

// The correction factor `kind` computes from sums over x and its quantized
// Q(x): sum x^2, sum x Q(x), sum Q(x)^2 (weighted for least squares when
// importance is given). 1 when Q(x) is all zero. Exposed for reports and tests.
struct CorrectionSums {
  double xx = 0.0;
  double xq = 0.0;
  double qq = 0.0;
};
[[nodiscard]] double correction_factor(ScaleCorrection kind, const CorrectionSums& sums);

}  // namespace quantlm::formats

// Quantizing whole rows with options (scale search, importance weights, scale correction): the one entry point.
#pragma once

#include <cstddef>
#include <cstdint>

#include "formats/format_traits.h"

namespace quantlm::formats {

// How a block's scale (and minimum) is chosen.
enum class ScaleSearch : std::uint8_t {
  format_default,  // what the format's reference quantizer does (llama.cpp's choice for ggml types)
  min_max,         // step from the block's range
  mse,             // clipping range searched for the least squared (or importance-weighted) error
  percentile,      // range from a percentile of |x| (outliers clipped)
  paper_s_star,    // the seed paper's s* = 2(max-min)/(2^b-1): kept only to be measured (ANCHORS.md)
};

// A correction factor folded into stored scales after rounding.
enum class ScaleCorrection : std::uint8_t {
  none,
  gamma,          // the seed paper's sqrt(E[x^2] / E[Q(x)^2])
  least_squares,  // E[x Q(x)] / E[Q(x)^2], the MSE-optimal factor
};

struct QuantizeParams {
  ScaleSearch search = ScaleSearch::format_default;
  ScaleCorrection correction = ScaleCorrection::none;
  bool correction_per_channel = true;  // per row; false: one factor for the whole tensor
  float percentile = 99.9F;            // for ScaleSearch::percentile
  // Per-column importance (length = cols), e.g. an imatrix's mean squared
  // activations; nullptr means uniform.
  const float* importance = nullptr;
};

// Quantizes `rows` rows of `cols` values from `src` (row-major) into `dst`
// (rows * row_bytes). cols must be a multiple of the format's block_elems.
// With default params this is exactly the format's reference quantizer.
// Throws quantlm::Error when the format cannot be produced with these params.
void quantize_rows(const FormatTraits& format, const float* src, std::byte* dst, std::int64_t rows, std::int64_t cols,
                   const QuantizeParams& params = {});

}  // namespace quantlm::formats

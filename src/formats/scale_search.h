// Scale search shared by every searchable format: level grids, min-max, MSE-optimal clipping, percentile, absmean, s*.
#pragma once

#include <cstdint>
#include <span>

namespace quantlm::formats {

// How a group's scale (and offset) is chosen.
enum class ScaleSearch : std::uint8_t {
  format_default,  // what the format's reference quantizer does (llama.cpp's choice for ggml types)
  min_max,         // the group's extreme lands on the grid's extreme level: nothing clips
  mse,             // clipping ratio searched for the least squared (or importance-weighted) error
  percentile,      // range from a percentile of |x| (of x for affine grids): outliers clip
  paper_s_star,    // the seed paper's step s* = 2(max-min)/(2^b-1): kept only to be measured (ANCHORS.md)
  absmean,         // d = mean |x| (importance-weighted): XNOR-Net's binary and BitNet b1.58's ternary scale
};

// The values a format's codes decode to, in units of the scale: a group
// decodes as x = d * level (symmetric) or x = d * level + m (affine). The
// quantizers pick the nearest level to (x - m) / d; ties go away from zero.
struct Grid {
  std::span<const float> levels;                      // ascending, distinct
  std::span<const float> midpoints;                   // decision thresholds between neighbours (codebooks only)
  std::span<const std::uint8_t> code_of;              // stored code of each level; empty: the level's index
  std::span<const float> decode;                      // level of each stored code (2^bits entries); empty: ggml types
  int bits = 0;                                       // bits per stored code
  bool integer = false;                               // levels are consecutive integers: nearest is a rounding
  bool affine = false;                                // a per-group offset m (levels 0 .. 2^bits - 1)
  ScaleSearch default_search = ScaleSearch::min_max;  // what format_default means on this grid
};

// One group's stored scale and offset (m = 0 for symmetric grids), already
// rounded to the precision the format stores them in.
struct GroupScale {
  float d = 0.0F;
  float m = 0.0F;
};

enum class ScalePrecision : std::uint8_t { f16, f32 };

struct SearchSettings {
  ScaleSearch method = ScaleSearch::min_max;  // never format_default here: callers resolve it
  float percentile = 99.9F;                   // ScaleSearch::percentile, in (0, 100]
  // ScaleSearch::mse tries clipping ratios 1, 1 - step, ..., mse_min_ratio
  // (step = (1 - mse_min_ratio) / mse_steps) of the min-max range, each followed
  // by a least-squares refit of the scale (and offset) to its codes, and keeps
  // whichever candidate has the least error. Ratio 1 is min-max itself, so the
  // result is never worse than min-max. 0.3 reaches below the MSE-optimal clip
  // of 2-bit codes on whole rows (~0.4 of max |x| on Gaussian rows of 4096).
  float mse_min_ratio = 0.3F;
  int mse_steps = 35;
};

// How one row is quantized by a format's options-taking quantizer.
struct RowQuantizeOptions {
  SearchSettings search;
  const float* importance = nullptr;  // one non-negative weight per value of the row; nullptr: uniform
  // Formats with one scale per row: store this scale instead of searching one
  // (a scale searched over the whole tensor gives per-tensor quantization).
  const GroupScale* fixed = nullptr;
};

// Whether `method` is defined on `grid`: s* needs an integer grid (a step),
// absmean a symmetric one.
[[nodiscard]] bool search_supported(const Grid& grid, ScaleSearch method);

// Index of the level nearest to v (in units of the scale).
[[nodiscard]] int nearest_level(const Grid& grid, float v);

// The scale (and offset) for the n values x under `settings`, rounded to
// `precision`; weights (nullptr: uniform) enter the MSE search's objective
// sum w (x - Q(x))^2 and absmean's mean. Inputs must be finite; an all-zero
// group gets d = 0 (it decodes to zeros). `settings.method` must be supported.
[[nodiscard]] GroupScale search_scale(std::span<const float> x, const float* weights, const Grid& grid,
                                      const SearchSettings& settings, ScalePrecision precision);

// Level index of every value of x under scale s (what the quantizers store).
void encode_levels(std::span<const float> x, const Grid& grid, GroupScale s, std::uint8_t* level_index);

// sum w (x - Q(x))^2 under scale s (w = 1 when weights is nullptr), in double.
[[nodiscard]] double weighted_error(std::span<const float> x, const float* weights, const Grid& grid, GroupScale s);

// s rounded to the stored precision (fp16 saturates at +-65504 rather than
// becoming Inf, so an extreme group decodes to large values, never NaN).
[[nodiscard]] GroupScale round_scale(GroupScale s, ScalePrecision precision);

}  // namespace quantlm::formats

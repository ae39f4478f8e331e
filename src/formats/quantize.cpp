// quantize_rows: validates options, searches scales through the format's traits, and folds in γ or least squares.
#include "formats/quantize.h"

#include <cmath>
#include <span>
#include <vector>

#include "core/error.h"

namespace quantlm::formats {
namespace {

const char* search_name(ScaleSearch s) {
  switch (s) {
    case ScaleSearch::format_default:
      return "format default";
    case ScaleSearch::min_max:
      return "min-max";
    case ScaleSearch::mse:
      return "mse";
    case ScaleSearch::percentile:
      return "percentile";
    case ScaleSearch::paper_s_star:
      return "paper s*";
    case ScaleSearch::absmean:
      return "absmean";
  }
  return "?";
}

// format_default: the grid's own default, or mse when importance asks for an objective.
ScaleSearch resolve(const FormatTraits& f, const QuantizeParams& p) {
  if (p.search != ScaleSearch::format_default) return p.search;
  if (p.importance != nullptr) return ScaleSearch::mse;
  return f.grid != nullptr ? f.grid->default_search : ScaleSearch::min_max;
}

// Whether the reference quantizer alone does what `p` asks before any correction.
bool reference_only(const QuantizeParams& p) {
  return p.search == ScaleSearch::format_default && p.importance == nullptr && !p.tensor_scale;
}

void validate(const FormatTraits& f, const QuantizeParams& p, std::int64_t cols) {
  if (f.quantize_ref == nullptr) throw make_error("format {} cannot be produced by quantlm", f.name);
  if (!f.row_length_ok(cols)) {
    throw make_error("format {}: rows of {} values are not a multiple of its block size {}", f.name, cols,
                     f.block_elems);
  }
  if (!reference_only(p)) {
    if (f.quantize == nullptr || f.grid == nullptr) {
      throw make_error(
          "format {}: only its reference quantizer is available (no scale search, importance or "
          "per-tensor scale)",
          f.name);
    }
    const ScaleSearch s = resolve(f, p);
    if (!search_supported(*f.grid, s)) {
      throw make_error("format {}: scale search '{}' does not apply to its levels", f.name, search_name(s));
    }
    const bool has_objective = s == ScaleSearch::mse || s == ScaleSearch::absmean;
    if (p.importance != nullptr && !has_objective) {
      throw make_error("format {}: importance weights need the mse (or absmean) scale search, not '{}'", f.name,
                       search_name(s));
    }
  }
  if (p.correction != ScaleCorrection::none && f.rescale == nullptr) {
    throw make_error("format {}: a scale correction cannot be folded into its scales", f.name);
  }
  if (!(p.percentile > 0.0F && p.percentile <= 100.0F)) {
    throw make_error("percentile {} is outside (0, 100]", p.percentile);
  }
  if (!(p.mse_min_ratio > 0.0F && p.mse_min_ratio <= 1.0F) || p.mse_steps < 1 || p.mse_steps > 1000) {
    throw make_error("mse search: ratio {} must be in (0, 1] and steps {} in 1..1000", p.mse_min_ratio, p.mse_steps);
  }
  if (p.importance != nullptr) {
    for (std::int64_t c = 0; c < cols; ++c) {
      if (!(std::isfinite(p.importance[c]) && p.importance[c] >= 0.0F)) {
        throw make_error("importance of column {} is {}; expected a finite value >= 0", c, p.importance[c]);
      }
    }
  }
}

// The scale for the whole tensor, searched over every value (importance
// tiled over the rows), rounded to fp32: each format rounds it as it stores it.
GroupScale tensor_scale(const FormatTraits& f, const float* src, std::int64_t rows, std::int64_t cols,
                        const QuantizeParams& p, const SearchSettings& settings) {
  const auto n = static_cast<std::size_t>(rows * cols);
  std::vector<float> weights;
  if (p.importance != nullptr) {
    weights.resize(n);
    for (std::size_t i = 0; i < n; ++i) weights[i] = p.importance[i % static_cast<std::size_t>(cols)];
  }
  return search_scale(std::span<const float>(src, n), weights.empty() ? nullptr : weights.data(), *f.grid, settings,
                      ScalePrecision::f32);
}

// Dequantizes every row, gathers the sums of each row, and rescales.
void apply_correction(const FormatTraits& f, const float* src, std::byte* dst, std::int64_t rows, std::int64_t cols,
                      std::int64_t row_bytes, const QuantizeParams& p) {
  std::vector<float> q(static_cast<std::size_t>(cols));
  std::vector<CorrectionSums> sums(static_cast<std::size_t>(rows));
  const bool weighted = p.importance != nullptr && p.correction == ScaleCorrection::least_squares;
  for (std::int64_t r = 0; r < rows; ++r) {
    f.dequantize(dst + r * row_bytes, q.data(), cols);
    CorrectionSums& s = sums[static_cast<std::size_t>(r)];
    const float* x = src + r * cols;
    for (std::int64_t c = 0; c < cols; ++c) {
      const double w = weighted ? p.importance[c] : 1.0;
      const double xc = x[c];
      const double qc = q[static_cast<std::size_t>(c)];
      s.xx += w * xc * xc;
      s.xq += w * xc * qc;
      s.qq += w * qc * qc;
    }
  }
  if (!p.correction_per_channel) {
    CorrectionSums total;
    for (const CorrectionSums& s : sums) {
      total.xx += s.xx;
      total.xq += s.xq;
      total.qq += s.qq;
    }
    std::fill(sums.begin(), sums.end(), total);
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    const double factor = correction_factor(p.correction, sums[static_cast<std::size_t>(r)]);
    if (factor != 1.0) f.rescale(dst + r * row_bytes, cols, static_cast<float>(factor));
  }
}

}  // namespace

double correction_factor(ScaleCorrection kind, const CorrectionSums& sums) {
  if (kind == ScaleCorrection::none || !(sums.qq > 0.0)) return 1.0;
  return kind == ScaleCorrection::gamma ? std::sqrt(sums.xx / sums.qq) : sums.xq / sums.qq;
}

void quantize_rows(const FormatTraits& format, const float* src, std::byte* dst, std::int64_t rows, std::int64_t cols,
                   const QuantizeParams& params) {
  validate(format, params, cols);
  const std::int64_t row_bytes = format.row_bytes(cols);
  if (reference_only(params)) {
    for (std::int64_t r = 0; r < rows; ++r) format.quantize_ref(src + r * cols, dst + r * row_bytes, cols);
  } else {
    RowQuantizeOptions options;
    options.search = SearchSettings{resolve(format, params), params.percentile, params.mse_min_ratio, params.mse_steps};
    options.importance = params.importance;
    GroupScale fixed;
    if (params.tensor_scale && rows > 0 && cols > 0) {
      fixed = tensor_scale(format, src, rows, cols, params, options.search);
      options.fixed = &fixed;
    }
    for (std::int64_t r = 0; r < rows; ++r) format.quantize(src + r * cols, dst + r * row_bytes, cols, options);
  }
  if (params.correction != ScaleCorrection::none) apply_correction(format, src, dst, rows, cols, row_bytes, params);
}

}  // namespace quantlm::formats

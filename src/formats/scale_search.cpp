// The scale searches: first guesses (min-max, percentile, s*, absmean) and the MSE clipping search with refits.
#include "formats/scale_search.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <vector>

#include "core/half.h"
#include "formats/rounding.h"

namespace quantlm::formats {
namespace {

constexpr float kFp16Max = 65504.0F;
// Groups whose largest magnitude is below this decode to zeros (ggml's GROUP_MAX_EPS).
constexpr float kZeroGroup = 1e-15F;

float weight_at(const float* w, std::size_t i) { return w != nullptr ? w[i] : 1.0F; }

// nearest_level with the grid kind known at compile time: the MSE search
// calls it ~70 times per value, and the branch-free integer path is what
// most formats take.
template <bool Integer>
int nearest(const Grid& grid, float v) {
  if constexpr (Integer) {
    const float lo = grid.levels.front();
    // Clamping first also keeps the int conversion in range for any finite v.
    return round_half_away(std::clamp(v, lo, grid.levels.back())) - static_cast<int>(lo);
  } else {
    const auto& m = grid.midpoints;
    // upper_bound counts thresholds <= v, lower_bound those < v: either way a
    // value on a threshold goes to the level farther from zero.
    const auto it = v >= 0.0F ? std::upper_bound(m.begin(), m.end(), v) : std::lower_bound(m.begin(), m.end(), v);
    return static_cast<int>(it - m.begin());
  }
}

struct Extremes {
  float min = 0.0F;
  float max = 0.0F;
  float amax = 0.0F;
  float signed_extreme = 0.0F;  // the value of largest magnitude, the first one on a tie
};
Extremes extremes(std::span<const float> x) {
  Extremes e{x.empty() ? 0.0F : x[0], x.empty() ? 0.0F : x[0]};
  for (const float v : x) {
    e.min = std::min(e.min, v);
    e.max = std::max(e.max, v);
    if (std::fabs(v) > e.amax) {
      e.amax = std::fabs(v);
      e.signed_extreme = v;
    }
  }
  return e;
}

// The sign a symmetric grid's scale takes. A grid whose most negative level
// has no positive twin (int -2^(b-1)..2^(b-1)-1, IQ4_NL's -127..113) maps the
// value of largest magnitude onto that level, flipping the scale's sign when
// the value is positive (llama.cpp's Q4_0 convention): every code stays in use
// and the extreme is exact. Grids with matching ends keep d > 0.
float scale_sign(const Grid& g, const Extremes& e) {
  const bool unpaired = -g.levels.front() > g.levels.back();
  return unpaired && e.signed_extreme > 0.0F ? -1.0F : 1.0F;
}
float extreme_level(const Grid& g) { return std::max(-g.levels.front(), g.levels.back()); }

// Linear interpolation between order statistics, p in [0, 100].
float percentile_of(std::vector<float> v, float p) {
  if (v.empty()) return 0.0F;
  const double rank = static_cast<double>(p) / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(rank);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
  const float a = v[lo];
  if (lo + 1 >= v.size()) return a;
  const float b = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end());
  return a + static_cast<float>(rank - static_cast<double>(lo)) * (b - a);
}

// The unrounded first guess of every method but mse, which starts from min-max.
GroupScale first_guess(std::span<const float> x, const float* w, const Grid& g, const SearchSettings& s,
                       const Extremes& e) {
  const float top = extreme_level(g);
  const float n_steps = g.levels.back() - g.levels.front();  // 2^b - 1 on integer grids
  switch (s.method) {
    case ScaleSearch::percentile: {
      if (g.affine) {
        const std::vector<float> v(x.begin(), x.end());
        const float lo = percentile_of(v, 100.0F - s.percentile);
        const float hi = percentile_of(v, s.percentile);
        return {(hi - lo) / n_steps, lo};
      }
      std::vector<float> v(x.size());
      std::transform(x.begin(), x.end(), v.begin(), [](float a) { return std::fabs(a); });
      return {scale_sign(g, e) * percentile_of(std::move(v), s.percentile) / top, 0.0F};
    }
    case ScaleSearch::paper_s_star: {
      // s* = 2 (max - min) / (2^b - 1), taken literally as the step: twice
      // the affine min-max step, so half of the levels fall outside the range.
      const float step = 2.0F * (e.max - e.min) / n_steps;
      return g.affine ? GroupScale{step, e.min} : GroupScale{scale_sign(g, e) * step, 0.0F};
    }
    case ScaleSearch::absmean: {
      double sum_w = 0.0;
      double sum_wx = 0.0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        sum_w += weight_at(w, i);
        sum_wx += static_cast<double>(weight_at(w, i)) * std::fabs(static_cast<double>(x[i]));
      }
      return {sum_w > 0.0 ? static_cast<float>(sum_wx / sum_w) / top : 0.0F, 0.0F};
    }
    case ScaleSearch::format_default:  // resolved by the caller; treated as min-max
    case ScaleSearch::min_max:
    case ScaleSearch::mse:
      break;
  }
  if (g.affine) return {(e.max - e.min) / n_steps, e.min};
  return {scale_sign(g, e) * e.amax / top, 0.0F};
}

// Sums over a group under one candidate scale: its weighted squared error,
// and the moments a least-squares refit with the same levels needs. Values
// are decoded as the dequantizers decode them (d * level + m in float), so
// the error is that of the stored group.
struct Fit {
  double err = 0.0;
  double sw = 0.0;    // sum w
  double swx = 0.0;   // sum w x
  double swl = 0.0;   // sum w l
  double swll = 0.0;  // sum w l^2
  double swxl = 0.0;  // sum w x l
};
template <bool Integer>
Fit evaluate_on(std::span<const float> x, const float* w, const Grid& g, GroupScale s) {
  Fit f;
  const float inv = s.d != 0.0F ? 1.0F / s.d : 0.0F;
  const float lo = g.levels.front();
  const float hi = g.levels.back();
  for (std::size_t i = 0; i < x.size(); ++i) {
    float level = 0.0F;
    if constexpr (Integer) {
      level = static_cast<float>(round_half_away(std::clamp((x[i] - s.m) * inv, lo, hi)));  // the level itself
    } else {
      level = g.levels[static_cast<std::size_t>(nearest<false>(g, (x[i] - s.m) * inv))];
    }
    const double e = static_cast<double>(x[i]) - static_cast<double>(s.d * level + s.m);
    const double wi = weight_at(w, i);
    const double wl = wi * level;
    f.err += wi * e * e;
    f.swl += wl;
    f.swll += wl * level;
    f.swxl += wl * x[i];
  }
  if (g.affine) {  // the refit's other two sums do not depend on the candidate
    for (std::size_t i = 0; i < x.size(); ++i) {
      f.sw += weight_at(w, i);
      f.swx += static_cast<double>(weight_at(w, i)) * x[i];
    }
  }
  return f;
}
Fit evaluate(std::span<const float> x, const float* w, const Grid& g, GroupScale s) {
  return g.integer ? evaluate_on<true>(x, w, g, s) : evaluate_on<false>(x, w, g, s);
}

// The least-squares scale (and offset) for the levels a candidate chose; the
// candidate itself when the system is singular.
GroupScale refit(const Fit& f, const Grid& g, GroupScale s) {
  if (!g.affine) return f.swll > 0.0 ? GroupScale{static_cast<float>(f.swxl / f.swll), 0.0F} : s;
  const double det = f.sw * f.swll - f.swl * f.swl;
  if (!(det > 1e-30 * f.sw * f.swll)) return s;  // every value on one level
  return {static_cast<float>((f.sw * f.swxl - f.swl * f.swx) / det),
          static_cast<float>((f.swll * f.swx - f.swl * f.swxl) / det)};
}

// Candidates at clipping ratios 1 .. mse_min_ratio of the min-max range, each
// with its least-squares refit; the best stored (rounded) scale wins. Affine
// ranges shrink toward zero when they straddle it (weights usually do, and
// the refit moves the offset), otherwise toward their middle.
GroupScale mse_search(std::span<const float> x, const float* w, const Grid& g, const SearchSettings& s,
                      const Extremes& e, ScalePrecision p) {
  SearchSettings min_max = s;
  min_max.method = ScaleSearch::min_max;
  const GroupScale base = first_guess(x, w, g, min_max, e);
  const float centre = (e.min <= 0.0F && e.max >= 0.0F) ? 0.0F : 0.5F * (e.min + e.max);
  GroupScale best = round_scale(base, p);
  double best_err = evaluate(x, w, g, best).err;
  const auto consider = [&](GroupScale candidate) {
    const GroupScale c = round_scale(candidate, p);
    const Fit f = evaluate(x, w, g, c);
    if (f.err < best_err) {
      best = c;
      best_err = f.err;
    }
    return f;
  };
  for (int k = 0; k <= s.mse_steps; ++k) {
    const float ratio = 1.0F - static_cast<float>(k) * (1.0F - s.mse_min_ratio) / static_cast<float>(s.mse_steps);
    GroupScale c = base;
    if (g.affine) {
      const float lo = centre + ratio * (e.min - centre);
      const float hi = centre + ratio * (e.max - centre);
      c = {(hi - lo) / (g.levels.back() - g.levels.front()), lo};
    } else {
      c.d = ratio * base.d;
    }
    const Fit f = consider(c);
    consider(refit(f, g, round_scale(c, p)));
  }
  return best;
}

}  // namespace

bool search_supported(const Grid& grid, ScaleSearch method) {
  if (method == ScaleSearch::paper_s_star) return grid.integer;
  if (method == ScaleSearch::absmean) return !grid.affine;
  return true;
}

int nearest_level(const Grid& grid, float v) { return grid.integer ? nearest<true>(grid, v) : nearest<false>(grid, v); }

GroupScale round_scale(GroupScale s, ScalePrecision precision) {
  if (precision == ScalePrecision::f32) return s;
  const auto to_f16 = [](float v) { return fp16_to_fp32(fp32_to_fp16(std::clamp(v, -kFp16Max, kFp16Max))); };
  return {to_f16(s.d), to_f16(s.m)};
}

GroupScale search_scale(std::span<const float> x, const float* weights, const Grid& grid,
                        const SearchSettings& settings, ScalePrecision precision) {
  assert(search_supported(grid, settings.method));
  const Extremes e = extremes(x);
  if (grid.affine ? !(e.max - e.min >= kZeroGroup) : !(e.amax >= kZeroGroup)) {
    // Constant (affine) or all-zero (symmetric) groups: d = 0 decodes every
    // value to m, exactly the constant (rounded as stored).
    return round_scale({0.0F, grid.affine ? e.min : 0.0F}, precision);
  }
  if (settings.method == ScaleSearch::mse) return mse_search(x, weights, grid, settings, e, precision);
  return round_scale(first_guess(x, weights, grid, settings, e), precision);
}

void encode_levels(std::span<const float> x, const Grid& grid, GroupScale s, std::uint8_t* level_index) {
  const float inv = s.d != 0.0F ? 1.0F / s.d : 0.0F;
  for (std::size_t i = 0; i < x.size(); ++i) {
    level_index[i] = static_cast<std::uint8_t>(nearest_level(grid, (x[i] - s.m) * inv));
  }
}

double weighted_error(std::span<const float> x, const float* weights, const Grid& grid, GroupScale s) {
  return evaluate(x, weights, grid, s).err;
}

}  // namespace quantlm::formats

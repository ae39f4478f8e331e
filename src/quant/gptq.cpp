// GPTQ on one matrix: damped inverse Hessian, its Cholesky factor, column-by-column rounding with lazy block updates.
#include "quant/gptq.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/log.h"

namespace quantlm::quant {
namespace {

using formats::Grid;
using formats::GroupScale;
using formats::ScaleSearch;

// Rows per task: enough that each row of U, once loaded, serves several rows
// of W, few enough that a small matrix still spreads over the threads.
constexpr std::int64_t kTaskRows = 16;

// The value the stored block decodes w to under scale s: the level the
// format's encoder picks (the same expression as formats::encode_levels), in
// the expression its decoder evaluates.
float round_to_grid(const Grid& grid, GroupScale s, float w) {
  const float inv = s.d != 0.0F ? 1.0F / s.d : 0.0F;
  const int level = formats::nearest_level(grid, (w - s.m) * inv);
  return s.d * grid.levels[static_cast<std::size_t>(level)] + s.m;
}

// L⁻¹ of the lower triangular L (n × n, row-major), returned transposed: row j
// of the result is column j of L⁻¹, so every inner loop below reads memory in order.
std::vector<double> invert_lower_transposed(const std::vector<double>& l, std::int64_t n) {
  std::vector<double> xt(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t j = 0; j < n; ++j) {
    double* xj = xt.data() + j * n;  // column j of L⁻¹: zero above the diagonal
    xj[j] = 1.0 / l[static_cast<std::size_t>(j * n + j)];
    for (std::int64_t i = j + 1; i < n; ++i) {
      const double* li = l.data() + i * n;
      double sum = 0.0;
      for (std::int64_t k = j; k < i; ++k) sum += li[k] * xj[k];
      xj[i] = -sum / li[i];
    }
  }
  return xt;
}

// (h + λI)⁻¹'s upper Cholesky factor, or empty when a factorization fails.
std::vector<double> try_inverse_cholesky_upper(const std::vector<double>& h, std::int64_t n, double lambda) {
  std::vector<double> a = h;
  for (std::int64_t i = 0; i < n; ++i) a[static_cast<std::size_t>(i * n + i)] += lambda;
  if (!cholesky_lower(a, n)) return {};
  const std::vector<double> xt = invert_lower_transposed(a, n);
  // H⁻¹ = L⁻ᵀ·L⁻¹: entry (i, j) is the dot product of columns i and j of L⁻¹.
  std::vector<double> inv(static_cast<std::size_t>(n * n));
  for (std::int64_t i = 0; i < n; ++i) {
    const double* ci = xt.data() + i * n;
    for (std::int64_t j = 0; j <= i; ++j) {
      const double* cj = xt.data() + j * n;
      double sum = 0.0;
      for (std::int64_t k = i; k < n; ++k) sum += ci[k] * cj[k];
      inv[static_cast<std::size_t>(i * n + j)] = sum;
      inv[static_cast<std::size_t>(j * n + i)] = sum;
    }
  }
  if (!cholesky_lower(inv, n)) return {};
  // H⁻¹ = L₂·L₂ᵀ, so U = L₂ᵀ is upper with Uᵀ·U = H⁻¹.
  std::vector<double> u(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j <= i; ++j) {
      u[static_cast<std::size_t>(j * n + i)] = inv[static_cast<std::size_t>(i * n + j)];
    }
  }
  return u;
}

// Everything the row tasks share.
struct Problem {
  const formats::FormatTraits* format = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t group = 0;  // columns per stored scale (the whole row for per-row formats)
  std::int64_t block = 0;  // columns per lazy update
  bool static_scales = false;
  formats::SearchSettings search;
  formats::ScalePrecision precision = formats::ScalePrecision::f16;
  bool weighted_search = false;
  std::vector<std::int64_t> perm;  // processing position -> column
  std::vector<float> diag;         // diag(H) per column: the search's weights
  std::vector<float> u;            // U in processing order (cols × cols, row-major)

  [[nodiscard]] std::int64_t groups() const { return (cols + group - 1) / group; }
  [[nodiscard]] std::int64_t group_len(std::int64_t g) const { return std::min(group, cols - g * group); }
  [[nodiscard]] GroupScale choose(const float* x, std::int64_t start, std::int64_t len) const {
    return formats::search_scale({x, static_cast<std::size_t>(len)}, weighted_search ? diag.data() + start : nullptr,
                                 *format->grid, search, precision);
  }
};

// GPTQ over rows [first, first + n): `w` holds them (n × cols, original column
// order) and receives the rounded values; `scales` (n × groups) the scales.
void gptq_rows(const Problem& p, float* w, GroupScale* scales, std::int64_t n) {
  const std::int64_t cols = p.cols;
  const std::int64_t n_groups = p.groups();
  const Grid& grid = *p.format->grid;
  auto at = [](auto* base, std::int64_t stride, std::int64_t r, std::int64_t c) -> auto& {
    return base[static_cast<std::size_t>(r * stride + c)];
  };
  if (p.static_scales) {
    for (std::int64_t r = 0; r < n; ++r) {
      for (std::int64_t g = 0; g < n_groups; ++g) {
        at(scales, n_groups, r, g) = p.choose(&at(w, cols, r, g * p.group), g * p.group, p.group_len(g));
      }
    }
  }
  // Work in processing order: wp (n × cols) is updated in place; q collects the rounded values.
  std::vector<float> wp(static_cast<std::size_t>(n * cols));
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t j = 0; j < cols; ++j)
      at(wp.data(), cols, r, j) = at(w, cols, r, p.perm[static_cast<std::size_t>(j)]);
  }
  std::vector<float> q(wp.size());
  std::vector<float> err(static_cast<std::size_t>(n * p.block));
  const float* u = p.u.data();
  for (std::int64_t i1 = 0; i1 < cols; i1 += p.block) {
    const std::int64_t i2 = std::min(i1 + p.block, cols);
    for (std::int64_t j = i1; j < i2; ++j) {
      const std::int64_t col = p.perm[static_cast<std::size_t>(j)];
      const std::int64_t g = col / p.group;
      // Dynamic scales: without act-order j == col, and a group never straddles
      // a block, so its columns already carry every earlier column's error.
      if (!p.static_scales && col % p.group == 0) {
        for (std::int64_t r = 0; r < n; ++r) {
          at(scales, n_groups, r, g) = p.choose(&at(wp.data(), cols, r, j), j, p.group_len(g));
        }
      }
      const float ujj = u[j * cols + j];
      for (std::int64_t r = 0; r < n; ++r) {
        float* row = &at(wp.data(), cols, r, 0);
        const float qv = round_to_grid(grid, at(scales, n_groups, r, g), row[j]);
        at(q.data(), cols, r, j) = qv;
        const float e = (row[j] - qv) / ujj;
        at(err.data(), p.block, r, j - i1) = e;
        const float* uj = u + j * cols;
        for (std::int64_t k = j + 1; k < i2; ++k) row[k] -= e * uj[k];
      }
    }
    // The block's errors reach the columns after it in one pass (the lazy update).
    for (std::int64_t k = i1; k < i2; ++k) {
      const float* uk = u + k * cols;
      for (std::int64_t r = 0; r < n; ++r) {
        const float e = at(err.data(), p.block, r, k - i1);
        if (e == 0.0F) continue;
        float* row = &at(wp.data(), cols, r, 0);
        for (std::int64_t c = i2; c < cols; ++c) row[c] -= e * uk[c];
      }
    }
  }
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t j = 0; j < cols; ++j)
      at(w, cols, r, p.perm[static_cast<std::size_t>(j)]) = at(q.data(), cols, r, j);
  }
}

// Writes rows of grid values with their scales through the format's own quantizer.
void encode_rows(const Problem& p, const float* values, const GroupScale* scales, std::int64_t n, std::byte* dst) {
  const formats::FormatTraits& f = *p.format;
  const std::int64_t row_bytes = f.row_bytes(p.cols);
  const bool per_row = f.group == 0;
  const std::int64_t group_bytes = per_row ? row_bytes : f.row_bytes(p.group);
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t g = 0; g < p.groups(); ++g) {
      formats::RowQuantizeOptions o;
      o.search = p.search;
      o.fixed = &scales[r * p.groups() + g];
      f.quantize(values + r * p.cols + g * p.group, dst + r * row_bytes + g * group_bytes, p.group_len(g), o);
    }
  }
}

}  // namespace

bool gptq_supports(const formats::FormatTraits& format) {
  return format.grid != nullptr && format.quantize != nullptr && format.dequantize != nullptr;
}

bool cholesky_lower(std::vector<double>& a, std::int64_t n) {
  assert(static_cast<std::int64_t>(a.size()) == n * n);
  for (std::int64_t j = 0; j < n; ++j) {
    double d = a[static_cast<std::size_t>(j * n + j)];
    for (std::int64_t k = 0; k < j; ++k)
      d -= a[static_cast<std::size_t>(j * n + k)] * a[static_cast<std::size_t>(j * n + k)];
    if (!(d > 0.0) || !std::isfinite(d)) return false;
    const double ljj = std::sqrt(d);
    a[static_cast<std::size_t>(j * n + j)] = ljj;
    for (std::int64_t i = j + 1; i < n; ++i) {
      double s = a[static_cast<std::size_t>(i * n + j)];
      for (std::int64_t k = 0; k < j; ++k)
        s -= a[static_cast<std::size_t>(i * n + k)] * a[static_cast<std::size_t>(j * n + k)];
      a[static_cast<std::size_t>(i * n + j)] = s / ljj;
    }
    for (std::int64_t i = 0; i < j; ++i) a[static_cast<std::size_t>(i * n + j)] = 0.0;
  }
  return true;
}

std::vector<double> inverse_cholesky_upper(std::span<const double> h, std::int64_t n, double damp, double* lambda) {
  std::vector<double> a(h.begin(), h.end());
  double mean = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    double& d = a[static_cast<std::size_t>(i * n + i)];
    if (d == 0.0) d = 1.0;  // an input never seen: its weights are rounded on their own
    mean += d;
  }
  mean /= static_cast<double>(std::max<std::int64_t>(1, n));
  double l = damp * mean;
  for (int attempt = 0; attempt < 7; ++attempt) {
    std::vector<double> u = try_inverse_cholesky_upper(a, n, l);
    if (!u.empty()) {
      if (lambda != nullptr) *lambda = l;
      return u;
    }
    log_warn("GPTQ: the Hessian with dampening {:.3g} is not positive definite; trying {:.3g}", l, l * 10.0);
    l = l > 0.0 ? l * 10.0 : 1e-6 * std::max(mean, 1e-30);
  }
  throw make_error("GPTQ: the Hessian ({} x {}) stays singular under dampening up to {:.3g}", n, n, l);
}

void gptq_quantize(const formats::FormatTraits& format, std::span<const float> w, std::int64_t rows, std::int64_t cols,
                   std::span<const double> h, std::byte* dst, const GptqOptions& options, ThreadPool& pool) {
  if (!gptq_supports(format))
    throw make_error("GPTQ cannot write {}: it has no level grid with fixed scales", format.name);
  if (!format.row_length_ok(cols)) {
    throw make_error("GPTQ: rows of {} values cannot be stored as {} (blocks of {})", cols, format.name,
                     format.block_elems);
  }
  if (static_cast<std::int64_t>(w.size()) != rows * cols || static_cast<std::int64_t>(h.size()) != cols * cols) {
    throw make_error("GPTQ: {} weights and a Hessian of {} values for a {} x {} matrix", w.size(), h.size(), rows,
                     cols);
  }
  if (rows == 0 || cols == 0) return;
  for (const float x : w) {
    if (!std::isfinite(x)) throw Error("GPTQ: the weights contain a non-finite value");
  }
  Problem p;
  p.format = &format;
  p.rows = rows;
  p.cols = cols;
  p.group = format.group > 0 ? std::min(format.group, cols) : cols;
  p.precision = format.group > 0 ? formats::ScalePrecision::f16 : formats::ScalePrecision::f32;
  // Per-row formats choose their one scale before any column is touched.
  p.static_scales = options.act_order || format.group == 0;
  const std::int64_t want = std::max<std::int64_t>(1, options.block);
  p.block = p.static_scales ? want : (want + p.group - 1) / p.group * p.group;
  p.search.method = options.search == ScaleSearch::format_default ? ScaleSearch::mse : options.search;
  p.search.percentile = options.percentile;
  if (!formats::search_supported(*format.grid, p.search.method)) {
    throw make_error("GPTQ: {} does not support this scale search", format.name);
  }
  p.weighted_search = p.search.method == ScaleSearch::mse || p.search.method == ScaleSearch::absmean;

  p.diag.resize(static_cast<std::size_t>(cols));
  for (std::int64_t i = 0; i < cols; ++i) {
    const double d = h[static_cast<std::size_t>(i * cols + i)];
    p.diag[static_cast<std::size_t>(i)] = static_cast<float>(d > 0.0 ? d : 0.0);
  }
  p.perm.resize(static_cast<std::size_t>(cols));
  std::iota(p.perm.begin(), p.perm.end(), std::int64_t{0});
  if (options.act_order) {
    // Stable: equal activations keep their order, so the result is reproducible.
    std::stable_sort(p.perm.begin(), p.perm.end(), [&](std::int64_t a, std::int64_t b) {
      return h[static_cast<std::size_t>(a * cols + a)] > h[static_cast<std::size_t>(b * cols + b)];
    });
  }
  std::vector<double> hp(static_cast<std::size_t>(cols * cols));
  for (std::int64_t i = 0; i < cols; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) {
      hp[static_cast<std::size_t>(i * cols + j)] =
          h[static_cast<std::size_t>(p.perm[static_cast<std::size_t>(i)] * cols + p.perm[static_cast<std::size_t>(j)])];
    }
  }
  const std::vector<double> u = inverse_cholesky_upper(hp, cols, options.damp);
  hp = {};
  p.u.assign(u.begin(), u.end());

  const std::int64_t n_tasks = (rows + kTaskRows - 1) / kTaskRows;
  const std::int64_t row_bytes = format.row_bytes(cols);
  pool.parallel_for(static_cast<std::size_t>(n_tasks), [&](std::size_t task, std::size_t /*thread*/) {
    const std::int64_t first = static_cast<std::int64_t>(task) * kTaskRows;
    const std::int64_t n = std::min(kTaskRows, rows - first);
    std::vector<float> values(w.begin() + first * cols, w.begin() + (first + n) * cols);
    std::vector<GroupScale> scales(static_cast<std::size_t>(n * p.groups()));
    gptq_rows(p, values.data(), scales.data(), n);
    encode_rows(p, values.data(), scales.data(), n, dst + first * row_bytes);
  });
}

}  // namespace quantlm::quant

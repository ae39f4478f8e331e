// Central finite differences against analytic gradients, in double, for the train/ gradient tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace quantlm::train::testing {

// Uniform in [lo, hi) from the generator's raw bits, the same on every standard library.
inline double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

inline std::vector<double> random_vector(std::size_t n, std::mt19937_64& rng, double lo = -1.0, double hi = 1.0) {
  std::vector<double> v(n);
  for (double& x : v) x = uniform(rng, lo, hi);
  return v;
}

// Relative error ‖a − n‖₂ / ‖n‖₂ between the analytic gradient of loss() with
// respect to x and the central difference (loss(x + h e_i) − loss(x − h e_i)) / 2h,
// over the elements `indices` (every element when empty). x is perturbed in
// place and restored. In double with h = 1e-5 the difference's truncation
// error (~h²) and rounding error (~1e-16 / h) both sit near 1e-10, far below
// the 1e-6 the tests ask for, while a wrong term in a backward pass shows as
// an error of order 1.
inline double gradcheck(std::vector<double>& x, const std::vector<double>& analytic,
                        const std::function<double()>& loss, const std::vector<std::size_t>& indices = {},
                        double h = 1e-5) {
  std::vector<std::size_t> idx = indices;
  if (idx.empty()) {
    for (std::size_t i = 0; i < x.size(); ++i) idx.push_back(i);
  }
  double diff_sq = 0.0, ref_sq = 0.0;
  for (const std::size_t i : idx) {
    const double saved = x[i];
    x[i] = saved + h;
    const double plus = loss();
    x[i] = saved - h;
    const double minus = loss();
    x[i] = saved;
    const double numeric = (plus - minus) / (2.0 * h);
    diff_sq += (analytic[i] - numeric) * (analytic[i] - numeric);
    ref_sq += numeric * numeric;
  }
  return ref_sq > 0.0 ? std::sqrt(diff_sq / ref_sq) : std::sqrt(diff_sq);
}

// Σ a_i b_i: the scalar loss Σ out ⊙ G whose gradient with respect to out is G.
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace quantlm::train::testing

// Elementwise activations and their backward passes: SwiGLU (Llama's FFN), ReLU and seeded dropout (the dense model).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace quantlm::train {

// h (n) = silu(gate) ⊙ up, silu(g) = g σ(g).
template <typename S>
void swiglu_forward(const S* gate, const S* up, S* h, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const S sig = S{1} / (S{1} + std::exp(-gate[i]));
    h[i] = gate[i] * sig * up[i];
  }
}

// silu'(g) = σ(g) (1 + g (1 − σ(g))), so
//   dgate += dh ⊙ up ⊙ silu'(gate),   dup += dh ⊙ silu(gate)
template <typename S>
void swiglu_backward(const S* dh, const S* gate, const S* up, S* dgate, S* dup, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const S sig = S{1} / (S{1} + std::exp(-gate[i]));
    const S silu = gate[i] * sig;
    dgate[i] += dh[i] * up[i] * sig * (S{1} + gate[i] * (S{1} - sig));
    dup[i] += dh[i] * silu;
  }
}

// y = max(x, 0).
template <typename S>
void relu_forward(const S* x, S* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] > S{0} ? x[i] : S{0};
}

// dx += dy where x > 0 (the subgradient 0 at x = 0).
template <typename S>
void relu_backward(const S* dy, const S* x, S* dx, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] > S{0}) dx[i] += dy[i];
  }
}

// Whether dropout keeps element `index` under `seed`: a counter-based hash
// (splitmix64's finalizer) rather than a stateful generator, so the mask does
// not depend on the order (or thread) in which elements are visited, and the
// backward pass recomputes it instead of storing it.
inline bool dropout_keeps(std::uint64_t seed, std::uint64_t index, double p_drop) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  const double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // uniform in [0, 1)
  return u >= p_drop;
}

// Inverted dropout: y = x / (1 − p) where kept, 0 where dropped, so the
// expected activation is unchanged and inference needs no rescaling.
template <typename S>
void dropout_forward(const S* x, S* y, std::size_t n, double p_drop, std::uint64_t seed) {
  const S keep_scale = S{1} / static_cast<S>(1.0 - p_drop);
  for (std::size_t i = 0; i < n; ++i) y[i] = dropout_keeps(seed, i, p_drop) ? x[i] * keep_scale : S{0};
}

// dx += dy / (1 − p) where the same (seed, index) mask kept the element.
template <typename S>
void dropout_backward(const S* dy, S* dx, std::size_t n, double p_drop, std::uint64_t seed) {
  const S keep_scale = S{1} / static_cast<S>(1.0 - p_drop);
  for (std::size_t i = 0; i < n; ++i) {
    if (dropout_keeps(seed, i, p_drop)) dx[i] += dy[i] * keep_scale;
  }
}

}  // namespace quantlm::train

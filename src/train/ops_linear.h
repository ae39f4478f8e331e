// Linear layer y = x·Wᵀ + b and its backward pass (dX, dW, db).
#pragma once

#include <cstddef>
#include <type_traits>

#include "train/parallel.h"

namespace quantlm::train {

// y (n, out) = x (n, in) · Wᵀ + b, with W (out, in) as GGUF stores it (one row
// per output) and b (out) optional (nullptr). One task per row of y.
// (The optional pointers take S from x, so a literal nullptr can be passed.)
template <typename S>
void linear_forward(const S* x, const S* w, std::type_identity_t<const S*> b, S* y, std::size_t n, std::size_t in,
                    std::size_t out, ThreadPool* pool = nullptr) {
  for_each_task(pool, n, [&](std::size_t t) {
    const S* xr = x + t * in;  // (in)
    S* yr = y + t * out;       // (out)
    for (std::size_t o = 0; o < out; ++o) {
      const S* wr = w + o * in;  // (in)
      S acc = b != nullptr ? b[o] : S{0};
      for (std::size_t i = 0; i < in; ++i) acc += xr[i] * wr[i];
      yr[o] = acc;
    }
  });
}

// Given dy (n, out) = ∂L/∂y, accumulates
//   dx (n, in)  += dy · W          (skipped when dx is nullptr: the input is data)
//   dW (out, in) += dyᵀ · x
//   db (out)    += Σ_t dy[t]       (skipped when db is nullptr)
// Accumulating (+=) lets a tensor used twice (a tied embedding, a residual
// stream) collect its gradient from every use, and gradient accumulation sum
// micro-batches. dx is split by rows of x and dW by rows of W, each task
// summing in a fixed order, so the result does not depend on the thread count.
template <typename S>
void linear_backward(const S* dy, const S* x, const S* w, std::type_identity_t<S*> dx, S* dw,
                     std::type_identity_t<S*> db, std::size_t n, std::size_t in, std::size_t out,
                     ThreadPool* pool = nullptr) {
  if (dx != nullptr) {
    for_each_task(pool, n, [&](std::size_t t) {
      const S* dyr = dy + t * out;  // (out)
      S* dxr = dx + t * in;         // (in)
      for (std::size_t o = 0; o < out; ++o) {
        const S g = dyr[o];
        const S* wr = w + o * in;  // (in)
        for (std::size_t i = 0; i < in; ++i) dxr[i] += g * wr[i];
      }
    });
  }
  for_each_task(pool, out, [&](std::size_t o) {
    S* dwr = dw + o * in;  // (in)
    S bias_sum{0};
    for (std::size_t t = 0; t < n; ++t) {
      const S g = dy[t * out + o];
      const S* xr = x + t * in;  // (in)
      for (std::size_t i = 0; i < in; ++i) dwr[i] += g * xr[i];
      bias_sum += g;
    }
    if (db != nullptr) db[o] += bias_sum;
  });
}

}  // namespace quantlm::train

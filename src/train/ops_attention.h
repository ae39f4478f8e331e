// Grouped-query causal self-attention with a numerically stable softmax, and its backward pass (dQ, dK, dV).
#pragma once

#include <cassert>
#include <cmath>
#include <cstddef>
#include <vector>

#include "train/parallel.h"

namespace quantlm::train {

struct AttentionShape {
  std::size_t n_tokens = 0;    // T
  std::size_t n_heads = 0;     // H query heads
  std::size_t n_kv_heads = 0;  // KH key/value heads; query head h reads kv head h / (H / KH)
  std::size_t head_dim = 0;    // hd
};

// For every query head h and position t, over keys s ≤ t:
//   z_s = q[t,h] · k[s,kh] / sqrt(hd),  p = softmax(z),  out[t,h] = Σ_s p_s v[s,kh]
// q, out (T, H, hd); k, v (T, KH, hd); probs (H, T, T) keeps p for the backward
// pass (entries s > t are zero). The softmax subtracts max_s z_s before exp,
// so no score overflows. One task per (h, t).
template <typename S>
void attention_forward(const S* q, const S* k, const S* v, S* out, S* probs, const AttentionShape& a,
                       ThreadPool* pool = nullptr) {
  assert(a.n_kv_heads > 0 && a.n_heads % a.n_kv_heads == 0);
  const std::size_t T = a.n_tokens, H = a.n_heads, KH = a.n_kv_heads, hd = a.head_dim;
  const S scale = S{1} / std::sqrt(static_cast<S>(hd));
  for_each_task(pool, H * T, [&](std::size_t task) {
    const std::size_t h = task / T, t = task % T, kh = h * KH / H;  // = h / (H / KH), H being a multiple of KH
    const S* qr = q + (t * H + h) * hd;
    S* p = probs + (h * T + t) * T;  // (T)
    S max_z = -INFINITY;
    for (std::size_t s = 0; s <= t; ++s) {
      const S* kr = k + (s * KH + kh) * hd;
      S z{0};
      for (std::size_t d = 0; d < hd; ++d) z += qr[d] * kr[d];
      p[s] = z * scale;
      if (p[s] > max_z) max_z = p[s];
    }
    S sum{0};
    for (std::size_t s = 0; s <= t; ++s) {
      p[s] = std::exp(p[s] - max_z);
      sum += p[s];
    }
    for (std::size_t s = 0; s <= t; ++s) p[s] /= sum;
    for (std::size_t s = t + 1; s < T; ++s) p[s] = S{0};
    S* o = out + (t * H + h) * hd;
    for (std::size_t d = 0; d < hd; ++d) o[d] = S{0};
    for (std::size_t s = 0; s <= t; ++s) {
      const S* vr = v + (s * KH + kh) * hd;
      for (std::size_t d = 0; d < hd; ++d) o[d] += p[s] * vr[d];
    }
  });
}

// Given dout (T, H, hd), accumulates dq (T, H, hd), dk and dv (T, KH, hd):
//   dp_s   = dout[t,h] · v[s,kh]
//   dz_s   = p_s (dp_s − Σ_s' p_s' dp_s')           (the softmax's Jacobian)
//   dq[t,h]  += Σ_s dz_s k[s,kh] / sqrt(hd)
//   dk[s,kh] += Σ_{h in group} Σ_{t ≥ s} dz[h,t,s] q[t,h] / sqrt(hd)
//   dv[s,kh] += Σ_{h in group} Σ_{t ≥ s} p[h,t,s] dout[t,h]
// Two passes so that no two tasks write the same element: (h, t) tasks compute
// dz and dq, then (kh, s) tasks gather dk and dv over the heads of their group
// and the queries that saw them, in a fixed order.
template <typename S>
void attention_backward(const S* dout, const S* q, const S* k, const S* v, const S* probs, S* dq, S* dk, S* dv,
                        const AttentionShape& a, ThreadPool* pool = nullptr) {
  const std::size_t T = a.n_tokens, H = a.n_heads, KH = a.n_kv_heads, hd = a.head_dim;
  const std::size_t group = H / KH;
  const S scale = S{1} / std::sqrt(static_cast<S>(hd));
  std::vector<S> dz(H * T * T, S{0});  // (H, T, T), zero above the diagonal
  for_each_task(pool, H * T, [&](std::size_t task) {
    const std::size_t h = task / T, t = task % T, kh = h * KH / H;
    const S* p = probs + (h * T + t) * T;
    const S* dor = dout + (t * H + h) * hd;
    S* dzr = dz.data() + (h * T + t) * T;
    S p_dot_dp{0};
    for (std::size_t s = 0; s <= t; ++s) {
      const S* vr = v + (s * KH + kh) * hd;
      S dp{0};
      for (std::size_t d = 0; d < hd; ++d) dp += dor[d] * vr[d];
      dzr[s] = dp;  // dp for now; turned into dz below
      p_dot_dp += p[s] * dp;
    }
    S* dqr = dq + (t * H + h) * hd;
    for (std::size_t s = 0; s <= t; ++s) {
      dzr[s] = p[s] * (dzr[s] - p_dot_dp);
      const S* kr = k + (s * KH + kh) * hd;
      for (std::size_t d = 0; d < hd; ++d) dqr[d] += dzr[s] * scale * kr[d];
    }
  });
  for_each_task(pool, KH * T, [&](std::size_t task) {
    const std::size_t kh = task / T, s = task % T;
    S* dkr = dk + (s * KH + kh) * hd;
    S* dvr = dv + (s * KH + kh) * hd;
    for (std::size_t h = kh * group; h < (kh + 1) * group; ++h) {
      for (std::size_t t = s; t < T; ++t) {
        const S z = dz[(h * T + t) * T + s] * scale;
        const S p = probs[(h * T + t) * T + s];
        const S* qr = q + (t * H + h) * hd;
        const S* dor = dout + (t * H + h) * hd;
        for (std::size_t d = 0; d < hd; ++d) {
          dkr[d] += z * qr[d];
          dvr[d] += p * dor[d];
        }
      }
    }
  });
}

}  // namespace quantlm::train

// Losses over the vocabulary: softmax cross-entropy (mean over positions) and distillation KL(teacher ‖ student).
#pragma once

#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace quantlm::train {

// Writes softmax(z / temperature) of one row (vocab) to p and returns
// log Σ exp(z/τ − max), so that log p_i = z_i/τ − max − that value.
template <typename S>
S softmax_row(const S* z, S* p, std::size_t vocab, S temperature, S* max_out) {
  S max_z = z[0] / temperature;
  for (std::size_t i = 1; i < vocab; ++i) max_z = std::fmax(max_z, z[i] / temperature);
  S sum{0};
  for (std::size_t i = 0; i < vocab; ++i) {
    p[i] = std::exp(z[i] / temperature - max_z);
    sum += p[i];
  }
  for (std::size_t i = 0; i < vocab; ++i) p[i] /= sum;
  *max_out = max_z;
  return std::log(sum);
}

// loss = (1/n) Σ_t −log softmax(logits[t])[targets[t]], logits (n, vocab),
// targets (n). probs (n, vocab) keeps the softmax for the backward pass. The
// sum over positions is in double so a float loss curve is not rounded per step.
template <typename S>
double cross_entropy_forward(const S* logits, const std::int32_t* targets, S* probs, std::size_t n, std::size_t vocab) {
  double total = 0.0;
  for (std::size_t t = 0; t < n; ++t) {
    assert(targets[t] >= 0 && static_cast<std::size_t>(targets[t]) < vocab);
    const S* z = logits + t * vocab;
    S max_z{0};
    const S log_sum = softmax_row(z, probs + t * vocab, vocab, S{1}, &max_z);
    total += static_cast<double>(log_sum + max_z - z[targets[t]]);
  }
  return total / static_cast<double>(n);
}

// dlogits (n, vocab) += dloss · (softmax − onehot(target)) / n.
template <typename S>
void cross_entropy_backward(const S* probs, const std::int32_t* targets, S* dlogits, std::size_t n, std::size_t vocab,
                            S dloss) {
  const S w = dloss / static_cast<S>(n);
  for (std::size_t t = 0; t < n; ++t) {
    const S* p = probs + t * vocab;
    S* d = dlogits + t * vocab;
    for (std::size_t i = 0; i < vocab; ++i) d[i] += w * p[i];
    d[targets[t]] -= w;
  }
}

// Distillation (Hinton et al.): with p = softmax(teacher / τ), q = softmax(student / τ),
//   loss = τ² · (1/n) Σ_t KL(p ‖ q) = τ² · (1/n) Σ_t Σ_i p_i (log p_i − log q_i).
// The τ² keeps the gradient's scale independent of τ. p_teacher and
// p_student (n, vocab) keep both softmaxes for the backward pass.
template <typename S>
double distill_kl_forward(const S* student, const S* teacher, S* p_student, S* p_teacher, std::size_t n,
                          std::size_t vocab, S temperature) {
  double total = 0.0;
  for (std::size_t t = 0; t < n; ++t) {
    const S* zs = student + t * vocab;
    const S* zt = teacher + t * vocab;
    S* ps = p_student + t * vocab;
    S* pt = p_teacher + t * vocab;
    S max_s{0}, max_t{0};
    const S lse_s = softmax_row(zs, ps, vocab, temperature, &max_s);
    const S lse_t = softmax_row(zt, pt, vocab, temperature, &max_t);
    S kl{0};
    for (std::size_t i = 0; i < vocab; ++i) {
      // log p_i − log q_i from the logits, not log(p_i / q_i), so tiny probabilities stay exact.
      const S log_ratio = (zt[i] / temperature - max_t - lse_t) - (zs[i] / temperature - max_s - lse_s);
      kl += pt[i] * log_ratio;
    }
    total += static_cast<double>(kl);
  }
  return static_cast<double>(temperature * temperature) * total / static_cast<double>(n);
}

// ∂KL(p ‖ q)/∂student_i = (q_i − p_i) / τ, so dstudent += dloss · τ (q − p) / n.
template <typename S>
void distill_kl_backward(const S* p_student, const S* p_teacher, S* dstudent, std::size_t n, std::size_t vocab,
                         S temperature, S dloss) {
  const S w = dloss * temperature / static_cast<S>(n);
  for (std::size_t i = 0; i < n * vocab; ++i) dstudent[i] += w * (p_student[i] - p_teacher[i]);
}

}  // namespace quantlm::train

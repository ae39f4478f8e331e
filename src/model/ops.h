// Row-wise operations of the forward pass: RMSNorm, SwiGLU's gate, residual adds and a numerically stable softmax.
#pragma once

#include <cstdint>

namespace quantlm::model::ops {

// out = x / sqrt(mean(x²) + eps) · weight, over one row of n values. The sum
// of squares is taken in double (as ggml does), so it cannot overflow and
// does not depend on summation order. out may be x.
void rms_norm(const float* x, const float* weight, float* out, std::int64_t n, float eps);

// gate = silu(gate) · up = gate / (1 + e^-gate) · up, element-wise.
void silu_mul(float* gate, const float* up, std::int64_t n);

// x += y, element-wise.
void add(float* x, const float* y, std::int64_t n);

// x = softmax(scale · x) over n values, stable: the maximum is subtracted
// before exponentiating, so no exponent overflows; the sum is taken in double.
void scaled_softmax(float* x, std::int64_t n, float scale);

}  // namespace quantlm::model::ops

// Matrix products Y = X·Wᵀ for every weight format: the kernel record, the registry lookup and the threaded driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/isa.h"
#include "core/tensor_view.h"
#include "core/thread_pool.h"
#include "formats/format_traits.h"

namespace quantlm::kernels {

// One product as a row kernel sees it:
//   y[t * y_stride + r] = Σ_c x[t * x_stride + c] · W[r, c]
// for every token t in [0, n_tokens) and the rows r the kernel is given.
// W is a {rows, cols} view whose rows may be spaced by any row_stride (the
// attention code passes strided views of its KV cache).
struct MatmulArgs {
  TensorView w;                                   // {rows, cols}
  const formats::FormatTraits* format = nullptr;  // w's format
  const float* x = nullptr;                       // (n_tokens, cols) f32 activations
  std::int64_t x_stride = 0;                      // floats between tokens
  const std::byte* packed = nullptr;              // the activations as the kernel packed them; null if it does not pack
  std::int64_t packed_stride = 0;                 // bytes between packed tokens
  std::int64_t n_tokens = 0;
  float* y = nullptr;         // (n_tokens, rows) outputs
  std::int64_t y_stride = 0;  // floats between tokens

  [[nodiscard]] std::int64_t rows() const { return w.shape.rows(); }
  [[nodiscard]] std::int64_t cols() const { return w.shape.innermost(); }
};

// Computes rows [row_begin, row_end) of Y for every token. Called
// concurrently on disjoint row ranges; must not write outside them.
using RowsFn = void (*)(const MatmulArgs& args, std::int64_t row_begin, std::int64_t row_end);

// How a kernel wants its activations: converted once per product, before any
// row kernel runs, so that the conversion is not repeated per row. BF16 kernels
// round to bf16 here; integer kernels (issue 5) will quantize to int8 blocks.
// token_bytes == nullptr: the kernel reads the f32 activations as they are.
struct ActivationPacking {
  std::int64_t (*token_bytes)(std::int64_t cols) = nullptr;  // bytes one packed token takes
  void (*pack)(const float* x, std::int64_t cols, std::byte* dst) = nullptr;
  // The packing quantizes (int8 blocks): results then differ from f32 activations by more than rounding, so the
  // generic dequantize path stays listed beside such kernels (see set_quantized_activations).
  bool quantizes = false;
  [[nodiscard]] bool packs() const { return token_bytes != nullptr; }
};

// One way to compute products with weights of one format. Kernels of the same
// format agree up to floating-point summation order (tests check it against
// the format's scalar kernel), so choosing among them never changes what is
// computed, only how fast.
struct MatmulKernel {
  formats::FormatId format;
  Isa isa;                             // the level it needs
  std::string_view variant;            // "avx512", "avx512-bf16", "dequantize+avx2", ...
  bool (*cpu_has_extras)() = nullptr;  // extensions beyond `isa` it needs (AVX-512 BF16); null: none
  ActivationPacking packing;
  RowsFn rows = nullptr;

  // Whether this process may run it: the CPU has `isa` and the extras.
  [[nodiscard]] bool runnable() const;
  [[nodiscard]] std::string name() const;  // "BF16 avx512-bf16"
};

// Every kernel for `format`, best first: the kernels registered for it
// (kernel_registry.cpp, one line each), then, for a format whose traits have
// a `dequantize` function, generic ones that dequantize a panel of rows to f32
// and run the F32 kernel of the same level. Empty when the format can be
// neither computed with nor decoded.
[[nodiscard]] std::span<const MatmulKernel> kernels_for(const formats::FormatTraits& format);

// The kernel to use: the first of kernels_for(format) that is runnable and
// needs no more than `isa` (active_isa() honours $QUANTLM_ISA). This is the one
// place a runtime format becomes code. Throws quantlm::Error naming the format
// when there is none.
[[nodiscard]] const MatmulKernel& select_kernel(const formats::FormatTraits& format, Isa isa = active_isa());

// Whether select_kernel may pick kernels that quantize their activations
// (packing.quantizes): true unless $QUANTLM_QUANTIZED_ACTIVATIONS=0; false
// selects the generic dequantize kernels, which keep f32 activations, to
// measure what activation quantization costs. Affects kernels chosen later.
void set_quantized_activations(bool allowed);
[[nodiscard]] bool quantized_activations();

// A weight bound to its kernel, chosen once (a model holds one per Linear).
class Matmul {
 public:
  Matmul() = default;
  // Throws quantlm::Error when w's format has no kernel (see select_kernel).
  explicit Matmul(const TensorView& w, Isa isa = active_isa());
  Matmul(const TensorView& w, const MatmulKernel& kernel);

  [[nodiscard]] std::int64_t rows() const { return w_.shape.rows(); }
  [[nodiscard]] std::int64_t cols() const { return w_.shape.innermost(); }
  [[nodiscard]] const TensorView& weight() const { return w_; }
  [[nodiscard]] const MatmulKernel& kernel() const { return *kernel_; }
  [[nodiscard]] const formats::FormatTraits& format() const { return *format_; }

  // Y (n_tokens, rows) = X (n_tokens, cols) · Wᵀ, threaded over rows on `pool`.
  void run(std::span<const float> x, std::span<float> y, ThreadPool& pool) const;

 private:
  TensorView w_;
  const formats::FormatTraits* format_ = nullptr;
  const MatmulKernel* kernel_ = nullptr;
};

// One product of a batch: x is (n_tokens, op->cols()), y (n_tokens, op->rows()).
struct MatmulJob {
  const Matmul* op = nullptr;
  std::span<const float> x;
  std::span<float> y;
};

// Several independent products in one fork/join of the pool (q, k and v, or
// gate and up, read the same input): one wake-up instead of three matters in
// single-token decode. Small products run on the calling thread alone.
void run_matmuls(std::span<const MatmulJob> jobs, ThreadPool& pool);

// Runs one product on the calling thread (packing into a thread-local buffer
// when the kernel packs): for callers already inside a parallel task, such as
// attention's per-head products.
void run_serial(const MatmulKernel& kernel, MatmulArgs args);

}  // namespace quantlm::kernels

// Shared by the matrix-product benchmarks: Gaussian operands through a format's reference quantizer, one timed product.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/tensor_view.h"
#include "formats/format_traits.h"
#include "kernels/matmul.h"

namespace quantlm::kernels::bench {

// A {rows, cols} weight of `format` from Gaussian values and tokens × cols activations, kept alive for the benchmark.
struct Operands {
  AlignedBuffer<std::byte> weight;
  AlignedBuffer<float> x;
  AlignedBuffer<float> y;
  TensorView view;
};

// The same seed, so every kernel of a format multiplies the same bytes.
inline Operands make_operands(const formats::FormatTraits& format, std::int64_t rows, std::int64_t cols,
                              std::int64_t tokens) {
  Operands o;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0F, 1.0F);
  const std::int64_t row_bytes = format.row_bytes(cols);
  o.weight = AlignedBuffer<std::byte>(static_cast<std::size_t>(rows * row_bytes));
  std::vector<float> row(static_cast<std::size_t>(cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = normal(rng);
    format.quantize_ref(row.data(), o.weight.data() + r * row_bytes, cols);
  }
  o.x = AlignedBuffer<float>(static_cast<std::size_t>(tokens * cols));
  for (float& v : o.x) v = normal(rng);
  o.y = AlignedBuffer<float>(static_cast<std::size_t>(tokens * rows));
  o.view = TensorView{o.weight.data(), Shape{{rows, cols}, 2}, format.storage(), row_bytes};
  return o;
}

// One product per iteration on the calling thread, activation packing included; reports the weight bytes read
// per second and 2·rows·cols·tokens operations per second under `rate_name` ("GFLOP/s", "GOPS").
inline void run_product(benchmark::State& state, const MatmulKernel& kernel, std::int64_t rows, std::int64_t cols,
                        std::int64_t tokens, const char* rate_name) {
  const formats::FormatTraits& format = formats::traits(kernel.format);
  Operands o = make_operands(format, rows, cols, tokens);
  const MatmulArgs args{o.view, &format, o.x.data(), cols, nullptr, 0, tokens, o.y.data(), rows};
  for (auto _ : state) {
    run_serial(kernel, args);
    benchmark::DoNotOptimize(o.y.data());
    benchmark::ClobberMemory();
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations) * rows * o.view.row_stride);
  state.counters[rate_name] = benchmark::Counter(2.0 * static_cast<double>(rows * cols * tokens) * iterations,
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

}  // namespace quantlm::kernels::bench

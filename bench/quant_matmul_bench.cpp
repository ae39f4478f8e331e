// Integer kernels (Q8_0, Q4_0, IQ4_NL, Q4_1, Q5_0, Q5_1; I8_ROW as dynamic W8A8) beside the generic dequantize+F32 path
// of the same level, one thread: matvec (from cache and, cycling through copies larger than L3, from DRAM) and
// 512-token matmul.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "kernels/matmul.h"

namespace quantlm::kernels {
namespace {

struct Problem {
  std::int64_t rows, cols, tokens;
  bool dram;  // cycle through copies of the weight totalling > 3 x L3 (32 MiB), so each product reads DRAM
};

struct Operands {
  std::vector<AlignedBuffer<std::byte>> weights;  // copies of one weight
  AlignedBuffer<float> x;
  AlignedBuffer<float> y;
  std::int64_t row_bytes = 0;
};

Operands make_operands(const formats::FormatTraits& format, Problem p) {
  Operands o;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0F, 1.0F);
  o.row_bytes = format.row_bytes(p.cols);
  const std::int64_t bytes = p.rows * o.row_bytes;
  const std::int64_t copies = p.dram ? std::max<std::int64_t>(1, (96LL << 20) / bytes + 1) : 1;
  o.weights.emplace_back(static_cast<std::size_t>(bytes));
  std::vector<float> row(static_cast<std::size_t>(p.cols));
  for (std::int64_t r = 0; r < p.rows; ++r) {
    for (float& v : row) v = normal(rng);
    format.quantize_ref(row.data(), o.weights[0].data() + r * o.row_bytes, p.cols);
  }
  for (std::int64_t c = 1; c < copies; ++c) {
    o.weights.emplace_back(static_cast<std::size_t>(bytes), BufferInit::uninitialized);
    std::copy(o.weights[0].data(), o.weights[0].data() + bytes, o.weights.back().data());
  }
  o.x = AlignedBuffer<float>(static_cast<std::size_t>(p.tokens * p.cols));
  for (float& v : o.x) v = normal(rng);
  o.y = AlignedBuffer<float>(static_cast<std::size_t>(p.tokens * p.rows));
  return o;
}

void run(benchmark::State& state, const MatmulKernel* kernel, Problem p) {
  const formats::FormatTraits& format = formats::traits(kernel->format);
  Operands o = make_operands(format, p);
  std::vector<MatmulArgs> args;
  for (const auto& w : o.weights) {
    const TensorView view{w.data(), Shape{{p.rows, p.cols}, 2}, format.storage(), o.row_bytes};
    args.push_back(MatmulArgs{view, &format, o.x.data(), p.cols, nullptr, 0, p.tokens, o.y.data(), p.rows});
  }
  std::size_t next = 0;
  for (auto _ : state) {
    run_serial(*kernel, args[next]);  // packs the activations too, as a product does
    next = next + 1 == args.size() ? 0 : next + 1;
    benchmark::DoNotOptimize(o.y.data());
    benchmark::ClobberMemory();
  }
  const auto iterations = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations) * p.rows * o.row_bytes);  // weight bytes read
  state.counters["GOPS"] = benchmark::Counter(2.0 * static_cast<double>(p.rows * p.cols * p.tokens) * iterations,
                                              benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// The fastest integer kernel this CPU runs, and the generic dequantize kernel of the highest level it runs.
std::vector<const MatmulKernel*> contenders(formats::FormatId id) {
  const MatmulKernel* integer = nullptr;
  const MatmulKernel* generic = nullptr;
  for (const MatmulKernel& k : kernels_for(formats::traits(id))) {
    if (!k.runnable()) continue;
    if (k.packing.quantizes && integer == nullptr) integer = &k;
    if (!k.packing.quantizes && generic == nullptr) generic = &k;
  }
  std::vector<const MatmulKernel*> out;
  for (const MatmulKernel* k : {integer, generic}) {
    if (k != nullptr) out.push_back(k);
  }
  return out;
}

void register_all() {
  const Problem problems[] = {{1536, 512, 1, false},
                              {5632, 2048, 1, false},
                              {5632, 2048, 1, true},
                              {1536, 512, 512, false},
                              {5632, 2048, 512, false}};
  using formats::FormatId;
  for (const FormatId id : {FormatId::Q8_0, FormatId::Q4_0, FormatId::IQ4_NL, FormatId::Q4_1, FormatId::Q5_0,
                            FormatId::Q5_1, FormatId::I8_ROW}) {
    for (const Problem& p : problems) {
      for (const MatmulKernel* k : contenders(id)) {
        const std::string name = "QuantMatmul/" + k->name() + "/" + std::to_string(p.rows) + "x" +
                                 std::to_string(p.cols) + "/tokens:" + std::to_string(p.tokens) +
                                 (p.dram ? "/dram" : "");
        benchmark::RegisterBenchmark(name.c_str(), run, k, p)->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace
}  // namespace quantlm::kernels

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  quantlm::kernels::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

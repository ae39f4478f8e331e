// End-to-end tokens/s of the float engine, as llama-bench measures it: prefill of 512 tokens (pp512) and single-token
// decode (tg), per kernel level with the scalar path as the baseline, on stories260K and ANCHORS.md's l3 shape.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/isa.h"
#include "core/thread_pool.h"
#include "io/model_source.h"
#include "model/llama_model.h"
#include "model/synth.h"

namespace quantlm::model {
namespace {

struct Subject {
  std::string name;
  std::filesystem::path path;
};

std::vector<std::int32_t> prompt(std::int64_t n, std::int64_t vocab) {
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    ids[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 37 + 1) % vocab);
  return ids;
}

// pp512: one forward call of 512 tokens from an empty cache.
void prefill(benchmark::State& state, const io::ModelSource* source, Isa isa) {
  ThreadPool pool(static_cast<std::size_t>(state.range(0)));
  LlamaModel lm(*source, LlamaOptions{.context_length = 512, .pool = &pool, .isa = isa});
  const std::vector<std::int32_t> ids = prompt(512, lm.vocab_size());
  std::vector<float> logits(ids.size() * static_cast<std::size_t>(lm.vocab_size()));
  for (auto _ : state) {
    lm.reset();
    lm.forward(ids, logits);
    benchmark::DoNotOptimize(logits.data());
  }
  state.SetItemsProcessed(state.iterations() * 512);
  state.SetLabel(lm.kernel_summary());
}

// tg: single-token forward calls at positions 1 to 128 (llama-bench's tg128), restarting after a 1-token prompt.
void decode(benchmark::State& state, const io::ModelSource* source, Isa isa) {
  ThreadPool pool(static_cast<std::size_t>(state.range(0)));
  LlamaModel lm(*source, LlamaOptions{.context_length = 129, .pool = &pool, .isa = isa});
  std::vector<float> logits(static_cast<std::size_t>(lm.vocab_size()));
  std::int32_t token = 1;
  for (auto _ : state) {
    if (lm.cached_tokens() == 0 || lm.cached_tokens() == lm.context_length()) {
      state.PauseTiming();
      lm.reset();
      lm.forward(std::span(&token, 1), logits);
      state.ResumeTiming();
    }
    lm.forward(std::span(&token, 1), logits);
    token = static_cast<std::int32_t>((token * 31 + 7) % lm.vocab_size());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(lm.kernel_summary());
}

std::vector<Subject> subjects() {
  std::vector<Subject> out;
  const char* env = std::getenv("QUANTLM_ASSETS");
  const std::filesystem::path assets = env != nullptr && *env != '\0' ? env : QUANTLM_DEFAULT_ASSETS;
  const std::filesystem::path stories = assets / "models/stories260K/stories260K.gguf";
  if (std::filesystem::exists(stories)) out.push_back({"stories260K", stories});
  // ANCHORS.md's cache-resident benchmark shape: dim 512, n_ff 1536, 8 layers (27.8 M parameters, F32).
  SynthConfig l3;
  l3.dim = 512, l3.n_ff = 1536, l3.layers = 8, l3.heads = 8, l3.kv_heads = 8;
  const std::filesystem::path l3_path = std::filesystem::temp_directory_path() / "quantlm-bench-l3.gguf";
  if (!std::filesystem::exists(l3_path)) write_synthetic_llama(l3_path, l3);
  out.push_back({"l3-F32", l3_path});
  return out;
}

}  // namespace
}  // namespace quantlm::model

int main(int argc, char** argv) {
  using namespace quantlm;  // NOLINT(google-build-using-namespace): one function
  benchmark::Initialize(&argc, argv);
  std::vector<std::unique_ptr<io::ModelSource>> sources;  // alive until the benchmarks have run
  for (const model::Subject& s : model::subjects()) {
    sources.push_back(std::make_unique<io::ModelSource>(io::open_model_source(s.path)));
    for (const Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
      if (!isa_supported(isa)) continue;
      const std::string suffix = s.name + "/" + std::string(to_string(isa));
      benchmark::RegisterBenchmark(("pp512/" + suffix).c_str(), model::prefill, sources.back().get(), isa)
          ->ArgName("threads")
          ->Arg(1)
          ->Arg(2)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("tg/" + suffix).c_str(), model::decode, sources.back().get(), isa)
          ->ArgName("threads")
          ->Arg(1)
          ->Arg(2)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

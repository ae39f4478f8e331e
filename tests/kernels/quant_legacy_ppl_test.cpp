// stories260K's llama.cpp-quantized files: the int8-activation kernels' perplexity stays within a stated tolerance of
// the generic path that keeps f32 activations.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "eval/eval_model.h"
#include "eval/perplexity.h"
#include "io/model_source.h"
#include "kernels/matmul.h"
#include "model/llama_model.h"
#include "support/assets.h"

namespace quantlm::eval {
namespace {

#ifdef NDEBUG
constexpr std::int64_t kChunks = 40;
#else
constexpr std::int64_t kChunks = 3;  // Debug and sanitizer builds run the engine tens of times slower
#endif

double ppl(const std::filesystem::path& model, const std::filesystem::path& text_path, bool quantized) {
  kernels::set_quantized_activations(quantized);  // read when the model binds its kernels
  const EvalModel m = open_eval_model(model, "MODEL", 256);
  kernels::set_quantized_activations(true);
  const EvalTokens text = tokenize_eval_text(*m.tokenizer, read_text_file(text_path));
  const EvalOptions o{.n_ctx = 256, .max_chunks = kChunks, .progress = ProgressMode::never};
  return perplexity(*m.lm, text, o).figures.ppl;
}

// Rounding the activations to int8 blocks moves PPL by little beside the weights' own rounding (Q4_0 itself costs
// ~7% over F32). Measured int8 vs f32 activations on the first 40 chunks (llama.cpp protocol, -c 256): Q8_0 +0.017%,
// Q4_0 −0.009%, IQ4_NL +0.051%, Q4_1 +0.036%, Q5_0 +0.009%, Q5_1 +0.096%; on the 3 chunks of Debug builds up to
// ±0.21%. The bound, 0.5%, holds both and still catches a wrong scale, offset or sum (which move PPL by factors).
TEST(LegacyKernelsOnStories260K, Int8ActivationsKeepPerplexity) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto dir = assets / "models/stories260K/llama.cpp-quantized";
  const auto text = assets / "text/tinystories/valid-head.txt";
  for (const char* type : {"Q8_0", "Q4_0", "IQ4_NL", "Q4_1", "Q5_0", "Q5_1"}) {
    const auto file = dir / (std::string("stories260K-") + type + ".gguf");
    const double f32_activations = ppl(file, text, false);
    const double int8_activations = ppl(file, text, true);
    RecordProperty(std::string("ppl_") + type,
                   std::to_string(int8_activations) + " vs " + std::to_string(f32_activations));
    std::printf("%s: PPL %.5f with int8 activations, %.5f with f32 (%+.3f%%)\n", type, int8_activations,
                f32_activations, 100.0 * (int8_activations / f32_activations - 1.0));
    EXPECT_NEAR(int8_activations / f32_activations, 1.0, 0.005) << type;
    EXPECT_NE(int8_activations, f32_activations) << type << ": the two paths are not different kernels";
  }
}

// Keeps the input of every Linear of the forward passes it watches.
class Recorder final : public model::LinearInputObserver {
 public:
  struct Input {
    std::vector<std::string> names;
    std::vector<float> x;
  };
  std::vector<Input> inputs;
  void observe(std::span<const std::string> names, std::span<const float> x, std::int64_t /*n_tokens*/,
               std::int64_t /*cols*/) override {
    inputs.push_back({{names.begin(), names.end()}, {x.begin(), x.end()}});
  }
};

// The model's real activations (one prefill of 40 tokens, then a decode step) through every integer kernel of
// each quantized file: the same bits as the scalar kernel, so the PPL differences between QUANTLM_ISA levels come
// from the float kernels (attention, F16/F32 layers) upstream of the int8 rounding, never from these kernels.
TEST(LegacyKernelsOnStories260K, RealActivationsGiveTheScalarBitsOnEveryPath) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto dir = assets / "models/stories260K/llama.cpp-quantized";
  for (const char* type : {"Q8_0", "Q4_0", "IQ4_NL", "Q4_1", "Q5_0", "Q5_1"}) {
    SCOPED_TRACE(type);
    model::LlamaModel lm(io::open_model_source(dir / (std::string("stories260K-") + type + ".gguf")));
    Recorder recorder;
    lm.set_linear_input_observer(&recorder);
    std::vector<std::int32_t> tokens(40);
    for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::int32_t>(1 + (i * 37) % 500);
    std::vector<float> logits(tokens.size() * static_cast<std::size_t>(lm.vocab_size()));
    lm.forward(tokens, logits);
    lm.forward(std::span(tokens).first(1), std::span(logits).first(static_cast<std::size_t>(lm.vocab_size())));
    lm.set_linear_input_observer(nullptr);
    // The weights by GGUF name.
    std::map<std::string, TensorView> weights;
    for (std::size_t l = 0; l < lm.weights().layers.size(); ++l) {
      const model::LlamaLayer& layer = lm.weights().layers[l];
      const std::string p = "blk." + std::to_string(l) + ".";
      weights[p + "attn_q.weight"] = layer.wq;
      weights[p + "attn_k.weight"] = layer.wk;
      weights[p + "attn_v.weight"] = layer.wv;
      weights[p + "attn_output.weight"] = layer.wo;
      weights[p + "ffn_gate.weight"] = layer.w_gate;
      weights[p + "ffn_up.weight"] = layer.w_up;
      weights[p + "ffn_down.weight"] = layer.w_down;
    }
    weights["output.weight"] = lm.weights().output;
    int checked = 0;
    for (const Recorder::Input& in : recorder.inputs) {
      for (const std::string& name : in.names) {
        ASSERT_TRUE(weights.contains(name)) << name;
        const TensorView& w = weights.at(name);
        const formats::FormatTraits& format = *formats::find_format(w.storage.format_id);
        const std::int64_t rows = w.shape.rows();
        const std::int64_t cols = w.shape.innermost();
        const std::int64_t n = static_cast<std::int64_t>(in.x.size()) / cols;
        if (format.id == formats::FormatId::F16 || format.id == formats::FormatId::F32) continue;  // fallback rows
        const auto run = [&](const kernels::MatmulKernel& k) {
          std::vector<float> y(static_cast<std::size_t>(n * rows));
          kernels::run_serial(k, kernels::MatmulArgs{w, &format, in.x.data(), cols, nullptr, 0, n, y.data(), rows});
          return y;
        };
        std::vector<float> scalar;
        for (const kernels::MatmulKernel& k : kernels::kernels_for(format)) {
          if (k.packing.quantizes && k.isa == Isa::scalar) scalar = run(k);
        }
        ASSERT_FALSE(scalar.empty()) << name;
        for (const kernels::MatmulKernel& k : kernels::kernels_for(format)) {
          if (!k.packing.quantizes || k.isa == Isa::scalar || !k.runnable()) continue;
          ASSERT_EQ(run(k), scalar) << name << " " << k.name() << " tokens " << n;
          ++checked;
        }
      }
    }
    EXPECT_GT(checked, 0) << "no integer kernel ran";
  }
}

}  // namespace
}  // namespace quantlm::eval

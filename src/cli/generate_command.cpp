// `quantlm generate MODEL -p PROMPT`: greedy or sampled text from the float engine, streamed, with tokens/s.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "io/model_source.h"
#include "io/tokenizer/tokenizer.h"
#include "model/generation.h"
#include "model/llama_model.h"

namespace quantlm::cli {
namespace {

struct GenerateOptions {
  std::string model;
  std::optional<std::string> prompt;  // -p "" is a prompt: generation from BOS alone
  std::optional<std::string> prompt_file;
  std::int64_t n_predict = 128;
  model::SamplerConfig sampler;
  std::size_t threads = 0;  // 0: every hardware thread
  std::int64_t context = 0;
  bool ignore_eos = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw make_error("generate: cannot read the prompt file '{}'", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Prints the continuation as tokens arrive. The text is the decode of the
// whole sequence, minus what the prompt decodes to, so SentencePiece's
// leading-space rule and multi-token characters come out as in a one-shot decode.
class Streamer {
 public:
  Streamer(const tokenizer::Tokenizer& tok, std::vector<std::int32_t> prompt)
      : tok_(tok), ids_(std::move(prompt)), skip_(ids_.empty() || ids_.front() != tok.bos() ? 0 : 1) {
    printed_ = text().size();
  }
  void add(std::int32_t id) {
    ids_.push_back(id);
    const std::string all = text();
    if (all.size() > printed_) {
      std::fwrite(all.data() + printed_, 1, all.size() - printed_, stdout);
      std::fflush(stdout);
      printed_ = all.size();
    }
  }

 private:
  [[nodiscard]] std::string text() const {
    return tok_.decode(std::span(ids_).subspan(static_cast<std::size_t>(skip_)));
  }
  const tokenizer::Tokenizer& tok_;
  std::vector<std::int32_t> ids_;
  std::int64_t skip_;  // a leading BOS is not text
  std::size_t printed_ = 0;
};

void run(const GenerateOptions& o) {
  if (o.prompt.has_value() == o.prompt_file.has_value())
    throw make_error("generate: give exactly one of -p and -f (-p \"\" starts from BOS alone)");
  if (o.n_predict < 0) throw make_error("generate: -n {} is negative", o.n_predict);
  if (o.threads > 0) set_default_thread_count(o.threads);
  const io::ModelSource source = io::open_model_source(o.model);
  if (source.tokenizer == nullptr)
    throw make_error("{}: the model has no tokenizer to read the prompt", source.description);
  const tokenizer::Tokenizer& tok = *source.tokenizer;
  model::LlamaModel lm(source, model::LlamaOptions{.context_length = o.context});

  const std::string prompt = o.prompt.has_value() ? *o.prompt : read_file(*o.prompt_file);
  const std::vector<std::int32_t> ids = tok.encode(prompt, tok.adds_bos_by_default());
  if (ids.empty())
    throw make_error("generate: the prompt is empty and the vocabulary adds no BOS: nothing to start from");
  fmt::print(stderr, "{}: {} blocks, dim {}, vocab {}, context {}; kernels {}; {} threads\n", source.description,
             lm.config().n_layers, lm.config().dim, lm.vocab_size(), lm.context_length(), lm.kernel_summary(),
             default_thread_pool().size());

  fmt::print("{}", prompt);
  std::fflush(stdout);
  Streamer streamer(tok, ids);
  model::GenerationOptions g{.max_tokens = o.n_predict, .sampler = o.sampler, .stop_token = -1};
  if (!o.ignore_eos) g.stop_token = tok.eos();
  const model::GenerationStats s = model::generate(lm, ids, g, [&](std::int32_t id) { streamer.add(id); });
  fmt::print("\n");
  std::fflush(stdout);
  fmt::print(stderr,
             "prompt: {} tokens in {:.2f} ms ({:.1f} tokens/s); generation: {} tokens, {} decode calls in {:.2f} ms "
             "({:.1f} tokens/s){}\n",
             s.prompt_tokens, s.prefill_seconds * 1e3, s.prefill_tokens_per_second(), s.generated_tokens,
             s.decode_calls, s.decode_seconds * 1e3, s.decode_tokens_per_second(),
             s.stopped_at_token ? "; stopped at end of text"
             : s.context_full   ? "; context full"
                                : "");
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand("generate",
                                     "Generate text with the float engine: greedy at --temp 0 (the default), else "
                                     "temperature / top-k / top-p sampling. Text goes to stdout, timings to stderr.");
  cmd->add_option("model", o->model, "Model: GGUF file, llama2.c .bin or Hugging Face directory")->required();
  cmd->add_option("-p,--prompt", o->prompt,
                  "Prompt text (BOS is added when the vocabulary adds it by default; \"\": BOS alone)");
  cmd->add_option("-f,--file", o->prompt_file, "Read the prompt from this file instead");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate at most")->capture_default_str();
  cmd->add_option("--temp", o->sampler.temperature, "Temperature; 0 is greedy")->capture_default_str();
  cmd->add_option("--top-k", o->sampler.top_k, "Keep the k most likely tokens (0: all)")->capture_default_str();
  cmd->add_option("--top-p", o->sampler.top_p, "Keep the most likely tokens up to this probability (1: all)")
      ->capture_default_str();
  cmd->add_option("--seed", o->sampler.seed, "Random seed of the sampler (same seed, same text)")
      ->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0: every hardware thread)")->capture_default_str();
  cmd->add_option("-c,--ctx-size", o->context, "KV cache positions (0: the model's context length)")
      ->capture_default_str();
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past the end-of-text token (for timing)");
  cmd->callback([o] { run(*o); });
}

}  // namespace quantlm::cli

// The evaluation text as tokens and its split into chunks: llama-perplexity's protocol and quantlm's "full" one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/progress.h"

namespace quantlm::tokenizer {
class Tokenizer;
}
namespace quantlm::model {
class CausalLm;
}

namespace quantlm::eval {

// Which positions of a chunk are scored (docs/EVALUATION.md).
enum class Protocol : std::uint8_t {
  // llama-perplexity: the logits of positions n_ctx/2 … n_ctx-2 predict the
  // tokens at n_ctx/2+1 … n_ctx-1: every prediction has at least n_ctx/2
  // tokens of context, and n_ctx-1-n_ctx/2 tokens per chunk are scored.
  llamacpp,
  // Every prediction in the chunk: positions 0 … n_ctx-2 predict the tokens
  // 1 … n_ctx-1 (n_ctx-1 per chunk), short contexts included.
  full,
};

[[nodiscard]] std::string_view to_string(Protocol protocol);
[[nodiscard]] std::optional<Protocol> parse_protocol(std::string_view name);

// The text as the model sees it.
struct EvalTokens {
  std::vector<std::int32_t> ids;  // the whole text, with BOS first when the vocabulary adds one
  // Written over the first token of every chunk, as llama-perplexity does when
  // its vocabulary adds BOS; nullopt leaves chunks as they are.
  std::optional<std::int32_t> chunk_bos;
};

// Tokenizes as llama-perplexity does: the whole text at once, BOS prepended
// when the vocabulary adds it by default, special-token text kept as plain
// text. Throws quantlm::Error if the vocabulary would append EOS (llama.cpp
// refuses such vocabularies for perplexity too).
[[nodiscard]] EvalTokens tokenize_eval_text(const tokenizer::Tokenizer& tokenizer, std::string_view text);

// The whole file as bytes; quantlm::Error naming the file when it cannot be read.
[[nodiscard]] std::string read_text_file(const std::filesystem::path& path);

struct EvalOptions {
  std::int64_t n_ctx = 512;  // tokens per chunk (llama-perplexity's default)
  Protocol protocol = Protocol::llamacpp;
  std::int64_t max_chunks = 0;  // 0: every whole chunk of the text
  // Tokens per forward call; 0: the whole chunk in one call. Smaller calls
  // bound the logits buffer (n × vocab floats) for large vocabularies.
  std::int64_t batch = 0;
  ProgressMode progress = ProgressMode::automatic;
};

// Where the scored positions are, derived from the text's length and the options.
struct ChunkPlan {
  Protocol protocol = Protocol::llamacpp;
  std::int64_t n_ctx = 0;
  std::int64_t n_tokens = 0;      // of the whole text
  std::int64_t n_chunks = 0;      // evaluated: floor(n_tokens / n_ctx), or fewer when limited
  std::int64_t first_scored = 0;  // the first position whose logits are scored
  std::int64_t batch = 0;         // tokens per forward call, in [1, n_ctx]

  // Positions first_scored … n_ctx-2 of each chunk.
  [[nodiscard]] std::int64_t scored_per_chunk() const { return n_ctx - 1 - first_scored; }
  [[nodiscard]] std::int64_t scored_positions() const { return n_chunks * scored_per_chunk(); }
  [[nodiscard]] std::int64_t evaluated_tokens() const { return n_chunks * n_ctx; }
};

// Validates the options against a text of n_tokens tokens; quantlm::Error
// naming the option (-c, --chunks, -b) otherwise. The llamacpp protocol, like
// llama-perplexity, needs at least 2·n_ctx tokens; the full one one chunk.
[[nodiscard]] ChunkPlan plan_chunks(std::int64_t n_tokens, const EvalOptions& options);

// The tokens the scored rows of `chunk` predict (scored_per_chunk of them).
[[nodiscard]] std::span<const std::int32_t> chunk_targets(const EvalTokens& text, const ChunkPlan& plan,
                                                          std::int64_t chunk);

// Checks that `model` can run the plan (context length, every id of the text
// inside its vocabulary); quantlm::Error naming `what` ("model 'x.gguf'").
void check_model_fits(const model::CausalLm& model, const EvalTokens& text, const ChunkPlan& plan,
                      std::string_view what);

// Runs one chunk: resets the model's cache, feeds the chunk's n_ctx tokens
// (the first replaced by text.chunk_bos) in calls of plan.batch tokens, and
// copies the logits of the scored rows to `scored_logits`
// (scored_per_chunk × vocab, row-major). `scratch` is reused between calls.
void run_chunk(model::CausalLm& model, const EvalTokens& text, const ChunkPlan& plan, std::int64_t chunk,
               std::vector<float>& scratch, std::span<float> scored_logits);

// FNV-1a (64-bit) of the ids as little-endian int32: identifies the evaluated
// text in saved base logits. Not cryptographic; it guards against mistakes.
[[nodiscard]] std::uint64_t hash_tokens(std::span<const std::int32_t> ids);

}  // namespace quantlm::eval

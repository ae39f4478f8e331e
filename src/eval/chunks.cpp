// The evaluation text as tokens and its split into chunks: llama-perplexity's protocol and quantlm's "full" one.
#include "eval/chunks.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "io/tokenizer/tokenizer.h"
#include "model/causal_lm.h"

namespace quantlm::eval {

std::string_view to_string(Protocol protocol) {
  switch (protocol) {
    case Protocol::llamacpp:
      return "llamacpp";
    case Protocol::full:
      return "full";
  }
  return "?";
}

std::optional<Protocol> parse_protocol(std::string_view name) {
  if (name == "llamacpp") return Protocol::llamacpp;
  if (name == "full") return Protocol::full;
  return std::nullopt;
}

EvalTokens tokenize_eval_text(const tokenizer::Tokenizer& tokenizer, std::string_view text) {
  if (tokenizer.adds_eos_by_default()) {
    throw Error(
        "the vocabulary appends EOS to every text (tokenizer.ggml.add_eos_token); perplexity needs a vocabulary "
        "that does not (llama-perplexity refuses it too)");
  }
  EvalTokens out;
  out.ids = tokenizer.encode(
      text,
      tokenizer::EncodeOptions{.add_bos = tokenizer.adds_bos_by_default(), .add_eos = false, .parse_special = false});
  if (tokenizer.adds_bos_by_default()) out.chunk_bos = tokenizer.bos();
  return out;
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw system_error(fmt::format("cannot open text file '{}'", path.string()), errno);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw system_error(fmt::format("cannot read text file '{}'", path.string()), errno);
  return text;
}

ChunkPlan plan_chunks(std::int64_t n_tokens, const EvalOptions& options) {
  ChunkPlan plan;
  plan.protocol = options.protocol;
  plan.n_ctx = options.n_ctx;
  plan.n_tokens = n_tokens;
  // llamacpp scores n_ctx-1-n_ctx/2 positions per chunk: at least one needs n_ctx >= 3.
  const std::int64_t min_ctx = options.protocol == Protocol::llamacpp ? 3 : 2;
  if (options.n_ctx < min_ctx) {
    throw make_error("-c {}: the context must hold at least {} tokens for the {} protocol", options.n_ctx, min_ctx,
                     to_string(options.protocol));
  }
  if (options.max_chunks < 0) throw make_error("--chunks {}: must be positive (0: all)", options.max_chunks);
  if (options.batch < 0) throw make_error("-b {}: must be positive (0: the whole chunk)", options.batch);
  plan.first_scored = options.protocol == Protocol::llamacpp ? options.n_ctx / 2 : 0;
  // llama-perplexity refuses texts shorter than two contexts; we keep its rule
  // for its protocol so that the same inputs fail the same way.
  const std::int64_t min_tokens = options.protocol == Protocol::llamacpp ? 2 * options.n_ctx : options.n_ctx;
  if (n_tokens < min_tokens) {
    throw make_error("the text has {} tokens; the {} protocol with -c {} needs at least {}", n_tokens,
                     to_string(options.protocol), options.n_ctx, min_tokens);
  }
  plan.n_chunks = n_tokens / options.n_ctx;
  if (options.max_chunks > 0) plan.n_chunks = std::min(plan.n_chunks, options.max_chunks);
  plan.batch = options.batch == 0 ? options.n_ctx : std::min(options.batch, options.n_ctx);
  return plan;
}

std::span<const std::int32_t> chunk_targets(const EvalTokens& text, const ChunkPlan& plan, std::int64_t chunk) {
  assert(chunk >= 0 && chunk < plan.n_chunks);
  const auto start = static_cast<std::size_t>(chunk * plan.n_ctx + plan.first_scored + 1);
  return std::span<const std::int32_t>(text.ids).subspan(start, static_cast<std::size_t>(plan.scored_per_chunk()));
}

void check_model_fits(const model::CausalLm& model, const EvalTokens& text, const ChunkPlan& plan,
                      std::string_view what) {
  if (model.context_length() < plan.n_ctx) {
    throw make_error("-c {}: {} holds at most {} positions", plan.n_ctx, what, model.context_length());
  }
  const std::int64_t vocab = model.vocab_size();
  const auto evaluated = static_cast<std::size_t>(plan.evaluated_tokens());
  for (std::size_t i = 0; i < evaluated; ++i) {
    if (text.ids[i] < 0 || text.ids[i] >= vocab) {
      throw make_error("token {} of the text is id {}, outside the {}-token vocabulary of {}", i, text.ids[i], vocab,
                       what);
    }
  }
  if (text.chunk_bos && (*text.chunk_bos < 0 || *text.chunk_bos >= vocab)) {
    throw make_error("BOS id {} is outside the {}-token vocabulary of {}", *text.chunk_bos, vocab, what);
  }
}

void run_chunk(model::CausalLm& model, const EvalTokens& text, const ChunkPlan& plan, std::int64_t chunk,
               std::vector<float>& scratch, std::span<float> scored_logits) {
  const auto vocab = static_cast<std::size_t>(model.vocab_size());
  const auto n_ctx = static_cast<std::size_t>(plan.n_ctx);
  const auto first = static_cast<std::size_t>(plan.first_scored);
  const auto last = n_ctx - 1;  // exclusive: the last position has nothing left to predict
  assert(scored_logits.size() == (last - first) * vocab);

  std::vector<std::int32_t> inputs(text.ids.begin() + chunk * plan.n_ctx, text.ids.begin() + (chunk + 1) * plan.n_ctx);
  if (text.chunk_bos) inputs[0] = *text.chunk_bos;

  model.reset();
  const auto batch = static_cast<std::size_t>(plan.batch);
  scratch.resize(batch * vocab);
  for (std::size_t begin = 0; begin < n_ctx; begin += batch) {
    const std::size_t n = std::min(batch, n_ctx - begin);
    // Calls that hold no scored row still run: they fill the cache.
    model.forward(std::span<const std::int32_t>(inputs).subspan(begin, n), std::span<float>(scratch).first(n * vocab));
    const std::size_t lo = std::max(begin, first);
    const std::size_t hi = std::min(begin + n, last);
    if (lo < hi) {
      std::memcpy(scored_logits.data() + (lo - first) * vocab, scratch.data() + (lo - begin) * vocab,
                  (hi - lo) * vocab * sizeof(float));
    }
  }
}

std::uint64_t hash_tokens(std::span<const std::int32_t> ids) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a offset basis and prime
  for (const std::int32_t id : ids) {
    const auto u = static_cast<std::uint32_t>(id);
    for (int byte = 0; byte < 4; ++byte) {
      h ^= (u >> (8 * byte)) & 0xffU;
      h *= 0x100000001b3ULL;
    }
  }
  return h;
}

}  // namespace quantlm::eval

// `quantlm perplexity MODEL -f TEXT`: perplexity by llama-perplexity's protocol (or the full one), text or JSON.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/text_table.h"
#include "core/thread_pool.h"
#include "eval/eval_model.h"
#include "eval/perplexity.h"

namespace quantlm::cli {
namespace {

struct PerplexityOptions {
  std::string model;
  std::string text;
  std::string protocol = "llamacpp";
  eval::EvalOptions eval;
  std::size_t threads = 0;
  bool json = false;
};

nlohmann::json result_json(const PerplexityOptions& o, const eval::EvalModel& m, const eval::PerplexityResult& r) {
  const eval::ChunkPlan& p = r.plan;
  return {{"model", o.model},
          {"model_description", m.description},
          {"text", o.text},
          {"protocol", eval::to_string(p.protocol)},
          {"n_ctx", p.n_ctx},
          {"tokens", p.n_tokens},
          {"chunks", p.n_chunks},
          {"scored_positions", p.scored_positions()},
          {"first_scored_position", p.first_scored},
          {"ppl", r.figures.ppl},
          {"ppl_error", r.figures.ppl_error},
          {"mean_nll", r.figures.mean_nll},
          {"nll_error", r.figures.nll_error},
          {"seconds", r.seconds},
          {"tokens_per_second", r.tokens_per_second},
          {"threads", default_thread_pool().size()}};
}

void print_text(const PerplexityOptions& o, const eval::EvalModel& m, const eval::PerplexityResult& r) {
  const eval::ChunkPlan& p = r.plan;
  fmt::print("model: {} ({})\n", o.model, m.description);
  fmt::print("text: {}: {} tokens; protocol {}, -c {}: {} chunks × {} scored positions (from position {}) = {}\n",
             o.text, grouped(p.n_tokens), eval::to_string(p.protocol), p.n_ctx, grouped(p.n_chunks),
             p.scored_per_chunk(), p.first_scored, grouped(p.scored_positions()));
  fmt::print("PPL = {:.4f} ± {:.4f}  (mean NLL {:.5f} ± {:.5f})\n", r.figures.ppl, r.figures.ppl_error,
             r.figures.mean_nll, r.figures.nll_error);
  fmt::print("{} tokens in {:.2f} s: {:.0f} tokens/s on {} threads\n", grouped(p.evaluated_tokens()), r.seconds,
             r.tokens_per_second, default_thread_pool().size());
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto o = std::make_shared<PerplexityOptions>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity",
      "Perplexity of a model over a text: llama-perplexity's protocol (non-overlapping chunks, BOS at "
      "each chunk start, second half of each chunk scored) or the full one (docs/EVALUATION.md).");
  cmd->add_option("model", o->model, "Model file (GGUF, llama2.c .bin, Hugging Face directory)")->required();
  cmd->add_option("-f,--file", o->text, "Text file to evaluate on")->required();
  cmd->add_option("-c,--ctx-size", o->eval.n_ctx, "Tokens per chunk (llama-perplexity's default 512)")
      ->capture_default_str();
  cmd->add_option("--protocol", o->protocol, "Positions scored: llamacpp (n_ctx/2 … n_ctx-2) or full (0 … n_ctx-2)")
      ->check(CLI::IsMember({"llamacpp", "full"}))
      ->capture_default_str();
  cmd->add_option("--chunks", o->eval.max_chunks, "Evaluate only the first N chunks (0: all)")->capture_default_str();
  cmd->add_option("-b,--batch", o->eval.batch, "Tokens per forward call (0: the whole chunk)")->capture_default_str();
  cmd->add_option("-t,--threads", o->threads, "Threads (0: every hardware thread)")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON record instead of text");
  cmd->callback([o] {
    set_default_thread_count(o->threads);
    o->eval.protocol = *eval::parse_protocol(o->protocol);  // IsMember checked it
    const eval::EvalModel m = eval::open_eval_model(o->model, "MODEL", o->eval.n_ctx);
    const eval::EvalTokens text = eval::tokenize_eval_text(*m.tokenizer, eval::read_text_file(o->text));
    const eval::PerplexityResult r = eval::perplexity(*m.lm, text, o->eval);
    if (o->json) {
      fmt::print("{}\n", result_json(*o, m, r).dump(2));
    } else {
      print_text(*o, m, r);
    }
  });
}

}  // namespace quantlm::cli

// `quantlm kld BASE MODEL -f TEXT`: KL divergence from a base model, top-token agreement, Δp and both perplexities.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/text_table.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "eval/eval_model.h"
#include "eval/kld.h"

namespace quantlm::cli {
namespace {

struct KldOptions {
  std::vector<std::string> models;  // BASE MODEL, or MODEL with --base-logits, or BASE with --save-base
  std::string text;
  std::string protocol = "llamacpp";
  std::string save_base;
  std::string base_logits;
  eval::EvalOptions eval;
  std::size_t threads = 0;
  bool json = false;
  bool ctx_given = false;  // with --base-logits, -c and --protocol default to the file's
  bool protocol_given = false;
};

nlohmann::json figures_json(const eval::PerplexityFigures& f) {
  return {{"ppl", f.ppl}, {"ppl_error", f.ppl_error}, {"mean_nll", f.mean_nll}, {"nll_error", f.nll_error}};
}

nlohmann::json distribution_json(const eval::Distribution& d) {
  return {{"min", d.min}, {"p1", d.p01},  {"p10", d.p10},    {"median", d.median},
          {"p90", d.p90}, {"p99", d.p99}, {"p99.9", d.p999}, {"max", d.max}};
}

nlohmann::json plan_json(const eval::ChunkPlan& p) {
  return {{"protocol", eval::to_string(p.protocol)},
          {"n_ctx", p.n_ctx},
          {"tokens", p.n_tokens},
          {"chunks", p.n_chunks},
          {"scored_positions", p.scored_positions()},
          {"first_scored_position", p.first_scored}};
}

std::string plan_line(const std::string& text, const eval::ChunkPlan& p) {
  return fmt::format("text: {}: {} tokens; protocol {}, -c {}: {} chunks × {} scored positions = {}", text,
                     grouped(p.n_tokens), eval::to_string(p.protocol), p.n_ctx, grouped(p.n_chunks),
                     p.scored_per_chunk(), grouped(p.scored_positions()));
}

void print_kld(const KldOptions& o, const std::string& base_name, const eval::KldResult& r) {
  fmt::print("base:  {}\nmodel: {}\n{}\n\n", base_name, o.models.back(), plan_line(o.text, r.plan));
  fmt::print("PPL(base)  = {:.4f} ± {:.4f}\n", r.base.ppl, r.base.ppl_error);
  fmt::print("PPL(model) = {:.4f} ± {:.4f}\n", r.model.ppl, r.model.ppl_error);
  fmt::print("ln(PPL(model)/PPL(base)) = {:.6f} ± {:.6f}  (correlation of the NLL means {:.2f}%)\n\n", r.log_ppl_ratio,
             r.log_ppl_ratio_error, 100 * r.nll_correlation);
  fmt::print("mean KLD   = {:.6f} ± {:.6f}\n", r.kld.mean, r.kld.error);
  const eval::Distribution& k = r.kld_distribution;
  fmt::print("KLD quantiles: min {:.6f}  median {:.6f}  90% {:.6f}  99% {:.6f}  99.9% {:.6f}  max {:.6f}\n", k.min,
             k.median, k.p90, k.p99, k.p999, k.max);
  fmt::print("same top token = {:.3f} ± {:.3f} %\n", 100 * r.same_top, 100 * r.same_top_error);
  fmt::print("Δp (model − base probability of the next token): mean {:.3f} ± {:.3f} %, RMS {:.3f} ± {:.3f} %\n",
             100 * r.delta_p.mean, 100 * r.delta_p.error, 100 * r.delta_p_rms, 100 * r.delta_p_rms_error);
  const eval::Distribution& d = r.delta_p_distribution;
  fmt::print("Δp quantiles: min {:.3f}%  1% {:.3f}%  median {:.3f}%  99% {:.3f}%  max {:.3f}%\n", 100 * d.min,
             100 * d.p01, 100 * d.median, 100 * d.p99, 100 * d.max);
  fmt::print("\n{} tokens per model; {:.2f} s (base {:.2f} s{}, model {:.2f} s: {:.0f} tokens/s) on {} threads\n",
             grouped(r.plan.evaluated_tokens()), r.seconds, r.base_seconds,
             o.base_logits.empty() ? "" : " reading saved logits", r.model_seconds, r.tokens_per_second,
             default_thread_pool().size());
  if (!o.save_base.empty()) fmt::print("saved the base's logits to {}\n", o.save_base);
}

nlohmann::json kld_json(const KldOptions& o, const std::string& base_name, const eval::KldResult& r) {
  return {{"base", base_name},
          {"model", o.models.back()},
          {"text", o.text},
          {"plan", plan_json(r.plan)},
          {"base_ppl", figures_json(r.base)},
          {"model_ppl", figures_json(r.model)},
          {"log_ppl_ratio", r.log_ppl_ratio},
          {"log_ppl_ratio_error", r.log_ppl_ratio_error},
          {"nll_correlation", r.nll_correlation},
          {"kld", r.kld.mean},
          {"kld_error", r.kld.error},
          {"kld_quantiles", distribution_json(r.kld_distribution)},
          {"same_top", r.same_top},
          {"same_top_error", r.same_top_error},
          {"delta_p", r.delta_p.mean},
          {"delta_p_error", r.delta_p.error},
          {"delta_p_rms", r.delta_p_rms},
          {"delta_p_rms_error", r.delta_p_rms_error},
          {"delta_p_quantiles", distribution_json(r.delta_p_distribution)},
          {"seconds", r.seconds},
          {"base_seconds", r.base_seconds},
          {"model_seconds", r.model_seconds},
          {"tokens_per_second", r.tokens_per_second},
          {"threads", default_thread_pool().size()},
          {"saved_base", o.save_base.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.save_base)}};
}

// Tokenizes with `m`'s tokenizer and, when given, checks that `other` reads the text the same way.
eval::EvalTokens tokenize(const std::string& text, const eval::EvalModel& m, const eval::EvalModel* other) {
  const std::string bytes = eval::read_text_file(text);
  eval::EvalTokens tokens = eval::tokenize_eval_text(*m.tokenizer, bytes);
  if (other != nullptr && eval::tokenize_eval_text(*other->tokenizer, bytes).ids != tokens.ids) {
    throw make_error("BASE and MODEL tokenize '{}' differently: KL divergence needs the same vocabulary", text);
  }
  return tokens;
}

void run(const KldOptions& o) {
  const bool reuse = !o.base_logits.empty();
  const bool save = !o.save_base.empty();
  if (reuse && o.models.size() != 1) {
    throw Error("with --base-logits FILE give only MODEL: the base's logits come from the file");
  }
  if (!reuse && !save && o.models.size() != 2) throw Error("give BASE and MODEL (or --base-logits FILE and MODEL)");
  if (reuse) {
    const eval::BaseLogitsFile file = eval::BaseLogitsFile::open(o.base_logits);
    eval::EvalOptions options = o.eval;
    if (!o.ctx_given) options.n_ctx = file.header().n_ctx;
    if (!o.protocol_given) options.protocol = file.header().protocol;
    const eval::EvalModel m = eval::open_eval_model(o.models[0], "MODEL", options.n_ctx);
    const eval::KldResult r = eval::kl_divergence(file, *m.lm, tokenize(o.text, m, nullptr), options);
    const std::string base_name = fmt::format("{} (saved logits of {})", o.base_logits, file.header().base);
    if (o.json) {
      fmt::print("{}\n", kld_json(o, base_name, r).dump(2));
    } else {
      print_kld(o, base_name, r);
    }
    return;
  }
  const eval::EvalModel base = eval::open_eval_model(o.models[0], "BASE", o.eval.n_ctx);
  const std::optional<eval::SaveBase> saving =
      save ? std::optional<eval::SaveBase>(eval::SaveBase{o.save_base, o.models[0]}) : std::nullopt;
  if (o.models.size() == 1) {  // --save-base with BASE only: compute and save, report the base's perplexity
    const eval::PerplexityResult r = eval::save_base_logits(*base.lm, tokenize(o.text, base, nullptr), o.eval, *saving);
    if (o.json) {
      fmt::print("{}\n", nlohmann::json{{"base", o.models[0]},
                                        {"text", o.text},
                                        {"plan", plan_json(r.plan)},
                                        {"base_ppl", figures_json(r.figures)},
                                        {"seconds", r.seconds},
                                        {"tokens_per_second", r.tokens_per_second},
                                        {"saved_base", o.save_base}}
                             .dump(2));
    } else {
      fmt::print("base: {}\n{}\nPPL(base) = {:.4f} ± {:.4f}\nsaved the base's logits to {} in {:.2f} s\n", o.models[0],
                 plan_line(o.text, r.plan), r.figures.ppl, r.figures.ppl_error, o.save_base, r.seconds);
    }
    return;
  }
  const eval::EvalModel m = eval::open_eval_model(o.models[1], "MODEL", o.eval.n_ctx);
  const eval::KldResult r = eval::kl_divergence(*base.lm, *m.lm, tokenize(o.text, base, &m), o.eval, saving);
  if (o.json) {
    fmt::print("{}\n", kld_json(o, o.models[0], r).dump(2));
  } else {
    print_kld(o, o.models[0], r);
  }
}

}  // namespace

void add_kld_command(CLI::App& app) {
  auto o = std::make_shared<KldOptions>();
  CLI::App* cmd = app.add_subcommand(
      "kld",
      "KL divergence of MODEL from BASE on the perplexity protocol's positions, with top-token agreement, Δp "
      "and both perplexities. The base's logits can be saved once (--save-base) and reused (--base-logits).");
  cmd->add_option("models", o->models, "BASE MODEL; MODEL alone with --base-logits; BASE alone with --save-base")
      ->required()
      ->expected(1, 2);
  cmd->add_option("-f,--file", o->text, "Text file to evaluate on")->required();
  auto* ctx = cmd->add_option("-c,--ctx-size", o->eval.n_ctx,
                              "Tokens per chunk (llama-perplexity's default 512; with --base-logits, the file's)")
                  ->capture_default_str();
  auto* protocol = cmd->add_option("--protocol", o->protocol,
                                   "Positions compared: llamacpp (n_ctx/2 … n_ctx-2) or full (0 … n_ctx-2); with "
                                   "--base-logits, the file's")
                       ->check(CLI::IsMember({"llamacpp", "full"}))
                       ->capture_default_str();
  cmd->add_option("--chunks", o->eval.max_chunks,
                  "Evaluate only the first N chunks (0: all, or all the --base-logits file holds)")
      ->capture_default_str();
  cmd->add_option("-b,--batch", o->eval.batch, "Tokens per forward call (0: the whole chunk)")->capture_default_str();
  auto* save = cmd->add_option("--save-base", o->save_base,
                               "Also write the base's logits to FILE (float32, exact) for later --base-logits runs");
  auto* reuse = cmd->add_option("--base-logits", o->base_logits, "Read the base's logits from FILE (--save-base)");
  save->excludes(reuse);
  cmd->add_option("-t,--threads", o->threads, "Threads (0: every hardware thread)")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON record instead of text");
  cmd->callback([o, ctx, protocol] {
    set_default_thread_count(o->threads);
    o->ctx_given = ctx->count() > 0;
    o->protocol_given = protocol->count() > 0;
    o->eval.protocol = *eval::parse_protocol(o->protocol);  // IsMember checked it
    run(*o);
  });
}

}  // namespace quantlm::cli

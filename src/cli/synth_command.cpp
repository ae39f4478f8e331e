// `quantlm synth OUT.gguf`: writes a reproducible random-weight Llama GGUF (no download needed).
#include <fmt/format.h>

#include <map>
#include <string>

#include "cli/commands.h"
#include "cli/text_table.h"
#include "core/error.h"
#include "model/synth.h"

namespace quantlm::cli {
namespace {

struct SynthOptions {
  std::string out;
  std::string preset = "tiny";
  std::string type = "F32";
  model::SynthConfig config;
};

// Named shapes: ANCHORS.md's benchmark models, and a tiny default.
model::SynthConfig preset_config(const std::string& name) {
  model::SynthConfig c;
  if (name == "tiny") return c;
  if (name == "l3") {  // cache-resident: 27.8 M parameters, the quantized files fit in a 32 MiB L3
    c.dim = 512, c.n_ff = 1536, c.layers = 8, c.heads = 8, c.kv_heads = 8;
    return c;
  }
  if (name == "tinyllama") {  // DRAM-bound: TinyLlama-1.1B's shape with a 512-token vocabulary (971 M parameters)
    c.dim = 2048, c.n_ff = 5632, c.layers = 22, c.heads = 32, c.kv_heads = 4, c.context = 2048;
    return c;
  }
  throw make_error("synth: unknown --preset '{}' (expected tiny, l3 or tinyllama)", name);
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto o = std::make_shared<SynthOptions>();
  CLI::App* cmd = app.add_subcommand("synth",
                                     "Write a random-weight Llama GGUF (llama architecture, SentencePiece-style "
                                     "vocabulary) for tests and benchmarks.");
  cmd->add_option("out", o->out, "Output GGUF path")->required();
  cmd->add_option("--preset", o->preset,
                  "Base shape: tiny (dim 64, 2 layers), l3 (dim 512, 8 layers) or tinyllama (dim 2048, 22 layers)")
      ->capture_default_str();
  // Each dimension flag overrides the preset only when given.
  auto* dim = cmd->add_option("--dim", "Embedding length");
  auto* ff = cmd->add_option("--ff", "Feed-forward length");
  auto* layers = cmd->add_option("--layers", "Number of blocks");
  auto* heads = cmd->add_option("--heads", "Attention heads");
  auto* kv_heads = cmd->add_option("--kv-heads", "Key/value heads (grouped-query attention)");
  auto* vocab = cmd->add_option("--vocab", "Vocabulary size (at least 259)");
  auto* context = cmd->add_option("--context", "Context length");
  cmd->add_option("--seed", o->config.seed, "Random seed (same seed, same bytes)")->capture_default_str();
  cmd->add_option("--type", o->type, "Storage of the weight matrices: F32, F16 or BF16")->capture_default_str();
  cmd->add_option("--name", o->config.name, "general.name")->capture_default_str();
  cmd->callback([=] {
    model::SynthConfig c = preset_config(o->preset);
    c.seed = o->config.seed;
    c.name = o->config.name;
    const formats::FormatTraits* format = formats::find_format(o->type);
    if (format == nullptr || !format->is_float_weight)
      throw make_error("synth: --type '{}' must be F32, F16 or BF16", o->type);
    c.weight_format = format->id;
    auto take = [](CLI::Option* opt, std::int64_t& field) {
      if (opt->count() > 0) field = opt->as<std::int64_t>();
    };
    take(dim, c.dim);
    take(ff, c.n_ff);
    take(layers, c.layers);
    take(heads, c.heads);
    take(kv_heads, c.kv_heads);
    take(vocab, c.vocab);
    take(context, c.context);
    model::write_synthetic_llama(o->out, c);
    fmt::print(
        "wrote {}: random Llama, dim {}, ff {}, {} layers, {} heads ({} KV), vocab {}, {} parameters, {} weights, seed "
        "{}\n",
        o->out, c.dim, c.n_ff, c.layers, c.heads, c.kv_heads, c.vocab, grouped(c.parameter_count()), format->name,
        c.seed);
  });
}

}  // namespace quantlm::cli

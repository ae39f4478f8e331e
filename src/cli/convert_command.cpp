// `quantlm convert IN OUT --to hf|gguf`: rewrites a GGUF, llama2.c checkpoint or Hugging Face directory as another.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "io/gguf/gguf_writer.h"
#include "io/loaders/hf_writer.h"
#include "io/model_source.h"

namespace quantlm::cli {
namespace {

struct ConvertOptions {
  std::string in;
  std::string out;
  std::string to;
  std::string tokenizer;
  std::string vocab_gguf;
};

// The source's metadata and tensors as they are: loaders already speak GGUF's names and layout.
void write_gguf(const io::ModelSource& source, const std::string& path) {
  std::vector<gguf::TensorSpec> specs;
  specs.reserve(source.tensors.size());
  for (const io::SourceTensor& t : source.tensors) specs.push_back({t.name, t.shape, t.format});
  gguf::GgufWriter writer(path, source.metadata, std::move(specs));
  for (const io::SourceTensor& t : source.tensors) writer.write_tensor(t.data);
  writer.finish();
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Convert a model: GGUF, llama2.c .bin or Hugging Face directory in; a Hugging Face directory (config.json + "
      "model.safetensors, F32/F16/BF16 tensors) or a GGUF file out. Tensors are copied bit for bit.");
  cmd->add_option("in", o->in, "Input: a .gguf, a llama2.c .bin or a Hugging Face directory")->required();
  cmd->add_option("out", o->out, "Output: a directory (--to hf) or a .gguf file (--to gguf)")->required();
  cmd->add_option("--to", o->to, "Output kind: hf or gguf")->required()->check(CLI::IsMember({"hf", "gguf"}));
  cmd->add_option("--tokenizer", o->tokenizer,
                  "llama2.c tokenizer.bin (default: tokenizer.bin or tok<N>.bin beside IN)");
  cmd->add_option("--vocab-gguf", o->vocab_gguf,
                  "A GGUF whose tokenizer a Hugging Face directory without tokenizer.json uses");
  cmd->callback([o] {
    io::SourceOptions options;
    options.llama2c_tokenizer = o->tokenizer;
    options.vocabulary_gguf = o->vocab_gguf;
    const io::ModelSource source = io::open_model_source(o->in, options);
    if (o->to == "hf") {
      io::write_hf_directory(source, o->out);
      fmt::print("wrote {}: config.json + model.safetensors ({} tensors) from {}\n", o->out, source.tensors.size(),
                 source.description);
    } else {
      write_gguf(source, o->out);
      fmt::print("wrote {}: GGUF v3, {} tensors, {} metadata keys from {}\n", o->out, source.tensors.size(),
                 source.metadata.size(), source.description);
    }
  });
}

}  // namespace quantlm::cli

// Opening a model file for evaluation: its causal LM and the tokenizer that reads text for it.
#include "eval/eval_model.h"

#include "core/error.h"
#include "io/model_source.h"
#include "model/llama_model.h"

namespace quantlm::eval {

EvalModel open_eval_model(const std::filesystem::path& path, std::string_view role, std::int64_t context_length) {
  try {
    io::ModelSource source = io::open_model_source(path);
    if (!source.tokenizer) {
      throw make_error("{} has no tokenizer, and the text must be tokenized with the model's", source.description);
    }
    EvalModel m;
    m.description = source.description;
    m.tokenizer = source.tokenizer;
    // Only the evaluated context is cached: a chunk never holds more.
    m.lm = std::make_unique<model::LlamaModel>(source, model::LlamaOptions{.context_length = context_length});
    return m;
  } catch (const Error& e) {
    throw make_error("{} '{}': {}", role, path.string(), e.what());
  }
}

}  // namespace quantlm::eval

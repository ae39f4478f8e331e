// Opening a model file for evaluation: its causal LM and the tokenizer that reads text for it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "io/tokenizer/tokenizer.h"
#include "model/causal_lm.h"

namespace quantlm::eval {

struct EvalModel {
  std::string description;  // what the loader says the file is: "GGUF v3 'x.gguf'"
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<model::CausalLm> lm;
};

// Loads `path` (any file kind io::open_model_source reads) with the float
// engine, its cache sized for `context_length` positions (0: the model's
// trained context; the engine never goes beyond that). `role` names the
// argument in errors ("MODEL", "BASE"); a file without a tokenizer is refused,
// since the text must be tokenized.
[[nodiscard]] EvalModel open_eval_model(const std::filesystem::path& path, std::string_view role,
                                        std::int64_t context_length = 0);

}  // namespace quantlm::eval

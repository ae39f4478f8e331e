// What a model file holds: architecture, hyperparameters, tokenizer, tensors, and its size accounting.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/gguf/gguf_file.h"

namespace quantlm::eval {

// One hyperparameter as read from `<arch>.<key>` metadata.
struct Hyperparameter {
  std::string label;  // "embedding_length"
  std::string key;    // "llama.embedding_length"
  gguf::Value value;
};

struct TokenizerSummary {
  std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece-style), "gpt2" (byte-level BPE), ...
  std::string pre;    // tokenizer.ggml.pre, when present
  std::int64_t vocab_size = 0;
  bool has_scores = false;
  std::int64_t merges = 0;
  std::optional<std::int64_t> bos, eos, unk, pad;
  std::string bos_text, eos_text;
};

struct TensorSummary {
  std::string name;
  std::string format;
  Shape shape;
  std::int64_t elements = 0;
  std::uint64_t bytes = 0;
  double bits_per_weight = 0;
};

// Per-format totals.
struct FormatTotal {
  std::int64_t tensors = 0;
  std::int64_t elements = 0;
  std::uint64_t bytes = 0;
};

struct FileSummary {
  std::string path;
  std::uint64_t file_bytes = 0;
  std::uint32_t version = 0;
  std::uint32_t alignment = 0;
  std::int64_t metadata_keys = 0;
  std::string architecture;  // general.architecture, "" when absent
  std::string name;          // general.name
  std::vector<Hyperparameter> hyperparameters;
  std::optional<TokenizerSummary> tokenizer;
  std::vector<TensorSummary> tensors;
  std::map<std::string, FormatTotal> by_format;
  std::int64_t total_elements = 0;
  std::uint64_t total_tensor_bytes = 0;

  // Tensor data bits over all parameters (scales included, header excluded):
  // the "bpw (all params)" figure of ANCHORS.md.
  [[nodiscard]] double bits_per_weight() const;
};

[[nodiscard]] FileSummary summarize(const gguf::GgufFile& file);

}  // namespace quantlm::eval

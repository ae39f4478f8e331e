// Building a tokenizer from a Hugging Face tokenizer.json (byte-level BPE, or byte-fallback SentencePiece-style BPE).
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "io/gguf/gguf_value.h"
#include "io/loaders/hf_config.h"
#include "io/tokenizer/tokenizer.h"

namespace quantlm::io {

struct HfTokenizer {
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;  // null when the directory has no tokenizer.json
  std::vector<gguf::KeyValue> metadata;             // tokenizer.ggml.* as llama.cpp's converter writes them
};

// The tokenizer of `dir`/tokenizer.json, with config.json's and
// tokenizer_config.json's special tokens. Byte-level BPE is recognised by a
// ByteLevel pre-tokenizer or decoder, its family (GPT-2, Llama 3, Qwen2) by
// the Split regex; otherwise a BPE with byte_fallback is SentencePiece-style,
// each merge result scored -rank (tokenizer.json has no scores; this keeps
// the merges' priorities, which is what llama.cpp's tokenizer uses). Ids
// missing below config's vocab_size become unused [PAD<id>] tokens, as in
// llama.cpp's converter. Throws quantlm::Error naming the file and the field
// for a malformed or unsupported one (Unigram, WordPiece, other regexes).
[[nodiscard]] HfTokenizer load_hf_tokenizer(const std::filesystem::path& dir, const HfConfig& config);

}  // namespace quantlm::io

// Pre-tokenizers of byte-level BPE vocabularies: the regex splits of GPT-2, Llama 3 and Qwen 2, written out by hand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quantlm::tokenizer {

// The pattern families llama.cpp 34af94cd applies for tokenizer.ggml.pre. Each
// is implemented as llama.cpp evaluates it (its hand-written matchers and, for
// llama_default, the std::regex passes over its category-collapsed text),
// including the places where that differs from the patterns' regex meaning.
enum class PreTokenizer : std::uint8_t {
  // Four passes: runs of [\p{P}$+<=>^~|], then the GPT-2 pattern, then runs
  // of \p{N}, then groups of three ASCII digits. Used when tokenizer.ggml.pre
  // is "default" or missing.
  llama_default,
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  gpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  llama3,
  // Llama 3's pattern with single digits: \p{N} instead of \p{N}{1,3}.
  qwen2,
};

// "default", "gpt2", "llama3", "qwen2": the family, for messages.
[[nodiscard]] std::string_view to_string(PreTokenizer kind);

// How llama.cpp configures a byte-level BPE vocabulary for one
// tokenizer.ggml.pre value.
struct PreTokenizerInfo {
  std::string_view name;  // the tokenizer.ggml.pre value
  PreTokenizer kind;
  bool clean_spaces;   // decode removes the space before . , ! ? and some contractions
  bool ignore_merges;  // a word that is a whole token is emitted without merging
  bool add_bos;        // BOS added by default (before tokenizer.ggml.add_bos_token)
  bool has_bos;        // false where llama.cpp drops the default BOS id (GLM-4)
};

// The entry for `name`, or nullopt when this family of pre-tokenizers is not
// supported. Only names whose llama.cpp pattern is one of the four above are
// listed.
[[nodiscard]] std::optional<PreTokenizerInfo> find_pre_tokenizer(std::string_view name);

// The supported names, comma-separated, for error messages.
[[nodiscard]] std::string supported_pre_tokenizers();

// Splits text into the words BPE merges within, as UTF-8. Invalid UTF-8 bytes
// come back as U+FFFD (as in llama.cpp), so the words concatenate to the
// input only when it is valid UTF-8.
[[nodiscard]] std::vector<std::string> pre_tokenize(std::string_view text, PreTokenizer kind);

}  // namespace quantlm::tokenizer

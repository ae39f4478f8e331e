// Text to token ids and back: the Tokenizer interface, its two kinds, and loaders from GGUF metadata and llama2.c
// files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/tokenizer/pre_tokenizer.h"
#include "io/tokenizer/vocabulary.h"

namespace quantlm::gguf {
class GgufFile;
}

namespace quantlm::tokenizer {

enum class TokenizerKind : std::uint8_t {
  sentencepiece,   // tokenizer.ggml.model "llama": score-driven merges, U+2581 for spaces, <0xXX> byte fallback
  byte_level_bpe,  // tokenizer.ggml.model "gpt2": ranked merges over GPT-2 byte-mapped text
};

[[nodiscard]] std::string_view to_string(TokenizerKind kind);

// Special ids and flags, with llama.cpp's defaults already applied by the loaders.
struct TokenizerConfig {
  TokenId bos = kNoToken;
  TokenId eos = kNoToken;
  TokenId unk = kNoToken;
  TokenId sep = kNoToken;
  TokenId pad = kNoToken;
  bool add_bos = false;           // what llama.cpp adds for add_special=true (tokenizer.ggml.add_bos_token)
  bool add_eos = false;           // likewise for EOS (tokenizer.ggml.add_eos_token)
  bool add_space_prefix = false;  // SentencePiece: a space before the text (tokenizer.ggml.add_space_prefix)
  bool clean_spaces = false;      // BPE decode: llama.cpp's clean_up_tokenization_spaces passes
  bool ignore_merges = false;     // BPE: a word that is already a token is not merged (Llama 3)
  PreTokenizer pre_tokenizer = PreTokenizer::llama_default;  // BPE only
};

struct EncodeOptions {
  bool add_bos = false;  // prepend bos(); throws when the vocabulary has none
  bool add_eos = false;  // append eos(); throws when the vocabulary has none
  // Whether the text of control and unknown tokens ("<s>", "<|eot_id|>") in
  // the input becomes those tokens. User-defined tokens always do, as in
  // llama.cpp. Off, as llama-perplexity and llama-imatrix tokenize; note that
  // llama-tokenize turns it on unless given --no-parse-special.
  bool parse_special = false;
};

struct DecodeOptions {
  // Drop a leading BOS and a trailing EOS when the vocabulary adds them by
  // default (llama_detokenize's remove_special).
  bool remove_special = false;
  // Write the text of control and unknown tokens ("<s>") instead of nothing
  // (llama_detokenize's unparse_special).
  bool render_special = false;
};

// A tokenizer for one vocabulary. encode/decode are const and thread-safe.
// Both reproduce llama.cpp 34af94cd's llama_tokenize / llama_detokenize for
// the vocabulary types they support; where llama.cpp would abort (a byte with
// no byte token), they use the unknown token or throw quantlm::Error.
class Tokenizer {
 public:
  virtual ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;
  Tokenizer(Tokenizer&&) = delete;
  Tokenizer& operator=(Tokenizer&&) = delete;

  // Text to ids; `add_bos` prepends BOS. To tokenize as llama.cpp does with
  // add_special=true, pass adds_bos_by_default() (true for SentencePiece).
  [[nodiscard]] std::vector<TokenId> encode(std::string_view text, bool add_bos) const {
    return encode(text, EncodeOptions{.add_bos = add_bos});
  }
  [[nodiscard]] std::vector<TokenId> encode(std::string_view text, const EncodeOptions& options) const;

  // Ids to text, as llama_detokenize. With add_space_prefix, the first
  // token's leading space (the one encode added) is dropped; a leading BOS
  // uses up that chance, exactly as in llama.cpp, so
  //   decode(encode(text, false)) == text and
  //   decode(encode(text, true))  == " " + text
  // for text the vocabulary covers. Decode the ids after the BOS to get the
  // text back without the space. Out-of-range ids throw quantlm::Error.
  [[nodiscard]] std::string decode(std::span<const TokenId> ids, const DecodeOptions& options = {}) const;

  // The bytes one token stands for (llama_token_to_piece, no stripping):
  // control and unknown tokens give their text when render_special, else "".
  [[nodiscard]] std::string token_to_piece(TokenId id, bool render_special = true) const;

  [[nodiscard]] virtual TokenizerKind kind() const = 0;
  [[nodiscard]] std::int32_t vocab_size() const { return vocab_.size(); }
  [[nodiscard]] const Vocabulary& vocabulary() const { return vocab_; }
  [[nodiscard]] const TokenizerConfig& config() const { return config_; }
  [[nodiscard]] TokenId bos() const { return config_.bos; }  // kNoToken when none
  [[nodiscard]] TokenId eos() const { return config_.eos; }
  [[nodiscard]] TokenId unk() const { return config_.unk; }
  [[nodiscard]] bool adds_bos_by_default() const { return config_.add_bos; }
  [[nodiscard]] bool adds_eos_by_default() const { return config_.add_eos; }

 protected:
  // Checks the config's ids against the vocabulary (Error naming the source).
  Tokenizer(Vocabulary vocab, TokenizerConfig config);

  // Tokenizes one run of plain text (special tokens already split out).
  // `after_special` is true at the start of the text and after a special
  // token: SentencePiece adds its space prefix there.
  virtual void encode_text(std::string_view text, bool after_special, std::vector<TokenId>& out) const = 0;
  // Appends the bytes of a `normal` token.
  virtual void append_normal_piece(const TokenEntry& token, std::string& out) const = 0;

 private:
  void append_piece(TokenId id, bool render_special, std::string& out) const;

  Vocabulary vocab_;
  TokenizerConfig config_;
  // Control, user-defined and unknown tokens, longest text first: the order in
  // which llama.cpp splits them out of the input.
  std::vector<TokenId> special_tokens_;
};

// Loaders. Each throws quantlm::Error naming the file, key or field and what
// was expected when the input is malformed.

// From tokenizer.ggml.* metadata: model "llama" (SentencePiece) or "gpt2"
// (byte-level BPE with the pre-tokenizer named by tokenizer.ggml.pre).
[[nodiscard]] std::unique_ptr<Tokenizer> load_gguf_tokenizer(const gguf::GgufFile& file);

// llama2.c's tokenizer.bin (int32 max_token_length, then per token: float32
// score, int32 length, bytes), as SentencePiece with ids 0, 1, 2 = <unk>, <s>,
// </s>. The export's spaces are turned back into U+2581 and its "\n<s>\n" into
// "<s>", giving the same vocabulary as the model's GGUF. With vocab_size the
// file must hold exactly that many tokens; without, it is read to the end.
[[nodiscard]] std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& path,
                                                                std::optional<std::int32_t> vocab_size = std::nullopt);

// Direct construction (tests, other formats).
[[nodiscard]] std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(Vocabulary vocab, TokenizerConfig config);
// `merges` are "left right" pairs, rank = position; the first of duplicates counts.
[[nodiscard]] std::unique_ptr<Tokenizer> make_byte_level_bpe_tokenizer(Vocabulary vocab,
                                                                       std::span<const std::string> merges,
                                                                       TokenizerConfig config);

}  // namespace quantlm::tokenizer

// A tokenizer's vocabulary: token texts, scores and types by id, with a validated text-to-id index.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace quantlm::tokenizer {

using TokenId = std::int32_t;
inline constexpr TokenId kNoToken = -1;

// Token types as GGUF stores them in tokenizer.ggml.token_type (llama.cpp's
// LLAMA_TOKEN_TYPE_*); values outside 1..6 read as `undefined`.
enum class TokenType : std::uint8_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

[[nodiscard]] std::string_view to_string(TokenType type);
// The type for a stored tokenizer.ggml.token_type value.
[[nodiscard]] TokenType token_type_from_int(std::int64_t value);

struct TokenEntry {
  std::string text;  // SentencePiece pieces spell spaces U+2581; byte-level BPE tokens are GPT-2 byte-mapped
  float score = 0.0F;
  TokenType type = TokenType::normal;
};

// Immutable after construction. The constructor checks what the tokenizers
// rely on and throws quantlm::Error naming `source` (the file) otherwise:
// at least one token, fewer than 2^31, no empty or duplicate texts (llama.cpp
// asserts on duplicates), and every `byte` token spelled <0xXX>.
class Vocabulary {
 public:
  Vocabulary(std::vector<TokenEntry> tokens, std::string source);

  [[nodiscard]] std::int32_t size() const { return static_cast<std::int32_t>(tokens_.size()); }
  [[nodiscard]] bool contains(TokenId id) const { return id >= 0 && id < size(); }
  // The token, or quantlm::Error naming the id and the vocabulary size.
  [[nodiscard]] const TokenEntry& at(TokenId id) const;
  // The unchecked lookup for ids already validated.
  [[nodiscard]] const TokenEntry& operator[](TokenId id) const { return tokens_[static_cast<std::size_t>(id)]; }
  // The id whose text is exactly `text`, or kNoToken.
  [[nodiscard]] TokenId find(std::string_view text) const {
    const auto it = index_.find(text);
    return it == index_.end() ? kNoToken : it->second;
  }
  // The byte a `byte` token stands for (its <0xXX> value); id must be a byte token.
  [[nodiscard]] std::uint8_t byte_value(TokenId id) const;
  [[nodiscard]] const std::string& source() const { return source_; }
  [[nodiscard]] const std::vector<TokenEntry>& tokens() const { return tokens_; }

 private:
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::vector<TokenEntry> tokens_;
  std::vector<std::int16_t> byte_values_;  // per token: 0..255 for byte tokens, -1 otherwise
  std::unordered_map<std::string, TokenId, TextHash, std::equal_to<>> index_;
  std::string source_;
};

// The value of a "<0xXX>" token text (two hex digits, either case), or -1.
[[nodiscard]] int parse_byte_token(std::string_view text);

}  // namespace quantlm::tokenizer

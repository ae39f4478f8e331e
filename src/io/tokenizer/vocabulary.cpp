// Vocabulary validation and lookups.
#include "io/tokenizer/vocabulary.h"

#include <limits>

#include "core/error.h"
#include "io/gguf/gguf_value.h"

namespace quantlm::tokenizer {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string_view to_string(TokenType type) {
  switch (type) {
    case TokenType::undefined:
      return "undefined";
    case TokenType::normal:
      return "normal";
    case TokenType::unknown:
      return "unknown";
    case TokenType::control:
      return "control";
    case TokenType::user_defined:
      return "user-defined";
    case TokenType::unused:
      return "unused";
    case TokenType::byte:
      return "byte";
  }
  return "?";
}

TokenType token_type_from_int(std::int64_t value) {
  if (value < 1 || value > 6) return TokenType::undefined;
  return static_cast<TokenType>(value);
}

int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  const int hi = hex_digit(text[3]);
  const int lo = hex_digit(text[4]);
  if (hi < 0 || lo < 0) return -1;
  return hi * 16 + lo;
}

Vocabulary::Vocabulary(std::vector<TokenEntry> tokens, std::string source)
    : tokens_(std::move(tokens)), source_(std::move(source)) {
  if (tokens_.empty()) throw make_error("{}: the vocabulary has no tokens", source_);
  if (tokens_.size() > static_cast<std::size_t>(std::numeric_limits<TokenId>::max())) {
    throw make_error("{}: the vocabulary has {} tokens, more than token ids can address", source_, tokens_.size());
  }
  byte_values_.assign(tokens_.size(), -1);
  index_.reserve(tokens_.size());
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const TokenEntry& t = tokens_[i];
    const auto id = static_cast<TokenId>(i);
    if (t.text.empty()) throw make_error("{}: token {} has empty text", source_, id);
    const auto [it, inserted] = index_.emplace(t.text, id);
    if (!inserted) {
      throw make_error("{}: tokens {} and {} have the same text {}", source_, it->second, id,
                       gguf::quote_for_message(t.text));
    }
    if (t.type == TokenType::byte) {
      const int value = parse_byte_token(t.text);
      if (value < 0) {
        throw make_error("{}: token {} has type byte but its text {} is not of the form <0xXX>", source_, id,
                         gguf::quote_for_message(t.text));
      }
      byte_values_[i] = static_cast<std::int16_t>(value);
    }
  }
}

const TokenEntry& Vocabulary::at(TokenId id) const {
  if (!contains(id)) {
    throw make_error("token id {} is out of range: the vocabulary of {} has ids 0 to {}", id, source_, size() - 1);
  }
  return (*this)[id];
}

std::uint8_t Vocabulary::byte_value(TokenId id) const {
  const std::int16_t v = byte_values_.at(static_cast<std::size_t>(id));
  if (v < 0) throw make_error("{}: token {} is not a byte token", source_, id);
  return static_cast<std::uint8_t>(v);
}

}  // namespace quantlm::tokenizer

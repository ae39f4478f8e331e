// Reading llama2.c's tokenizer.bin into the SentencePiece vocabulary it was exported from.
#include <cmath>
#include <utility>

#include "core/error.h"
#include "core/mapped_file.h"
#include "io/gguf/byte_reader.h"
#include "io/tokenizer/tokenizer.h"

namespace quantlm::tokenizer {

namespace {

// llama2.c's export (tokenizer.py) wrote BOS and EOS as "\n<s>\n" and
// "\n</s>\n" and every U+2581 as a space; undo both so that the texts are the
// SentencePiece pieces again, as a GGUF conversion of the same model holds them.
std::string piece_from_export(const std::string& text, TokenId id) {
  if ((id == 1 && text == "\n<s>\n") || (id == 2 && text == "\n</s>\n")) return text.substr(1, text.size() - 2);
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == ' ') {
      out += "\xE2\x96\x81";
    } else {
      out += c;
    }
  }
  return out;
}

TokenType type_of(const std::string& piece, TokenId id) {
  if (id == 0) return TokenType::unknown;
  if (id == 1 || id == 2) return TokenType::control;
  return parse_byte_token(piece) >= 0 ? TokenType::byte : TokenType::normal;
}

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& path,
                                                  std::optional<std::int32_t> vocab_size) {
  const std::string name = path.string();
  if (vocab_size && *vocab_size < 3) {
    throw make_error("{}: vocab_size {} is too small: ids 0, 1, 2 are <unk>, <s>, </s>", name, *vocab_size);
  }
  const MappedFile file = MappedFile::open(path);
  gguf::ByteReader in(file.bytes());

  std::int32_t max_token_length = 0;
  if (!in.read(max_token_length)) {
    throw make_error("{}: expected a 4-byte max_token_length header, the file has {} bytes", name, file.size());
  }
  if (max_token_length <= 0) throw make_error("{}: max_token_length is {}, expected > 0", name, max_token_length);

  std::vector<TokenEntry> tokens;
  while (vocab_size ? std::cmp_less(tokens.size(), *vocab_size) : in.remaining() > 0) {
    const auto id = static_cast<TokenId>(tokens.size());
    const std::size_t at = in.offset();
    if (vocab_size && in.remaining() == 0) {
      throw make_error("{}: the file ends after {} tokens, expected vocab_size = {}", name, tokens.size(), *vocab_size);
    }
    float score = 0.0F;
    std::int32_t length = 0;
    if (!in.read(score) || !in.read(length)) {
      throw make_error("{}: token {} at offset {}: expected float32 score and int32 length, {} bytes left", name, id,
                       at, file.size() - at);
    }
    if (std::isnan(score)) throw make_error("{}: token {}: score is NaN", name, id);
    if (length <= 0 || length > max_token_length) {
      throw make_error("{}: token {}: length {} is outside 1..max_token_length ({})", name, id, length,
                       max_token_length);
    }
    std::string_view bytes;
    if (!in.read_chars(static_cast<std::uint64_t>(length), bytes)) {
      throw make_error("{}: token {}: {} bytes of text run past the end of the file ({} bytes left)", name, id, length,
                       in.remaining());
    }
    std::string piece = piece_from_export(std::string(bytes), id);
    const TokenType type = type_of(piece, id);
    tokens.push_back({std::move(piece), score, type});
  }
  if (in.remaining() > 0) {
    throw make_error("{}: {} bytes follow the {} tokens expected (vocab_size)", name, in.remaining(), tokens.size());
  }
  if (tokens.size() < 3) throw make_error("{}: {} tokens, expected at least <unk>, <s>, </s>", name, tokens.size());

  TokenizerConfig config;
  config.unk = 0;
  config.bos = 1;
  config.eos = 2;
  config.add_bos = true;
  config.add_space_prefix = true;
  return make_sentencepiece_tokenizer(Vocabulary(std::move(tokens), name), config);
}

}  // namespace quantlm::tokenizer

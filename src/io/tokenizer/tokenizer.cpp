// What both tokenizer kinds share: splitting out special tokens, BOS/EOS, and decoding ids to text.
#include "io/tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"

namespace quantlm::tokenizer {

namespace {

// A piece of the input: plain text [begin, begin + size), or one special token.
struct Fragment {
  std::size_t begin = 0;
  std::size_t size = 0;
  TokenId token = kNoToken;  // kNoToken for plain text
};

bool is_special(TokenType type) {
  return type == TokenType::control || type == TokenType::user_defined || type == TokenType::unknown;
}

// llama.cpp's clean_up_tokenization_spaces for BPE vocabularies, three passes
// in place: " ?" " !" " ." " ," lose their space; a lone apostrophe between
// spaces loses both; " 's" " 'm" " 're" " 've" lose theirs (" 't", " 'd" and
// " 'll" keep it).
void clean_up_spaces(std::string& s) {
  const auto pass = [&s](auto&& step) {
    if (s.empty()) return;
    std::size_t kept = 1;
    const std::size_t n = s.size();
    for (std::size_t i = 1; i < n; ++i) step(i, n, kept);
    s.resize(kept);
  };
  pass([&s](std::size_t i, std::size_t, std::size_t& kept) {
    const char x = s[i];
    if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --kept;
    s[kept++] = x;
  });
  pass([&s](std::size_t& i, std::size_t n, std::size_t& kept) {
    const char x = s[i];
    if (x == '\'' && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ') {
      --kept;         // the space before
      s[++i] = '\0';  // and skip the one after (marked so the next test sees no space)
    }
    s[kept++] = x;
  });
  pass([&s](std::size_t i, std::size_t n, std::size_t& kept) {
    const char x = s[i];
    if (s[i - 1] == ' ' && x == '\'' && i + 1 < n) {
      const char x1 = s[i + 1];
      const bool re_or_ve = i + 2 < n && (x1 == 'r' || x1 == 'v') && s[i + 2] == 'e';
      if (x1 == 's' || x1 == 'm' || re_or_ve) --kept;
    }
    s[kept++] = x;
  });
}

}  // namespace

std::string_view to_string(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::sentencepiece:
      return "sentencepiece";
    case TokenizerKind::byte_level_bpe:
      return "byte-level-bpe";
  }
  return "?";
}

Tokenizer::~Tokenizer() = default;

Tokenizer::Tokenizer(Vocabulary vocab, TokenizerConfig config) : vocab_(std::move(vocab)), config_(config) {
  const std::pair<const char*, TokenId> ids[] = {{"BOS", config_.bos},
                                                 {"EOS", config_.eos},
                                                 {"unknown", config_.unk},
                                                 {"separator", config_.sep},
                                                 {"padding", config_.pad}};
  for (const auto& [what, id] : ids) {
    if (id != kNoToken && !vocab_.contains(id)) {
      throw make_error("{}: {} token id {} is outside the vocabulary of {} tokens", vocab_.source(), what, id,
                       vocab_.size());
    }
  }
  for (TokenId id = 0; id < vocab_.size(); ++id) {
    if (is_special(vocab_[id].type)) special_tokens_.push_back(id);
  }
  // Longest first, so that a token containing another is matched whole; ties
  // by id, so that the order does not depend on the sort's implementation.
  std::stable_sort(special_tokens_.begin(), special_tokens_.end(),
                   [this](TokenId a, TokenId b) { return vocab_[a].text.size() > vocab_[b].text.size(); });
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<TokenId> out;
  if (options.add_bos) {
    if (config_.bos == kNoToken)
      throw make_error("{}: cannot add BOS: the vocabulary has no BOS token", vocab_.source());
    out.push_back(config_.bos);
  }

  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({0, text.size(), kNoToken});
  // Each special token in turn cuts every remaining plain-text fragment at
  // its occurrences, left to right (llama.cpp's tokenizer_st_partition).
  std::vector<Fragment> next;
  for (const TokenId special : special_tokens_) {
    const TokenEntry& token = vocab_[special];
    if (!options.parse_special && token.type != TokenType::user_defined) continue;
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      const std::string_view region = text.substr(0, f.begin + f.size);
      std::size_t pos = f.begin;
      for (std::size_t match = region.find(token.text, pos); match != std::string_view::npos;
           match = region.find(token.text, pos)) {
        if (match > pos) next.push_back({pos, match - pos, kNoToken});
        next.push_back({match, token.text.size(), special});
        pos = match + token.text.size();
      }
      if (pos < f.begin + f.size) next.push_back({pos, f.begin + f.size - pos, kNoToken});
    }
    fragments.swap(next);
  }

  bool after_special = true;
  for (const Fragment& f : fragments) {
    if (f.token != kNoToken) {
      out.push_back(f.token);
      after_special = true;
    } else {
      encode_text(text.substr(f.begin, f.size), after_special, out);
      after_special = false;
    }
  }

  if (options.add_eos) {
    if (config_.eos == kNoToken)
      throw make_error("{}: cannot add EOS: the vocabulary has no EOS token", vocab_.source());
    out.push_back(config_.eos);
  }
  return out;
}

void Tokenizer::append_piece(TokenId id, bool render_special, std::string& out) const {
  const TokenEntry& token = vocab_.at(id);
  switch (token.type) {
    case TokenType::normal:
      append_normal_piece(token, out);
      break;
    case TokenType::byte:
      out.push_back(static_cast<char>(vocab_.byte_value(id)));
      break;
    case TokenType::user_defined:
      out += token.text;
      break;
    case TokenType::control:
    case TokenType::unknown:
      if (render_special) out += token.text;
      break;
    case TokenType::undefined:
    case TokenType::unused:
      break;  // llama.cpp writes nothing for these
  }
}

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  std::string piece;
  append_piece(id, render_special, piece);
  return piece;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, const DecodeOptions& options) const {
  // The space prefix encode added is stripped from the first token's piece only.
  bool strip_space = config_.add_space_prefix;
  if (options.remove_special && config_.add_bos && !ids.empty() && ids.front() == config_.bos) {
    strip_space = false;
    ids = ids.subspan(1);
  }
  if (options.remove_special && config_.add_eos && !ids.empty() && ids.back() == config_.eos) {
    ids = ids.first(ids.size() - 1);
  }

  std::string text;
  for (const TokenId id : ids) {
    const std::size_t start = text.size();
    append_piece(id, options.render_special, text);
    if (strip_space && text.size() > start && text[start] == ' ') text.erase(start, 1);
    strip_space = false;
  }
  if (config_.clean_spaces) clean_up_spaces(text);
  return text;
}

}  // namespace quantlm::tokenizer

// Byte-level BPE as llama.cpp does it for "gpt2" vocabularies: pre-tokenize, byte-map, merge by rank within each word.
#include <algorithm>
#include <limits>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "io/gguf/gguf_value.h"
#include "io/tokenizer/tokenizer.h"
#include "io/tokenizer/unicode.h"

namespace quantlm::tokenizer {

namespace {

struct Symbol {
  std::int32_t prev;
  std::int32_t next;
  std::uint32_t begin;
  std::uint32_t size;  // 0 once merged into its left neighbour
};

// A queued merge; stale once either side changed size (see the SentencePiece
// tokenizer: symbols only grow by absorbing their right neighbour).
struct Candidate {
  std::int32_t rank;
  std::int32_t left;
  std::int32_t right;
  std::uint32_t size;
};

// Lowest rank first; among equal ranks (one merge rule at several places) the leftmost.
struct LowerPriority {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

struct TextHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class ByteLevelBpeTokenizer final : public Tokenizer {
 public:
  ByteLevelBpeTokenizer(Vocabulary vocab, std::span<const std::string> merges, TokenizerConfig config);

  [[nodiscard]] TokenizerKind kind() const override { return TokenizerKind::byte_level_bpe; }

 protected:
  void encode_text(std::string_view text, bool after_special, std::vector<TokenId>& out) const override;
  void append_normal_piece(const TokenEntry& token, std::string& out) const override;

 private:
  // The rank of merging `left` and `right` (adjacent in `pair`, split after
  // `split` bytes), or -1.
  [[nodiscard]] std::int32_t rank(std::string_view pair, std::uint32_t split) const;
  void encode_word(const std::string& word, std::vector<TokenId>& out) const;

  // Merge rules keyed by the merged text; each entry lists (bytes in the left
  // part, rank), since "ab" + "c" and "a" + "bc" are different rules.
  std::unordered_map<std::string, std::vector<std::pair<std::uint32_t, std::int32_t>>, TextHash, std::equal_to<>>
      merges_;
};

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(Vocabulary vocab, std::span<const std::string> merges,
                                             TokenizerConfig config)
    : Tokenizer(std::move(vocab), config) {
  if (merges.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw make_error("{}: {} merges are more than ranks can address", vocabulary().source(), merges.size());
  }
  merges_.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const std::string& rule = merges[i];
    // The separator is the first space after the first byte, as llama.cpp
    // splits: a left part may itself start with a space.
    const std::size_t space = rule.size() > 1 ? rule.find(' ', 1) : std::string::npos;
    if (space == std::string::npos || space + 1 == rule.size()) {
      throw make_error("{}: tokenizer.ggml.merges[{}] = {}: expected two tokens separated by a space",
                       vocabulary().source(), i, gguf::quote_for_message(rule));
    }
    std::string merged = rule.substr(0, space) + rule.substr(space + 1);
    auto& rules = merges_[merged];
    const auto split = static_cast<std::uint32_t>(space);
    if (std::none_of(rules.begin(), rules.end(), [split](const auto& r) { return r.first == split; })) {
      rules.emplace_back(split, static_cast<std::int32_t>(i));
    }
  }
}

std::int32_t ByteLevelBpeTokenizer::rank(std::string_view pair, std::uint32_t split) const {
  const auto it = merges_.find(pair);
  if (it == merges_.end()) return -1;
  for (const auto& [s, r] : it->second) {
    if (s == split) return r;
  }
  return -1;
}

void ByteLevelBpeTokenizer::encode_text(std::string_view text, bool /*after_special*/,
                                        std::vector<TokenId>& out) const {
  for (const std::string& word : pre_tokenize(text, config().pre_tokenizer)) encode_word(byte_encode(word), out);
}

void ByteLevelBpeTokenizer::encode_word(const std::string& word, std::vector<TokenId>& out) const {
  const Vocabulary& vocab = vocabulary();
  if (config().ignore_merges) {
    if (const TokenId id = vocab.find(word); id != kNoToken) {
      out.push_back(id);
      return;
    }
  }
  if (word.size() > std::numeric_limits<std::uint32_t>::max() / 2)
    throw make_error("{}: a word of {} bytes is too long", vocab.source(), word.size());

  std::vector<Symbol> symbols;
  for (std::size_t pos = 0; pos < word.size();) {
    const std::size_t len = std::min(utf8_sequence_length(word[pos]), word.size() - pos);
    const auto index = static_cast<std::int32_t>(symbols.size());
    symbols.push_back({index - 1, pos + len == word.size() ? -1 : index + 1, static_cast<std::uint32_t>(pos),
                       static_cast<std::uint32_t>(len)});
    pos += len;
  }

  std::priority_queue<Candidate, std::vector<Candidate>, LowerPriority> queue;
  const std::string_view all(word);
  auto try_pair = [&](std::int32_t left, std::int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<std::size_t>(left)];
    const Symbol& r = symbols[static_cast<std::size_t>(right)];
    const std::int32_t k = rank(all.substr(l.begin, l.size + r.size), l.size);
    if (k >= 0) queue.push({k, left, right, l.size + r.size});
  };
  for (std::size_t i = 1; i < symbols.size(); ++i) {
    try_pair(static_cast<std::int32_t>(i - 1), static_cast<std::int32_t>(i));
  }
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& l = symbols[static_cast<std::size_t>(c.left)];
    Symbol& r = symbols[static_cast<std::size_t>(c.right)];
    if (l.size == 0 || r.size == 0 || l.size + r.size != c.size) continue;  // stale
    l.size += r.size;
    r.size = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[static_cast<std::size_t>(r.next)].prev = c.left;
    try_pair(l.prev, c.left);
    try_pair(c.left, l.next);
  }

  for (std::int32_t i = 0; i != -1 && !symbols.empty(); i = symbols[static_cast<std::size_t>(i)].next) {
    const Symbol& sym = symbols[static_cast<std::size_t>(i)];
    const std::string_view piece = all.substr(sym.begin, sym.size);
    if (const TokenId id = vocab.find(piece); id != kNoToken) {
      out.push_back(id);
      continue;
    }
    // A piece that is not a token falls back to tokens of its single bytes
    // (of the byte-mapped text, so in practice only ASCII ones exist); bytes
    // without a token are dropped, as llama.cpp drops them.
    for (const char c : piece) {
      if (const TokenId id = vocab.find(std::string_view(&c, 1)); id != kNoToken) out.push_back(id);
    }
  }
}

void ByteLevelBpeTokenizer::append_normal_piece(const TokenEntry& token, std::string& out) const {
  // Undo the byte map; a character outside it is written as llama.cpp does
  // ("[UNK_BYTE_0x..." + its UTF-8 bytes in hex + the token text + "]").
  for (const CodePoint cp : decode_utf8(token.text)) {
    if (const auto b = code_point_to_byte(cp)) {
      out.push_back(static_cast<char>(*b));
      continue;
    }
    std::string utf8;
    append_utf8(cp, utf8);
    out += "[UNK_BYTE_0x";
    for (const char c : utf8) out += fmt::format("{:02x}", static_cast<std::uint8_t>(c));
    out += token.text;
    out += "]";
  }
}

}  // namespace

std::unique_ptr<Tokenizer> make_byte_level_bpe_tokenizer(Vocabulary vocab, std::span<const std::string> merges,
                                                         TokenizerConfig config) {
  return std::make_unique<ByteLevelBpeTokenizer>(std::move(vocab), merges, config);
}

}  // namespace quantlm::tokenizer

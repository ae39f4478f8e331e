// SentencePiece-style tokenization as llama.cpp does it for "llama" vocabularies: best-score pair merges, byte
// fallback.
#include <algorithm>
#include <array>
#include <limits>
#include <queue>

#include "core/error.h"
#include "io/tokenizer/tokenizer.h"
#include "io/tokenizer/unicode.h"

namespace quantlm::tokenizer {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, how SentencePiece spells a space

// A run of the escaped text; merging appends the right neighbour to the left
// symbol and empties the right one, so symbols only ever grow to the right.
struct Symbol {
  std::int32_t prev;
  std::int32_t next;
  std::uint32_t begin;
  std::uint32_t size;  // 0 once merged into its left neighbour
};

// A possible merge of two neighbours, valid while both still have the sizes
// they had when it was queued (a symbol changes size only by absorbing its
// right neighbour or being absorbed, so the sizes decide staleness).
struct Candidate {
  float score;
  std::int32_t left;
  std::int32_t right;
  std::uint32_t size;  // left.size + right.size at queue time
};

// Highest score first; among equal scores the leftmost pair.
struct LowerPriority {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(Vocabulary vocab, TokenizerConfig config) : Tokenizer(std::move(vocab), config) {
    // Byte fallback: the <0xXX> token, else a token that is the byte itself
    // (llama.cpp's byte_to_token, in that order).
    const Vocabulary& v = vocabulary();
    for (unsigned b = 0; b < 256; ++b) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const std::array<char, 6> name = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>'};
      TokenId id = v.find(std::string_view(name.data(), name.size()));
      if (id == kNoToken) {
        const char raw = static_cast<char>(b);
        id = v.find(std::string_view(&raw, 1));
      }
      byte_tokens_[b] = id;
    }
  }

  [[nodiscard]] TokenizerKind kind() const override { return TokenizerKind::sentencepiece; }

 protected:
  void encode_text(std::string_view text, bool after_special, std::vector<TokenId>& out) const override;
  void append_normal_piece(const TokenEntry& token, std::string& out) const override;

 private:
  void append_bytes(std::string_view piece, std::vector<TokenId>& out) const;

  std::array<TokenId, 256> byte_tokens_{};
};

void SentencePieceTokenizer::encode_text(std::string_view text, bool after_special, std::vector<TokenId>& out) const {
  const Vocabulary& vocab = vocabulary();
  // Spaces become U+2581, with one more in front at the start of the text and
  // after each special token.
  std::string s;
  s.reserve(text.size() + text.size() / 2 + kSpaceMark.size());
  if (config().add_space_prefix && after_special) s += kSpaceMark;
  for (const char c : text) {
    if (c == ' ') {
      s += kSpaceMark;
    } else {
      s += c;
    }
  }
  if (s.empty()) return;
  if (s.size() > std::numeric_limits<std::uint32_t>::max() / 2)
    throw make_error("{}: text of {} bytes is too long to tokenize", vocab.source(), s.size());

  // One symbol per UTF-8 character (by lead byte, unvalidated, as llama.cpp).
  std::vector<Symbol> symbols;
  symbols.reserve(s.size());
  for (std::size_t pos = 0; pos < s.size();) {
    const std::size_t len = std::min(utf8_sequence_length(s[pos]), s.size() - pos);
    const auto index = static_cast<std::int32_t>(symbols.size());
    symbols.push_back({index - 1, pos + len == s.size() ? -1 : index + 1, static_cast<std::uint32_t>(pos),
                       static_cast<std::uint32_t>(len)});
    pos += len;
  }

  std::vector<Candidate> storage;
  storage.reserve(symbols.size());
  std::priority_queue<Candidate, std::vector<Candidate>, LowerPriority> queue(LowerPriority{}, std::move(storage));
  const std::string_view all(s);
  auto try_pair = [&](std::int32_t left, std::int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<std::size_t>(left)];
    const Symbol& r = symbols[static_cast<std::size_t>(right)];
    const TokenId id = vocab.find(all.substr(l.begin, l.size + r.size));  // neighbours are contiguous in s
    if (id == kNoToken) return;
    queue.push({vocab[id].score, left, right, l.size + r.size});
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

  // Every merged symbol is a token by construction; single characters that
  // are not fall back to their bytes.
  for (std::int32_t i = 0; i != -1; i = symbols[static_cast<std::size_t>(i)].next) {
    const Symbol& sym = symbols[static_cast<std::size_t>(i)];
    const std::string_view piece = all.substr(sym.begin, sym.size);
    const TokenId id = vocab.find(piece);
    if (id != kNoToken) {
      out.push_back(id);
    } else {
      append_bytes(piece, out);
    }
  }
}

void SentencePieceTokenizer::append_bytes(std::string_view piece, std::vector<TokenId>& out) const {
  for (const char c : piece) {
    const auto b = static_cast<std::uint8_t>(c);
    TokenId id = byte_tokens_[b];
    // llama.cpp aborts here; SentencePiece itself would emit the unknown token.
    if (id == kNoToken) id = config().unk;
    if (id == kNoToken) {
      throw make_error("{}: no byte token <0x{:02X}> and no unknown token to encode byte 0x{:02X}",
                       vocabulary().source(), b, b);
    }
    out.push_back(id);
  }
}

void SentencePieceTokenizer::append_normal_piece(const TokenEntry& token, std::string& out) const {
  const std::string_view text = token.text;
  std::size_t pos = 0;
  for (std::size_t mark = text.find(kSpaceMark); mark != std::string_view::npos; mark = text.find(kSpaceMark, pos)) {
    out.append(text.substr(pos, mark - pos));
    out.push_back(' ');
    pos = mark + kSpaceMark.size();
  }
  out.append(text.substr(pos));
}

}  // namespace

std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(Vocabulary vocab, TokenizerConfig config) {
  return std::make_unique<SentencePieceTokenizer>(std::move(vocab), config);
}

}  // namespace quantlm::tokenizer

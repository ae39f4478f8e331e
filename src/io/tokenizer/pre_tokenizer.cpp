// Splitting text into BPE words by hand-written matchers equivalent to llama.cpp's pre-tokenizer patterns.
#include "io/tokenizer/pre_tokenizer.h"

#include <array>
#include <cstddef>

#include "io/tokenizer/unicode.h"

namespace quantlm::tokenizer {

namespace {

// One table: every tokenizer.ggml.pre value accepted, with the flags llama.cpp
// 34af94cd sets for it (llama_vocab::impl::load).
constexpr std::array kPreTokenizers = {
    PreTokenizerInfo{"default", PreTokenizer::llama_default, true, false, false, true},
    PreTokenizerInfo{"gpt-2", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"phi-2", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"jina-es", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"jina-de", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"gigachat", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"jina-v2-es", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"jina-v2-de", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"a.x-4.0", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"mellum", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"modern-bert", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"jina-v1-en", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"jina-v2-code", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"roberta-bpe", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"mpt", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"olmo", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"jais", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"exaone4", PreTokenizer::gpt2, true, false, false, true},
    PreTokenizerInfo{"trillion", PreTokenizer::gpt2, false, false, false, true},
    PreTokenizerInfo{"granite-docling", PreTokenizer::gpt2, false, false, false, true},
    PreTokenizerInfo{"llama3", PreTokenizer::llama3, true, true, true, true},
    PreTokenizerInfo{"llama-v3", PreTokenizer::llama3, true, true, true, true},
    PreTokenizerInfo{"llama-bpe", PreTokenizer::llama3, true, true, true, true},
    PreTokenizerInfo{"falcon3", PreTokenizer::llama3, true, true, true, true},
    PreTokenizerInfo{"falcon-h1", PreTokenizer::llama3, true, true, true, true},
    PreTokenizerInfo{"pixtral", PreTokenizer::llama3, true, true, true, true},
    PreTokenizerInfo{"midm-2.0", PreTokenizer::llama3, true, true, true, true},
    PreTokenizerInfo{"lfm2", PreTokenizer::llama3, true, true, true, true},
    PreTokenizerInfo{"jina-v5-nano", PreTokenizer::llama3, true, true, true, true},
    PreTokenizerInfo{"dbrx", PreTokenizer::llama3, true, false, false, true},
    PreTokenizerInfo{"smaug-bpe", PreTokenizer::llama3, true, false, false, true},
    PreTokenizerInfo{"glm4", PreTokenizer::llama3, true, false, false, false},
    PreTokenizerInfo{"chatglm-bpe", PreTokenizer::llama3, true, false, false, false},
    PreTokenizerInfo{"qwen2", PreTokenizer::qwen2, false, false, false, true},
    PreTokenizerInfo{"deepseek-r1-qwen", PreTokenizer::qwen2, false, false, false, true},
    PreTokenizerInfo{"kormo", PreTokenizer::qwen2, false, false, false, true},
    PreTokenizerInfo{"f2llmv2", PreTokenizer::qwen2, false, false, false, true},
    PreTokenizerInfo{"hunyuan", PreTokenizer::qwen2, false, false, false, true},
    PreTokenizerInfo{"solar-open", PreTokenizer::qwen2, false, false, false, true},
    PreTokenizerInfo{"grok-2", PreTokenizer::qwen2, false, false, false, true},
    PreTokenizerInfo{"stablelm2", PreTokenizer::qwen2, true, false, false, true},
    PreTokenizerInfo{"megrez", PreTokenizer::qwen2, true, false, false, true},
};

// What a matcher needs to know about one position of a fragment. Positions
// outside the fragment are `none`: the patterns cannot look past it.
enum class Kind : std::uint8_t { none, letter, number, space, other };

// The code points of the whole text with their kinds, and the fragment
// [begin, end) being split; matchers append word lengths (in code points).
class Splitter {
 public:
  Splitter(const std::vector<CodePoint>& cps, const std::vector<Kind>& kinds, std::size_t begin, std::size_t end,
           std::vector<std::size_t>& out)
      : cps_(cps), kinds_(kinds), begin_(begin), end_(end), out_(out), last_(begin) {}

  void gpt2();
  void llama3(bool digit_groups_of_three);
  // Runs of code points for which `pred` holds become words, and so do the gaps between them.
  template <typename Pred>
  void runs(Pred pred);
  void ascii_digit_triples();

 private:
  [[nodiscard]] Kind kind(std::size_t pos) const { return pos < end_ ? kinds_[pos] : Kind::none; }
  [[nodiscard]] CodePoint cp(std::size_t pos) const { return pos < end_ ? cps_[pos] : 0xFFFFFFFFu; }
  // Ends the current word at `end` (nothing for an empty word).
  void emit(std::size_t end) {
    if (end > last_) out_.push_back(end - last_);
    last_ = end;
  }
  // The contractions 's 't 're 've 'm 'll 'd at pos: their length, or 0.
  [[nodiscard]] std::size_t contraction(std::size_t pos, bool any_case) const;
  // \s+(?!\S)|\s+ at pos, and llama3's \s*[\r\n]+ before them when `newlines`.
  [[nodiscard]] std::size_t whitespace_end(std::size_t pos, bool newlines) const;

  const std::vector<CodePoint>& cps_;
  const std::vector<Kind>& kinds_;
  std::size_t begin_;
  std::size_t end_;
  std::vector<std::size_t>& out_;
  std::size_t last_;
};

bool is_other(Kind k) { return k == Kind::other; }
CodePoint ascii_lower(CodePoint c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

std::size_t Splitter::contraction(std::size_t pos, bool any_case) const {
  if (cp(pos) != '\'' || pos + 1 >= end_) return 0;
  // Llama 3's (?i:...) only folds ASCII: no other code point lowercases to these letters.
  const CodePoint c1 = any_case ? ascii_lower(cp(pos + 1)) : cp(pos + 1);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (pos + 2 >= end_) return 0;
  const CodePoint c2 = any_case ? ascii_lower(cp(pos + 2)) : cp(pos + 2);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

std::size_t Splitter::whitespace_end(std::size_t pos, bool newlines) const {
  std::size_t n = 0;
  std::size_t after_last_newline = 0;
  while (kind(pos + n) == Kind::space) {
    if (newlines && (cp(pos + n) == '\r' || cp(pos + n) == '\n')) after_last_newline = pos + n + 1;
    ++n;
  }
  if (after_last_newline != 0) return after_last_newline;  // \s*[\r\n]+
  // \s+(?!\S): a run followed by a non-space leaves its last space to prefix the next word.
  if (n > 1 && pos + n < end_) return pos + n - 1;
  if (n > 0) return pos + n;  // \s+
  return pos + 1;             // no pattern matches: the code point stands alone
}

void Splitter::gpt2() {
  std::size_t pos = begin_;
  while (pos < end_) {
    if (const std::size_t n = contraction(pos, false); n != 0) {
      pos += n;
      emit(pos);
      continue;
    }
    // " ?X+" where X is the class of the code point after an optional ASCII space.
    const std::size_t head = cp(pos) == ' ' ? pos + 1 : pos;
    const Kind k = kind(head);
    if (k == Kind::letter || k == Kind::number || k == Kind::other) {
      pos = head + 1;
      while (kind(pos) == k) ++pos;
      emit(pos);
      continue;
    }
    pos = whitespace_end(pos, false);
    emit(pos);
  }
}

void Splitter::llama3(bool digit_groups_of_three) {
  std::size_t pos = begin_;
  while (pos < end_) {
    if (const std::size_t n = contraction(pos, true); n != 0) {
      pos += n;
      emit(pos);
      continue;
    }
    const CodePoint c = cp(pos);
    const Kind k = kind(pos);
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c != '\r' && c != '\n' && k != Kind::number && (k == Kind::letter || kind(pos + 1) == Kind::letter)) {
      ++pos;
      while (kind(pos) == Kind::letter) ++pos;
      emit(pos);
      continue;
    }
    // \p{N}{1,3} (Llama 3) or \p{N} (Qwen 2)
    if (k == Kind::number) {
      if (!digit_groups_of_three) {
        emit(++pos);
        continue;
      }
      std::size_t group = pos;
      while (kind(pos) == Kind::number) {
        if (++pos - group >= 3) {
          emit(pos);
          group = pos;
        }
      }
      emit(pos);
      continue;
    }
    // " ?[^\s\p{L}\p{N}]+[\r\n]*". A space that ends the fragment matches here
    // alone (llama.cpp tests the class of the position after it, which is none).
    const std::size_t head = c == ' ' ? pos + 1 : pos;
    const Kind h = kind(head);
    if (h == Kind::other || h == Kind::none) {
      pos = head;
      while (is_other(kind(pos))) ++pos;
      while (cp(pos) == '\r' || cp(pos) == '\n') ++pos;
      emit(pos);
      continue;
    }
    pos = whitespace_end(pos, true);
    emit(pos);
  }
}

template <typename Pred>
void Splitter::runs(Pred pred) {
  std::size_t pos = begin_;
  while (pos < end_) {
    if (!pred(cps_[pos])) {
      ++pos;
      continue;
    }
    emit(pos);  // the gap before the run
    while (pos < end_ && pred(cps_[pos])) ++pos;
    emit(pos);
  }
  emit(end_);
}

void Splitter::ascii_digit_triples() {
  auto digit = [this](std::size_t p) { return p < end_ && cps_[p] >= '0' && cps_[p] <= '9'; };
  std::size_t pos = begin_;
  while (pos < end_) {
    if (digit(pos) && digit(pos + 1) && digit(pos + 2)) {
      emit(pos);
      pos += 3;
      emit(pos);
    } else {
      ++pos;
    }
  }
  emit(end_);
}

Kind kind_of(CodePoint cp) {
  if (is_whitespace(cp)) return Kind::space;
  switch (char_class(cp)) {
    case CharClass::letter:
      return Kind::letter;
    case CharClass::number:
      return Kind::number;
    default:
      return Kind::other;
  }
}

// llama.cpp's first default pass is [\p{P}\$\+<=>\^~\|]+ evaluated on text
// where each non-ASCII code point is replaced by a byte standing for its class.
bool is_punctuation_run_char(CodePoint cp) {
  switch (cp) {
    case '$':
    case '+':
    case '<':
    case '=':
    case '>':
    case '^':
    case '~':
    case '|':
      return true;
    default:
      return !is_whitespace(cp) && char_class(cp) == CharClass::punctuation;
  }
}

bool is_number_char(CodePoint cp) { return !is_whitespace(cp) && char_class(cp) == CharClass::number; }

}  // namespace

std::string_view to_string(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::llama_default:
      return "default";
    case PreTokenizer::gpt2:
      return "gpt2";
    case PreTokenizer::llama3:
      return "llama3";
    case PreTokenizer::qwen2:
      return "qwen2";
  }
  return "?";
}

std::optional<PreTokenizerInfo> find_pre_tokenizer(std::string_view name) {
  for (const PreTokenizerInfo& info : kPreTokenizers) {
    if (info.name == name) return info;
  }
  return std::nullopt;
}

std::string supported_pre_tokenizers() {
  std::string out;
  for (const PreTokenizerInfo& info : kPreTokenizers) {
    if (!out.empty()) out += ", ";
    out += info.name;
  }
  return out;
}

std::vector<std::string> pre_tokenize(std::string_view text, PreTokenizer kind) {
  const std::vector<CodePoint> cps = decode_utf8(text);
  if (cps.empty()) return {};
  std::vector<Kind> kinds(cps.size());
  for (std::size_t i = 0; i < cps.size(); ++i) kinds[i] = kind_of(cps[i]);

  // Each pass splits every word of the previous one further, as llama.cpp
  // applies its list of patterns; words are kept as lengths until the end.
  std::vector<std::size_t> lengths{cps.size()};
  auto pass = [&](auto&& split) {
    std::vector<std::size_t> next;
    next.reserve(lengths.size() * 2);
    std::size_t begin = 0;
    for (const std::size_t len : lengths) {
      Splitter s(cps, kinds, begin, begin + len, next);
      split(s);
      begin += len;
    }
    lengths = std::move(next);
  };
  switch (kind) {
    case PreTokenizer::llama_default:
      pass([](Splitter& s) { s.runs(is_punctuation_run_char); });
      pass([](Splitter& s) { s.gpt2(); });
      pass([](Splitter& s) { s.runs(is_number_char); });
      pass([](Splitter& s) { s.ascii_digit_triples(); });
      break;
    case PreTokenizer::gpt2:
      pass([](Splitter& s) { s.gpt2(); });
      break;
    case PreTokenizer::llama3:
      pass([](Splitter& s) { s.llama3(true); });
      break;
    case PreTokenizer::qwen2:
      pass([](Splitter& s) { s.llama3(false); });
      break;
  }

  std::vector<std::string> words;
  words.reserve(lengths.size());
  std::size_t begin = 0;
  for (const std::size_t len : lengths) {
    std::string word;
    for (std::size_t i = begin; i < begin + len; ++i) append_utf8(cps[i], word);
    words.push_back(std::move(word));
    begin += len;
  }
  return words;
}

}  // namespace quantlm::tokenizer

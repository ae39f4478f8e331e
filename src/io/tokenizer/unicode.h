// The Unicode the tokenizers need: UTF-8 decoding as llama.cpp does it, letter/number/punctuation classes, GPT-2's byte
// map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace quantlm::tokenizer {

using CodePoint = std::uint32_t;

inline constexpr CodePoint kReplacementChar = 0xFFFD;

// The general-category classes the pre-tokenizer patterns test (\p{L}, \p{N},
// \p{P}); every other category, and unassigned code points, are `other`.
enum class CharClass : std::uint8_t { other, letter, number, punctuation };

namespace detail {
inline constexpr CharClass kLetter = CharClass::letter;
inline constexpr CharClass kNumber = CharClass::number;
inline constexpr CharClass kPunctuation = CharClass::punctuation;

struct CategoryRange {
  CodePoint first;
  CodePoint last;  // inclusive
  CharClass cls;
};

// Generated from UnicodeData.txt (unicode_table.cpp, gen_unicode_table.py).
extern const CategoryRange kCategoryRanges[];
extern const std::size_t kCategoryRangeCount;
}  // namespace detail

[[nodiscard]] CharClass char_class(CodePoint cp);

// Unicode's White_Space property (the 25 code points of PropList.txt), which
// is what \s means to the pre-tokenizer patterns.
[[nodiscard]] bool is_whitespace(CodePoint cp);

// Bytes in the UTF-8 sequence that `lead` starts, from its high four bits
// alone (1 for ASCII and for stray continuation bytes, up to 4). The
// SentencePiece-style tokenizer splits text into "characters" this way, without
// validating the continuation bytes, exactly as llama.cpp does.
[[nodiscard]] std::size_t utf8_sequence_length(char lead);

// Decodes UTF-8 the way llama.cpp's BPE path does: a byte that does not start a
// complete sequence becomes U+FFFD and decoding resumes at the next byte.
// Overlong forms and surrogates are decoded as written (llama.cpp does not
// reject them); sequences above U+10FFFF, which llama.cpp fails on later, are
// treated as invalid bytes.
[[nodiscard]] std::vector<CodePoint> decode_utf8(std::string_view text);

// Appends the UTF-8 encoding of cp (which must be <= 0x10FFFF).
void append_utf8(CodePoint cp, std::string& out);

// GPT-2's reversible byte-to-character map: printable Latin-1 bytes stand for
// themselves, the other 68 bytes for U+0100.. in byte order, so that every
// byte sequence becomes printable text without spaces.
[[nodiscard]] CodePoint byte_to_code_point(std::uint8_t byte);
[[nodiscard]] std::optional<std::uint8_t> code_point_to_byte(CodePoint cp);

// Each byte of `bytes` replaced by its GPT-2 character, as UTF-8.
[[nodiscard]] std::string byte_encode(std::string_view bytes);

}  // namespace quantlm::tokenizer

// UTF-8 decoding, character classes and GPT-2's byte map for the tokenizers.
#include "io/tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <cassert>

namespace quantlm::tokenizer {

namespace {

// ASCII is most of the text the tokenizers see: its classes are looked up in a
// table built once from the generated ranges instead of a binary search.
std::array<CharClass, 128> make_ascii_classes() {
  std::array<CharClass, 128> classes{};
  for (std::size_t i = 0; i < detail::kCategoryRangeCount; ++i) {
    const detail::CategoryRange& r = detail::kCategoryRanges[i];
    for (CodePoint cp = r.first; cp <= r.last && cp < 128; ++cp) classes[cp] = r.cls;
  }
  return classes;
}

// The map's image lies below U+0144: 188 printable bytes map to themselves and
// the other 68 to U+0100..U+0143.
constexpr CodePoint kByteMapLimit = 256 + 68;

struct ByteMap {
  std::array<CodePoint, 256> to_code_point{};
  std::array<std::int16_t, kByteMapLimit> to_byte{};  // -1 where no byte maps
};

ByteMap make_byte_map() {
  ByteMap map;
  map.to_byte.fill(-1);
  CodePoint next = 256;
  for (unsigned b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const CodePoint cp = printable ? b : next++;
    map.to_code_point[b] = cp;
    map.to_byte[cp] = static_cast<std::int16_t>(b);
  }
  assert(next == kByteMapLimit);
  return map;
}

const ByteMap& byte_map() {
  static const ByteMap map = make_byte_map();
  return map;
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

CharClass char_class(CodePoint cp) {
  static const std::array<CharClass, 128> ascii = make_ascii_classes();
  if (cp < 128) return ascii[cp];
  const detail::CategoryRange* begin = detail::kCategoryRanges;
  const detail::CategoryRange* end = begin + detail::kCategoryRangeCount;
  const auto* it =
      std::upper_bound(begin, end, cp, [](CodePoint c, const detail::CategoryRange& r) { return c < r.first; });
  if (it == begin) return CharClass::other;
  --it;
  return cp <= it->last ? it->cls : CharClass::other;
}

bool is_whitespace(CodePoint cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

std::size_t utf8_sequence_length(char lead) {
  static constexpr std::array<std::uint8_t, 16> kLengths = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[static_cast<unsigned char>(lead) >> 4];
}

std::vector<CodePoint> decode_utf8(std::string_view text) {
  std::vector<CodePoint> out;
  out.reserve(text.size());
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  while (i < n) {
    const unsigned char b0 = byte(i);
    CodePoint cp = kReplacementChar;
    std::size_t len = 1;
    if (b0 < 0x80) {
      cp = b0;
    } else if (b0 >= 0xC0 && b0 < 0xE0) {
      if (i + 1 < n && is_continuation(byte(i + 1))) {
        cp = ((b0 & 0x1Fu) << 6) | (byte(i + 1) & 0x3Fu);
        len = 2;
      }
    } else if (b0 >= 0xE0 && b0 < 0xF0) {
      if (i + 2 < n && is_continuation(byte(i + 1)) && is_continuation(byte(i + 2))) {
        cp = ((b0 & 0x0Fu) << 12) | ((byte(i + 1) & 0x3Fu) << 6) | (byte(i + 2) & 0x3Fu);
        len = 3;
      }
    } else if (b0 >= 0xF0 && b0 < 0xF8) {
      if (i + 3 < n && is_continuation(byte(i + 1)) && is_continuation(byte(i + 2)) && is_continuation(byte(i + 3))) {
        const CodePoint v =
            ((b0 & 0x07u) << 18) | ((byte(i + 1) & 0x3Fu) << 12) | ((byte(i + 2) & 0x3Fu) << 6) | (byte(i + 3) & 0x3Fu);
        if (v <= 0x10FFFF) {
          cp = v;
          len = 4;
        }
      }
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(CodePoint cp, std::string& out) {
  assert(cp <= 0x10FFFF);
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

CodePoint byte_to_code_point(std::uint8_t byte) { return byte_map().to_code_point[byte]; }

std::optional<std::uint8_t> code_point_to_byte(CodePoint cp) {
  if (cp >= kByteMapLimit) return std::nullopt;
  const std::int16_t b = byte_map().to_byte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<std::uint8_t>(b);
}

std::string byte_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) append_utf8(byte_to_code_point(static_cast<std::uint8_t>(c)), out);
  return out;
}

}  // namespace quantlm::tokenizer

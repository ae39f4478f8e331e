// Value accessors, type names and the human-readable rendering of metadata values.
#include "io/gguf/gguf_value.h"

#include <fmt/format.h>

#include <cassert>
#include <limits>
#include <type_traits>

namespace quantlm::gguf {
namespace {

// The variant orders are the contract that makes type() an index lookup.
static_assert(std::is_same_v<std::variant_alternative_t<7, Value::Storage>, bool>);
static_assert(std::is_same_v<std::variant_alternative_t<8, Value::Storage>, std::string>);
static_assert(std::is_same_v<std::variant_alternative_t<9, Value::Storage>, Array>);
static_assert(std::is_same_v<std::variant_alternative_t<12, Value::Storage>, double>);
static_assert(std::variant_size_v<Value::Storage> == kValueTypeCount);

constexpr std::size_t kDisplayStringBytes = 200;
constexpr std::size_t kDisplayItemBytes = 40;

// Cuts `text` to at most `limit` bytes without splitting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
  return text.substr(0, cut);
}

std::string display_string(std::string_view text, std::size_t limit) {
  const std::string_view shown = utf8_prefix(text, limit);
  std::string out = "\"";
  for (const char ch : shown) {
    const auto byte = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (byte < 0x20U || byte == 0x7FU) {
          out += fmt::format("\\x{:02x}", byte);
        } else {
          out += ch;  // printable ASCII and UTF-8 bytes pass through
        }
    }
  }
  out += '"';
  if (shown.size() < text.size()) out += fmt::format("... ({} bytes)", text.size());
  return out;
}

template <typename T>
std::string display_scalar(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return display_string(v, kDisplayItemBytes);
  } else if constexpr (std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::int8_t>) {
    return fmt::format("{}", static_cast<int>(v));  // not as a character
  } else {
    return fmt::format("{}", v);
  }
}

}  // namespace

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::u8:
      return "u8";
    case ValueType::i8:
      return "i8";
    case ValueType::u16:
      return "u16";
    case ValueType::i16:
      return "i16";
    case ValueType::u32:
      return "u32";
    case ValueType::i32:
      return "i32";
    case ValueType::f32:
      return "f32";
    case ValueType::boolean:
      return "bool";
    case ValueType::string:
      return "str";
    case ValueType::array:
      return "arr";
    case ValueType::u64:
      return "u64";
    case ValueType::i64:
      return "i64";
    case ValueType::f64:
      return "f64";
  }
  return "?";
}

std::size_t value_type_size(ValueType type) {
  switch (type) {
    case ValueType::u8:
    case ValueType::i8:
    case ValueType::boolean:
      return 1;
    case ValueType::u16:
    case ValueType::i16:
      return 2;
    case ValueType::u32:
    case ValueType::i32:
    case ValueType::f32:
      return 4;
    case ValueType::u64:
    case ValueType::i64:
    case ValueType::f64:
      return 8;
    case ValueType::string:
    case ValueType::array:
      return 0;
  }
  return 0;
}

std::size_t Array::size() const {
  return std::visit([](const auto& v) { return v.size(); }, items);
}

bool Array::consistent() const {
  // Index of the items alternative each element type needs; -1: not allowed in an array.
  constexpr int kItemsIndex[kValueTypeCount] = {0, 1, 2, 3, 4, 5, 6, /*bool*/ 0, /*string*/ 10, /*array*/ -1, 7, 8, 9};
  const auto t = static_cast<std::uint32_t>(element_type);
  if (t >= kValueTypeCount || kItemsIndex[t] != static_cast<int>(items.index())) return false;
  if (element_type == ValueType::boolean) {
    for (const std::uint8_t b : std::get<std::vector<std::uint8_t>>(items)) {
      if (b > 1) return false;
    }
  }
  return true;
}

Value::Value(ValueType type, Storage storage) : storage_(std::move(storage)) {
  assert(this->type() == type && "Value: the type must match the storage");
  static_cast<void>(type);
}

std::optional<std::int64_t> Value::as_int() const {
  return std::visit(
      [](const auto& v) -> std::optional<std::int64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::uint64_t>) {
          if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
          return static_cast<std::int64_t>(v);
        } else if constexpr (std::is_integral_v<T>) {  // bool included
          return static_cast<std::int64_t>(v);
        } else {
          return std::nullopt;
        }
      },
      storage_);
}

std::optional<double> Value::as_double() const {
  return std::visit(
      [](const auto& v) -> std::optional<double> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_arithmetic_v<T>) {
          return static_cast<double>(v);
        } else {
          return std::nullopt;
        }
      },
      storage_);
}

std::string Value::to_display_string(std::size_t max_items) const {
  if (const std::string* s = as_string()) return display_string(*s, kDisplayStringBytes);
  if (const Array* a = as_array()) {
    const bool is_bool = a->element_type == ValueType::boolean;
    return std::visit(
        [&](const auto& items) {
          std::string out = "[";
          const std::size_t shown = std::min(items.size(), max_items);
          for (std::size_t i = 0; i < shown; ++i) {
            if (i > 0) out += ", ";
            if constexpr (std::is_same_v<std::decay_t<decltype(items)>, std::vector<std::uint8_t>>) {
              out += is_bool ? display_scalar(items[i] != 0) : display_scalar(items[i]);
            } else {
              out += display_scalar(items[i]);
            }
          }
          if (shown < items.size()) out += fmt::format("{}... ({} items)", shown > 0 ? ", " : "", items.size());
          return out + "]";
        },
        a->items);
  }
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, Array>) {
          return {};  // handled above
        } else {
          return display_scalar(v);
        }
      },
      storage_);
}

std::string quote_for_message(std::string_view text, std::size_t max_bytes) {
  std::string out = "'";
  const std::size_t shown = std::min(text.size(), max_bytes);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20U && byte < 0x7FU && byte != '\'' && byte != '\\') {
      out += static_cast<char>(byte);
    } else {
      out += fmt::format("\\x{:02x}", byte);
    }
  }
  out += '\'';
  if (shown < text.size()) out += fmt::format("... ({} bytes)", text.size());
  return out;
}

}  // namespace quantlm::gguf

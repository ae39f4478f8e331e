// GGUF metadata values: the thirteen value types of the spec, arrays included, kept exactly as read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace quantlm::gguf {

// Value type ids as the GGUF spec persists them.
enum class ValueType : std::uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};
inline constexpr std::uint32_t kValueTypeCount = 13;

// "u32", "f32", "bool", "str", "arr" (llama.cpp's spellings); "?" for an id outside the spec.
[[nodiscard]] std::string_view value_type_name(ValueType type);
// Bytes one element of a fixed-size type takes in the file; 0 for string and array.
[[nodiscard]] std::size_t value_type_size(ValueType type);

// A homogeneous array. Booleans are stored one byte each (as in the file), so
// a bool array is a std::vector<std::uint8_t> with element_type == boolean;
// every byte is 0 or 1 (the reader rejects others, the writer too).
// Nested arrays are not supported (llama.cpp rejects them too).
// Build one as {ValueType::f32, std::vector<float>{...}}: element_type must
// name the vector's type, which consistent() checks (the writer enforces it).
struct Array {
  ValueType element_type = ValueType::u8;
  std::variant<std::vector<std::uint8_t>, std::vector<std::int8_t>, std::vector<std::uint16_t>,
               std::vector<std::int16_t>, std::vector<std::uint32_t>, std::vector<std::int32_t>, std::vector<float>,
               std::vector<std::uint64_t>, std::vector<std::int64_t>, std::vector<double>, std::vector<std::string>>
      items;

  [[nodiscard]] std::size_t size() const;
  // Whether `items` holds the vector type that element_type calls for.
  [[nodiscard]] bool consistent() const;
  friend bool operator==(const Array&, const Array&) = default;
};

// One metadata value. The exact type is kept so that a round trip writes the
// same bytes (a u32 stays a u32 even where an i32 would hold the value).
class Value {
 public:
  // The alternatives are in ValueType order, so the type is the variant's
  // index: there is no second copy of it that could disagree.
  using Storage = std::variant<std::uint8_t, std::int8_t, std::uint16_t, std::int16_t, std::uint32_t, std::int32_t,
                               float, bool, std::string, Array, std::uint64_t, std::int64_t, double>;

  Value() = default;
  explicit Value(Storage storage) : storage_(std::move(storage)) {}
  // `type` must be the type `storage` holds (asserted); kept for callers that spell both.
  Value(ValueType type, Storage storage);

  static Value from_u8(std::uint8_t v) { return Value(Storage{v}); }
  static Value from_i8(std::int8_t v) { return Value(Storage{v}); }
  static Value from_u16(std::uint16_t v) { return Value(Storage{v}); }
  static Value from_i16(std::int16_t v) { return Value(Storage{v}); }
  static Value from_u32(std::uint32_t v) { return Value(Storage{v}); }
  static Value from_i32(std::int32_t v) { return Value(Storage{v}); }
  static Value from_u64(std::uint64_t v) { return Value(Storage{v}); }
  static Value from_i64(std::int64_t v) { return Value(Storage{v}); }
  static Value from_f32(float v) { return Value(Storage{v}); }
  static Value from_f64(double v) { return Value(Storage{v}); }
  static Value from_bool(bool v) { return Value(Storage{v}); }
  static Value from_string(std::string v) { return Value(Storage{std::move(v)}); }
  static Value from_array(Array v) { return Value(Storage{std::move(v)}); }

  [[nodiscard]] ValueType type() const { return static_cast<ValueType>(storage_.index()); }
  [[nodiscard]] const Storage& storage() const { return storage_; }

  // Any integer type (and bool) as int64; nullopt for other types or a u64 above INT64_MAX.
  [[nodiscard]] std::optional<std::int64_t> as_int() const;
  // Any numeric type (and bool) as double; nullopt for strings and arrays.
  [[nodiscard]] std::optional<double> as_double() const;
  [[nodiscard]] const std::string* as_string() const { return std::get_if<std::string>(&storage_); }
  [[nodiscard]] const Array* as_array() const { return std::get_if<Array>(&storage_); }
  // A short human-readable rendering for `quantlm info`: strings quoted with
  // control bytes escaped and cut after 200 bytes, arrays cut after max_items
  // items ("[1, 2, ... (512 items)]").
  [[nodiscard]] std::string to_display_string(std::size_t max_items = 8) const;

  friend bool operator==(const Value&, const Value&) = default;

 private:
  Storage storage_ = std::uint8_t{0};
};

// Metadata in file order (order matters for a byte-identical round trip).
struct KeyValue {
  std::string key;
  Value value;
  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

// `text` quoted for an error message: non-printable bytes as \xNN, cut after
// `max_bytes` bytes, so that a hostile key or name cannot flood a terminal.
[[nodiscard]] std::string quote_for_message(std::string_view text, std::size_t max_bytes = 80);

}  // namespace quantlm::gguf

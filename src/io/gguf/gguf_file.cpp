// GGUF parsing: every field is bounds-checked and every failure names the file, the field and the expectation.
#include "io/gguf/gguf_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <utility>

#include "core/error.h"
#include "io/gguf/byte_reader.h"
#include "io/gguf/gguf_layout.h"

namespace quantlm::gguf {
namespace {

constexpr std::uint64_t kNoIndex = std::numeric_limits<std::uint64_t>::max();

// Untrusted counts never size an allocation up front beyond this: a vector
// grows only as elements are actually parsed, each of which consumed bytes.
constexpr std::uint64_t kMaxReserve = 4096;

// A cursor plus the description of the item being parsed ("metadata key
// 'x'"), so that any failure can say where it happened.
class Parser {
 public:
  Parser(std::span<const std::byte> bytes, std::string path) : reader_(bytes), path_(std::move(path)) {}

  ByteReader& reader() { return reader_; }
  void set_context(std::string context) { context_ = std::move(context); }

  // Throws "<path>: <context>: <field>: <detail>"; `index` appends "[i]"-style numbering.
  [[noreturn]] void fail(std::string_view field, const std::string& detail, std::uint64_t index = kNoIndex) const {
    std::string where = context_;
    if (!field.empty()) {
      where += fmt::format(": {}", field);
      if (index != kNoIndex) where += fmt::format(" {}", index);
    }
    throw make_error("{}: {}: {}", path_, where, detail);
  }

  template <typename T>
  T take(std::string_view field, std::uint64_t index = kNoIndex) {
    T value{};
    if (!reader_.read(value)) truncated(field, sizeof(T), index);
    return value;
  }

  std::string_view take_string(std::string_view field, std::uint64_t index = kNoIndex) {
    const std::size_t at = reader_.offset();
    const auto length = take<std::uint64_t>(field, index);
    if (length > layout::kMaxStringBytes) {
      fail(field,
           fmt::format("string length {} at offset {} exceeds the limit of {} bytes", length, at,
                       layout::kMaxStringBytes),
           index);
    }
    std::string_view text;
    if (!reader_.read_chars(length, text)) {
      fail(field,
           fmt::format("string length {} at offset {} extends past the end of the file ({} bytes)", length, at,
                       reader_.size()),
           index);
    }
    return text;
  }

  [[noreturn]] void truncated(std::string_view field, std::size_t need, std::uint64_t index = kNoIndex) const {
    fail(field,
         fmt::format("needs {} bytes at offset {}, but the file ends at {} (truncated?)", need, reader_.offset(),
                     reader_.size()),
         index);
  }

 private:
  ByteReader reader_;
  std::string path_;
  std::string context_;
};

bool is_known_value_type(std::uint32_t t) { return t < kValueTypeCount; }

template <typename T>
std::vector<T> take_fixed_array(Parser& p, std::uint64_t count) {
  // The caller checked count * sizeof(T) against the bytes left.
  std::span<const std::byte> raw;
  if (!p.reader().read_bytes(count * sizeof(T), raw)) p.truncated("items", count * sizeof(T));
  std::vector<T> items(count);
  if (!raw.empty()) std::memcpy(items.data(), raw.data(), raw.size());
  return items;
}

Array take_array(Parser& p) {
  const auto element = p.take<std::uint32_t>("array element type");
  if (element == static_cast<std::uint32_t>(ValueType::array)) {
    p.fail("array element type", "nested arrays are not supported");
  }
  if (!is_known_value_type(element)) {
    p.fail("array element type", fmt::format("unknown value type {} (expected 0 to 12, not 9)", element));
  }
  const auto type = static_cast<ValueType>(element);
  const std::size_t at = p.reader().offset();
  const auto count = p.take<std::uint64_t>("array count");
  if (count > layout::kMaxArrayItems) {
    p.fail("array count",
           fmt::format("{} items at offset {} exceed the limit of {}", count, at, layout::kMaxArrayItems));
  }
  // Strings take at least their 8-byte length each.
  const std::uint64_t min_item = type == ValueType::string ? 8 : value_type_size(type);
  if (count > p.reader().remaining() / min_item) {
    p.fail("array count",
           fmt::format("{} items of type {} cannot fit in the {} bytes left after offset {} (at least {} bytes each)",
                       count, value_type_name(type), p.reader().remaining(), p.reader().offset(), min_item));
  }
  Array array{type, {}};
  switch (type) {
    case ValueType::u8:
      array.items = take_fixed_array<std::uint8_t>(p, count);
      break;
    case ValueType::i8:
      array.items = take_fixed_array<std::int8_t>(p, count);
      break;
    case ValueType::u16:
      array.items = take_fixed_array<std::uint16_t>(p, count);
      break;
    case ValueType::i16:
      array.items = take_fixed_array<std::int16_t>(p, count);
      break;
    case ValueType::u32:
      array.items = take_fixed_array<std::uint32_t>(p, count);
      break;
    case ValueType::i32:
      array.items = take_fixed_array<std::int32_t>(p, count);
      break;
    case ValueType::f32:
      array.items = take_fixed_array<float>(p, count);
      break;
    case ValueType::u64:
      array.items = take_fixed_array<std::uint64_t>(p, count);
      break;
    case ValueType::i64:
      array.items = take_fixed_array<std::int64_t>(p, count);
      break;
    case ValueType::f64:
      array.items = take_fixed_array<double>(p, count);
      break;
    case ValueType::boolean: {
      std::vector<std::uint8_t> items = take_fixed_array<std::uint8_t>(p, count);
      for (std::size_t i = 0; i < items.size(); ++i) {
        // Only 0 and 1 round-trip: llama.cpp would rewrite any other byte as 1.
        if (items[i] > 1) p.fail("element", fmt::format("bool must be 0 or 1, found {}", items[i]), i);
      }
      array.items = std::move(items);
      break;
    }
    case ValueType::string: {
      std::vector<std::string> items;
      items.reserve(std::min(count, kMaxReserve));
      for (std::uint64_t i = 0; i < count; ++i) items.emplace_back(p.take_string("element", i));
      array.items = std::move(items);
      break;
    }
    case ValueType::array:
      break;  // rejected above
  }
  return array;
}

Value take_value(Parser& p, ValueType type) {
  switch (type) {
    case ValueType::u8:
      return Value::from_u8(p.take<std::uint8_t>("value"));
    case ValueType::i8:
      return Value::from_i8(p.take<std::int8_t>("value"));
    case ValueType::u16:
      return Value::from_u16(p.take<std::uint16_t>("value"));
    case ValueType::i16:
      return Value::from_i16(p.take<std::int16_t>("value"));
    case ValueType::u32:
      return Value::from_u32(p.take<std::uint32_t>("value"));
    case ValueType::i32:
      return Value::from_i32(p.take<std::int32_t>("value"));
    case ValueType::f32:
      return Value::from_f32(p.take<float>("value"));
    case ValueType::u64:
      return Value::from_u64(p.take<std::uint64_t>("value"));
    case ValueType::i64:
      return Value::from_i64(p.take<std::int64_t>("value"));
    case ValueType::f64:
      return Value::from_f64(p.take<double>("value"));
    case ValueType::boolean: {
      const auto byte = p.take<std::uint8_t>("value");
      if (byte > 1) p.fail("value", fmt::format("bool must be 0 or 1, found {}", byte));
      return Value::from_bool(byte == 1);
    }
    case ValueType::string:
      return Value::from_string(std::string(p.take_string("value")));
    case ValueType::array:
      return Value::from_array(take_array(p));
  }
  return {};  // unreachable: the caller checked the type id
}

// How a tensor's byte size follows from its type and dimensions, for messages
// about sizes: "98 bytes per row x 5 rows of I4_G32 [172, 5]". The rows of
// quantlm's formats carry headers and ragged groups, so the size is not
// elements x bits / 8 and a message must say what the reader expected.
std::string size_note(const TensorInfo& t) {
  const std::int64_t cols = t.ne.empty() ? 1 : static_cast<std::int64_t>(t.ne[0]);
  const std::optional<std::int64_t> row = t.format->row_bytes_checked(cols);  // valid: checked when read
  std::uint64_t rows = 1;  // the product fits: tensor_bytes() checked it
  for (std::size_t d = 1; d < t.ne.size(); ++d) rows *= t.ne[d];
  return fmt::format("{} bytes: {} bytes per row x {} rows of {} {}", t.bytes, row.value_or(0), rows, t.format->name,
                     layout::dims_to_string(t.ne));
}

std::string tensor_context(std::size_t i, std::string_view name) {
  return fmt::format("tensor {} ({})", i, quote_for_message(name));
}

}  // namespace

GgufFile GgufFile::open(const std::filesystem::path& path) {
  GgufFile file;
  file.file_ = MappedFile::open(path);
  file.path_ = path;
  file.parse();
  return file;
}

GgufFile GgufFile::from_bytes(std::span<const std::byte> bytes, const std::filesystem::path& name) {
  GgufFile file;
  file.owned_.assign(bytes.begin(), bytes.end());
  file.path_ = name;
  file.parse();
  return file;
}

void GgufFile::parse() {
  Parser p(bytes(), path_.string());
  ByteReader& r = p.reader();

  // Header: magic, version, counts.
  p.set_context("header");
  if (r.size() == 0) p.fail("", "the file is empty (expected a GGUF header)");
  if (const auto magic = p.take<std::uint32_t>("magic"); magic != kMagic) {
    std::string as_text(4, '\0');
    std::memcpy(as_text.data(), &magic, 4);
    p.fail("magic", fmt::format("expected 'GGUF' (0x{:08x}), found {} (0x{:08x}); not a GGUF file", kMagic,
                                quote_for_message(as_text), magic));
  }
  version_ = p.take<std::uint32_t>("version");
  if (version_ == 1) {
    p.fail("version", "GGUF version 1 is not supported (it used 32-bit counts); expected 2 or 3");
  } else if (version_ != 2 && version_ != 3) {
    // A byte-swapped (big-endian) v3 file reads as 0x03000000.
    const bool swapped = (version_ & 0xFFFFU) == 0;
    p.fail("version", fmt::format("unsupported GGUF version {} (0x{:08x}); expected 2 or 3{}", version_, version_,
                                  swapped ? " (a big-endian file? only little-endian GGUF is supported)" : ""));
  }
  const auto tensor_count = p.take<std::uint64_t>("tensor_count");
  const auto kv_count = p.take<std::uint64_t>("kv_count");
  const std::uint64_t left = r.remaining();
  if (tensor_count > left / layout::kMinTensorInfoBytes) {
    p.fail("tensor_count", fmt::format("{} tensor infos cannot fit in the {} bytes after the header "
                                       "(each takes at least {} bytes)",
                                       tensor_count, left, layout::kMinTensorInfoBytes));
  }
  if (kv_count > left / layout::kMinKeyValueBytes ||
      kv_count * layout::kMinKeyValueBytes > left - tensor_count * layout::kMinTensorInfoBytes) {
    p.fail("kv_count",
           fmt::format("{} key-values and {} tensor infos cannot fit in the {} bytes after the header "
                       "(at least {} and {} bytes each)",
                       kv_count, tensor_count, left, layout::kMinKeyValueBytes, layout::kMinTensorInfoBytes));
  }

  // Metadata, in file order.
  metadata_.reserve(std::min(kv_count, kMaxReserve));
  for (std::uint64_t i = 0; i < kv_count; ++i) {
    p.set_context(fmt::format("metadata key {}", i));
    std::string key(p.take_string("key"));
    if (key.empty()) p.fail("key", "is empty");
    p.set_context(fmt::format("metadata key {}", quote_for_message(key)));
    if (const auto it = key_index_.find(key); it != key_index_.end()) {
      p.fail("", fmt::format("duplicate key (metadata keys {} and {})", it->second, i));
    }
    const auto type = p.take<std::uint32_t>("value type");
    if (!is_known_value_type(type)) p.fail("value type", fmt::format("unknown value type {} (expected 0 to 12)", type));
    Value value = take_value(p, static_cast<ValueType>(type));
    key_index_.emplace(key, metadata_.size());
    metadata_.push_back({std::move(key), std::move(value)});
  }

  if (const Value* a = find(kAlignmentKey)) {
    p.set_context(fmt::format("metadata key '{}'", kAlignmentKey));
    if (a->type() != ValueType::u32) {
      p.fail("", fmt::format("expected type u32, found {}", value_type_name(a->type())));
    }
    alignment_ = std::get<std::uint32_t>(a->storage());
    if (!layout::is_valid_alignment(alignment_)) {
      p.fail("", fmt::format("expected a nonzero power of two, found {}", alignment_));
    }
  }

  // Tensor infos.
  tensors_.reserve(std::min(tensor_count, kMaxReserve));
  for (std::uint64_t i = 0; i < tensor_count; ++i) {
    p.set_context(fmt::format("tensor {}", i));
    TensorInfo info;
    info.name = std::string(p.take_string("name"));
    p.set_context(tensor_context(i, info.name));
    if (info.name.size() > layout::kMaxTensorNameBytes) {
      p.fail("name", fmt::format("{} bytes long, expected at most {} (llama.cpp's limit)", info.name.size(),
                                 layout::kMaxTensorNameBytes));
    }
    if (const auto it = tensor_index_.find(info.name); it != tensor_index_.end()) {
      p.fail("name", fmt::format("duplicate tensor name (tensors {} and {})", it->second, i));
    }
    const auto n_dims = p.take<std::uint32_t>("n_dims");
    if (n_dims > layout::kMaxDims) {
      p.fail("n_dims", fmt::format("expected at most {} dimensions, found {}", layout::kMaxDims, n_dims));
    }
    for (std::uint32_t d = 0; d < n_dims; ++d) info.ne.push_back(p.take<std::uint64_t>("ne", d));
    const auto type = p.take<std::uint32_t>("type");
    info.format = formats::find_format(type);
    if (info.format == nullptr) p.fail("type", fmt::format("unknown tensor type {}", type));
    info.offset = p.take<std::uint64_t>("offset");
    if (const std::string problem = layout::tensor_bytes(info.ne, *info.format, info.bytes); !problem.empty()) {
      p.fail("shape", problem);
    }
    if (info.offset % alignment_ != 0) {
      p.fail("offset", fmt::format("{} is not a multiple of the alignment {}", info.offset, alignment_));
    }
    // Shape is row-major: GGUF's innermost ne[0] becomes the last dimension.
    info.shape.rank = static_cast<int>(n_dims);
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      info.shape.dims[n_dims - 1 - d] = static_cast<std::int64_t>(info.ne[d]);  // < 2^63, checked above
    }
    tensor_index_.emplace(info.name, tensors_.size());
    tensors_.push_back(std::move(info));
  }

  // The data section starts at the header end padded to the alignment.
  const std::uint64_t header_end = r.offset();
  const std::uint64_t size = r.size();
  data_offset_ = layout::align_up(header_end, alignment_);
  if (data_offset_ > size) {
    p.set_context("header");
    p.fail("data section", fmt::format("header ends at {}; padded to the {}-byte alignment the data section starts "
                                       "at {}, past the end of the file ({} bytes)",
                                       header_end, alignment_, data_offset_, size));
  }

  // Every tensor's data, padded, inside the file.
  const std::uint64_t data_size = size - data_offset_;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const TensorInfo& t = tensors_[i];
    p.set_context(tensor_context(i, t.name));
    if (t.offset > data_size) {
      p.fail("offset", fmt::format("{} is past the end of the data section, which holds {} bytes (file offsets {} "
                                   "to {})",
                                   t.offset, data_size, data_offset_, size));
    }
    const std::uint64_t begin = data_offset_ + t.offset;  // <= size, no overflow
    if (t.bytes > data_size - t.offset) {
      p.fail("", fmt::format("data [{}, {}) ({}) extends past the end of the file ({} bytes)", begin, begin + t.bytes,
                             size_note(t), size));
    }
    const std::uint64_t padded_end = data_offset_ + layout::align_up(t.offset + t.bytes, alignment_);
    if (padded_end > size) {
      p.fail("", fmt::format("data [{}, {}) padded to the {}-byte alignment ends at {}, past the end of the file ({} "
                             "bytes; truncated?)",
                             begin, begin + t.bytes, alignment_, padded_end, size));
    }
  }

  // No two tensors share bytes (empty tensors hold none, so they cannot overlap).
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    if (tensors_[i].bytes > 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  for (std::size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = tensors_[order[k - 1]];
    const TensorInfo& cur = tensors_[order[k]];
    if (cur.offset < prev.offset + prev.bytes) {
      p.set_context(tensor_context(order[k], cur.name));
      p.fail("", fmt::format("data [{}, {}) overlaps tensor {} ({}) at [{}, {}) ({})", data_offset_ + cur.offset,
                             data_offset_ + cur.offset + cur.bytes, order[k - 1], quote_for_message(prev.name),
                             data_offset_ + prev.offset, data_offset_ + prev.offset + prev.bytes, size_note(prev)));
    }
  }
}

const Value* GgufFile::find(std::string_view key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> GgufFile::tensor_data(const TensorInfo& info) const {
  // Only infos of this file were validated against its bytes.
  // std::less gives a total order even for pointers into different objects.
  const std::less<> before;
  const bool ours =
      !tensors_.empty() && !before(&info, tensors_.data()) && before(&info, tensors_.data() + tensors_.size());
  if (!ours) {
    throw make_error("{}: tensor {}: the TensorInfo does not belong to this file", path_.string(),
                     quote_for_message(info.name));
  }
  return bytes().subspan(data_offset_ + info.offset, info.bytes);
}

TensorView GgufFile::tensor_view(const TensorInfo& info) const {
  return make_contiguous_view(tensor_data(info).data(), info.shape, info.format->storage());
}

}  // namespace quantlm::gguf

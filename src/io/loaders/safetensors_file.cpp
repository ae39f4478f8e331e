// Reading a safetensors file: every header field is validated against the file before any data is viewed.
#include "io/loaders/safetensors_file.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/error.h"
#include "io/gguf/gguf_value.h"
#include "io/loaders/loader_util.h"

namespace quantlm::io {

namespace {

using nlohmann::json;

// The reference implementation (huggingface/safetensors) refuses larger headers.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
// Tensor entries nest three deep ({"t": {"shape": [..]}}); anything deeper is not a safetensors header.
constexpr int kMaxJsonDepth = 3;

const formats::FormatTraits* float_format(formats::FormatId id) { return &formats::traits(id); }

std::string quote(std::string_view name) { return gguf::quote_for_message(name); }

// Parses the header JSON, refusing duplicate top-level keys (which JSON
// libraries resolve differently, so two readers could see different tensors)
// and deep nesting.
json parse_header(std::string_view text, const std::string& file) {
  std::set<std::string> seen;
  std::string duplicate;
  const json::parser_callback_t callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) throw make_error("{}: header: JSON nested deeper than a safetensors header", file);
    if (event == json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    throw make_error("{}: header: invalid JSON ({})", file, e.what());
  }
  if (!duplicate.empty()) throw make_error("{}: header: tensor {} is listed twice", file, quote(duplicate));
  if (!header.is_object()) throw make_error("{}: header: expected a JSON object, got {}", file, header.type_name());
  return header;
}

std::uint64_t offset_value(const json& v, const std::string& file, const std::string& tensor) {
  if (!v.is_number_unsigned()) {
    throw make_error("{}: tensor {}: data_offsets must hold two non-negative integers", file, quote(tensor));
  }
  return v.get<std::uint64_t>();
}

}  // namespace

std::optional<SafetensorsDtype> find_safetensors_dtype(std::string_view name) {
  using formats::FormatId;
  static const std::array<SafetensorsDtype, 15> kDtypes = {{
      {"F32", 4, float_format(FormatId::F32)},
      {"F16", 2, float_format(FormatId::F16)},
      {"BF16", 2, float_format(FormatId::BF16)},
      {"F64", 8, nullptr},
      {"F8_E4M3", 1, nullptr},
      {"F8_E5M2", 1, nullptr},
      {"BOOL", 1, nullptr},
      {"U8", 1, nullptr},
      {"I8", 1, nullptr},
      {"U16", 2, nullptr},
      {"I16", 2, nullptr},
      {"U32", 4, nullptr},
      {"I32", 4, nullptr},
      {"U64", 8, nullptr},
      {"I64", 8, nullptr},
  }};
  for (const SafetensorsDtype& d : kDtypes) {
    if (d.name == name) return d;
  }
  return std::nullopt;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile file;
  file.file_ = MappedFile::open(path);
  file.parse();
  return file;
}

void SafetensorsFile::parse() {
  const std::string name = file_.path().string();
  const std::uint64_t size = file_.size();
  if (size < 8) throw make_error("{}: header length: needs 8 bytes, but the file has {} (truncated?)", name, size);
  std::uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, file_.data(), 8);  // little-endian: checked for the whole of io/ in byte_reader.h
  if (header_bytes < 2 || header_bytes > kMaxHeaderBytes) {
    throw make_error("{}: header length {} is out of range (expected 2 to {} bytes)", name, header_bytes,
                     kMaxHeaderBytes);
  }
  if (header_bytes > size - 8) {
    throw make_error("{}: header length {} extends past the end of the file ({} bytes; truncated?)", name, header_bytes,
                     size);
  }
  data_start_ = 8 + header_bytes;
  const std::uint64_t data_size = size - data_start_;
  const std::string_view text(reinterpret_cast<const char*>(file_.data()) + 8, header_bytes);
  const json header = parse_header(text, name);

  for (const auto& item : header.items()) {
    const std::string& key = item.key();
    const json& entry = item.value();
    if (key == "__metadata__") {
      if (!entry.is_object()) throw make_error("{}: __metadata__ must be an object of strings", name);
      for (const auto& [mk, mv] : entry.items()) {
        if (!mv.is_string()) throw make_error("{}: __metadata__ entry {} is not a string", name, quote(mk));
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    const auto fail = [&](std::string_view field, const std::string& detail) {
      return make_error("{}: tensor {}: {}: {}", name, quote(key), field, detail);
    };
    if (!entry.is_object()) throw make_error("{}: tensor {}: expected an object", name, quote(key));
    const auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end() || !dtype_it->is_string()) throw fail("dtype", "missing or not a string");
    const auto dtype = find_safetensors_dtype(dtype_it->get<std::string>());
    if (!dtype) throw fail("dtype", fmt::format("unknown dtype {}", quote(dtype_it->get<std::string>())));

    SafetensorsTensor t{key, *dtype, {}, 0, 0};
    const auto shape_it = entry.find("shape");
    if (shape_it == entry.end() || !shape_it->is_array()) throw fail("shape", "missing or not an array");
    std::int64_t elements = 1;
    for (const json& d : *shape_it) {
      if (!d.is_number_unsigned() || d.get<std::uint64_t>() > std::uint64_t{1} << 62) {
        throw fail("shape", fmt::format("{} is not a dimension (a non-negative integer)", d.dump()));
      }
      t.shape.push_back(d.get<std::int64_t>());
      const auto product = checked_mul(elements, t.shape.back());
      if (!product) throw fail("shape", "the element count overflows");
      elements = *product;
    }
    const auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
      throw fail("data_offsets", "missing or not a pair");
    }
    t.begin = offset_value((*offsets_it)[0], name, key);
    t.end = offset_value((*offsets_it)[1], name, key);
    if (t.begin > t.end || t.end > data_size) {
      throw fail("data_offsets", fmt::format("[{}, {}] is outside the data section of {} bytes (truncated?)", t.begin,
                                             t.end, data_size));
    }
    const auto bytes = checked_mul(elements, static_cast<std::int64_t>(dtype->bytes));
    if (!bytes || static_cast<std::uint64_t>(*bytes) != t.end - t.begin) {
      throw fail("data_offsets", fmt::format("[{}, {}] holds {} bytes, but shape [{}] of {} needs {}", t.begin, t.end,
                                             t.end - t.begin, fmt::join(t.shape, ", "), dtype->name,
                                             bytes ? fmt::format("{}", *bytes) : std::string("more than 2^63")));
    }
    tensors_.push_back(std::move(t));
  }

  std::sort(tensors_.begin(), tensors_.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Sorted by start, a tensor overlaps an earlier one exactly when it starts
  // before the furthest end seen so far. Empty tensors occupy no bytes.
  const SafetensorsTensor* furthest = nullptr;
  for (const SafetensorsTensor& cur : tensors_) {
    if (cur.begin == cur.end) continue;
    if (furthest != nullptr && cur.begin < furthest->end) {
      throw make_error("{}: tensor {}: data_offsets [{}, {}] overlap tensor {} at [{}, {}]", name, quote(cur.name),
                       cur.begin, cur.end, quote(furthest->name), furthest->begin, furthest->end);
    }
    if (furthest == nullptr || cur.end > furthest->end) furthest = &cur;
  }
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  for (const SafetensorsTensor& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::span<const std::byte> SafetensorsFile::data(const SafetensorsTensor& tensor) const {
  return file_.bytes().subspan(data_start_ + tensor.begin, tensor.end - tensor.begin);
}

}  // namespace quantlm::io

// GGUF image assembly for tests: llama.cpp's layout unless a test overrides a field.
#include "io/gguf_builder.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "formats/format_traits.h"

namespace quantlm::test {
namespace {

constexpr std::uint64_t kMaxTestData = std::uint64_t{1} << 24;

std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

RawKv make_kv(std::string key, std::uint32_t type, const Bytes& payload) {
  return RawKv{std::move(key), type, payload.data()};
}

}  // namespace

Bytes& Bytes::raw(const void* p, std::size_t n) {
  const std::size_t at = data_.size();
  data_.resize(at + n);
  if (n > 0) std::memcpy(data_.data() + at, p, n);
  return *this;
}

RawKv kv_u8(std::string key, std::uint8_t v) { return make_kv(std::move(key), 0, Bytes().u8(v)); }
RawKv kv_u32(std::string key, std::uint32_t v) { return make_kv(std::move(key), 4, Bytes().u32(v)); }
RawKv kv_f32(std::string key, float v) { return make_kv(std::move(key), 6, Bytes().f32(v)); }
RawKv kv_bool_raw(std::string key, std::uint8_t byte) { return make_kv(std::move(key), 7, Bytes().u8(byte)); }
RawKv kv_string(std::string key, std::string_view v) { return make_kv(std::move(key), 8, Bytes().str(v)); }

RawKv kv_array(std::string key, std::uint32_t element_type, std::uint64_t count, const Bytes& items) {
  Bytes payload;
  payload.u32(element_type).u64(count).raw(items.data().data(), items.size());
  return make_kv(std::move(key), 9, payload);
}

std::uint64_t GgufImage::tensor_bytes(std::size_t i) const {
  const RawTensor& t = tensors[i];
  const formats::FormatTraits* f = formats::find_format(t.type);
  if (f == nullptr) return 0;
  std::uint64_t n = 1;
  for (const std::uint64_t d : t.ne) {
    if (d != 0 && n > kMaxTestData / d) return 0;
    n *= d;
  }
  if (n == 0) return 0;
  // Rows of the format's own size (per-row headers and ragged groups of quantlm's formats).
  const std::uint64_t cols = t.ne.empty() ? 1 : t.ne[0];
  const std::optional<std::int64_t> row = f->row_bytes_checked(static_cast<std::int64_t>(cols));
  if (!row) return 0;
  const std::uint64_t rows = n / cols;
  if (*row != 0 && rows > kMaxTestData / static_cast<std::uint64_t>(*row)) return 0;
  return rows * static_cast<std::uint64_t>(*row);
}

std::byte pattern_byte(std::size_t tensor, std::size_t j) {
  return static_cast<std::byte>((tensor * 71 + j * 13 + 5) & 0xFFU);
}

std::vector<std::byte> GgufImage::build() const {
  Bytes out;
  out.u32(magic).u32(version);
  out.u64(tensor_count.value_or(tensors.size()));
  out.u64(kv_count.value_or(kvs.size()));
  for (const RawKv& kv : kvs) {
    out.str(kv.key).u32(kv.type).raw(kv.payload.data(), kv.payload.size());
  }
  std::vector<std::uint64_t> offsets;
  std::uint64_t next = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const RawTensor& t = tensors[i];
    const std::uint64_t offset = t.offset.value_or(next);
    offsets.push_back(offset);
    out.str(t.name).u32(t.n_dims.value_or(static_cast<std::uint32_t>(t.ne.size())));
    for (const std::uint64_t d : t.ne) out.u64(d);
    out.u32(t.type).u64(offset);
    next = align_up(next + tensor_bytes(i), alignment);
  }
  std::vector<std::byte> bytes = out.data();
  const std::size_t data_start = align_up(bytes.size(), alignment);
  // The data section reaches the furthest padded tensor end that is sane to allocate.
  std::uint64_t data_size = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::uint64_t end = offsets[i] + tensor_bytes(i);
    if (offsets[i] <= kMaxTestData && end <= kMaxTestData) data_size = std::max(data_size, align_up(end, alignment));
  }
  bytes.resize(data_start + data_size, std::byte{0});
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::uint64_t n = tensor_bytes(i);
    if (offsets[i] > kMaxTestData || offsets[i] + n > kMaxTestData) continue;
    for (std::size_t j = 0; j < n; ++j) bytes[data_start + offsets[i] + j] = pattern_byte(i, j);
  }
  return bytes;
}

GgufImage small_valid_image() {
  GgufImage image;
  Bytes names;
  names.str("x").str("yz");
  image.kvs = {kv_string("general.architecture", "llama"), kv_u32("llama.block_count", 5),
               kv_array("tokenizer.ggml.tokens", 8, 2, names)};
  image.tensors = {{"a", {4, 3}, 0, {}, {}}, {"b", {64, 2}, 2, {}, {}}, {"c", {5}, 1, {}, {}}};
  return image;
}

std::vector<std::byte> read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  if (!chars.empty()) std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

void write_file_bytes(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace quantlm::test

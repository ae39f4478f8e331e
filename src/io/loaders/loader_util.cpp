// Helpers the model-source loaders share: GGUF metadata building, overflow-checked sizes, owned tensor buffers.
#include "io/loaders/loader_util.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <random>
#include <utility>

#include "core/error.h"

namespace quantlm::io {

void MetadataBuilder::string(std::string key, std::string value) {
  out_.push_back({std::move(key), gguf::Value::from_string(std::move(value))});
}

void MetadataBuilder::u32(std::string key, std::int64_t value) {
  assert(value >= 0 && value <= std::numeric_limits<std::uint32_t>::max());
  out_.push_back({std::move(key), gguf::Value::from_u32(static_cast<std::uint32_t>(value))});
}

void MetadataBuilder::f32(std::string key, double value) {
  out_.push_back({std::move(key), gguf::Value::from_f32(static_cast<float>(value))});
}

void MetadataBuilder::boolean(std::string key, bool value) {
  out_.push_back({std::move(key), gguf::Value::from_bool(value)});
}

void append_tokenizer_metadata(const tokenizer::Vocabulary& vocab, const tokenizer::TokenizerConfig& config,
                               const std::string& model, const std::string& pre, std::span<const std::string> merges,
                               std::vector<gguf::KeyValue>& metadata) {
  MetadataBuilder md(metadata);
  md.string("tokenizer.ggml.model", model);
  if (!pre.empty()) md.string("tokenizer.ggml.pre", pre);
  std::vector<std::string> texts;
  std::vector<float> scores;
  std::vector<std::int32_t> types;
  for (const tokenizer::TokenEntry& t : vocab.tokens()) {
    texts.push_back(t.text);
    scores.push_back(t.score);
    types.push_back(static_cast<std::int32_t>(t.type));
  }
  metadata.push_back({"tokenizer.ggml.tokens", gguf::Value::from_array({gguf::ValueType::string, std::move(texts)})});
  if (model == "llama") {
    metadata.push_back({"tokenizer.ggml.scores", gguf::Value::from_array({gguf::ValueType::f32, std::move(scores)})});
  }
  metadata.push_back({"tokenizer.ggml.token_type", gguf::Value::from_array({gguf::ValueType::i32, std::move(types)})});
  if (!merges.empty()) {
    metadata.push_back(
        {"tokenizer.ggml.merges",
         gguf::Value::from_array({gguf::ValueType::string, std::vector<std::string>(merges.begin(), merges.end())})});
  }
  for (const auto& [key, id] :
       {std::pair{"tokenizer.ggml.bos_token_id", config.bos}, std::pair{"tokenizer.ggml.eos_token_id", config.eos},
        std::pair{"tokenizer.ggml.unknown_token_id", config.unk},
        std::pair{"tokenizer.ggml.padding_token_id", config.pad}}) {
    if (id != tokenizer::kNoToken) md.u32(key, id);
  }
  md.boolean("tokenizer.ggml.add_bos_token", config.add_bos);
  md.boolean("tokenizer.ggml.add_eos_token", config.add_eos);
  if (model == "llama") md.boolean("tokenizer.ggml.add_space_prefix", config.add_space_prefix);
}

std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t product = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

std::span<std::byte> own_bytes(ModelSource& source, std::size_t size) {
  auto buffer = std::make_shared<AlignedBuffer<>>(size, BufferInit::uninitialized);
  const std::span<std::byte> bytes = buffer->bytes();
  source.keep_alive.push_back(std::move(buffer));
  return bytes;
}

std::span<const std::byte> aligned_data(ModelSource& source, std::span<const std::byte> data, std::size_t alignment) {
  if (reinterpret_cast<std::uintptr_t>(data.data()) % alignment == 0) return data;
  const std::span<std::byte> copy = own_bytes(source, data.size());
  std::memcpy(copy.data(), data.data(), data.size());
  return copy;
}

namespace {

// (block, position) for sort_gguf_order; block -1 for the tensors before the blocks.
std::pair<std::int64_t, std::int64_t> gguf_rank(std::string_view name) {
  constexpr std::array<std::string_view, 4> kGlobal = {"rope_freqs.weight", "token_embd.weight", "output_norm.weight",
                                                       "output.weight"};
  constexpr std::array<std::string_view, 12> kBlock = {"attn_q.weight",      "attn_q.bias",      "attn_k.weight",
                                                       "attn_k.bias",        "attn_v.weight",    "attn_v.bias",
                                                       "attn_output.weight", "attn_norm.weight", "ffn_gate.weight",
                                                       "ffn_down.weight",    "ffn_up.weight",    "ffn_norm.weight"};
  constexpr std::pair<std::int64_t, std::int64_t> kUnknown = {std::numeric_limits<std::int64_t>::max(), 0};
  for (std::size_t i = 0; i < kGlobal.size(); ++i) {
    if (name == kGlobal[i]) return {-1, static_cast<std::int64_t>(i)};
  }
  if (!name.starts_with("blk.")) return kUnknown;
  name.remove_prefix(4);
  std::int64_t block = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), block);
  if (ec != std::errc() || end == name.data() + name.size() || *end != '.') return kUnknown;
  const std::string_view suffix = name.substr(static_cast<std::size_t>(end - name.data()) + 1);
  for (std::size_t i = 0; i < kBlock.size(); ++i) {
    if (suffix == kBlock[i]) return {block, static_cast<std::int64_t>(i)};
  }
  return {block, static_cast<std::int64_t>(kBlock.size())};
}

}  // namespace

void sort_gguf_order(std::vector<SourceTensor>& tensors) {
  std::stable_sort(tensors.begin(), tensors.end(),
                   [](const SourceTensor& a, const SourceTensor& b) { return gguf_rank(a.name) < gguf_rank(b.name); });
}

void permute_rope_rows(std::span<const std::byte> src, std::span<std::byte> dst, std::int64_t n_head,
                       std::int64_t row_bytes, bool inverse) {
  const auto row = static_cast<std::size_t>(row_bytes);
  const std::size_t rows = src.size() / row;
  assert(src.size() == dst.size() && rows * row == src.size() && rows % static_cast<std::size_t>(n_head) == 0);
  const std::size_t head_dim = rows / static_cast<std::size_t>(n_head);
  const std::size_t half = head_dim / 2;
  assert(half * 2 == head_dim);
  for (std::size_t h = 0; h < static_cast<std::size_t>(n_head); ++h) {
    for (std::size_t i = 0; i < half; ++i) {
      for (std::size_t j = 0; j < 2; ++j) {
        // Hugging Face row (h, j, i) is GGUF row (h, i, j): the first half of a
        // head's rows hold the pairs' first elements, GGUF interleaves them.
        const std::size_t hf = h * head_dim + j * half + i;
        const std::size_t gg = h * head_dim + i * 2 + j;
        const std::size_t from = inverse ? gg : hf;
        const std::size_t to = inverse ? hf : gg;
        std::memcpy(dst.data() + to * row, src.data() + from * row, row);
      }
    }
  }
}

AtomicFile::AtomicFile(std::filesystem::path path) : path_(std::move(path)) {
  const std::filesystem::path dir = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  std::random_device seed;
  std::mt19937_64 rng((std::uint64_t{seed()} << 32U) ^ seed());
  constexpr std::string_view kChars = "abcdefghijklmnopqrstuvwxyz0123456789";
  // Not mkstemp: it creates files 0600, and an output model should get the
  // permissions the user's umask gives any new file.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = path_.filename().string() + ".tmp-";
    for (int i = 0; i < 6; ++i) name += kChars[rng() % kChars.size()];
    const std::filesystem::path candidate = dir / name;
    fd_ = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) {
      temp_path_ = candidate;
      return;
    }
    if (errno != EEXIST)
      throw system_error(fmt::format("cannot create a temporary file beside '{}'", path_.string()), errno);
  }
  throw make_error("cannot create a temporary file beside '{}': 100 names were taken", path_.string());
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

void AtomicFile::fail(const std::string& what, int errno_value) {
  const std::string message = fmt::format("{} '{}' (temporary file '{}')", what, path_.string(), temp_path_.string());
  discard();
  throw system_error(message, errno_value);
}

void AtomicFile::write(std::span<const std::byte> bytes) {
  if (fd_ < 0) throw make_error("{}: the file was already committed or failed", path_.string());
  const std::byte* data = bytes.data();
  std::size_t n = bytes.size();
  while (n > 0) {
    const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);  // Linux caps one write near 2 GiB
    const ssize_t written = ::write(fd_, data, chunk);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) fail("cannot write", written < 0 ? errno : EIO);
    data += written;
    n -= static_cast<std::size_t>(written);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) throw make_error("{}: the file was already committed or failed", path_.string());
  if (::fsync(fd_) != 0) fail("cannot flush", errno);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) fail("cannot close", errno);  // NFS reports write errors here
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("cannot rename into place", errno);
  temp_path_.clear();
}

}  // namespace quantlm::io

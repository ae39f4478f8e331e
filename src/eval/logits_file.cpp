// Saved base-model logits for KL divergence: computed once, reused against many models (format: docs/EVALUATION.md).
#include "eval/logits_file.h"

#include <unistd.h>

#include <array>
#include <bit>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "core/error.h"

namespace quantlm::eval {
namespace {

// The file is little-endian and read by memcpy: only little-endian hosts.
static_assert(std::endian::native == std::endian::little, "base logits files are little-endian");

constexpr std::array<char, 8> kMagic = {'Q', 'L', 'M', 'L', 'O', 'G', 'I', 'T'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kFixedHeaderBytes = 80;  // up to the description
constexpr std::size_t kDataAlignment = 64;     // rows start on a cache line
constexpr std::size_t kMaxDescription = 4096;

template <typename T>
T get(std::span<const std::byte> bytes, std::size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

std::size_t align_up(std::size_t n) { return (n + kDataAlignment - 1) / kDataAlignment * kDataAlignment; }

std::vector<std::byte> serialize(const BaseLogitsHeader& h) {
  const std::string base = h.base.substr(0, kMaxDescription);
  std::vector<std::byte> out(align_up(kFixedHeaderBytes + base.size()));  // zeros pad to the data
  std::size_t at = 0;
  auto put = [&](const auto& value) {
    std::memcpy(out.data() + at, &value, sizeof value);
    at += sizeof value;
  };
  put(kMagic);
  put(kVersion);
  put(static_cast<std::uint32_t>(h.protocol));
  put(h.n_ctx);
  put(h.n_tokens);
  put(h.n_chunks);
  put(h.first_scored);
  put(h.scored_per_chunk());
  put(h.vocab);
  put(h.token_hash);
  put(h.chunk_bos);
  put(static_cast<std::uint32_t>(base.size()));
  assert(at == kFixedHeaderBytes);
  std::memcpy(out.data() + at, base.data(), base.size());
  return out;
}

}  // namespace

std::uint64_t BaseLogitsHeader::floats_per_chunk() const {
  return static_cast<std::uint64_t>(scored_per_chunk()) * static_cast<std::uint64_t>(vocab);
}

BaseLogitsHeader make_base_logits_header(const EvalTokens& text, const ChunkPlan& plan, std::int64_t vocab,
                                         std::string base) {
  BaseLogitsHeader h;
  h.protocol = plan.protocol;
  h.n_ctx = plan.n_ctx;
  h.n_tokens = plan.n_tokens;
  h.n_chunks = plan.n_chunks;
  h.first_scored = plan.first_scored;
  h.vocab = vocab;
  h.token_hash = hash_tokens(text.ids);
  h.chunk_bos = text.chunk_bos.value_or(-1);
  h.base = std::move(base);
  return h;
}

BaseLogitsWriter::BaseLogitsWriter(std::filesystem::path path, BaseLogitsHeader header)
    : path_(std::move(path)), header_(std::move(header)) {
  // Beside the target so that the final rename stays on one file system; "x"
  // refuses to reuse a name another writer holds.
  temp_path_ = path_;
  temp_path_ += fmt::format(".partial-{}", ::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wbx");
  if (file_ == nullptr) {
    const int e = errno;
    temp_path_.clear();
    throw system_error(fmt::format("--save-base '{}': cannot create a temporary file beside it", path_.string()), e);
  }
  const std::vector<std::byte> bytes = serialize(header_);
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) fail("cannot write", errno);
}

BaseLogitsWriter::~BaseLogitsWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!temp_path_.empty()) std::remove(temp_path_.c_str());
}

void BaseLogitsWriter::fail(const std::string& what, int errno_value) {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  if (!temp_path_.empty()) std::remove(temp_path_.c_str());
  temp_path_.clear();
  throw system_error(fmt::format("--save-base '{}': {}", path_.string(), what), errno_value);
}

void BaseLogitsWriter::write_chunk(std::span<const float> scored_logits) {
  if (file_ == nullptr) throw make_error("--save-base '{}': write after the file was closed", path_.string());
  if (written_ >= header_.n_chunks || scored_logits.size() != header_.floats_per_chunk()) {
    throw make_error("--save-base '{}': chunk {} of {} with {} floats (expected {})", path_.string(), written_,
                     header_.n_chunks, scored_logits.size(), header_.floats_per_chunk());
  }
  if (std::fwrite(scored_logits.data(), sizeof(float), scored_logits.size(), file_) != scored_logits.size()) {
    fail("cannot write", errno);
  }
  ++written_;
}

void BaseLogitsWriter::finish() {
  if (file_ == nullptr || written_ != header_.n_chunks) {
    throw make_error("--save-base '{}': finished after {} of {} chunks", path_.string(), written_, header_.n_chunks);
  }
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) fail("cannot flush", errno);
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) fail("cannot close", errno);
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("cannot rename into place", errno);
  temp_path_.clear();
}

BaseLogitsFile BaseLogitsFile::open(const std::filesystem::path& path) {
  BaseLogitsFile f;
  f.file_ = MappedFile::open(path);
  const std::span<const std::byte> bytes = f.file_.bytes();
  const std::string name = fmt::format("--base-logits '{}'", path.string());
  if (bytes.size() < kFixedHeaderBytes || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    throw make_error("{}: not a quantlm base-logits file (written by quantlm kld --save-base)", name);
  }
  if (const auto version = get<std::uint32_t>(bytes, 8); version != kVersion) {
    throw make_error("{}: format version {}, this quantlm reads version {}", name, version, kVersion);
  }
  BaseLogitsHeader& h = f.header_;
  const auto protocol = get<std::uint32_t>(bytes, 12);
  if (protocol > static_cast<std::uint32_t>(Protocol::full))
    throw make_error("{}: unknown protocol {}", name, protocol);
  h.protocol = static_cast<Protocol>(protocol);
  h.n_ctx = get<std::int64_t>(bytes, 16);
  h.n_tokens = get<std::int64_t>(bytes, 24);
  h.n_chunks = get<std::int64_t>(bytes, 32);
  h.first_scored = get<std::int64_t>(bytes, 40);
  const auto scored = get<std::int64_t>(bytes, 48);
  h.vocab = get<std::int64_t>(bytes, 56);
  h.token_hash = get<std::uint64_t>(bytes, 64);
  h.chunk_bos = get<std::int32_t>(bytes, 72);
  const auto description = get<std::uint32_t>(bytes, 76);
  // Bounds that keep every product below 2^63: a corrupt header is an error, never an overflow.
  constexpr std::int64_t kLimit = std::int64_t{1} << 31;
  if (h.n_ctx < 2 || h.n_ctx > kLimit || h.first_scored < 0 || h.first_scored > h.n_ctx - 2 ||
      scored != h.scored_per_chunk() || h.vocab < 1 || h.vocab > kLimit || h.n_chunks < 0 || h.n_tokens < 0 ||
      h.n_chunks > h.n_tokens / h.n_ctx || description > kMaxDescription) {
    throw make_error("{}: inconsistent header (n_ctx {}, first scored {}, scored {}, vocab {}, chunks {}, tokens {})",
                     name, h.n_ctx, h.first_scored, scored, h.vocab, h.n_chunks, h.n_tokens);
  }
  if (bytes.size() < kFixedHeaderBytes + description) throw make_error("{}: truncated header", name);
  h.base.assign(reinterpret_cast<const char*>(bytes.data() + kFixedHeaderBytes), description);
  f.data_offset_ = align_up(kFixedHeaderBytes + description);
  const std::uint64_t data_bytes = h.floats_per_chunk() * sizeof(float);
  if (data_bytes != 0 &&
      static_cast<std::uint64_t>(h.n_chunks) > std::numeric_limits<std::uint64_t>::max() / data_bytes) {
    throw make_error("{}: inconsistent header (data size overflows)", name);
  }
  const std::uint64_t expected = f.data_offset_ + static_cast<std::uint64_t>(h.n_chunks) * data_bytes;
  if (bytes.size() != expected) {
    throw make_error(
        "{}: {} bytes, but its header describes {} ({} chunks × {} rows × {} logits): truncated or "
        "not written to the end",
        name, bytes.size(), expected, h.n_chunks, scored, h.vocab);
  }
  return f;
}

void BaseLogitsFile::read_chunk(std::int64_t chunk, std::span<float> out) const {
  if (chunk < 0 || chunk >= header_.n_chunks || out.size() != header_.floats_per_chunk()) {
    throw make_error("--base-logits '{}': chunk {} of {} requested into {} floats", path().string(), chunk,
                     header_.n_chunks, out.size());
  }
  const std::size_t chunk_bytes = out.size() * sizeof(float);
  std::memcpy(out.data(), file_.data() + data_offset_ + static_cast<std::size_t>(chunk) * chunk_bytes, chunk_bytes);
}

void BaseLogitsFile::check_matches(const EvalTokens& text, const ChunkPlan& plan, std::int64_t vocab) const {
  const BaseLogitsHeader& h = header_;
  const std::string name = fmt::format("--base-logits '{}' (base {})", path().string(), h.base);
  if (h.protocol != plan.protocol) {
    throw make_error("{}: saved with --protocol {}, this run uses --protocol {}", name, to_string(h.protocol),
                     to_string(plan.protocol));
  }
  if (h.n_ctx != plan.n_ctx) throw make_error("{}: saved with -c {}, this run uses -c {}", name, h.n_ctx, plan.n_ctx);
  if (h.vocab != vocab) {
    throw make_error("{}: saved from a {}-token vocabulary, the model has {}", name, h.vocab, vocab);
  }
  if (h.n_tokens != plan.n_tokens || h.token_hash != hash_tokens(text.ids)) {
    throw make_error(
        "{}: saved from a different text or tokenization ({} tokens, hash {:016x}; this run: {} tokens, "
        "hash {:016x})",
        name, h.n_tokens, h.token_hash, plan.n_tokens, hash_tokens(text.ids));
  }
  if (h.chunk_bos != text.chunk_bos.value_or(-1)) {
    throw make_error("{}: saved with chunk-start token {}, this run uses {}", name, h.chunk_bos,
                     text.chunk_bos.value_or(-1));
  }
  if (plan.n_chunks > h.n_chunks) {
    throw make_error("{}: holds {} chunks, this run asks for {} (--chunks)", name, h.n_chunks, plan.n_chunks);
  }
}

}  // namespace quantlm::eval

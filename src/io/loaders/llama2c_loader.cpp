// Loading a llama2.c checkpoint (.bin) as GGUF-named tensors and metadata, zero-copy from the mapping.
#include "io/loaders/llama2c_loader.h"

#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "io/loaders/loader_util.h"
#include "io/tokenizer/tokenizer.h"

namespace quantlm::io {

namespace {

constexpr std::int64_t kHeaderBytes = std::int64_t{7} * 4;
// llama2.c's newer exports (version 1 and 2) start with this magic ("ak42" little-endian).
constexpr std::uint32_t kVersionedMagic = 0x616b3432;

// Generous bounds that no real checkpoint reaches but that keep every size
// computation below far from int64 overflow.
constexpr std::int64_t kMaxDim = std::int64_t{1} << 20;
constexpr std::int64_t kMaxLayers = 4096;
constexpr std::int64_t kMaxVocab = std::int64_t{1} << 24;
constexpr std::int64_t kMaxSeqLen = std::int64_t{1} << 24;

struct Header {
  std::int64_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  bool shared_classifier;
};

Header read_header(const MappedFile& file) {
  const std::string name = file.path().string();
  if (file.size() >= 4) {
    std::uint32_t magic = 0;
    std::memcpy(&magic, file.data(), 4);
    if (magic == kVersionedMagic) {
      throw make_error(
          "{}: a versioned llama2.c export (magic \"ak42\"); only the legacy format (version 0) is supported", name);
    }
  }
  if (file.size() < static_cast<std::size_t>(kHeaderBytes)) {
    throw make_error("{}: header: needs {} bytes (7 int32), but the file has {}", name, kHeaderBytes, file.size());
  }
  std::array<std::int32_t, 7> raw{};
  std::memcpy(raw.data(), file.data(), sizeof(raw));
  const auto check = [&](std::string_view field, std::int64_t value, std::int64_t max) {
    if (value <= 0 || value > max) {
      throw make_error("{}: header field {} = {} is out of range (expected 1 to {})", name, field, value, max);
    }
    return value;
  };
  Header h{};
  h.dim = check("dim", raw[0], kMaxDim);
  h.hidden_dim = check("hidden_dim", raw[1], kMaxDim * 4);
  h.n_layers = check("n_layers", raw[2], kMaxLayers);
  h.n_heads = check("n_heads", raw[3], h.dim);
  h.n_kv_heads = check("n_kv_heads", raw[4], h.n_heads);
  // A negative vocab_size is llama2.c's flag for an unshared classifier (wcls after the RoPE tables).
  h.shared_classifier = raw[5] > 0;
  h.vocab_size = check("vocab_size (absolute value)", raw[5] < 0 ? -std::int64_t{raw[5]} : raw[5], kMaxVocab);
  h.seq_len = check("seq_len", raw[6], kMaxSeqLen);
  if (h.dim % h.n_heads != 0) {
    throw make_error("{}: header field n_heads = {} does not divide dim = {}", name, h.n_heads, h.dim);
  }
  if (h.n_heads % h.n_kv_heads != 0) {
    throw make_error("{}: header field n_kv_heads = {} does not divide n_heads = {}", name, h.n_kv_heads, h.n_heads);
  }
  if ((h.dim / h.n_heads) % 2 != 0) {
    throw make_error("{}: header: head size dim / n_heads = {} is odd (RoPE rotates pairs)", name, h.dim / h.n_heads);
  }
  return h;
}

// Lays the checkpoint's arrays out in file order, checking each against the
// file before any view is made. llama2.c stores one array per weight kind
// with all layers back to back, so a layer's tensor is a slice of it.
class Layout {
 public:
  Layout(const MappedFile& file, ModelSource& source) : file_(file), source_(source), offset_(kHeaderBytes) {}

  // Reserves `layers` tensors of `shape` (row-major) as array `field`; the
  // names come from `name_of(layer)`. Returns the first byte offset.
  template <typename NameOf>
  void take(std::string_view field, std::int64_t layers, Shape shape, NameOf name_of) {
    const std::int64_t bytes = shape.elements() * 4;  // dims are bounded, so no overflow
    const std::int64_t total = bytes * layers;
    require(field, total);
    for (std::int64_t l = 0; l < layers; ++l) {
      const auto at = static_cast<std::size_t>(offset_ + l * bytes);
      const std::span<const std::byte> data = file_.bytes().subspan(at, static_cast<std::size_t>(bytes));
      source_.tensors.push_back(
          SourceTensor{name_of(l), shape, &formats::traits(formats::FormatId::F32), aligned_data(source_, data, 4)});
    }
    offset_ += total;
  }

  void skip(std::string_view field, std::int64_t bytes) {
    require(field, bytes);
    offset_ += bytes;
  }

  // The whole file must be used: a size mismatch means the header does not
  // describe this file (a wrong vocab_size sign, a different export version).
  void finish() const {
    if (static_cast<std::uint64_t>(offset_) != file_.size()) {
      throw make_error("{}: the header describes {} bytes of weights and RoPE tables, but the file has {} bytes",
                       name(), offset_, file_.size());
    }
  }

 private:
  [[nodiscard]] std::string name() const { return file_.path().string(); }

  void require(std::string_view field, std::int64_t bytes) const {
    if (bytes > static_cast<std::int64_t>(file_.size()) - offset_) {
      throw make_error(
          "{}: {}: needs {} bytes at offset {}, but the file ends at {} (truncated, or the header is wrong)", name(),
          field, bytes, offset_, file_.size());
    }
  }

  const MappedFile& file_;
  ModelSource& source_;
  std::int64_t offset_;
};

Shape matrix(std::int64_t rows, std::int64_t cols) { return Shape{{rows, cols, 0, 0}, 2}; }
Shape vector(std::int64_t n) { return Shape{{n, 0, 0, 0}, 1}; }

// The tokenizer file: the option, else tokenizer.bin or tok<vocab>.bin beside the checkpoint.
std::filesystem::path find_tokenizer(const std::filesystem::path& path, const SourceOptions& options,
                                     std::int64_t vocab_size) {
  if (!options.llama2c_tokenizer.empty()) return options.llama2c_tokenizer;
  for (const std::string& candidate : {std::string("tokenizer.bin"), fmt::format("tok{}.bin", vocab_size)}) {
    auto p = path.parent_path() / candidate;
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p;
  }
  return {};
}

}  // namespace

ModelSource open_llama2c(const std::filesystem::path& path, const SourceOptions& options) {
  auto file = std::make_shared<const MappedFile>(MappedFile::open(path));
  const Header h = read_header(*file);
  const std::int64_t head_dim = h.dim / h.n_heads;
  const std::int64_t kv_dim = head_dim * h.n_kv_heads;

  ModelSource source;
  source.description = fmt::format("llama2.c '{}'", path.string());
  source.path = path;
  source.keep_alive.push_back(file);

  MetadataBuilder md(source.metadata);
  md.string("general.architecture", "llama");
  md.string("general.name", path.stem().string());
  md.u32("llama.context_length", h.seq_len);
  md.u32("llama.embedding_length", h.dim);
  md.u32("llama.feed_forward_length", h.hidden_dim);
  md.u32("llama.attention.head_count", h.n_heads);
  md.u32("llama.attention.head_count_kv", h.n_kv_heads);
  md.u32("llama.block_count", h.n_layers);
  md.u32("llama.rope.dimension_count", head_dim);
  md.f32("llama.attention.layer_norm_rms_epsilon", 1e-5);  // llama2.c's run.c hard-codes it
  md.f32("llama.rope.freq_base", 10000.0);
  md.u32("llama.vocab_size", h.vocab_size);

  // llama2.c keeps Meta's q/k row order, the interleaved RoPE pairs GGUF uses,
  // so no permutation (checked against stories260K.gguf bit for bit).
  Layout layout(*file, source);
  const auto once = [](const std::string& name) { return [name](std::int64_t) { return name; }; };
  const auto blk = [](std::string_view suffix) {
    return [suffix](std::int64_t l) { return fmt::format("blk.{}.{}", l, suffix); };
  };
  const std::int64_t L = h.n_layers;
  layout.take("token_embedding_table", 1, matrix(h.vocab_size, h.dim), once("token_embd.weight"));
  layout.take("rms_att_weight", L, vector(h.dim), blk("attn_norm.weight"));
  layout.take("wq", L, matrix(h.dim, h.dim), blk("attn_q.weight"));
  layout.take("wk", L, matrix(kv_dim, h.dim), blk("attn_k.weight"));
  layout.take("wv", L, matrix(kv_dim, h.dim), blk("attn_v.weight"));
  layout.take("wo", L, matrix(h.dim, h.dim), blk("attn_output.weight"));
  layout.take("rms_ffn_weight", L, vector(h.dim), blk("ffn_norm.weight"));
  layout.take("w1", L, matrix(h.hidden_dim, h.dim), blk("ffn_gate.weight"));
  layout.take("w2", L, matrix(h.dim, h.hidden_dim), blk("ffn_down.weight"));
  layout.take("w3", L, matrix(h.hidden_dim, h.dim), blk("ffn_up.weight"));
  layout.take("rms_final_weight", 1, vector(h.dim), once("output_norm.weight"));
  // Legacy RoPE tables (seq_len x head_dim/2 floats each), unused: RoPE is computed.
  layout.skip("freq_cis_real", h.seq_len * head_dim / 2 * 4);
  layout.skip("freq_cis_imag", h.seq_len * head_dim / 2 * 4);
  // Tied: no output.weight, which GGUF readers take as "use token_embd".
  if (!h.shared_classifier) layout.take("wcls", 1, matrix(h.vocab_size, h.dim), once("output.weight"));
  layout.finish();
  sort_gguf_order(source.tensors);

  if (const auto tok = find_tokenizer(path, options, h.vocab_size); !tok.empty()) {
    auto t = tokenizer::load_llama2c_tokenizer(tok, static_cast<std::int32_t>(h.vocab_size));
    append_tokenizer_metadata(t->vocabulary(), t->config(), "llama", "", {}, source.metadata);
    source.tokenizer = std::move(t);
  } else {
    log_warn("{}: no tokenizer.bin or tok{}.bin beside the checkpoint; the source has no tokenizer", path.string(),
             h.vocab_size);
  }
  return source;
}

}  // namespace quantlm::io

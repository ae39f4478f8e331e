// Helpers the model-source loaders share: GGUF metadata building, overflow-checked sizes, owned tensor buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/aligned_buffer.h"
#include "io/gguf/gguf_value.h"
#include "io/model_source.h"
#include "io/tokenizer/tokenizer.h"

namespace quantlm::io {

// Appends GGUF metadata with the value types llama.cpp's converters use
// (u32 for counts, f32 for epsilons and RoPE bases), so a source read from a
// llama2.c or Hugging Face file describes itself as its GGUF would.
class MetadataBuilder {
 public:
  explicit MetadataBuilder(std::vector<gguf::KeyValue>& out) : out_(out) {}
  void string(std::string key, std::string value);
  void u32(std::string key, std::int64_t value);  // asserts 0 <= value < 2^32 (callers validated)
  void f32(std::string key, double value);
  void boolean(std::string key, bool value);

 private:
  std::vector<gguf::KeyValue>& out_;
};

// The tokenizer.ggml.* metadata llama.cpp's converters write for a
// vocabulary: model ("llama" or "gpt2"), pre (BPE only), tokens, scores,
// token_type, merges (BPE only), special ids and add_* flags.
void append_tokenizer_metadata(const tokenizer::Vocabulary& vocab, const tokenizer::TokenizerConfig& config,
                               const std::string& model, const std::string& pre, std::span<const std::string> merges,
                               std::vector<gguf::KeyValue>& metadata);

// a * b, or nullopt on int64 overflow or a negative operand.
[[nodiscard]] std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b);

// A byte buffer the source owns (a permuted or realigned tensor): the bytes
// go into keep_alive and the returned span stays valid while the source lives.
[[nodiscard]] std::span<std::byte> own_bytes(ModelSource& source, std::size_t size);

// `data` itself when it is aligned to `alignment` (the element size), else an
// owned, aligned copy: kernels read f32/f16 data through typed pointers, and
// a file may place a tensor at any byte offset.
[[nodiscard]] std::span<const std::byte> aligned_data(ModelSource& source, std::span<const std::byte> data,
                                                      std::size_t alignment);

// Orders tensors as llama.cpp's converters write them: token_embd,
// output_norm, output, then block by block (attn_q, attn_k, attn_v,
// attn_output, attn_norm, ffn_gate, ffn_down, ffn_up, ffn_norm; biases after
// their weights); names it does not know keep their relative order at the end.
void sort_gguf_order(std::vector<SourceTensor>& tensors);

// The q/k row permutation between Hugging Face's rotate-half layout and GGUF's
// interleaved one, as llama.cpp's convert_hf_to_gguf.py applies it: the rows
// of each head, seen as (2, head_dim/2), are transposed to (head_dim/2, 2).
// `rows` = n_head * head_dim rows of `row_bytes` bytes; `inverse` goes from
// GGUF back to Hugging Face. head_dim must be even (callers validated).
void permute_rope_rows(std::span<const std::byte> src, std::span<std::byte> dst, std::int64_t n_head,
                       std::int64_t row_bytes, bool inverse);

// A file written under a temporary name beside `path` and renamed into place
// by commit(), so readers never see a partial file; destroyed uncommitted
// (an exception), it removes the temporary file and leaves `path` untouched.
// Errors name `path` and the failed system call.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(std::span<const std::byte> bytes);
  void write(std::string_view text) { write(std::as_bytes(std::span(text.data(), text.size()))); }
  // Flushes to disk, closes and renames into place.
  void commit();

 private:
  [[noreturn]] void fail(const std::string& what, int errno_value);
  void discard() noexcept;

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  int fd_ = -1;
};

}  // namespace quantlm::io

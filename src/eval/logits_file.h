// Saved base-model logits for KL divergence: computed once, reused against many models (format: docs/EVALUATION.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "core/mapped_file.h"
#include "eval/chunks.h"

namespace quantlm::eval {

// What a file was computed from; a reuse must match it field by field.
struct BaseLogitsHeader {
  Protocol protocol = Protocol::llamacpp;
  std::int64_t n_ctx = 0;
  std::int64_t n_tokens = 0;      // of the whole text
  std::int64_t n_chunks = 0;      // saved: the first n_chunks chunks
  std::int64_t first_scored = 0;  // scored rows per chunk: n_ctx - 1 - first_scored
  std::int64_t vocab = 0;
  std::uint64_t token_hash = 0;  // hash_tokens() of the whole text's ids
  std::int32_t chunk_bos = -1;   // -1: chunks kept their first token
  std::string base;              // the base model, for messages ("'stories260K.gguf'")

  [[nodiscard]] std::int64_t scored_per_chunk() const { return n_ctx - 1 - first_scored; }
  [[nodiscard]] std::uint64_t floats_per_chunk() const;
};

[[nodiscard]] BaseLogitsHeader make_base_logits_header(const EvalTokens& text, const ChunkPlan& plan,
                                                       std::int64_t vocab, std::string base);

// Writes the header, then each chunk's scored logits (scored_per_chunk × vocab
// float32, exactly as the model produced them), to a temporary file beside
// `path` that finish() renames into place; a writer destroyed unfinished
// removes it. Errors are quantlm::Error naming the file.
class BaseLogitsWriter {
 public:
  BaseLogitsWriter(std::filesystem::path path, BaseLogitsHeader header);
  BaseLogitsWriter(const BaseLogitsWriter&) = delete;
  BaseLogitsWriter& operator=(const BaseLogitsWriter&) = delete;
  BaseLogitsWriter(BaseLogitsWriter&&) = delete;
  BaseLogitsWriter& operator=(BaseLogitsWriter&&) = delete;
  ~BaseLogitsWriter();

  void write_chunk(std::span<const float> scored_logits);
  void finish();  // after exactly header.n_chunks chunks

 private:
  void fail(const std::string& what, int errno_value);

  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  BaseLogitsHeader header_;
  std::FILE* file_ = nullptr;
  std::int64_t written_ = 0;
};

// A saved file, validated on open (magic, version, fields, exact size) and mapped.
class BaseLogitsFile {
 public:
  static BaseLogitsFile open(const std::filesystem::path& path);

  [[nodiscard]] const BaseLogitsHeader& header() const { return header_; }
  [[nodiscard]] const std::filesystem::path& path() const { return file_.path(); }
  // Copies chunk `chunk`'s rows into `out` (floats_per_chunk() floats).
  void read_chunk(std::int64_t chunk, std::span<float> out) const;
  // quantlm::Error naming the file and the first field that differs from this
  // run's text, options and model vocabulary.
  void check_matches(const EvalTokens& text, const ChunkPlan& plan, std::int64_t vocab) const;

 private:
  MappedFile file_;
  BaseLogitsHeader header_;
  std::size_t data_offset_ = 0;
};

}  // namespace quantlm::eval

// Helpers for the tokenizer tests: SHA-256 of token ids, whole-file reads, metadata-only GGUF files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "io/gguf/gguf_value.h"

namespace quantlm::test {

// SHA-256 (FIPS 180-4) of `bytes`, as 64 lowercase hex digits.
[[nodiscard]] std::string sha256_hex(std::span<const std::byte> bytes);

// The goldens hash token ids as little-endian int32, which is their in-memory
// layout on the little-endian machines quantlm supports.
[[nodiscard]] std::string sha256_of_ids(std::span<const std::int32_t> ids);

// The whole file as bytes in a string.
[[nodiscard]] std::string read_text(const std::filesystem::path& path);

// Writes a GGUF with these metadata and no tensors.
void write_metadata_gguf(const std::filesystem::path& path, std::vector<gguf::KeyValue> metadata);

}  // namespace quantlm::test

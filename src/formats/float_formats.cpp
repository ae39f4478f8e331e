// F32, F16 and BF16 rows: thin wrappers over core/half.h's row converters, safe for unaligned bytes.
#include "formats/float_formats.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>

#include "core/half.h"

namespace quantlm::formats {
namespace {

using HalfToFloat = void (*)(std::span<const std::uint16_t>, std::span<float>, Isa);
using FloatToHalf = void (*)(std::span<const float>, std::span<std::uint16_t>, Isa);

std::size_t count(std::int64_t n) { return static_cast<std::size_t>(n); }

bool aligned_for_u16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % alignof(std::uint16_t) == 0; }

// Unaligned rows go through a small aligned buffer rather than a scalar
// loop, so that they take the same (SIMD) path and give the same bits.
constexpr std::size_t kChunk = 256;

void halves_to_floats(const std::byte* src, float* dst, std::int64_t n, HalfToFloat convert) {
  if (aligned_for_u16(src)) {
    convert({reinterpret_cast<const std::uint16_t*>(src), count(n)}, {dst, count(n)}, active_isa());
    return;
  }
  std::uint16_t buf[kChunk];
  for (std::size_t done = 0; done < count(n); done += kChunk) {
    const std::size_t len = std::min(kChunk, count(n) - done);
    std::memcpy(buf, src + 2 * done, 2 * len);
    convert({buf, len}, {dst + done, len}, active_isa());
  }
}

void floats_to_halves(const float* src, std::byte* dst, std::int64_t n, FloatToHalf convert) {
  if (aligned_for_u16(dst)) {
    convert({src, count(n)}, {reinterpret_cast<std::uint16_t*>(dst), count(n)}, active_isa());
    return;
  }
  std::uint16_t buf[kChunk];
  for (std::size_t done = 0; done < count(n); done += kChunk) {
    const std::size_t len = std::min(kChunk, count(n) - done);
    convert({src + done, len}, {buf, len}, active_isa());
    std::memcpy(dst + 2 * done, buf, 2 * len);
  }
}

}  // namespace

void dequantize_row_f16(const std::uint16_t* x, float* y, std::int64_t n) {
  fp16_to_fp32_row({x, count(n)}, {y, count(n)});
}
void quantize_row_f16(const float* x, std::uint16_t* y, std::int64_t n) {
  fp32_to_fp16_row({x, count(n)}, {y, count(n)});
}
void dequantize_row_bf16(const std::uint16_t* x, float* y, std::int64_t n) {
  bf16_to_fp32_row({x, count(n)}, {y, count(n)});
}
void quantize_row_bf16(const float* x, std::uint16_t* y, std::int64_t n) {
  fp32_to_bf16_row({x, count(n)}, {y, count(n)});
}

// memcpy: F32 bytes in a file need not be 4-byte aligned in a foreign buffer.
void dequantize_f32_bytes(const std::byte* src, float* dst, std::int64_t n) { std::memcpy(dst, src, 4 * count(n)); }
void quantize_f32_bytes(const float* src, std::byte* dst, std::int64_t n) { std::memcpy(dst, src, 4 * count(n)); }

void dequantize_f16_bytes(const std::byte* src, float* dst, std::int64_t n) {
  halves_to_floats(src, dst, n, fp16_to_fp32_row);
}
void quantize_f16_bytes(const float* src, std::byte* dst, std::int64_t n) {
  floats_to_halves(src, dst, n, fp32_to_fp16_row);
}
void dequantize_bf16_bytes(const std::byte* src, float* dst, std::int64_t n) {
  halves_to_floats(src, dst, n, bf16_to_fp32_row);
}
void quantize_bf16_bytes(const float* src, std::byte* dst, std::int64_t n) {
  floats_to_halves(src, dst, n, fp32_to_bf16_row);
}

}  // namespace quantlm::formats

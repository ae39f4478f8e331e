// Turns a typed row codec (blocks in, floats out or back) into the byte-level function the traits table stores.
#pragma once

#include <cstddef>
#include <cstdint>

namespace quantlm::formats {
namespace row_codec_detail {

// The block type of a typed row function, deduced from its signature so that a
// table entry names the function once.
template <typename Fn>
struct BlockOf;
template <typename Block>
struct BlockOf<void (*)(const Block*, float*, std::int64_t)> {
  using type = Block;
};
template <typename Block>
struct BlockOf<void (*)(const float*, Block*, std::int64_t)> {
  using type = Block;
};

}  // namespace row_codec_detail

// erase_dequantize<&dequantize_row_q4_0> has the DequantizeRowFn signature.
// The cast is sound for the packed, padding-free block structs of formats/
// (alignment 1, size pinned by static_assert): any byte address holds a block.
template <auto Fn>
void erase_dequantize(const std::byte* src, float* dst, std::int64_t n) {
  using Block = typename row_codec_detail::BlockOf<decltype(Fn)>::type;
  static_assert(alignof(Block) == 1, "blocks read from files must be packed");
  Fn(reinterpret_cast<const Block*>(src), dst, n);
}

// erase_quantize<&quantize_row_q4_0> has the QuantizeRowFn signature.
template <auto Fn>
void erase_quantize(const float* src, std::byte* dst, std::int64_t n) {
  using Block = typename row_codec_detail::BlockOf<decltype(Fn)>::type;
  static_assert(alignof(Block) == 1, "blocks written to files must be packed");
  Fn(src, reinterpret_cast<Block*>(dst), n);
}

}  // namespace quantlm::formats

// Tests of AlignedBuffer: alignment, zeroing, typed access and move-only ownership.
#include "core/aligned_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace quantlm {
namespace {

bool aligned_to(const void* p, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
}

static_assert(!std::is_copy_constructible_v<AlignedBuffer<float>>);
static_assert(!std::is_copy_assignable_v<AlignedBuffer<float>>);
static_assert(std::is_nothrow_move_constructible_v<AlignedBuffer<float>>);
static_assert(std::is_nothrow_move_assignable_v<AlignedBuffer<float>>);

TEST(AlignedBuffer, DefaultAlignmentIs64ForEverySize) {
  for (const std::size_t size : {1, 3, 63, 64, 65, 1000, 4097}) {
    const AlignedBuffer<> bytes(size);
    EXPECT_TRUE(aligned_to(bytes.data(), 64)) << size;
    EXPECT_EQ(bytes.size(), size);
    EXPECT_EQ(bytes.alignment(), 64U);
    const AlignedBuffer<float> floats(size);
    EXPECT_TRUE(aligned_to(floats.data(), 64)) << size;
    EXPECT_EQ(floats.size_bytes(), size * sizeof(float));
  }
}

TEST(AlignedBuffer, HonoursLargerAlignments) {
  for (const std::size_t alignment : {128, 256, 4096}) {
    const AlignedBuffer<std::uint16_t> buffer(10, BufferInit::zero, alignment);
    EXPECT_TRUE(aligned_to(buffer.data(), alignment)) << alignment;
    EXPECT_EQ(buffer.alignment(), alignment);
  }
}

TEST(AlignedBuffer, ZeroInitializedByDefault) {
  const AlignedBuffer<std::int32_t> buffer(1000);
  EXPECT_TRUE(std::all_of(buffer.begin(), buffer.end(), [](std::int32_t v) { return v == 0; }));
}

TEST(AlignedBuffer, UninitializedBufferIsWritable) {
  AlignedBuffer<float> buffer(100, BufferInit::uninitialized);
  for (std::size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<float>(i);
  EXPECT_EQ(buffer[99], 99.0F);
  EXPECT_EQ(buffer.span().size(), 100U);
  EXPECT_EQ(buffer.bytes().size(), 400U);
}

TEST(AlignedBuffer, EmptyBufferHoldsNothing) {
  const AlignedBuffer<float> empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.begin(), empty.end());
  const AlignedBuffer<float> zero_sized(0);
  EXPECT_TRUE(zero_sized.empty());
  EXPECT_EQ(zero_sized.data(), nullptr);
}

TEST(AlignedBuffer, MoveConstructionTransfersOwnership) {
  AlignedBuffer<int> a(16);
  a[3] = 7;
  const int* data = a.data();
  const AlignedBuffer<int> b(std::move(a));
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.size(), 16U);
  EXPECT_EQ(b[3], 7);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): moved-from state is specified
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_TRUE(a.empty());
}

TEST(AlignedBuffer, MoveAssignmentReleasesTheOldBuffer) {
  AlignedBuffer<int> a(16, BufferInit::zero, 256);
  AlignedBuffer<int> b(1000);  // freed by the assignment (ASan would report a leak otherwise)
  const int* data = a.data();
  b = std::move(a);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.size(), 16U);
  EXPECT_EQ(b.alignment(), 256U);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  a = AlignedBuffer<int>(4);
  EXPECT_EQ(a.size(), 4U);
}

}  // namespace
}  // namespace quantlm

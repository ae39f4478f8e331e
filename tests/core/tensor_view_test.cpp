// Tests of Shape and TensorView arithmetic: block rows and row-level layouts.
#include "core/tensor_view.h"

#include <gtest/gtest.h>

namespace quantlm {
namespace {

TEST(TensorView, ShapeCountsRowsAndElements) {
  const Shape s{{3, 5, 64}, 3};
  EXPECT_EQ(s.rows(), 15);
  EXPECT_EQ(s.innermost(), 64);
  EXPECT_EQ(s.elements(), 960);
  EXPECT_EQ(s.to_string(), "[3, 5, 64]");
}

TEST(TensorView, BlockRowsUseBlockBytes) {
  const Storage q4{ElementType::blocks, 2, 32, 18};
  std::byte buffer[4 * 36]{};
  const TensorView v = make_contiguous_view(buffer, Shape{{4, 64}, 2}, q4);
  EXPECT_EQ(v.row_bytes(), 36);
  EXPECT_EQ(v.bytes(), 144);
  EXPECT_EQ(v.row(2), buffer + 72);
  EXPECT_TRUE(v.contiguous());
}

// A row-level layout (a 4-byte header and one byte per value here): the row
// size comes from the storage's function, not from whole blocks.
std::int64_t header_plus_values(std::int64_t n) { return n < 0 ? -1 : 4 + n; }

TEST(TensorView, RowLevelStorageUsesItsRowFunction) {
  const Storage row_level{ElementType::blocks, 1000, 1, 1, &header_plus_values};
  EXPECT_EQ(row_level.row_bytes(33), 37);
  std::byte buffer[3 * 37]{};
  const TensorView v = make_contiguous_view(buffer, Shape{{3, 33}, 2}, row_level);
  EXPECT_EQ(v.row_stride, 37);
  EXPECT_EQ(v.row_bytes(), 37);
  EXPECT_EQ(v.bytes(), 111);
  EXPECT_EQ(v.row(2), buffer + 74);
  EXPECT_TRUE(v.contiguous());
  TensorView strided = v;
  strided.row_stride = 40;
  EXPECT_FALSE(strided.contiguous());
  EXPECT_EQ(strided.row(2), buffer + 80);
}

}  // namespace
}  // namespace quantlm

// Tests of Shape and TensorView arithmetic.
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

}  // namespace
}  // namespace quantlm

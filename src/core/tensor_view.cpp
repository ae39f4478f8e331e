// Shape printing and contiguous view construction.
#include "core/tensor_view.h"

#include <fmt/format.h>

namespace quantlm {

std::string Shape::to_string() const {
  std::string out = "[";
  for (int i = 0; i < rank; ++i) {
    if (i > 0) out += ", ";
    out += fmt::format("{}", dims[static_cast<std::size_t>(i)]);
  }
  return out + "]";
}

TensorView make_contiguous_view(const std::byte* data, const Shape& shape, const Storage& storage) {
  TensorView view{data, shape, storage, 0};
  view.row_stride = view.row_bytes();
  return view;
}

}  // namespace quantlm

// A view of one trainable tensor (values, gradient, whether weight decay applies) as optimizers and clipping see it.
#pragma once

#include <cstddef>

namespace quantlm::train {

template <typename S>
struct ParamRef {
  S* value = nullptr;  // (size)
  S* grad = nullptr;   // (size)
  std::size_t size = 0;
  bool decay = true;  // false for norm weights and biases: shrinking them toward 0 is not regularization
};

}  // namespace quantlm::train

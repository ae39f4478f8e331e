// Token embedding lookup and its backward pass (scatter-add into the table's rows).
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>

namespace quantlm::train {

// out (n, dim) = table (vocab, dim) [tokens (n)].
template <typename S>
void embedding_forward(const std::int32_t* tokens, std::size_t n, const S* table, std::size_t vocab, std::size_t dim,
                       S* out) {
  for (std::size_t t = 0; t < n; ++t) {
    assert(tokens[t] >= 0 && static_cast<std::size_t>(tokens[t]) < vocab);
    (void)vocab;
    const S* row = table + static_cast<std::size_t>(tokens[t]) * dim;
    for (std::size_t j = 0; j < dim; ++j) out[t * dim + j] = row[j];
  }
}

// dtable (vocab, dim) [tokens[t]] += dout (n, dim) [t]. Serial and in token
// order: a token that occurs twice gets its rows summed in the same order on
// every run, and the work (n · dim additions) is too small to be worth a fork.
template <typename S>
void embedding_backward(const std::int32_t* tokens, std::size_t n, const S* dout, std::size_t dim, S* dtable) {
  for (std::size_t t = 0; t < n; ++t) {
    S* row = dtable + static_cast<std::size_t>(tokens[t]) * dim;
    for (std::size_t j = 0; j < dim; ++j) row[j] += dout[t * dim + j];
  }
}

}  // namespace quantlm::train

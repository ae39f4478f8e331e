// Rotary position embedding: per-position cos/sin tables and the two pair layouts (adjacent pairs, NeoX halves).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/llama_config.h"

namespace quantlm::model {

// Rotates pair i of the first n_rot dimensions of every head by
//   θ(pos, i) = pos / linear_scale · base^(-2i / n_rot) / freq_factor[i]
// (llama.cpp's ggml_rope_ext with freq_scale = 1 / linear_scale). Angles are
// computed in double and rounded once to float, so long contexts do not
// accumulate the error of llama.cpp's repeated float multiplication.
class Rope {
 public:
  Rope() = default;
  // freq_factors: n_rot / 2 divisors (rope_freqs.weight), or empty.
  Rope(const LlamaConfig& config, std::span<const float> freq_factors);

  // Fills the tables for positions [first, first + n).
  void prepare(std::int64_t first, std::int64_t n);

  // Rotates the n_heads heads of token `token` (an index into the prepared
  // positions) in place: x is (n_heads, head_dim).
  void apply(float* x, std::int64_t n_heads, std::int64_t token) const;

 private:
  RopeLayout layout_ = RopeLayout::adjacent_pairs;
  std::int64_t head_dim_ = 0;
  std::int64_t n_pairs_ = 0;      // n_rot / 2
  std::vector<double> inv_freq_;  // (n_pairs): θ per position
  std::vector<float> cos_, sin_;  // (n_tokens, n_pairs)
};

}  // namespace quantlm::model

// Test helpers: tiny in-memory Llama / Qwen2 ModelSources with random F32 weights, and an independent float64 forward.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_source.h"

namespace quantlm::test {

struct TinySpec {
  std::string arch = "llama";  // "qwen2" adds q/k/v biases (NeoX RoPE follows from the architecture)
  std::int64_t dim = 24;
  std::int64_t heads = 4;
  std::int64_t kv_heads = 2;
  std::int64_t ff = 40;
  std::int64_t layers = 2;
  std::int64_t vocab = 37;
  std::int64_t context = 64;
  std::int64_t n_rot = 0;  // 0: the head dimension
  double rope_base = 10000.0;
  double linear_scale = 0.0;  // 0: no rope.scaling keys
  bool biases = false;        // q/k/v biases (always on for qwen2)
  bool tied = false;          // no output.weight
  std::uint32_t seed = 1;
};

// The source owns its tensor bytes (through keep_alive); metadata follows llama.cpp's keys.
[[nodiscard]] io::ModelSource make_tiny_source(const TinySpec& spec);

// Logits (tokens.size() x vocab) of a straightforward float64 forward pass over
// the source's F32 tensors, one position at a time: written from the
// definitions (RMSNorm, RoPE of either layout, grouped-query causal attention,
// SwiGLU), sharing no code with model/.
[[nodiscard]] std::vector<double> reference_logits(const io::ModelSource& source, const TinySpec& spec,
                                                   const std::vector<std::int32_t>& tokens);

}  // namespace quantlm::test

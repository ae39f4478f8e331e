// AWQ's per-input-channel scale search (Lin et al. 2023) for weights that share one input, judged through X·Xᵀ.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "formats/format_traits.h"
#include "formats/quantize.h"
#include "io/gguf/gguf_file.h"
#include "quant/hessian_source.h"

namespace quantlm::quant {

// One weight that reads the shared input: rows × cols, row-major (GGUF's layout).
struct AwqWeight {
  const formats::FormatTraits* format = nullptr;  // what it will be rounded to (RTN with `params`)
  std::span<const float> w;
  std::int64_t rows = 0;
};

struct AwqResult {
  std::vector<float> scales;  // s per input column: store W·diag(s), divide the input (the norm's weight) by s
  double alpha = 0.0;         // s = a^alpha, a = the input's RMS per column, normalized
  double error_plain = 0.0;   // Σ over weights of tr(ΔW·H·ΔWᵀ) without scales (alpha = 0)
  double error = 0.0;         // the same with the chosen scales
};

// Tries alpha = 0, 1/grid, …, 1: s_c = a_c^alpha (a_c = sqrt(H_cc / tokens),
// normalized so that max·min of s is 1), rounds every W·diag(s) by RTN into
// its format, and measures the output error Σ_r δ_r·H·δ_rᵀ with
// δ = W − Q(W·diag(s))·diag(s)⁻¹ — exactly ‖X·Wᵀ − X·Ŵᵀ‖² over the
// calibration tokens, from their Gram matrix h (cols × cols). Keeps the best;
// alpha = 0 is plain RTN, so the result is never worse on this objective.
[[nodiscard]] AwqResult awq_search(std::span<const AwqWeight> weights, std::int64_t cols, std::span<const double> h,
                                   std::int64_t tokens, const formats::QuantizeParams& params, int grid = 20);

// AWQ over a model: for every layer, the weights fed by a norm (attn_q, attn_k,
// attn_v by attn_norm; ffn_gate, ffn_up by ffn_norm) share one set of scales,
// searched on their summed output error; the norm's weight is divided by them,
// which leaves the float model's function unchanged (RMSNorm's output is
// multiplied by that weight column by column). `target_of` gives the format a
// weight will be written in (nullptr: not converted). A group is skipped when
// its norm is not F32, a member is missing or not converted, or the source has
// no Hessian for it.
struct AwqPlan {
  std::map<std::string, std::vector<float>> weight_scales;  // multiply the weight's columns
  std::map<std::string, std::vector<float>> norm_scales;    // divide the norm's weight
};
[[nodiscard]] AwqPlan plan_awq(const gguf::GgufFile& in,
                               const std::function<const formats::FormatTraits*(const std::string&)>& target_of,
                               HessianSource& hessians, const formats::QuantizeParams& params);

}  // namespace quantlm::quant

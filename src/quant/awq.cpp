// AWQ's scale search: RTN of W·diag(a^alpha) for alpha on a grid, scored by the output error through X·Xᵀ.
#include "quant/awq.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/log.h"
#include "quant/file_types.h"

namespace quantlm::quant {
namespace {

// Σ_r δ_r·H·δ_rᵀ for δ = W − Q(W·diag(s))·diag(s)⁻¹ over every weight.
double scaled_error(std::span<const AwqWeight> weights, std::int64_t cols, std::span<const double> h,
                    const std::vector<float>& s, const formats::QuantizeParams& params) {
  double total = 0.0;
  std::vector<float> scaled;
  std::vector<std::byte> bytes;
  std::vector<float> decoded;
  std::vector<double> delta(static_cast<std::size_t>(cols));
  for (const AwqWeight& wt : weights) {
    const formats::FormatTraits& f = *wt.format;
    scaled.resize(wt.w.size());
    for (std::int64_t r = 0; r < wt.rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c) {
        scaled[static_cast<std::size_t>(r * cols + c)] =
            wt.w[static_cast<std::size_t>(r * cols + c)] * s[static_cast<std::size_t>(c)];
      }
    }
    const std::int64_t row_bytes = f.row_bytes(cols);
    bytes.resize(static_cast<std::size_t>(wt.rows * row_bytes));
    formats::quantize_rows(f, scaled.data(), bytes.data(), wt.rows, cols, params);
    decoded.resize(static_cast<std::size_t>(cols));
    for (std::int64_t r = 0; r < wt.rows; ++r) {
      f.dequantize(bytes.data() + r * row_bytes, decoded.data(), cols);
      for (std::int64_t c = 0; c < cols; ++c) {
        const auto i = static_cast<std::size_t>(c);
        delta[i] = static_cast<double>(wt.w[static_cast<std::size_t>(r * cols + c)]) - decoded[i] / s[i];
      }
      for (std::int64_t i = 0; i < cols; ++i) {
        const double* hi = h.data() + i * cols;
        double row = 0.0;
        for (std::int64_t j = 0; j < cols; ++j) row += hi[j] * delta[static_cast<std::size_t>(j)];
        total += delta[static_cast<std::size_t>(i)] * row;
      }
    }
  }
  return total;
}

}  // namespace

AwqResult awq_search(std::span<const AwqWeight> weights, std::int64_t cols, std::span<const double> h,
                     std::int64_t tokens, const formats::QuantizeParams& params, int grid) {
  if (static_cast<std::int64_t>(h.size()) != cols * cols || tokens <= 0 || grid < 1) {
    throw make_error("AWQ: a Hessian of {} values for {} columns over {} tokens", h.size(), cols, tokens);
  }
  // Per-column RMS of the input; columns never active get the smallest active one, so s stays finite.
  std::vector<double> a(static_cast<std::size_t>(cols));
  double smallest = 0.0;
  for (std::int64_t c = 0; c < cols; ++c) {
    a[static_cast<std::size_t>(c)] = std::sqrt(std::max(0.0, h[static_cast<std::size_t>(c * cols + c)]) / tokens);
    if (a[static_cast<std::size_t>(c)] > 0.0 && (smallest == 0.0 || a[static_cast<std::size_t>(c)] < smallest))
      smallest = a[static_cast<std::size_t>(c)];
  }
  for (double& v : a) v = v > 0.0 ? v : (smallest > 0.0 ? smallest : 1.0);

  AwqResult best;
  best.scales.assign(static_cast<std::size_t>(cols), 1.0F);
  best.error_plain = scaled_error(weights, cols, h, best.scales, params);
  best.error = best.error_plain;
  std::vector<float> s(static_cast<std::size_t>(cols));
  for (int k = 1; k <= grid; ++k) {
    const double alpha = static_cast<double>(k) / grid;
    double lo = 0.0;
    double hi = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) {
      const double v = std::pow(a[static_cast<std::size_t>(c)], alpha);
      lo = c == 0 ? v : std::min(lo, v);
      hi = c == 0 ? v : std::max(hi, v);
    }
    // Centred on 1 in the log domain: the weights grow on active columns and shrink on quiet ones.
    const double norm = std::sqrt(lo * hi);
    for (std::int64_t c = 0; c < cols; ++c) {
      s[static_cast<std::size_t>(c)] = static_cast<float>(std::pow(a[static_cast<std::size_t>(c)], alpha) / norm);
    }
    const double e = scaled_error(weights, cols, h, s, params);
    if (e < best.error) {
      best.error = e;
      best.alpha = alpha;
      best.scales = s;
    }
  }
  return best;
}

AwqPlan plan_awq(const gguf::GgufFile& in,
                 const std::function<const formats::FormatTraits*(const std::string&)>& target_of,
                 HessianSource& hessians, const formats::QuantizeParams& params) {
  AwqPlan plan;
  auto find = [&](const std::string& name) -> const gguf::TensorInfo* {
    for (const gguf::TensorInfo& t : in.tensors()) {
      if (t.name == name) return &t;
    }
    return nullptr;
  };
  const struct {
    const char* norm;
    std::vector<const char*> members;
  } groups[] = {{"attn_norm", {"attn_q", "attn_k", "attn_v"}}, {"ffn_norm", {"ffn_gate", "ffn_up"}}};
  for (int layer = 0;; ++layer) {
    if (find(fmt::format("blk.{}.attn_norm.weight", layer)) == nullptr) break;
    for (const auto& g : groups) {
      const std::string norm = fmt::format("blk.{}.{}.weight", layer, g.norm);
      const gguf::TensorInfo* norm_info = find(norm);
      if (norm_info == nullptr || norm_info->format->id != formats::FormatId::F32) continue;
      const std::int64_t cols = norm_info->shape.elements();
      std::vector<std::string> names;
      std::vector<const formats::FormatTraits*> targets;
      std::vector<std::vector<float>> decoded;
      bool ok = true;
      for (const char* m : g.members) {
        const std::string name = fmt::format("blk.{}.{}.weight", layer, m);
        const gguf::TensorInfo* info = find(name);
        const formats::FormatTraits* target = info != nullptr ? target_of(name) : nullptr;
        if (target == nullptr || info->shape.rank != 2 || info->shape.innermost() != cols ||
            info->format->dequantize == nullptr) {
          ok = false;
          break;
        }
        const std::int64_t rows = info->shape.rows();
        std::vector<float> w(static_cast<std::size_t>(rows * cols));
        const auto bytes = in.tensor_data(*info);
        const std::int64_t row_bytes = info->format->row_bytes(cols);
        for (std::int64_t r = 0; r < rows; ++r) {
          info->format->dequantize(bytes.data() + r * row_bytes, w.data() + r * cols, cols);
        }
        names.push_back(name);
        targets.push_back(target);
        decoded.push_back(std::move(w));
      }
      if (!ok) continue;
      // Float members are scaled too but cost nothing to round: only quantized ones enter the search.
      std::vector<AwqWeight> weights;
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (is_quantized(*targets[i])) {
          weights.push_back({targets[i], decoded[i], static_cast<std::int64_t>(decoded[i].size()) / cols});
        }
      }
      if (weights.empty()) continue;
      const Hessian* h = hessians.hessian(names.front());
      if (h == nullptr || h->cols != cols || h->tokens <= 0) continue;
      const AwqResult r = awq_search(weights, cols, h->h, h->tokens, params);
      log_info("AWQ {}: alpha {:.2f}, output error {:.4g} -> {:.4g}", norm, r.alpha, r.error_plain, r.error);
      if (r.alpha == 0.0) continue;  // plain RTN was best: leave the tensors as they are
      for (const std::string& n : names) plan.weight_scales[n] = r.scales;
      plan.norm_scales[norm] = r.scales;
    }
  }
  return plan;
}

}  // namespace quantlm::quant

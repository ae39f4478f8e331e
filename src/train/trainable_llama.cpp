// A trainable Llama-family model: the forward pass kept for backward, and the backward pass in reverse op order.
#include "train/trainable_llama.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <utility>

#include "core/error.h"
#include "train/loss.h"
#include "train/ops_activation.h"
#include "train/ops_attention.h"
#include "train/ops_embedding.h"
#include "train/ops_linear.h"
#include "train/ops_norm.h"

namespace quantlm::train {

void TrainableLlamaConfig::validate() const {
  const std::pair<const char*, std::size_t> sizes[] = {{"vocab", vocab},           {"dim", dim},
                                                       {"n_layers", n_layers},     {"n_heads", n_heads},
                                                       {"n_kv_heads", n_kv_heads}, {"n_ff", n_ff}};
  for (const auto& [field, size] : sizes) {
    if (size == 0) throw make_error("training model config: {} must be positive", field);
  }
  if (dim % n_heads != 0)
    throw make_error("training model config: dim {} is not a multiple of n_heads {}", dim, n_heads);
  if (n_heads % n_kv_heads != 0) {
    throw make_error("training model config: n_heads {} is not a multiple of n_kv_heads {}", n_heads, n_kv_heads);
  }
  if (head_dim() % 2 != 0) throw make_error("training model config: head_dim {} must be even for RoPE", head_dim());
}

namespace {

// N(0, 1) by Box-Muller over mt19937_64's raw output: std::normal_distribution's
// algorithm is the library's choice, and the same seed must give the same model
// with any standard library.
class Gaussian {
 public:
  explicit Gaussian(std::uint64_t seed) : engine_(seed) {}
  double next() {
    const double u1 = (static_cast<double>(engine_() >> 11) + 0.5) * 0x1.0p-53;  // (0, 1)
    const double u2 = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 engine_;
};

// Inputs come from data loaders and callers, so they are checked here rather than asserted: a bad token
// id would read outside token_embd.
void check_tokens(std::span<const std::int32_t> tokens, std::size_t vocab, const char* what) {
  if (tokens.empty()) throw make_error("training forward: no {}", what);
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    if (tokens[t] < 0 || static_cast<std::size_t>(tokens[t]) >= vocab) {
      throw make_error("training forward: {} {} at position {} is outside the vocabulary of {}", what, tokens[t], t,
                       vocab);
    }
  }
}

}  // namespace

template <typename S>
std::size_t TrainableLlama<S>::add_param(const std::string& name, const std::vector<std::size_t>& shape, bool decay) {
  std::size_t size = 1;
  for (const std::size_t d : shape) size *= d;
  Parameter<S> p;
  p.name = name;
  p.shape = shape;
  p.value.assign(size, S{0});
  p.grad.assign(size, S{0});
  p.decay = decay;
  params_.push_back(std::move(p));
  return params_.size() - 1;
}

template <typename S>
TrainableLlama<S>::TrainableLlama(const TrainableLlamaConfig& config, std::uint64_t seed, ThreadPool* pool)
    : config_(config), pool_(pool) {
  config_.validate();
  const std::size_t D = config_.dim, F = config_.n_ff, V = config_.vocab;
  const std::size_t q_dim = config_.n_heads * config_.head_dim();
  const std::size_t kv_dim = config_.n_kv_heads * config_.head_dim();
  token_embd_ = add_param("token_embd.weight", {V, D}, true);
  for (std::size_t l = 0; l < config_.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    Layer layer{};
    layer.attn_norm = add_param(b + "attn_norm.weight", {D}, false);
    layer.wq = add_param(b + "attn_q.weight", {q_dim, D}, true);
    layer.wk = add_param(b + "attn_k.weight", {kv_dim, D}, true);
    layer.wv = add_param(b + "attn_v.weight", {kv_dim, D}, true);
    layer.wo = add_param(b + "attn_output.weight", {D, q_dim}, true);
    layer.ffn_norm = add_param(b + "ffn_norm.weight", {D}, false);
    layer.w_gate = add_param(b + "ffn_gate.weight", {F, D}, true);
    layer.w_up = add_param(b + "ffn_up.weight", {F, D}, true);
    layer.w_down = add_param(b + "ffn_down.weight", {D, F}, true);
    layers_.push_back(layer);
  }
  output_norm_ = add_param("output_norm.weight", {D}, false);
  output_ = config_.tied_output ? token_embd_ : add_param("output.weight", {V, D}, true);

  Gaussian gauss(seed);
  const double residual_scale = 1.0 / std::sqrt(2.0 * static_cast<double>(config_.n_layers));
  for (Parameter<S>& p : params_) {
    if (!p.decay) {  // norm weights
      for (S& w : p.value) w = S{1};
      continue;
    }
    const bool residual = p.name.ends_with("attn_output.weight") || p.name.ends_with("ffn_down.weight");
    const double sigma = 0.02 * (residual ? residual_scale : 1.0);
    for (S& w : p.value) w = sigma * gauss.next();
  }
}

template <typename S>
Parameter<S>* TrainableLlama<S>::find(std::string_view name) {
  for (Parameter<S>& p : params_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

template <typename S>
std::vector<ParamRef<S>> TrainableLlama<S>::param_refs() {
  std::vector<ParamRef<S>> refs;
  refs.reserve(params_.size());
  for (Parameter<S>& p : params_) refs.push_back({p.value.data(), p.grad.data(), p.value.size(), p.decay});
  return refs;
}

template <typename S>
std::size_t TrainableLlama<S>::parameter_count() const {
  std::size_t n = 0;
  for (const Parameter<S>& p : params_) n += p.value.size();
  return n;
}

template <typename S>
void TrainableLlama<S>::zero_grad() {
  for (Parameter<S>& p : params_) std::fill(p.grad.begin(), p.grad.end(), S{0});
}

template <typename S>
void TrainableLlama<S>::ensure_rope(std::size_t n_tokens) {
  // A table's rows depend only on the position, so a longer one serves shorter sequences.
  if (rope_.cos.size() < n_tokens * (config_.head_dim() / 2)) {
    rope_ = RopeTable<S>(n_tokens, config_.head_dim(), config_.rope_base);
  }
}

template <typename S>
double TrainableLlama<S>::forward(std::span<const std::int32_t> tokens) {
  if (tokens.size() < 2) throw make_error("training forward: {} tokens give no prediction to score", tokens.size());
  return forward(tokens.first(tokens.size() - 1), tokens.subspan(1));
}

template <typename S>
double TrainableLlama<S>::forward(std::span<const std::int32_t> inputs, std::span<const std::int32_t> targets) {
  if (inputs.size() != targets.size()) {
    throw make_error("training forward: {} inputs but {} targets", inputs.size(), targets.size());
  }
  check_tokens(targets, config_.vocab, "target");
  forward_logits(inputs);
  targets_.assign(targets.begin(), targets.end());
  distill_ = false;
  probs_.resize(logits_.size());
  return cross_entropy_forward(logits_.data(), targets_.data(), probs_.data(), inputs.size(), config_.vocab);
}

template <typename S>
double TrainableLlama<S>::forward_distill(std::span<const std::int32_t> inputs, std::span<const S> teacher_logits,
                                          S temperature) {
  if (teacher_logits.size() != inputs.size() * config_.vocab) {
    throw make_error("training forward: {} teacher logits for {} positions of a vocabulary of {}",
                     teacher_logits.size(), inputs.size(), config_.vocab);
  }
  if (!(temperature > S{0})) throw make_error("training forward: distillation temperature must be positive");
  forward_logits(inputs);
  distill_ = true;
  temperature_ = temperature;
  probs_.resize(logits_.size());
  teacher_probs_.resize(logits_.size());
  return distill_kl_forward(logits_.data(), teacher_logits.data(), probs_.data(), teacher_probs_.data(), inputs.size(),
                            config_.vocab, temperature);
}

template <typename S>
void TrainableLlama<S>::forward_logits(std::span<const std::int32_t> inputs) {
  check_tokens(inputs, config_.vocab, "input");
  const std::size_t T = inputs.size(), D = config_.dim, F = config_.n_ff, V = config_.vocab;
  const std::size_t H = config_.n_heads, KH = config_.n_kv_heads, hd = config_.head_dim();
  const AttentionShape shape{T, H, KH, hd};
  const S eps = config_.rms_eps;
  inputs_.assign(inputs.begin(), inputs.end());
  ensure_rope(T);
  acts_.resize(layers_.size());

  std::vector<S> x(T * D);     // (T, dim) the residual stream
  std::vector<S> proj(T * D);  // (T, dim) a block's output before it joins the stream
  embedding_forward(inputs_.data(), T, value(token_embd_), V, D, x.data());
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    LayerActs& a = acts_[l];
    a.x_in = x;
    a.n1.resize(T * D);
    a.r1.resize(T);
    rmsnorm_forward(x.data(), value(L.attn_norm), a.n1.data(), a.r1.data(), T, D, eps, pool_);
    a.q.resize(T * H * hd);
    a.k.resize(T * KH * hd);
    a.v.resize(T * KH * hd);
    linear_forward(a.n1.data(), value(L.wq), nullptr, a.q.data(), T, D, H * hd, pool_);
    linear_forward(a.n1.data(), value(L.wk), nullptr, a.k.data(), T, D, KH * hd, pool_);
    linear_forward(a.n1.data(), value(L.wv), nullptr, a.v.data(), T, D, KH * hd, pool_);
    rope_forward(a.q.data(), T, H, rope_, pool_);
    rope_forward(a.k.data(), T, KH, rope_, pool_);
    a.probs.resize(H * T * T);
    a.att.resize(T * H * hd);
    attention_forward(a.q.data(), a.k.data(), a.v.data(), a.att.data(), a.probs.data(), shape, pool_);
    linear_forward(a.att.data(), value(L.wo), nullptr, proj.data(), T, H * hd, D, pool_);
    for (std::size_t i = 0; i < T * D; ++i) x[i] += proj[i];

    a.x_mid = x;
    a.n2.resize(T * D);
    a.r2.resize(T);
    rmsnorm_forward(x.data(), value(L.ffn_norm), a.n2.data(), a.r2.data(), T, D, eps, pool_);
    a.gate.resize(T * F);
    a.up.resize(T * F);
    a.h.resize(T * F);
    linear_forward(a.n2.data(), value(L.w_gate), nullptr, a.gate.data(), T, D, F, pool_);
    linear_forward(a.n2.data(), value(L.w_up), nullptr, a.up.data(), T, D, F, pool_);
    swiglu_forward(a.gate.data(), a.up.data(), a.h.data(), T * F);
    linear_forward(a.h.data(), value(L.w_down), nullptr, proj.data(), T, F, D, pool_);
    for (std::size_t i = 0; i < T * D; ++i) x[i] += proj[i];
  }
  x_final_ = std::move(x);
  n_final_.resize(T * D);
  r_final_.resize(T);
  rmsnorm_forward(x_final_.data(), value(output_norm_), n_final_.data(), r_final_.data(), T, D, eps, pool_);
  logits_.resize(T * V);
  linear_forward(n_final_.data(), value(output_), nullptr, logits_.data(), T, D, V, pool_);
}

// The forward pass read bottom-up: every op's backward, in reverse order,
// with dx carrying ∂loss/∂(residual stream) down through the layers. A
// residual connection x_out = x_in + f(x_in) passes dx through unchanged and
// adds f's contribution, which is why the ops' backward passes accumulate.
template <typename S>
void TrainableLlama<S>::backward(S dloss) {
  assert(!inputs_.empty());
  const std::size_t T = inputs_.size(), D = config_.dim, F = config_.n_ff, V = config_.vocab;
  const std::size_t H = config_.n_heads, KH = config_.n_kv_heads, hd = config_.head_dim();
  const AttentionShape shape{T, H, KH, hd};

  std::vector<S> dlogits(T * V, S{0});
  if (distill_) {
    distill_kl_backward(probs_.data(), teacher_probs_.data(), dlogits.data(), T, V, temperature_, dloss);
  } else {
    cross_entropy_backward(probs_.data(), targets_.data(), dlogits.data(), T, V, dloss);
  }
  std::vector<S> dn(T * D, S{0});  // (T, dim) gradient at a norm's output
  linear_backward(dlogits.data(), n_final_.data(), value(output_), dn.data(), grad(output_), nullptr, T, D, V, pool_);
  std::vector<S> dx(T * D, S{0});  // (T, dim) gradient at the residual stream
  rmsnorm_backward(dn.data(), x_final_.data(), value(output_norm_), r_final_.data(), dx.data(), grad(output_norm_), T,
                   D, pool_);

  std::vector<S> dh(T * F), dgate(T * F), dup(T * F);
  std::vector<S> datt(T * H * hd), dq(T * H * hd), dk(T * KH * hd), dv(T * KH * hd);
  for (std::size_t l = layers_.size(); l-- > 0;) {
    const Layer& L = layers_[l];
    const LayerActs& a = acts_[l];
    // x_out = x_mid + w_down · (silu(w_gate · n2) ⊙ (w_up · n2)),  n2 = rmsnorm(x_mid) ⊙ ffn_norm
    std::fill(dh.begin(), dh.end(), S{0});
    linear_backward(dx.data(), a.h.data(), value(L.w_down), dh.data(), grad(L.w_down), nullptr, T, F, D, pool_);
    std::fill(dgate.begin(), dgate.end(), S{0});
    std::fill(dup.begin(), dup.end(), S{0});
    swiglu_backward(dh.data(), a.gate.data(), a.up.data(), dgate.data(), dup.data(), T * F);
    std::fill(dn.begin(), dn.end(), S{0});
    linear_backward(dgate.data(), a.n2.data(), value(L.w_gate), dn.data(), grad(L.w_gate), nullptr, T, D, F, pool_);
    linear_backward(dup.data(), a.n2.data(), value(L.w_up), dn.data(), grad(L.w_up), nullptr, T, D, F, pool_);
    rmsnorm_backward(dn.data(), a.x_mid.data(), value(L.ffn_norm), a.r2.data(), dx.data(), grad(L.ffn_norm), T, D,
                     pool_);  // dx now holds ∂loss/∂x_mid

    // x_mid = x_in + wo · attention(rope(wq · n1), rope(wk · n1), wv · n1),  n1 = rmsnorm(x_in) ⊙ attn_norm
    std::fill(datt.begin(), datt.end(), S{0});
    linear_backward(dx.data(), a.att.data(), value(L.wo), datt.data(), grad(L.wo), nullptr, T, H * hd, D, pool_);
    std::fill(dq.begin(), dq.end(), S{0});
    std::fill(dk.begin(), dk.end(), S{0});
    std::fill(dv.begin(), dv.end(), S{0});
    attention_backward(datt.data(), a.q.data(), a.k.data(), a.v.data(), a.probs.data(), dq.data(), dk.data(), dv.data(),
                       shape, pool_);
    rope_backward(dq.data(), T, H, rope_, pool_);
    rope_backward(dk.data(), T, KH, rope_, pool_);
    std::fill(dn.begin(), dn.end(), S{0});
    linear_backward(dq.data(), a.n1.data(), value(L.wq), dn.data(), grad(L.wq), nullptr, T, D, H * hd, pool_);
    linear_backward(dk.data(), a.n1.data(), value(L.wk), dn.data(), grad(L.wk), nullptr, T, D, KH * hd, pool_);
    linear_backward(dv.data(), a.n1.data(), value(L.wv), dn.data(), grad(L.wv), nullptr, T, D, KH * hd, pool_);
    rmsnorm_backward(dn.data(), a.x_in.data(), value(L.attn_norm), a.r1.data(), dx.data(), grad(L.attn_norm), T, D,
                     pool_);  // dx now holds ∂loss/∂x_in
  }
  embedding_backward(inputs_.data(), T, dx.data(), D, grad(token_embd_));
}

template class TrainableLlama<float>;
template class TrainableLlama<double>;

}  // namespace quantlm::train

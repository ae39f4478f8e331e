// A trainable Llama-family model: parameters with GGUF names, forward to a next-token loss, backward to every gradient.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/thread_pool.h"
#include "train/ops_rope.h"
#include "train/param.h"

namespace quantlm::train {

struct TrainableLlamaConfig {
  std::size_t vocab = 0;
  std::size_t dim = 0;
  std::size_t n_layers = 0;
  std::size_t n_heads = 0;
  std::size_t n_kv_heads = 0;  // divides n_heads
  std::size_t n_ff = 0;
  double rope_base = 10000.0;
  double rms_eps = 1e-5;
  bool tied_output = false;  // the output projection reuses token_embd.weight

  [[nodiscard]] std::size_t head_dim() const { return n_heads == 0 ? 0 : dim / n_heads; }
  // Throws quantlm::Error naming the field when a size is zero or does not divide.
  void validate() const;
};

// One trainable tensor. shape is row-major (outermost first): a linear with
// `rows` outputs of `cols` inputs is {rows, cols}, as io/ keeps GGUF tensors.
template <typename S>
struct Parameter {
  std::string name;  // GGUF's: token_embd.weight, blk.N.attn_q.weight, ...
  std::vector<std::size_t> shape;
  std::vector<S> value;
  std::vector<S> grad;
  bool decay = true;  // false for norm weights
};

// The Llama block, pre-norm:
//   x   = token_embd[tokens]
//   per layer:  x += wo · attention(rope(wq·n1), rope(wk·n1), wv·n1),  n1 = rmsnorm(x) ⊙ attn_norm
//               x += w_down · (silu(w_gate·n2) ⊙ w_up·n2),              n2 = rmsnorm(x) ⊙ ffn_norm
//   logits = output · (rmsnorm(x) ⊙ output_norm)
// forward keeps every activation backward needs; backward adds the gradients
// of the last forward's loss to every Parameter::grad.
template <typename S>
class TrainableLlama {
 public:
  // Weights drawn from N(0, 0.02²) by a generator seeded with `seed` (the
  // residual projections attn_output and ffn_down scaled by 1/sqrt(2·n_layers),
  // as GPT-2 does, so the residual stream's variance does not grow with depth);
  // norm weights 1. pool: threads for the ops, nullptr for the caller's thread.
  TrainableLlama(const TrainableLlamaConfig& config, std::uint64_t seed, ThreadPool* pool = nullptr);

  [[nodiscard]] const TrainableLlamaConfig& config() const { return config_; }

  // Mean next-token cross-entropy of predicting targets[t] from inputs[0..t]. Throws quantlm::Error for
  // empty inputs, a token outside the vocabulary or sizes that disagree (here and in forward_distill).
  double forward(std::span<const std::int32_t> inputs, std::span<const std::int32_t> targets);
  // The same with inputs = tokens[0, n−1) and targets = tokens[1, n).
  double forward(std::span<const std::int32_t> tokens);
  // Distillation: τ² · mean_t KL(softmax(teacher[t] / τ) ‖ softmax(logits[t] / τ)) against
  // teacher_logits (T, vocab), e.g. the float model's, for quantization-aware training.
  double forward_distill(std::span<const std::int32_t> inputs, std::span<const S> teacher_logits, S temperature);

  // Adds dloss · ∂loss/∂θ (the loss of the last forward or forward_distill) to every parameter's grad. dloss = 1/k
  // averages k micro-batches of gradient accumulation.
  void backward(S dloss = S{1});
  void zero_grad();

  [[nodiscard]] std::vector<Parameter<S>>& parameters() { return params_; }
  [[nodiscard]] const std::vector<Parameter<S>>& parameters() const { return params_; }
  // nullptr when no parameter has that name.
  [[nodiscard]] Parameter<S>* find(std::string_view name);
  // Views for the optimizer and clipping, in parameters() order; valid as long as the model (tensors
  // never reallocate after construction).
  [[nodiscard]] std::vector<ParamRef<S>> param_refs();
  [[nodiscard]] std::size_t parameter_count() const;

  // (T, vocab) of the last forward.
  [[nodiscard]] const std::vector<S>& logits() const { return logits_; }

 private:
  struct Layer {  // indices into params_
    std::size_t attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down;
  };
  struct LayerActs {             // T = tokens of the last forward
    std::vector<S> x_in;         // (T, dim) residual stream entering the layer
    std::vector<S> n1;           // (T, dim) normed for attention
    std::vector<S> r1;           // (T) its inverse rms
    std::vector<S> q;            // (T, H, hd) after RoPE
    std::vector<S> k, v;         // (T, KH, hd), k after RoPE
    std::vector<S> probs;        // (H, T, T)
    std::vector<S> att;          // (T, H·hd) attention output before wo
    std::vector<S> x_mid;        // (T, dim) residual stream after attention
    std::vector<S> n2;           // (T, dim) normed for the FFN
    std::vector<S> r2;           // (T)
    std::vector<S> gate, up, h;  // (T, n_ff)
  };

  std::size_t add_param(const std::string& name, const std::vector<std::size_t>& shape, bool decay);
  S* value(std::size_t i) { return params_[i].value.data(); }
  S* grad(std::size_t i) { return params_[i].grad.data(); }
  void ensure_rope(std::size_t n_tokens);
  // Runs the model over inputs up to logits_, keeping every activation.
  void forward_logits(std::span<const std::int32_t> inputs);

  TrainableLlamaConfig config_;
  ThreadPool* pool_ = nullptr;
  std::vector<Parameter<S>> params_;
  std::size_t token_embd_ = 0, output_norm_ = 0, output_ = 0;  // output_ == token_embd_ when tied
  std::vector<Layer> layers_;
  RopeTable<S> rope_;

  // The last forward's inputs and activations.
  std::vector<std::int32_t> inputs_, targets_;
  std::vector<LayerActs> acts_;
  std::vector<S> x_final_, n_final_, r_final_;  // (T, dim), (T, dim), (T)
  std::vector<S> logits_, probs_;               // (T, vocab); probs_ = softmax(logits_ / τ)
  bool distill_ = false;                        // which loss the last forward computed
  S temperature_{1};
  std::vector<S> teacher_probs_;  // (T, vocab) softmax(teacher / τ) of the last forward_distill
};

extern template class TrainableLlama<float>;
extern template class TrainableLlama<double>;

}  // namespace quantlm::train

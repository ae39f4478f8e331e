// The Llama-family forward pass in f32: embedding, blocks of RMSNorm / RoPE attention / SwiGLU FFN, output projection.
#include "model/llama_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string_view>

#include "core/error.h"
#include "model/ops.h"

namespace quantlm::model {
namespace {

// Per-token work of fewer values than this runs on the calling thread: waking
// the pool costs more than it saves (decode always, small prefills).
constexpr std::int64_t kParallelValues = 32768;

AlignedBuffer<float> activations(std::int64_t tokens, std::int64_t width) {
  return AlignedBuffer<float>(static_cast<std::size_t>(tokens * width));
}

std::span<float> rows(AlignedBuffer<float>& b, std::int64_t n, std::int64_t width) {
  return {b.data(), static_cast<std::size_t>(n * width)};
}

}  // namespace

LlamaModel::LlamaModel(const io::ModelSource& source, const LlamaOptions& options)
    : keep_alive_(source.keep_alive),
      config_(read_llama_config(source)),
      weights_(bind_llama_weights(source, config_)),
      pool_(options.pool != nullptr ? options.pool : &default_thread_pool()),
      max_batch_(std::max<std::int64_t>(1, options.max_batch)) {
  if (options.context_length < 0) {
    throw make_error("{}: a context of {} positions was requested", source.description, options.context_length);
  }
  const std::int64_t capacity =
      options.context_length > 0 ? std::min(options.context_length, config_.context_length) : config_.context_length;
  const Isa isa = options.isa;
  for (const LlamaLayer& l : weights_.layers) {
    layer_ops_.push_back(LayerOps{kernels::Matmul(l.wq, isa), kernels::Matmul(l.wk, isa), kernels::Matmul(l.wv, isa),
                                  kernels::Matmul(l.wo, isa), kernels::Matmul(l.w_gate, isa),
                                  kernels::Matmul(l.w_up, isa), kernels::Matmul(l.w_down, isa)});
  }
  output_ = kernels::Matmul(weights_.output, isa);
  for (std::int64_t l = 0; l < config_.n_layers; ++l) {
    auto name = [l](std::string_view w) { return fmt::format("blk.{}.{}.weight", l, w); };
    input_names_.push_back(LayerInputNames{{name("attn_q"), name("attn_k"), name("attn_v")},
                                           {name("attn_output")},
                                           {name("ffn_gate"), name("ffn_up")},
                                           {name("ffn_down")}});
  }
  // A tied output is token_embd, whose rows are also looked up: not a Linear to calibrate.
  if (!weights_.tied_output) output_names_ = {"output.weight"};
  rope_ = Rope(config_, weights_.rope_freq_factors);
  attention_ = Attention(config_, kernels::select_kernel(formats::traits(formats::FormatId::F32), isa));
  cache_ = KvCache(config_.n_layers, config_.n_kv_heads, config_.head_dim, capacity);

  const std::int64_t b = max_batch_;
  const LlamaConfig& c = config_;
  s_ = Scratch{activations(b, c.dim),      activations(b, c.dim),      activations(b, c.q_dim()),
               activations(b, c.kv_dim()), activations(b, c.kv_dim()), activations(b, c.q_dim()),
               activations(b, c.dim),      activations(b, c.n_ff),     activations(b, c.n_ff)};
}

std::string LlamaModel::kernel_summary() const {
  std::set<std::string> names;
  for (const LayerOps& l : layer_ops_) {
    for (const kernels::Matmul* op : {&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down}) {
      names.insert(op->kernel().name());
    }
  }
  names.insert(output_.kernel().name());
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

template <typename Fn>
void LlamaModel::per_token(std::int64_t n, std::int64_t width, const Fn& fn) {
  if (n > 1 && n * width >= kParallelValues) {
    pool_->parallel_for(static_cast<std::size_t>(n),
                        [&](std::size_t t, std::size_t /*thread*/) { fn(static_cast<std::int64_t>(t)); });
  } else {
    for (std::int64_t t = 0; t < n; ++t) fn(t);
  }
}

void LlamaModel::forward(std::span<const std::int32_t> tokens, std::span<float> logits) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  const std::int64_t vocab = config_.vocab_size;
  if (static_cast<std::int64_t>(logits.size()) != n * vocab) {
    throw make_error("forward: {} tokens need {} logits (tokens x vocabulary {}), got a span of {}", n, n * vocab,
                     vocab, logits.size());
  }
  if (n_cached_ + n > cache_.capacity()) {
    throw make_error("forward: {} cached + {} new tokens exceed the context of {} positions", n_cached_, n,
                     cache_.capacity());
  }
  for (const std::int32_t t : tokens) {
    if (t < 0 || t >= vocab) throw make_error("forward: token id {} is outside the vocabulary [0, {})", t, vocab);
  }
  for (std::int64_t i = 0; i < n; i += max_batch_) {
    const std::int64_t step = std::min(max_batch_, n - i);
    forward_step(tokens.subspan(static_cast<std::size_t>(i), static_cast<std::size_t>(step)),
                 logits.data() + i * vocab);
  }
}

// One step of n <= max_batch tokens at positions [n_cached_, n_cached_ + n).
void LlamaModel::forward_step(std::span<const std::int32_t> tokens, float* logits) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  const LlamaConfig& c = config_;
  const TensorView& embd = weights_.token_embd;
  const formats::FormatTraits& embd_format = *formats::find_format(embd.storage.format_id);

  // x (n, dim) = rows of token_embd, decoded from whatever format stores them.
  per_token(n, c.dim, [&](std::int64_t t) {
    embd_format.dequantize(embd.row(tokens[static_cast<std::size_t>(t)]), s_.x.data() + t * c.dim, c.dim);
  });
  rope_.prepare(n_cached_, n);

  for (std::int64_t l = 0; l < c.n_layers; ++l) {
    attention_block(l, n);
    ffn_block(l, n);
  }

  // xn (n, dim) = rms_norm(x) · output_norm; logits (n, vocab) = xn · outputᵀ
  per_token(n, c.dim, [&](std::int64_t t) {
    ops::rms_norm(s_.x.data() + t * c.dim, weights_.output_norm.data(), s_.xn.data() + t * c.dim, c.dim, c.rms_eps);
  });
  if (!output_names_.empty()) observe(output_names_, s_.xn, n, c.dim);
  output_.run(rows(s_.xn, n, c.dim), {logits, static_cast<std::size_t>(n * c.vocab_size)}, *pool_);
  n_cached_ += n;
}

// x += attention(rms_norm(x) · attn_norm) · Woᵀ for the n tokens of the step.
void LlamaModel::attention_block(std::int64_t layer, std::int64_t n) {
  const LlamaConfig& c = config_;
  const LlamaLayer& w = weights_.layers[static_cast<std::size_t>(layer)];
  const LayerOps& op = layer_ops_[static_cast<std::size_t>(layer)];

  // xn (n, dim) = rms_norm(x) · attn_norm
  per_token(n, c.dim, [&](std::int64_t t) {
    ops::rms_norm(s_.x.data() + t * c.dim, w.attn_norm.data(), s_.xn.data() + t * c.dim, c.dim, c.rms_eps);
  });
  observe(input_names_[static_cast<std::size_t>(layer)].qkv, s_.xn, n, c.dim);
  // q (n, n_heads, head_dim), k and v (n, n_kv_heads, head_dim) = xn · Wq, Wk, Wvᵀ: one fork/join for the three
  const kernels::MatmulJob qkv[] = {{&op.wq, rows(s_.xn, n, c.dim), rows(s_.q, n, c.q_dim())},
                                    {&op.wk, rows(s_.xn, n, c.dim), rows(s_.k, n, c.kv_dim())},
                                    {&op.wv, rows(s_.xn, n, c.dim), rows(s_.v, n, c.kv_dim())}};
  kernels::run_matmuls(qkv, *pool_);
  per_token(n, c.q_dim(), [&](std::int64_t t) {
    float* q = s_.q.data() + t * c.q_dim();   // (n_heads, head_dim)
    float* k = s_.k.data() + t * c.kv_dim();  // (n_kv_heads, head_dim)
    if (c.qkv_bias) {
      ops::add(q, w.bq.data(), c.q_dim());
      ops::add(k, w.bk.data(), c.kv_dim());
      ops::add(s_.v.data() + t * c.kv_dim(), w.bv.data(), c.kv_dim());
    }
    rope_.apply(q, c.n_heads, t);
    rope_.apply(k, c.n_kv_heads, t);
  });
  cache_.store(layer, n_cached_, n, s_.k.data(), s_.v.data());

  // attn (n, n_heads, head_dim) = softmax(q · Kᵀ / sqrt(head_dim), causal) · V over positions [0, n_cached_ + n)
  attention_.run(cache_, layer, s_.q.data(), n_cached_, n, s_.attn.data(), *pool_);
  // proj (n, dim) = attn · Woᵀ; x += proj
  observe(input_names_[static_cast<std::size_t>(layer)].wo, s_.attn, n, c.q_dim());
  op.wo.run(rows(s_.attn, n, c.q_dim()), rows(s_.proj, n, c.dim), *pool_);
  per_token(n, c.dim, [&](std::int64_t t) { ops::add(s_.x.data() + t * c.dim, s_.proj.data() + t * c.dim, c.dim); });
}

// x += (silu(xn · W_gateᵀ) ⊙ (xn · W_upᵀ)) · W_downᵀ with xn = rms_norm(x) · ffn_norm.
void LlamaModel::ffn_block(std::int64_t layer, std::int64_t n) {
  const LlamaConfig& c = config_;
  const LlamaLayer& w = weights_.layers[static_cast<std::size_t>(layer)];
  const LayerOps& op = layer_ops_[static_cast<std::size_t>(layer)];

  // xn (n, dim) = rms_norm(x) · ffn_norm
  per_token(n, c.dim, [&](std::int64_t t) {
    ops::rms_norm(s_.x.data() + t * c.dim, w.ffn_norm.data(), s_.xn.data() + t * c.dim, c.dim, c.rms_eps);
  });
  // gate, up (n, n_ff) = xn · W_gateᵀ, xn · W_upᵀ
  observe(input_names_[static_cast<std::size_t>(layer)].gate_up, s_.xn, n, c.dim);
  const kernels::MatmulJob gate_up[] = {{&op.gate, rows(s_.xn, n, c.dim), rows(s_.gate, n, c.n_ff)},
                                        {&op.up, rows(s_.xn, n, c.dim), rows(s_.up, n, c.n_ff)}};
  kernels::run_matmuls(gate_up, *pool_);
  // gate (n, n_ff) = silu(gate) ⊙ up
  per_token(n, c.n_ff,
            [&](std::int64_t t) { ops::silu_mul(s_.gate.data() + t * c.n_ff, s_.up.data() + t * c.n_ff, c.n_ff); });
  // proj (n, dim) = gate · W_downᵀ; x += proj
  observe(input_names_[static_cast<std::size_t>(layer)].down, s_.gate, n, c.n_ff);
  op.down.run(rows(s_.gate, n, c.n_ff), rows(s_.proj, n, c.dim), *pool_);
  per_token(n, c.dim, [&](std::int64_t t) { ops::add(s_.x.data() + t * c.dim, s_.proj.data() + t * c.dim, c.dim); });
}

}  // namespace quantlm::model

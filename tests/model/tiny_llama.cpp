// Tiny in-memory Llama-family sources and a float64 reference forward pass.
#include "tiny_llama.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <random>

namespace quantlm::test {
namespace {

using gguf::Value;

struct Owned {
  std::vector<std::vector<float>> buffers;
};

void add_tensor(io::ModelSource& s, Owned& owned, const std::string& name, Shape shape, std::mt19937& rng, float scale,
                float offset = 0.0F) {
  std::normal_distribution<float> normal(0.0F, 1.0F);
  std::vector<float>& data = owned.buffers.emplace_back(static_cast<std::size_t>(shape.elements()));
  for (float& v : data) v = offset + scale * normal(rng);
  s.tensors.push_back(io::SourceTensor{
      name, shape, &formats::traits(formats::FormatId::F32),
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(data.data()), data.size() * sizeof(float))});
}

Shape vec(std::int64_t n) { return Shape{{n}, 1}; }
Shape mat(std::int64_t r, std::int64_t c) { return Shape{{r, c}, 2}; }

std::vector<double> tensor(const io::ModelSource& s, const std::string& name) {
  const io::SourceTensor* t = s.find_tensor(name);
  std::vector<float> f(static_cast<std::size_t>(t->shape.elements()));
  std::memcpy(f.data(), t->data.data(), f.size() * sizeof(float));
  return {f.begin(), f.end()};
}

// y (rows) = W (rows, cols) · x (cols)
std::vector<double> matvec(const std::vector<double>& w, const std::vector<double>& x) {
  const std::size_t cols = x.size();
  std::vector<double> y(w.size() / cols);
  for (std::size_t r = 0; r < y.size(); ++r) {
    for (std::size_t c = 0; c < cols; ++c) y[r] += w[r * cols + c] * x[c];
  }
  return y;
}

std::vector<double> rms_norm(const std::vector<double>& x, const std::vector<double>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
  return y;
}

}  // namespace

io::ModelSource make_tiny_source(const TinySpec& spec) {
  io::ModelSource s;
  s.description = "tiny " + spec.arch + " test model";
  auto owned = std::make_shared<Owned>();
  std::mt19937 rng(spec.seed);
  const std::string a = spec.arch;
  const std::int64_t hd = spec.dim / spec.heads;
  s.metadata = {
      {"general.architecture", Value::from_string(a)},
      {a + ".context_length", Value::from_u32(static_cast<std::uint32_t>(spec.context))},
      {a + ".embedding_length", Value::from_u32(static_cast<std::uint32_t>(spec.dim))},
      {a + ".block_count", Value::from_u32(static_cast<std::uint32_t>(spec.layers))},
      {a + ".feed_forward_length", Value::from_u32(static_cast<std::uint32_t>(spec.ff))},
      {a + ".attention.head_count", Value::from_u32(static_cast<std::uint32_t>(spec.heads))},
      {a + ".attention.head_count_kv", Value::from_u32(static_cast<std::uint32_t>(spec.kv_heads))},
      {a + ".rope.freq_base", Value::from_f32(static_cast<float>(spec.rope_base))},
      {a + ".attention.layer_norm_rms_epsilon", Value::from_f32(1e-5F)},
  };
  if (spec.n_rot > 0)
    s.metadata.push_back({a + ".rope.dimension_count", Value::from_u32(static_cast<std::uint32_t>(spec.n_rot))});
  if (spec.linear_scale > 0) {
    s.metadata.push_back({a + ".rope.scaling.type", Value::from_string("linear")});
    s.metadata.push_back({a + ".rope.scaling.factor", Value::from_f32(static_cast<float>(spec.linear_scale))});
  }
  const bool biases = spec.biases || spec.arch == "qwen2";
  const float in_scale = 1.0F / std::sqrt(static_cast<float>(spec.dim));
  add_tensor(s, *owned, "token_embd.weight", mat(spec.vocab, spec.dim), rng, 1.0F);
  add_tensor(s, *owned, "output_norm.weight", vec(spec.dim), rng, 0.1F, 1.0F);
  if (!spec.tied) add_tensor(s, *owned, "output.weight", mat(spec.vocab, spec.dim), rng, in_scale);
  for (std::int64_t l = 0; l < spec.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add_tensor(s, *owned, p + "attn_norm.weight", vec(spec.dim), rng, 0.1F, 1.0F);
    add_tensor(s, *owned, p + "attn_q.weight", mat(spec.heads * hd, spec.dim), rng, in_scale);
    add_tensor(s, *owned, p + "attn_k.weight", mat(spec.kv_heads * hd, spec.dim), rng, in_scale);
    add_tensor(s, *owned, p + "attn_v.weight", mat(spec.kv_heads * hd, spec.dim), rng, in_scale);
    if (biases) {
      add_tensor(s, *owned, p + "attn_q.bias", vec(spec.heads * hd), rng, 0.2F);
      add_tensor(s, *owned, p + "attn_k.bias", vec(spec.kv_heads * hd), rng, 0.2F);
      add_tensor(s, *owned, p + "attn_v.bias", vec(spec.kv_heads * hd), rng, 0.2F);
    }
    add_tensor(s, *owned, p + "attn_output.weight", mat(spec.dim, spec.heads * hd), rng, in_scale);
    add_tensor(s, *owned, p + "ffn_norm.weight", vec(spec.dim), rng, 0.1F, 1.0F);
    add_tensor(s, *owned, p + "ffn_gate.weight", mat(spec.ff, spec.dim), rng, in_scale);
    add_tensor(s, *owned, p + "ffn_up.weight", mat(spec.ff, spec.dim), rng, in_scale);
    add_tensor(s, *owned, p + "ffn_down.weight", mat(spec.dim, spec.ff), rng,
               1.0F / std::sqrt(static_cast<float>(spec.ff)));
  }
  s.keep_alive.push_back(owned);
  return s;
}

std::vector<double> reference_logits(const io::ModelSource& s, const TinySpec& spec,
                                     const std::vector<std::int32_t>& tokens) {
  const auto dim = static_cast<std::size_t>(spec.dim);
  const auto heads = static_cast<std::size_t>(spec.heads);
  const auto kv_heads = static_cast<std::size_t>(spec.kv_heads);
  const std::size_t hd = dim / heads;
  const std::size_t n_rot = spec.n_rot > 0 ? static_cast<std::size_t>(spec.n_rot) : hd;
  const double scale = spec.linear_scale > 0 ? spec.linear_scale : 1.0;
  const bool neox = spec.arch == "qwen2";
  const bool biases = spec.biases || neox;
  const double eps = 1e-5F;  // as stored: an f32

  const std::vector<double> embd = tensor(s, "token_embd.weight");
  const std::vector<double> out_w = tensor(s, spec.tied ? "token_embd.weight" : "output.weight");
  const std::vector<double> out_norm = tensor(s, "output_norm.weight");
  // Per layer, per position: keys and values (kv_heads * hd).
  std::vector<std::vector<std::vector<double>>> keys(static_cast<std::size_t>(spec.layers));
  std::vector<std::vector<std::vector<double>>> values(static_cast<std::size_t>(spec.layers));

  const auto rope = [&](std::vector<double>& v, std::size_t n_heads, std::size_t pos) {
    for (std::size_t h = 0; h < n_heads; ++h) {
      for (std::size_t i = 0; i < n_rot / 2; ++i) {
        const double theta = static_cast<double>(pos) / scale *
                             std::pow(spec.rope_base, -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
        const std::size_t a = h * hd + (neox ? i : 2 * i);
        const std::size_t b = a + (neox ? n_rot / 2 : 1);
        const double x0 = v[a];
        const double x1 = v[b];
        v[a] = x0 * std::cos(theta) - x1 * std::sin(theta);
        v[b] = x0 * std::sin(theta) + x1 * std::cos(theta);
      }
    }
  };

  std::vector<double> logits;
  for (std::size_t pos = 0; pos < tokens.size(); ++pos) {
    std::vector<double> x(embd.begin() + static_cast<std::ptrdiff_t>(tokens[pos] * dim),
                          embd.begin() + static_cast<std::ptrdiff_t>((tokens[pos] + 1) * dim));
    for (std::int64_t l = 0; l < spec.layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const auto li = static_cast<std::size_t>(l);
      const std::vector<double> xn = rms_norm(x, tensor(s, p + "attn_norm.weight"), eps);
      std::vector<double> q = matvec(tensor(s, p + "attn_q.weight"), xn);
      std::vector<double> k = matvec(tensor(s, p + "attn_k.weight"), xn);
      std::vector<double> v = matvec(tensor(s, p + "attn_v.weight"), xn);
      if (biases) {
        const auto bq = tensor(s, p + "attn_q.bias"), bk = tensor(s, p + "attn_k.bias"),
                   bv = tensor(s, p + "attn_v.bias");
        for (std::size_t i = 0; i < q.size(); ++i) q[i] += bq[i];
        for (std::size_t i = 0; i < k.size(); ++i) k[i] += bk[i], v[i] += bv[i];
      }
      rope(q, heads, pos);
      rope(k, kv_heads, pos);
      keys[li].push_back(k);
      values[li].push_back(v);
      std::vector<double> attn(dim, 0.0);
      for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t g = h / (heads / kv_heads);
        std::vector<double> w(pos + 1);
        double max = -1e300;
        for (std::size_t j = 0; j <= pos; ++j) {
          double dot = 0;
          for (std::size_t d = 0; d < hd; ++d) dot += q[h * hd + d] * keys[li][j][g * hd + d];
          w[j] = dot / std::sqrt(static_cast<double>(hd));
          max = std::max(max, w[j]);
        }
        double sum = 0;
        for (double& e : w) sum += (e = std::exp(e - max));
        for (std::size_t j = 0; j <= pos; ++j) {
          for (std::size_t d = 0; d < hd; ++d) attn[h * hd + d] += w[j] / sum * values[li][j][g * hd + d];
        }
      }
      const std::vector<double> o = matvec(tensor(s, p + "attn_output.weight"), attn);
      for (std::size_t i = 0; i < dim; ++i) x[i] += o[i];
      const std::vector<double> xf = rms_norm(x, tensor(s, p + "ffn_norm.weight"), eps);
      std::vector<double> gate = matvec(tensor(s, p + "ffn_gate.weight"), xf);
      const std::vector<double> up = matvec(tensor(s, p + "ffn_up.weight"), xf);
      for (std::size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      const std::vector<double> down = matvec(tensor(s, p + "ffn_down.weight"), gate);
      for (std::size_t i = 0; i < dim; ++i) x[i] += down[i];
    }
    const std::vector<double> l = matvec(out_w, rms_norm(x, out_norm, eps));
    logits.insert(logits.end(), l.begin(), l.end());
  }
  return logits;
}

}  // namespace quantlm::test

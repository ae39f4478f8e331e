// Every train/ op's backward pass against central finite differences in double, on small odd shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "train/gradcheck.h"
#include "train/loss.h"
#include "train/ops_activation.h"
#include "train/ops_attention.h"
#include "train/ops_embedding.h"
#include "train/ops_linear.h"
#include "train/ops_norm.h"
#include "train/ops_rope.h"

namespace quantlm::train {
namespace {

using testing::dot;
using testing::gradcheck;
using testing::random_vector;
using Vec = std::vector<double>;

constexpr double kTolerance = 1e-6;

// Checks, prints (the figure the report quotes) and returns nothing.
void expect_grad(const char* what, Vec& x, const Vec& analytic, const std::function<double()>& loss) {
  const double err = gradcheck(x, analytic, loss);
  std::printf("[gradcheck] %-28s relative error %.2e\n", what, err);
  EXPECT_LT(err, kTolerance) << what;
}

TEST(TrainOps, EmbeddingScatterAddsRepeatedTokens) {
  std::mt19937_64 rng(1);
  const std::size_t n = 5, vocab = 11, dim = 6;
  const std::vector<std::int32_t> tokens = {3, 7, 3, 0, 10};  // 3 twice: its row must collect both gradients
  Vec table = random_vector(vocab * dim, rng);
  const Vec g = random_vector(n * dim, rng);
  Vec out(n * dim);
  auto loss = [&] {
    embedding_forward(tokens.data(), n, table.data(), vocab, dim, out.data());
    return dot(out, g);
  };
  Vec dtable(vocab * dim, 0.0);
  embedding_backward(tokens.data(), n, g.data(), dim, dtable.data());
  expect_grad("embedding d_table", table, dtable, loss);
  for (std::size_t j = 0; j < dim; ++j) EXPECT_EQ(dtable[3 * dim + j], g[0 * dim + j] + g[2 * dim + j]);
}

void check_linear(bool with_bias) {
  std::mt19937_64 rng(2);
  const std::size_t n = 5, in = 6, out = 7;
  Vec x = random_vector(n * in, rng), w = random_vector(out * in, rng), b = random_vector(out, rng);
  const Vec g = random_vector(n * out, rng);
  Vec y(n * out);
  auto loss = [&] {
    linear_forward(x.data(), w.data(), with_bias ? b.data() : nullptr, y.data(), n, in, out);
    return dot(y, g);
  };
  Vec dx(n * in, 0.0), dw(out * in, 0.0), db(out, 0.0);
  linear_backward(g.data(), x.data(), w.data(), dx.data(), dw.data(), with_bias ? db.data() : nullptr, n, in, out);
  expect_grad(with_bias ? "linear+bias dX" : "linear dX", x, dx, loss);
  expect_grad(with_bias ? "linear+bias dW" : "linear dW", w, dw, loss);
  if (with_bias) expect_grad("linear+bias db", b, db, loss);
}

TEST(TrainOps, Linear) { check_linear(false); }
TEST(TrainOps, LinearWithBias) { check_linear(true); }

TEST(TrainOps, RmsNorm) {
  std::mt19937_64 rng(3);
  const std::size_t n = 5, dim = 6;
  Vec x = random_vector(n * dim, rng), w = random_vector(dim, rng, 0.5, 1.5);
  const Vec g = random_vector(n * dim, rng);
  Vec y(n * dim), r(n);
  auto loss = [&] {
    rmsnorm_forward(x.data(), w.data(), y.data(), r.data(), n, dim, 1e-5);
    return dot(y, g);
  };
  loss();
  Vec dx(n * dim, 0.0), dw(dim, 0.0);
  rmsnorm_backward(g.data(), x.data(), w.data(), r.data(), dx.data(), dw.data(), n, dim);
  expect_grad("rmsnorm dX", x, dx, loss);
  expect_grad("rmsnorm dW", w, dw, loss);
}

void check_rope(std::size_t n_heads, std::size_t head_dim, const char* what) {
  std::mt19937_64 rng(4);
  const std::size_t n = 5;
  const RopeTable<double> table(n, head_dim, 10000.0);
  Vec x = random_vector(n * n_heads * head_dim, rng);
  const Vec g = random_vector(x.size(), rng);
  Vec y;
  auto loss = [&] {
    y = x;
    rope_forward(y.data(), n, n_heads, table);
    return dot(y, g);
  };
  Vec dx = g;
  rope_backward(dx.data(), n, n_heads, table);
  expect_grad(what, x, dx, loss);
  // The backward rotation undoes the forward one.
  loss();
  rope_backward(y.data(), n, n_heads, table);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], x[i], 1e-14);
}

TEST(TrainOps, RopeOnePair) { check_rope(3, 2, "rope dX (hd 2)"); }
TEST(TrainOps, RopeSeveralFrequencies) { check_rope(2, 6, "rope dX (hd 6)"); }

TEST(TrainOps, RopeMatchesHandRotation) {
  // head_dim 2, base irrelevant for pair 0: θ(t) = t.
  const RopeTable<double> table(3, 2, 10000.0);
  Vec x = {1.0, 0.0, 1.0, 0.0, 0.5, 2.0};  // positions 0, 1, 2
  rope_forward(x.data(), 3, 1, table);
  EXPECT_DOUBLE_EQ(x[0], 1.0);
  EXPECT_DOUBLE_EQ(x[1], 0.0);
  EXPECT_DOUBLE_EQ(x[2], std::cos(1.0));
  EXPECT_DOUBLE_EQ(x[3], std::sin(1.0));
  EXPECT_DOUBLE_EQ(x[4], 0.5 * std::cos(2.0) - 2.0 * std::sin(2.0));
  EXPECT_DOUBLE_EQ(x[5], 0.5 * std::sin(2.0) + 2.0 * std::cos(2.0));
}

void check_attention(const AttentionShape& a, const char* what) {
  std::mt19937_64 rng(5);
  const std::size_t T = a.n_tokens, H = a.n_heads, KH = a.n_kv_heads, hd = a.head_dim;
  // Scores of a few units, so the softmax is neither flat nor one-hot.
  Vec q = random_vector(T * H * hd, rng, -2.0, 2.0), k = random_vector(T * KH * hd, rng, -2.0, 2.0);
  Vec v = random_vector(T * KH * hd, rng);
  const Vec g = random_vector(T * H * hd, rng);
  Vec out(T * H * hd), probs(H * T * T);
  auto loss = [&] {
    attention_forward(q.data(), k.data(), v.data(), out.data(), probs.data(), a);
    return dot(out, g);
  };
  loss();
  Vec dq(q.size(), 0.0), dk(k.size(), 0.0), dv(v.size(), 0.0);
  attention_backward(g.data(), q.data(), k.data(), v.data(), probs.data(), dq.data(), dk.data(), dv.data(), a);
  const std::string name = what;
  expect_grad((name + " dQ").c_str(), q, dq, loss);
  expect_grad((name + " dK").c_str(), k, dk, loss);
  expect_grad((name + " dV").c_str(), v, dv, loss);
  // Causality: row t of the probabilities sums to one over s <= t and is zero after.
  for (std::size_t h = 0; h < H; ++h) {
    for (std::size_t t = 0; t < T; ++t) {
      double sum = 0.0;
      for (std::size_t s = 0; s < T; ++s) {
        if (s > t) {
          EXPECT_EQ(probs[(h * T + t) * T + s], 0.0);
        }
        sum += probs[(h * T + t) * T + s];
      }
      EXPECT_NEAR(sum, 1.0, 1e-14);
    }
  }
}

TEST(TrainOps, AttentionGroupedOneKvHead) { check_attention({5, 3, 1, 2}, "attention H3 KH1 hd2"); }
TEST(TrainOps, AttentionGroupedTwoKvHeads) { check_attention({7, 4, 2, 4}, "attention H4 KH2 hd4"); }
TEST(TrainOps, AttentionMultiHead) { check_attention({5, 3, 3, 2}, "attention H3 KH3 hd2"); }

TEST(TrainOps, AttentionSoftmaxIsStableForLargeScores) {
  // Scores near 1e3 would overflow exp without the max subtraction.
  const AttentionShape a{3, 1, 1, 2};
  const Vec q = {30.0, 30.0, 30.0, 30.0, 30.0, 30.0}, k = {30.0, 30.0, 31.0, 31.0, 29.0, 29.0};
  const Vec v = {1.0, 2.0, 3.0, 4.0, 5.0, 6.0};
  Vec out(6), probs(9);
  attention_forward(q.data(), k.data(), v.data(), out.data(), probs.data(), a);
  for (const double o : out) EXPECT_TRUE(std::isfinite(o));
  EXPECT_NEAR(out[2], 3.0, 1e-9);  // position 1 attends almost only to key 1, which scores 30·√2 higher
}

TEST(TrainOps, SwiGlu) {
  std::mt19937_64 rng(6);
  const std::size_t n = 13;
  Vec gate = random_vector(n, rng, -3.0, 3.0), up = random_vector(n, rng);
  const Vec g = random_vector(n, rng);
  Vec h(n);
  auto loss = [&] {
    swiglu_forward(gate.data(), up.data(), h.data(), n);
    return dot(h, g);
  };
  Vec dgate(n, 0.0), dup(n, 0.0);
  swiglu_backward(g.data(), gate.data(), up.data(), dgate.data(), dup.data(), n);
  expect_grad("swiglu d_gate", gate, dgate, loss);
  expect_grad("swiglu d_up", up, dup, loss);
}

TEST(TrainOps, Relu) {
  std::mt19937_64 rng(7);
  const std::size_t n = 13;
  Vec x = random_vector(n, rng);
  for (double& v : x) {
    if (std::fabs(v) < 0.05) v = 0.3;  // keep finite differences off the kink
  }
  const Vec g = random_vector(n, rng);
  Vec y(n);
  auto loss = [&] {
    relu_forward(x.data(), y.data(), n);
    return dot(y, g);
  };
  Vec dx(n, 0.0);
  relu_backward(g.data(), x.data(), dx.data(), n);
  expect_grad("relu dX", x, dx, loss);
}

TEST(TrainOps, DropoutIsSeededAndScaled) {
  std::mt19937_64 rng(8);
  const std::size_t n = 4001;
  const double p = 0.3;
  Vec x = random_vector(n, rng, 0.5, 1.5);
  const Vec g = random_vector(n, rng);
  Vec y(n), y2(n);
  dropout_forward(x.data(), y.data(), n, p, 42);
  dropout_forward(x.data(), y2.data(), n, p, 42);
  EXPECT_EQ(y, y2);  // same seed, same mask
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (y[i] == 0.0) {
      ++dropped;
    } else {
      EXPECT_DOUBLE_EQ(y[i], x[i] / (1.0 - p));
    }
  }
  EXPECT_NEAR(static_cast<double>(dropped) / static_cast<double>(n), p, 0.03);
  dropout_forward(x.data(), y2.data(), n, p, 43);
  EXPECT_NE(y, y2);  // another seed, another mask

  const std::size_t small = 13;
  Vec xs(x.begin(), x.begin() + small);
  const Vec gs(g.begin(), g.begin() + small);
  Vec ys(small);
  auto loss = [&] {
    dropout_forward(xs.data(), ys.data(), small, p, 42);
    return dot(ys, gs);
  };
  Vec dx(small, 0.0);
  dropout_backward(gs.data(), dx.data(), small, p, 42);
  expect_grad("dropout dX", xs, dx, loss);
}

TEST(TrainOps, CrossEntropy) {
  std::mt19937_64 rng(9);
  const std::size_t n = 5, vocab = 11;
  Vec logits = random_vector(n * vocab, rng, -3.0, 3.0);
  const std::vector<std::int32_t> targets = {0, 10, 4, 4, 7};
  Vec probs(n * vocab);
  auto loss = [&] { return cross_entropy_forward(logits.data(), targets.data(), probs.data(), n, vocab); };
  loss();
  Vec dlogits(n * vocab, 0.0);
  cross_entropy_backward(probs.data(), targets.data(), dlogits.data(), n, vocab, 1.0);
  expect_grad("cross-entropy d_logits", logits, dlogits, loss);

  // Equal logits: every position costs log(vocab); a shift by 1000 changes nothing (the max is subtracted).
  Vec flat(n * vocab, 1000.0);
  EXPECT_NEAR(cross_entropy_forward(flat.data(), targets.data(), probs.data(), n, vocab), std::log(11.0), 1e-12);
}

TEST(TrainOps, DistillationKl) {
  std::mt19937_64 rng(10);
  const std::size_t n = 5, vocab = 11;
  const double temperature = 2.0;
  Vec student = random_vector(n * vocab, rng, -3.0, 3.0);
  const Vec teacher = random_vector(n * vocab, rng, -3.0, 3.0);
  Vec ps(n * vocab), pt(n * vocab);
  auto loss = [&] {
    return distill_kl_forward(student.data(), teacher.data(), ps.data(), pt.data(), n, vocab, temperature);
  };
  EXPECT_GT(loss(), 0.0);
  Vec dstudent(n * vocab, 0.0);
  distill_kl_backward(ps.data(), pt.data(), dstudent.data(), n, vocab, temperature, 1.0);
  expect_grad("distill KL d_student (T=2)", student, dstudent, loss);
  // KL(p ‖ p) = 0.
  EXPECT_NEAR(distill_kl_forward(teacher.data(), teacher.data(), ps.data(), pt.data(), n, vocab, temperature), 0.0,
              1e-15);
}

TEST(TrainOps, ThreadedBackwardIsBitIdentical) {
  // Each task owns its outputs, so 1 and 3 threads give the same bits.
  std::mt19937_64 rng(11);
  const AttentionShape a{9, 4, 2, 4};
  const std::size_t T = a.n_tokens, H = a.n_heads, KH = a.n_kv_heads, hd = a.head_dim;
  const std::vector<float> q = [&] {
    std::vector<float> v(T * H * hd);
    for (float& e : v) e = static_cast<float>(testing::uniform(rng, -2, 2));
    return v;
  }();
  std::vector<float> k(T * KH * hd), v(T * KH * hd), g(T * H * hd), w(H * hd * H * hd);
  for (float& e : w) e = static_cast<float>(testing::uniform(rng, -1, 1));
  for (float& e : k) e = static_cast<float>(testing::uniform(rng, -2, 2));
  for (float& e : v) e = static_cast<float>(testing::uniform(rng, -1, 1));
  for (float& e : g) e = static_cast<float>(testing::uniform(rng, -1, 1));
  auto run = [&](ThreadPool* pool) {
    std::vector<float> out(q.size()), probs(H * T * T), dq(q.size()), dk(k.size()), dv(v.size());
    attention_forward(q.data(), k.data(), v.data(), out.data(), probs.data(), a, pool);
    attention_backward(g.data(), q.data(), k.data(), v.data(), probs.data(), dq.data(), dk.data(), dv.data(), a, pool);
    std::vector<float> dx(T * H * hd), dw(H * hd * H * hd);
    linear_backward(g.data(), out.data(), w.data(), dx.data(), dw.data(), nullptr, T, H * hd, H * hd, pool);
    out.insert(out.end(), dq.begin(), dq.end());
    out.insert(out.end(), dk.begin(), dk.end());
    out.insert(out.end(), dv.begin(), dv.end());
    out.insert(out.end(), dx.begin(), dx.end());
    out.insert(out.end(), dw.begin(), dw.end());
    return out;
  };
  ThreadPool three(3);
  EXPECT_EQ(run(nullptr), run(&three));
}

}  // namespace
}  // namespace quantlm::train

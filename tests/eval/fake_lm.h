// A test double for model::CausalLm: logits from a function of (position, input token), and a record of every call.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "model/causal_lm.h"

namespace quantlm::test {

class FakeLm final : public model::CausalLm {
 public:
  // Writes the logits row (vocab floats) for `token` fed at `position` of the current sequence.
  using RowFn = std::function<void(std::int64_t position, std::int32_t token, std::span<float> row)>;

  FakeLm(std::int64_t vocab, std::int64_t context, RowFn row)
      : vocab_(vocab), context_(context), row_(std::move(row)) {}

  [[nodiscard]] std::int64_t vocab_size() const override { return vocab_; }
  [[nodiscard]] std::int64_t context_length() const override { return context_; }
  [[nodiscard]] std::int64_t cached_tokens() const override { return cached_; }

  void reset() override {
    ++resets;
    cached_ = 0;
    sequences.emplace_back();
  }

  void forward(std::span<const std::int32_t> tokens, std::span<float> logits) override {
    const auto n = static_cast<std::int64_t>(tokens.size());
    if (cached_ + n > context_) throw std::logic_error("FakeLm: the cache overflows its context");
    if (logits.size() != tokens.size() * static_cast<std::size_t>(vocab_)) {
      throw std::logic_error("FakeLm: logits span of the wrong size");
    }
    if (sequences.empty()) sequences.emplace_back();  // fed without a reset first
    call_start_positions.push_back(cached_);
    const auto v = static_cast<std::size_t>(vocab_);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      row_(cached_, tokens[i], logits.subspan(i * v, v));
      sequences.back().push_back(tokens[i]);
      ++cached_;
    }
  }

  // What was fed: one vector per reset, and the cache position at each forward call.
  std::vector<std::vector<std::int32_t>> sequences;
  std::vector<std::int64_t> call_start_positions;
  int resets = 0;

 private:
  std::int64_t vocab_;
  std::int64_t context_;
  RowFn row_;
  std::int64_t cached_ = 0;
};

// Uniform logits: PPL = vocab exactly.
inline FakeLm::RowFn uniform_rows() {
  return [](std::int64_t, std::int32_t, std::span<float> row) {
    for (float& x : row) x = 0.0f;
  };
}

// Deterministic pseudo-random logits in [-4, 4) from (position, token, salt).
inline FakeLm::RowFn hashed_rows(std::uint64_t salt) {
  return [salt](std::int64_t position, std::int32_t token, std::span<float> row) {
    std::uint64_t h =
        salt * 0x9e3779b97f4a7c15ULL ^ (static_cast<std::uint64_t>(position) << 20) ^ static_cast<std::uint64_t>(token);
    for (float& x : row) {  // splitmix64
      h += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = h;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      x = static_cast<float>(z >> 40) / static_cast<float>(1 << 24) * 8.0f - 4.0f;
    }
  };
}

}  // namespace quantlm::test

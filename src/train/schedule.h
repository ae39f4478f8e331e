// Learning-rate schedule: linear warmup, then cosine decay to a floor.
#pragma once

#include <cstdint>

namespace quantlm::train {

struct WarmupCosine {
  double peak_lr = 1e-3;
  double min_lr = 0.0;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;

  // The rate for step `step` (counted from 0):
  //   step < warmup:  peak · (step + 1) / warmup   (the first step already moves)
  //   after:          min + (peak − min) · (1 + cos(π · progress)) / 2,
  //                   progress = (step − warmup) / (total − warmup), held at 1 past the end
  [[nodiscard]] double at(std::int64_t step) const;
};

}  // namespace quantlm::train

// Learning-rate schedule: linear warmup, then cosine decay to a floor.
#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace quantlm::train {

double WarmupCosine::at(std::int64_t step) const {
  if (step < warmup_steps) {
    return peak_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  const std::int64_t decay_steps = total_steps - warmup_steps;
  if (decay_steps <= 0) return min_lr;
  const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / static_cast<double>(decay_steps));
  return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace quantlm::train

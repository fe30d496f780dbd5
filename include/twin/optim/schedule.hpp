#pragma once
// Learning-rate schedules as plain functions of (base_lr, epoch), PyTorch's formulas:
//   StepLR:            lr = base * gamma^floor(epoch / step_size)
//   CosineAnnealingLR: lr = eta_min + (base - eta_min) (1 + cos(pi * epoch / t_max)) / 2
// Call optimizer.set_lr(schedule(base_lr, epoch)) at the start of each epoch (or step).
#include <algorithm>
#include <cmath>
#include <numbers>

#include "twin/error.hpp"

namespace twin {

struct StepLR {
  long long step_size = 1;
  double gamma = 0.1;
  double operator()(double base_lr, long long epoch) const {
    if (step_size <= 0) throw error("StepLR: step_size must be positive");
    return base_lr * std::pow(gamma, static_cast<double>(epoch / step_size));
  }
};

struct CosineAnnealingLR {
  long long t_max = 1;
  double eta_min = 0.0;
  double operator()(double base_lr, long long epoch) const {
    if (t_max <= 0) throw error("CosineAnnealingLR: t_max must be positive");
    const double t = static_cast<double>(std::min(epoch, t_max));
    return eta_min + (base_lr - eta_min) * (1.0 + std::cos(std::numbers::pi * t / static_cast<double>(t_max))) / 2.0;
  }
};

}  // namespace twin

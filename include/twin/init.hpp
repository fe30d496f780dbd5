#pragma once
// Weight initialisers. All draw from twin::Rng, so the same seed gives the same weights on
// every platform.
#include <cmath>
#include <span>

#include "twin/rng.hpp"

namespace twin {

enum class Init {
  pytorch,         // PyTorch's default for Linear/Conv: weight and bias ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in))
  he_normal,       // N(0, 2/fan_in), bias 0 (Kaiming; for ReLU towers)
  he_uniform,      // U(-sqrt(6/fan_in), +sqrt(6/fan_in)), bias 0
  glorot_normal,   // N(0, 2/(fan_in+fan_out)), bias 0 (Xavier; for tanh/sigmoid)
  glorot_uniform,  // U(-sqrt(6/(fan_in+fan_out)), +...), bias 0
};

template <class T>
void fill_uniform(std::span<T> v, double lo, double hi, Rng& rng) {
  for (T& x : v) x = static_cast<T>(rng.uniform(lo, hi));
}
template <class T>
void fill_normal(std::span<T> v, double mean, double stddev, Rng& rng) {
  for (T& x : v) x = static_cast<T>(rng.normal(mean, stddev));
}

// Initialises a weight tensor and its bias (bias may be empty) by `kind`.
template <class T>
void initialise(Init kind, std::span<T> weight, std::span<T> bias, double fan_in, double fan_out, Rng& rng) {
  switch (kind) {
    case Init::pytorch: {
      const double b = 1.0 / std::sqrt(fan_in);
      fill_uniform(weight, -b, b, rng);
      fill_uniform(bias, -b, b, rng);
      return;
    }
    case Init::he_normal: fill_normal(weight, 0.0, std::sqrt(2.0 / fan_in), rng); break;
    case Init::he_uniform: {
      const double b = std::sqrt(6.0 / fan_in);
      fill_uniform(weight, -b, b, rng);
      break;
    }
    case Init::glorot_normal: fill_normal(weight, 0.0, std::sqrt(2.0 / (fan_in + fan_out)), rng); break;
    case Init::glorot_uniform: {
      const double b = std::sqrt(6.0 / (fan_in + fan_out));
      fill_uniform(weight, -b, b, rng);
      break;
    }
  }
  for (T& x : bias) x = T(0);
}

}  // namespace twin

#pragma once
// Seeded random tensors for tests and benchmarks: every element drawn from U(lo, hi) by
// twin::Rng(seed), in storage order, so the same seed gives the same tensor everywhere.
#include <cstdint>

#include "twin/rng.hpp"
#include "twin/tensor.hpp"

namespace twin::testing {

template <class T = float>
Tensor<T> random_tensor(const Shape& s, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Tensor<T> t(s);
  Rng rng(seed);
  for (T& v : t) v = static_cast<T>(rng.uniform(lo, hi));
  return t;
}

}  // namespace twin::testing

#pragma once
// How a loss turns per-sample values into what it returns, PyTorch's `reduction` plus the
// "mean over non-zero" of pytorch-metric-learning (AvgNonZeroReducer):
//
//   none          every per-sample loss is returned (LossResult::per_sample); the scalar
//                 `value` is their sum and gradients are those of the sum
//   mean          sum / N                               (PyTorch default)
//   sum           sum
//   mean_nonzero  sum / (number of samples with loss > 0); 0 when none is positive
//
// With zero samples (e.g. a batch with no valid triplet) every reduction gives value 0,
// gradients 0 and count 0 (PyTorch would give NaN for mean over nothing).
#include <cstddef>
#include <span>
#include <vector>

#include "twin/tensor.hpp"

namespace twin {

enum class Reduction { none, mean, sum, mean_nonzero };

// The result of a loss: the reduced value, the per-sample losses (always filled; one per
// pair/triplet/element), how many samples were counted, and how many were active (> 0).
template <class T>
struct LossResult {
  T value = T(0);
  std::vector<T> per_sample;
  Index count = 0;   // samples the loss was computed over
  Index active = 0;  // samples with a positive loss (inside the margin)
};

namespace detail {
// Per-thread, grow-only buffers for a loss's small per-call arrays (distances and their
// gradients). A loss is a const options struct that any thread may call, so its scratch
// lives with the thread: after the first call of a training loop a loss allocates nothing
// but the LossResult it returns. `Slot` tells apart the buffers one call holds at once.
template <class U, int Slot>
std::span<U> loss_scratch(Index n) {
  thread_local std::vector<U> buf;
  if (buf.size() < static_cast<std::size_t>(n)) buf.resize(static_cast<std::size_t>(n));
  return {buf.data(), static_cast<std::size_t>(n)};
}

// Sums per-sample losses into r.value and returns the weight each sample's gradient gets.
template <class T>
T reduce(LossResult<T>& r, Reduction red) {
  T sum = T(0);
  r.count = static_cast<Index>(r.per_sample.size());
  r.active = 0;
  for (T v : r.per_sample) {
    sum += v;
    r.active += v > T(0);
  }
  T w = T(1);
  switch (red) {
    case Reduction::none:
    case Reduction::sum: w = T(1); break;
    case Reduction::mean: w = r.count > 0 ? T(1) / static_cast<T>(r.count) : T(0); break;
    case Reduction::mean_nonzero: w = r.active > 0 ? T(1) / static_cast<T>(r.active) : T(0); break;
  }
  r.value = sum * w;
  return w;
}
}  // namespace detail

}  // namespace twin

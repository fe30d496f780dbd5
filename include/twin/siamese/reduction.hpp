#pragma once
// How a loss turns per-sample values into what it returns, and where its per-call buffers live.
//
// REDUCTION: PyTorch's `reduction` plus the "mean over non-zero" of pytorch-metric-learning
// (AvgNonZeroReducer):
//
//   none          every per-sample loss is returned (LossResult::per_sample); the scalar
//                 `value` is their sum and gradients are those of the sum
//   mean          sum / N                               (PyTorch default)
//   sum           sum
//   mean_nonzero  sum / (number of samples with loss > 0); 0 when none is positive
//
// With zero samples (e.g. a batch with no valid triplet) every reduction gives value 0,
// gradients 0 and count 0 (PyTorch would give NaN for mean over nothing).
// A NaN sample makes the value NaN under every reduction (also mean_nonzero with no positive
// sample: NaN times 0 is NaN), and its gradient entries NaN: a NaN is never reduced away.
//
// LOSS WORKSPACE. Every loss has two forms of each call:
//   loss(..., ws)   uses the caller's LossWorkspace<T> and returns a reference to ws.result,
//                   valid until the next call with ws. After the first call of a training loop
//                   it allocates nothing. One workspace per thread: a loss object itself is a
//                   const options struct that any number of threads may share.
//   loss(...)       owns a workspace for the call and returns the LossResult by value.
// Bind the first form's result as `const auto& r = loss(..., ws);` (`auto r` copies it).
#include <cstddef>
#include <span>
#include <utility>
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

// Grow-only per-call buffers of the losses, named by what they hold; contents are undefined
// between calls. Each loss documents which of them it uses.
template <class T>
struct LossWorkspace {
  LossResult<T> result;           // what the last call returned
  std::vector<T> distance;        // (n) per-pair distances; (2 n) d_ap then d_an for triplets
  std::vector<T> slope;           // (n) dl/d(per-sample argument) before the reduction weight
  std::vector<T> target;          // (n) BCE targets made from PairLabels
  std::vector<unsigned char> swapped;  // (n) triplets whose negative distance came from (p, n)
};

namespace detail {
// n elements of a grow-only buffer.
template <class U>
std::span<U> grow(std::vector<U>& buf, Index n) {
  if (buf.size() < static_cast<std::size_t>(n)) buf.resize(static_cast<std::size_t>(n));
  return {buf.data(), static_cast<std::size_t>(n)};
}

// A hinge max(0, h) and its slope, with NaN kept: {h, 1} above 0, {0, 0} at or below 0, and
// {NaN, NaN} for NaN (max(0, NaN) would read 0 and hide it).
template <class T>
std::pair<T, T> hinge(T h) {
  if (h > T(0)) return {h, T(1)};
  if (h <= T(0)) return {T(0), T(0)};
  return {h, h};
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

#pragma once
// Gathers the samples a sampler chose into one batch tensor, reusing the batch's buffer.
//
//   twin::data::PKSampler sampler(labels, {.p = 8, .k = 4, .seed = 1});
//   twin::Tensor<float> x;   // (P K, 1, 28, 28) after the first gather, then reused
//   std::vector<int> y;
//   for (const auto& batch : sampler.steps(1000)) {
//     twin::data::gather(images.view(), batch, x);  // images (N, 1, 28, 28)
//     twin::data::gather(std::span<const int>(labels), batch, y);
//     ...
//   }
//
// The batch tensor is resized to (B, sample shape...) with Tensor::resize, which keeps its
// allocation when the new batch fits: a training loop of fixed-size batches allocates once.
// An index outside [0, N) is a shape_error naming the index and its position.
#include <algorithm>
#include <span>
#include <type_traits>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::data {

namespace detail {
inline void check_index(Index i, std::size_t pos, Index n, const char* what) {
  if (i < 0 || i >= n)
    throw shape_error(twin::detail::concat(what, ": index ", i, " at batch position ", pos, " is outside [0, ", n, ")"));
}
}  // namespace detail

// out (B, ...) = samples `which` of data (N, ...).
template <class T, int R>
void gather(TensorView<T, R> data, std::span<const Index> which, Tensor<std::remove_const_t<T>>& out) {
  if (data.rank() < 1) throw shape_error("gather: data needs a batch dimension, got a rank-0 tensor");
  const Index n = data.dim(0), per = data.shape().sample_size();
  out.resize(data.shape().with_batch(static_cast<Index>(which.size())));
  for (std::size_t b = 0; b < which.size(); ++b) {
    detail::check_index(which[b], b, n, "gather");
    std::copy_n(data.data() + which[b] * per, per, out.data() + static_cast<Index>(b) * per);
  }
}
template <class T, int R>
void gather(const Tensor<T, R>& data, std::span<const Index> which, Tensor<T>& out) {
  gather(data.view(), which, out);
}

// out[b] = values[which[b]]: the labels (or any per-sample value) of a batch.
template <class V>
void gather(std::span<const V> values, std::span<const Index> which, std::vector<V>& out) {
  out.resize(which.size());
  for (std::size_t b = 0; b < which.size(); ++b) {
    detail::check_index(which[b], b, static_cast<Index>(values.size()), "gather");
    out[b] = values[static_cast<std::size_t>(which[b])];
  }
}

}  // namespace twin::data

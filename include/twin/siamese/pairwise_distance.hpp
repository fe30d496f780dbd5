#pragma once
// All pairwise distances between the rows of x (N, D) and y (M, D), through one GEMM:
//   |x_i - y_j|^2 = |x_i|^2 + |y_j|^2 - 2 x_i . y_j
// The expansion can go slightly negative by cancellation when x_i ~ y_j, so it is clamped
// at 0 (and the diagonal of x against itself is set to exactly 0). Used by the miners and
// the diagnostics, which need distances but no gradient; losses recompute the few distances
// they back-propagate through, exactly.
#include <algorithm>
#include <cmath>
#include <vector>

#include "twin/kernels/gemm.hpp"
#include "twin/tensor.hpp"
#include "twin/siamese/view_arg.hpp"

namespace twin {

// out (N, M) = squared distances; `self` when x and y are the same rows (diagonal -> 0).
template <class T>
void pairwise_squared_distances(TensorView<const T> x, TensorView<const T> y, TensorView<T> out) {
  if (x.rank() != 2 || y.rank() != 2 || x.dim(1) != y.dim(1))
    throw shape_error(detail::concat("pairwise_squared_distances: expected (N, D) and (M, D), got ", x.shape().str(),
                                     " and ", y.shape().str()));
  const Index N = x.dim(0), M = y.dim(0), D = x.dim(1);
  require_shape(out.shape(), Shape{N, M}, "pairwise_squared_distances: out");
  std::vector<T> xn(static_cast<std::size_t>(N)), yn(static_cast<std::size_t>(M));
  for (Index i = 0; i < N; ++i) {
    T s = T(0);
    for (Index k = 0; k < D; ++k) s += x(i, k) * x(i, k);
    xn[static_cast<std::size_t>(i)] = s;
  }
  for (Index j = 0; j < M; ++j) {
    T s = T(0);
    for (Index k = 0; k < D; ++k) s += y(j, k) * y(j, k);
    yn[static_cast<std::size_t>(j)] = s;
  }
  // out = -2 x y^T. One small product per call (a batch of embeddings): its packing buffers
  // are made here rather than taken from an execution context.
  WorkBuffers buf;
  kernels::gemm<T>(buf, kernels::Trans::no, kernels::Trans::yes, N, M, D, T(-2), x.data(), D, y.data(), D, T(0),
                   out.data(), M);
  for (Index i = 0; i < N; ++i)
    for (Index j = 0; j < M; ++j)
      out(i, j) = std::max(T(0), out(i, j) + xn[static_cast<std::size_t>(i)] + yn[static_cast<std::size_t>(j)]);
  if (x.data() == y.data() && N == M)
    for (Index i = 0; i < N; ++i) out(i, i) = T(0);
}

// Euclidean (or squared) distance matrix of the rows of x against themselves: (N, N).
template <ViewLike V, class T = view_value_t<V>>
Tensor<T, 2> pairwise_distances(const V& x_in, bool squared = false) {
  const TensorView<const T> x = cview(x_in);
  Tensor<T, 2> out(Shape{x.dim(0), x.dim(0)});
  pairwise_squared_distances<T>(x, x, out.view());
  if (!squared)
    for (T& v : out) v = std::sqrt(v);
  return out;
}

}  // namespace twin

#pragma once
// All-pairs kernels for the distance objects (distance.hpp), through one GEMM:
//
//   gram_matrix(x, y, out)                 out(i, j) = x_i . y_j
//   pairwise_squared_distances(x, y, out)  out(i, j) = |x_i - y_j|^2 = |x_i|^2 + |y_j|^2 - 2 x_i . y_j
//
// x (N, D), y (M, D), out (N, M). `work` lends the GEMM its packing buffers (a miner's or a
// caller's, reused across calls); nullptr makes them for the call. The expansion can go slightly negative by cancellation when
// x_i ~ y_j, so it is clamped at 0 (a NaN stays NaN), and when x and y are the same rows (x.data() == y.data())
// the diagonal is set to exactly 0. In that self case the row norms are read off the Gram
// matrix's diagonal, so the kernel allocates nothing; otherwise it keeps N + M norms.
// No gradient: LpDistance::matrix_backward (distance.hpp) differentiates the exact form.
#include <algorithm>
#include <cmath>
#include <vector>

#include "twin/context.hpp"
#include "twin/kernels/gemm.hpp"
#include "twin/tensor.hpp"

namespace twin {

namespace detail {
template <class T>
void check_pairwise(TensorView<const T> x, TensorView<const T> y, TensorView<T> out, const char* what) {
  if (x.rank() != 2 || y.rank() != 2 || x.dim(1) != y.dim(1))
    throw shape_error(detail::concat(what, ": expected (N, D) and (M, D), got ", x.shape().str(), " and ",
                                     y.shape().str()));
  if (!(out.shape() == Shape{x.dim(0), y.dim(0)}))
    throw shape_error(detail::concat(what, ": out must be (", x.dim(0), ", ", y.dim(0), "), got ", out.shape().str()));
}
// max(v, lo) that keeps a NaN (std::max(lo, NaN) would return lo and hide it).
template <class T>
T at_least(T v, T lo) {
  return v < lo ? lo : v;
}
template <class T>
T row_dot(const T* a, const T* b, Index D) {
  T s = T(0);
  for (Index k = 0; k < D; ++k) s += a[k] * b[k];
  return s;
}
}  // namespace detail

// out (N, M) = x y^T.
template <class T>
void gram_matrix(TensorView<const T> x, TensorView<const T> y, TensorView<T> out, WorkBuffers* work = nullptr) {
  detail::check_pairwise(x, y, out, "gram_matrix");
  const Index N = x.dim(0), M = y.dim(0), D = x.dim(1);
  if (N == 0 || M == 0) return;
  if (D == 0) {
    std::fill(out.begin(), out.end(), T(0));
    return;
  }
  WorkBuffers own;
  kernels::gemm<T>(work ? *work : own, kernels::Trans::no, kernels::Trans::yes, N, M, D, T(1), x.data(), D, y.data(), D, T(0),
                   out.data(), M);
}

// out (N, M) = squared Euclidean distances, clamped at 0; diagonal exactly 0 in the self case.
template <class T>
void pairwise_squared_distances(TensorView<const T> x, TensorView<const T> y, TensorView<T> out,
                                WorkBuffers* work = nullptr) {
  gram_matrix<T>(x, y, out, work);
  const Index N = x.dim(0), M = y.dim(0), D = x.dim(1);
  if (x.data() == y.data() && N == M) {
    // Off-diagonal entries first: they read the norms on the diagonal, which go last.
    for (Index i = 0; i < N; ++i)
      for (Index j = 0; j < N; ++j)
        if (i != j) out(i, j) = detail::at_least(out(i, i) + out(j, j) - T(2) * out(i, j), T(0));
    for (Index i = 0; i < N; ++i) out(i, i) = T(0);
    return;
  }
  std::vector<T> yn(static_cast<std::size_t>(M));
  for (Index j = 0; j < M; ++j) yn[static_cast<std::size_t>(j)] = detail::row_dot(y.data() + j * D, y.data() + j * D, D);
  for (Index i = 0; i < N; ++i) {
    const T xn = detail::row_dot(x.data() + i * D, x.data() + i * D, D);
    for (Index j = 0; j < M; ++j) out(i, j) = detail::at_least(xn + yn[static_cast<std::size_t>(j)] - T(2) * out(i, j), T(0));
  }
}

}  // namespace twin

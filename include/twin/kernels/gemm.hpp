#pragma once
// General matrix multiply on row-major arrays, the one entry point every layer uses:
//   C = alpha * op(A) * op(B) + beta * C,   op(X) = X or X^T,
// with op(A) (M, K), op(B) (K, N), C (M, N); lda/ldb/ldc are row strides in elements.
// beta == 0 overwrites C without reading it (so C may hold garbage or NaN).
//
// Runs single-threaded: callers parallelise over independent work (batch chunks), which
// scales better on small products than splitting one product, and keeps results
// independent of the thread count.
#include <Eigen/Core>

#include "twin/tensor.hpp"

namespace twin::kernels {

enum class Trans { no, yes };

template <class T>
void gemm(Trans ta, Trans tb, Index M, Index N, Index K, T alpha, const T* A, Index lda, const T* B, Index ldb, T beta,
          T* C, Index ldc) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  using CMap = Eigen::Map<const Mat, Eigen::Unaligned, Stride>;
  Eigen::Map<Mat, Eigen::Unaligned, Stride> c(C, M, N, Stride(ldc));
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (beta == T(0)) c.setZero();
    else c *= beta;
    return;
  }
  const CMap a(A, ta == Trans::no ? M : K, ta == Trans::no ? K : M, Stride(lda));
  const CMap b(B, tb == Trans::no ? K : N, tb == Trans::no ? N : K, Stride(ldb));
  auto run = [&](const auto& opa, const auto& opb) {
    if (beta == T(0)) c.noalias() = alpha * (opa * opb);
    else {
      if (beta != T(1)) c *= beta;
      c.noalias() += alpha * (opa * opb);
    }
  };
  if (ta == Trans::no && tb == Trans::no) run(a, b);
  else if (ta == Trans::no) run(a, b.transpose());
  else if (tb == Trans::no) run(a.transpose(), b);
  else run(a.transpose(), b.transpose());
}

}  // namespace twin::kernels

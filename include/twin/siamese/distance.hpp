#pragma once
// Differencing operations between two embeddings, row by row, with backward.
// a, b: (N, D). Scalar distances write d: (N); AbsDiff writes a vector (N, D).
//
//   Euclidean          d = sqrt(max(s, eps)),  s = sum_k (a_k - b_k)^2       (eps 1e-7, Keras)
//                      dd/da = (a - b) / d when s > eps, else 0;   dd/db = -dd/da
//                      The guard keeps the gradient finite (zero) at zero distance, where the
//                      true gradient (a - b)/|a - b| is undefined; identical embeddings are
//                      common (a pair of one image with an augmented copy, a collapsed net).
//   SquaredEuclidean   d = s;  dd/da = 2 (a - b)
//   Cosine             d = 1 - cos,  cos = a.b / (max(|a|, eps) max(|b|, eps))  (eps 1e-8)
//                      A zero vector has cos 0 (distance 1) with PyTorch's clamp, so the
//                      distance is defined (not NaN) for zero embeddings.
//                      dcos/da = b / (na nb) - cos a / |a|^2 when |a| > eps, else b / (na nb)
//   AbsDiff            y = |a - b| element-wise (Koch et al.'s L1 siamese head)
//                      dy/da = sign(a - b) (0 at a == b),  dy/db = -dy/da
//
// backward ASSIGNS da and db (they are inputs' gradients, not parameters); either may be
// empty (data() == nullptr) when not needed.
#include <algorithm>
#include <cmath>
#include <string>

#include "twin/tensor.hpp"

namespace twin {

namespace detail {
inline void check_pair_shapes(const Shape& a, const Shape& b, const char* what) {
  if (a.rank() != 2 || !(a == b))
    throw shape_error(detail::concat(what, ": expected two (N, D) embeddings of the same shape, got ", a.str(), " and ",
                                     b.str()));
}
}  // namespace detail

// Per-row kernels; the batch loops are shared below.
struct Euclidean {
  double eps = 1e-7;
  static constexpr const char* name = "Euclidean";
  template <class T>
  T row(const T* a, const T* b, Index D) const {
    T s = T(0);
    for (Index k = 0; k < D; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
    return std::sqrt(std::max(s, static_cast<T>(eps)));
  }
  // ga, gb: gradient of g * d with respect to a, b (assigned; either may be null).
  template <class T>
  void row_backward(const T* a, const T* b, Index D, T d, T g, T* ga, T* gb) const {
    T s = T(0);
    for (Index k = 0; k < D; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
    const T c = s > static_cast<T>(eps) ? g / d : T(0);  // inside the guard d is constant
    for (Index k = 0; k < D; ++k) {
      const T v = c * (a[k] - b[k]);
      if (ga) ga[k] = v;
      if (gb) gb[k] = -v;
    }
  }
};

struct SquaredEuclidean {
  static constexpr const char* name = "SquaredEuclidean";
  template <class T>
  T row(const T* a, const T* b, Index D) const {
    T s = T(0);
    for (Index k = 0; k < D; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
    return s;
  }
  template <class T>
  void row_backward(const T* a, const T* b, Index D, T, T g, T* ga, T* gb) const {
    for (Index k = 0; k < D; ++k) {
      const T v = T(2) * g * (a[k] - b[k]);
      if (ga) ga[k] = v;
      if (gb) gb[k] = -v;
    }
  }
};

struct Cosine {
  double eps = 1e-8;
  static constexpr const char* name = "Cosine";
  template <class T>
  T row(const T* a, const T* b, Index D) const {
    T ab = T(0), aa = T(0), bb = T(0);
    for (Index k = 0; k < D; ++k) {
      ab += a[k] * b[k];
      aa += a[k] * a[k];
      bb += b[k] * b[k];
    }
    const T e = static_cast<T>(eps);
    return T(1) - ab / (std::max(std::sqrt(aa), e) * std::max(std::sqrt(bb), e));
  }
  template <class T>
  void row_backward(const T* a, const T* b, Index D, T, T g, T* ga, T* gb) const {
    T ab = T(0), aa = T(0), bb = T(0);
    for (Index k = 0; k < D; ++k) {
      ab += a[k] * b[k];
      aa += a[k] * a[k];
      bb += b[k] * b[k];
    }
    const T e = static_cast<T>(eps);
    const T la = std::sqrt(aa), lb = std::sqrt(bb);
    const T na = std::max(la, e), nb = std::max(lb, e);
    const T cos = ab / (na * nb);
    // d = 1 - cos, so dd = -dcos. The norm term only exists where the clamp is inactive.
    const T ca = la > e ? cos / aa : T(0), cb = lb > e ? cos / bb : T(0);
    for (Index k = 0; k < D; ++k) {
      if (ga) ga[k] = -g * (b[k] / (na * nb) - ca * a[k]);
      if (gb) gb[k] = -g * (a[k] / (na * nb) - cb * b[k]);
    }
  }
};

// d (N) from a, b (N, D) for any of the scalar distances above.
template <class Distance, class T>
void distance_forward(const Distance& dist, TensorView<const T> a, TensorView<const T> b, TensorView<T> d) {
  detail::check_pair_shapes(a.shape(), b.shape(), Distance::name);
  const Index N = a.dim(0), D = a.dim(1);
  if (d.size() != N) throw shape_error(detail::concat(Distance::name, ": output must hold ", N, " distances, got ", d.shape().str()));
  // One row per pair, O(N D): a batch's worth is too little work to spread over threads.
  for (Index i = 0; i < N; ++i) d[i] = dist.row(a.data() + i * D, b.data() + i * D, D);
}

// da, db (N, D) = dd (N) times the gradient of each row's distance; assigned.
template <class Distance, class T>
void distance_backward(const Distance& dist, TensorView<const T> a, TensorView<const T> b, TensorView<const T> d,
                       TensorView<const T> dd, TensorView<T> da, TensorView<T> db) {
  detail::check_pair_shapes(a.shape(), b.shape(), Distance::name);
  const Index N = a.dim(0), D = a.dim(1);
  if (da.data()) require_shape(da.shape(), a.shape(), "distance_backward: da");
  if (db.data()) require_shape(db.shape(), b.shape(), "distance_backward: db");
  for (Index i = 0; i < N; ++i)
    dist.row_backward(a.data() + i * D, b.data() + i * D, D, d[i], dd[i], da.data() ? da.data() + i * D : nullptr,
                      db.data() ? db.data() + i * D : nullptr);
}

// |a - b| element-wise: y (N, D).
struct AbsDiff {
  static constexpr const char* name = "AbsDiff";
  template <class T>
  void forward(TensorView<const T> a, TensorView<const T> b, TensorView<T> y) const {
    detail::check_pair_shapes(a.shape(), b.shape(), name);
    require_shape(y.shape(), a.shape(), "AbsDiff: output");
    for (Index i = 0; i < a.size(); ++i) y[i] = std::abs(a[i] - b[i]);
  }
  template <class T>
  void backward(TensorView<const T> a, TensorView<const T> b, TensorView<const T> dy, TensorView<T> da,
                TensorView<T> db) const {
    for (Index i = 0; i < a.size(); ++i) {
      const T diff = a[i] - b[i];
      const T v = diff > T(0) ? dy[i] : diff < T(0) ? -dy[i] : T(0);
      if (da.data()) da[i] = v;
      if (db.data()) db[i] = -v;
    }
  }
};

}  // namespace twin

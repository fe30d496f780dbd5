#pragma once
// THE DISTANCE VOCABULARY of twin/siamese: one Distance object, injected into every loss,
// miner, pair head and diagnostic (pytorch-metric-learning's distances/ do the same).
//
//   LpDistance{.p = 2, .squared = false, .eps = 1e-7}          (the default: Euclidean)
//       r = max(S, eps)^(1/p),  S = sum_k |a_k - b_k|^p;   d = r, or r^2 when squared
//       p = 2: Euclidean, sqrt(max(S, eps)) (Keras' guard); p = 1: L1 (Manhattan), S itself
//       (no guard: its gradient sign(a - b) is bounded); p = 2 with squared: S itself, smooth.
//       dr/da_k = sign(x_k) |x_k|^(p-1) / r^(p-1) with x = a - b, and 0 inside the guard
//       (S < eps, where r is the constant eps^(1/p)): the true gradient (a - b)/|a - b| is
//       undefined at a == b, and identical embeddings are common (an image and its augmented
//       copy, a collapsed net). d = r^2: dd/da = 2 r dr/da. dd/db = -dd/da.
//   CosineSimilarity{.eps = 1e-8}                              (a similarity: is_inverted)
//       s = a.b / (max(|a|, eps) max(|b|, eps)),  so a zero vector has s = 0, not NaN
//       ds/da = b / (na nb) - s a / |a|^2, the second term only where |a| >= eps
//   DotProductSimilarity{}                                     (a similarity: is_inverted)
//       s = a.b;  ds/da = b, ds/db = a
//
// INVERSION. For a similarity, larger means closer. Code that orders or compares distances
// asks the object, so it works unchanged for both kinds:
//   closer(x, y)       x < y for a distance, x > y for a similarity
//   farther_by(x, y)   how much farther x is than y: x - y, or y - x for a similarity
// A triplet hinge is then max(0, farther_by(d_ap, d_an) + margin) for any distance, and
// margins are in the distance's own units (a cosine contrastive loss pulls same pairs above
// pos_margin = 1 and pushes different ones below neg_margin = 0, as in pytorch-metric-learning).
//
// Each kind computes
//   row(a, b, D)                             one pair of rows
//   row_backward(a, b, D, g, ga, gb)         ADDS g dd/da to ga and g dd/db to gb (either null)
//   matrix(x, y, out)                        all pairs (N, M) for miners, through one GEMM
//                                            where it can (pairwise_distance.hpp)
//   elementwise(a, b, y)                     the per-component terms whose sum the distance
//                                            is built on, (N, D): |a_k - b_k|^p for LpDistance
//                                            (Koch et al.'s |a - b| at p = 1), a_k b_k for the
//                                            dot product; a pair head weights them (pair_head.hpp)
// and the batch functions below assign their outputs. A NaN in an input gives NaN values and
// gradients (the guards are written so that a NaN passes them), never a silent 0.
//
// Not offered: pytorch-metric-learning's normalize_embeddings (put an L2Normalize layer at the
// end of the tower; its backward lives there) and a general `power` (squared is power 2).
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "twin/siamese/pairwise_distance.hpp"
#include "twin/siamese/view_arg.hpp"
#include "twin/tensor.hpp"

namespace twin {

namespace detail {
inline void check_pair_shapes(const Shape& a, const Shape& b, const char* what) {
  if (a.rank() != 2 || !(a == b))
    throw shape_error(detail::concat(what, ": expected two (N, D) embeddings of the same shape, got ", a.str(), " and ",
                                     b.str()));
}
// sign(x), and NaN for NaN (a plain x > 0 ? 1 : x < 0 ? -1 : 0 would give 0).
template <class T>
T sign_of(T x) {
  return x > T(0) ? T(1) : x < T(0) ? T(-1) : x == T(0) ? T(0) : x;
}
}  // namespace detail

struct LpDistance {
  double p = 2.0;        // 1: L1, 2: Euclidean (PyTorch's TripletMarginLoss p)
  bool squared = false;  // d = r^2 (FaceNet's squared Euclidean; pytorch-metric-learning power 2)
  double eps = 1e-7;     // guard under the root; unused for p = 1 and for squared p = 2

  static constexpr bool is_inverted = false;
  static constexpr const char* name = "LpDistance";

  void validate() const {
    if (!(p >= 1.0) || !std::isfinite(p)) throw error(detail::concat("LpDistance: p must be finite and >= 1, got ", p));
    if (!(eps >= 0.0)) throw error(detail::concat("LpDistance: eps must be >= 0, got ", eps));
  }
  std::string str() const { return detail::concat("LpDistance(p = ", p, squared ? ", squared)" : ")"); }

  template <class T>
  T sum_p(const T* a, const T* b, Index D) const {
    T s = T(0);
    if (p == 2.0)
      for (Index k = 0; k < D; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
    else if (p == 1.0)
      for (Index k = 0; k < D; ++k) s += std::abs(a[k] - b[k]);
    else
      for (Index k = 0; k < D; ++k) s += std::pow(std::abs(a[k] - b[k]), static_cast<T>(p));
    return s;
  }
  // d from S = sum_p.
  template <class T>
  T from_sum(T S) const {
    if (p == 1.0) return squared ? S * S : S;
    if (p == 2.0 && squared) return S;
    const T g = detail::at_least(S, static_cast<T>(eps));
    const T r = p == 2.0 ? std::sqrt(g) : std::pow(g, T(1) / static_cast<T>(p));
    return squared ? r * r : r;
  }
  template <class T>
  T row(const T* a, const T* b, Index D) const {
    return from_sum(sum_p(a, b, D));
  }
  template <class T>
  void row_backward(const T* a, const T* b, Index D, T g, T* ga, T* gb) const {
    const T S = sum_p(a, b, D);
    // dd/dx_k = c phi(x_k): phi = sign (p = 1), x (p = 2), sign |x|^(p-1) otherwise.
    T c;
    if (p == 1.0) {
      c = squared ? T(2) * S * g : g;
    } else if (p == 2.0 && squared) {
      c = T(2) * g;
    } else {
      const T r = from_sum(S);
      const T root = squared ? std::sqrt(r) : r;
      const T dr = S < static_cast<T>(eps) ? T(0) : (p == 2.0 ? T(1) / root : T(1) / std::pow(root, static_cast<T>(p) - T(1)));
      c = (squared ? T(2) * root : T(1)) * dr * g;
    }
    for (Index k = 0; k < D; ++k) {
      const T x = a[k] - b[k];
      const T phi = p == 2.0 ? x
                    : p == 1.0 ? detail::sign_of(x)
                               : detail::sign_of(x) * std::pow(std::abs(x), static_cast<T>(p) - T(1));
      if (ga) ga[k] += c * phi;
      if (gb) gb[k] -= c * phi;
    }
  }
  template <class T>
  void matrix(TensorView<const T> x, TensorView<const T> y, TensorView<T> out, WorkBuffers* work = nullptr) const {
    if (p == 2.0) {
      pairwise_squared_distances<T>(x, y, out, work);
      for (T& v : out) v = from_sum(v);
      return;
    }
    detail::check_pairwise(x, y, out, "LpDistance::matrix");
    const Index D = x.dim(1);
    for (Index i = 0; i < x.dim(0); ++i)
      for (Index j = 0; j < y.dim(0); ++j) out(i, j) = row(x.data() + i * D, y.data() + j * D, D);
  }
  // y_k = |a_k - b_k|^p;  dy_k/da_k = p sign(x_k) |x_k|^(p-1).
  template <class T>
  void elementwise(const T* a, const T* b, Index D, T* y) const {
    for (Index k = 0; k < D; ++k) {
      const T x = std::abs(a[k] - b[k]);
      y[k] = p == 1.0 ? x : p == 2.0 ? x * x : std::pow(x, static_cast<T>(p));
    }
  }
  template <class T>
  void elementwise_backward(const T* a, const T* b, Index D, const T* dy, T* ga, T* gb) const {
    for (Index k = 0; k < D; ++k) {
      const T x = a[k] - b[k];
      const T dx = p == 1.0   ? detail::sign_of(x)
                   : p == 2.0 ? T(2) * x
                              : static_cast<T>(p) * detail::sign_of(x) * std::pow(std::abs(x), static_cast<T>(p) - T(1));
      if (ga) ga[k] = dy[k] * dx;
      if (gb) gb[k] = -dy[k] * dx;
    }
  }
};

struct CosineSimilarity {
  double eps = 1e-8;  // each norm is clamped at eps (PyTorch's cosine_similarity)

  static constexpr bool is_inverted = true;
  static constexpr const char* name = "CosineSimilarity";

  void validate() const {
    if (!(eps > 0.0)) throw error(detail::concat("CosineSimilarity: eps must be > 0, got ", eps));
  }
  std::string str() const { return "CosineSimilarity"; }

  template <class T>
  T row(const T* a, const T* b, Index D) const {
    const T e = static_cast<T>(eps);
    const T na = detail::at_least(std::sqrt(detail::row_dot(a, a, D)), e);
    const T nb = detail::at_least(std::sqrt(detail::row_dot(b, b, D)), e);
    return detail::row_dot(a, b, D) / (na * nb);
  }
  template <class T>
  void row_backward(const T* a, const T* b, Index D, T g, T* ga, T* gb) const {
    const T e = static_cast<T>(eps);
    const T aa = detail::row_dot(a, a, D), bb = detail::row_dot(b, b, D);
    const T la = std::sqrt(aa), lb = std::sqrt(bb);
    const T na = detail::at_least(la, e), nb = detail::at_least(lb, e);
    const T s = detail::row_dot(a, b, D) / (na * nb);
    // Below the clamp the norm is the constant eps, so s is linear there: no norm term.
    const T ca = la < e ? T(0) : s / aa, cb = lb < e ? T(0) : s / bb;
    const T inv = g / (na * nb);
    for (Index k = 0; k < D; ++k) {
      if (ga) ga[k] += inv * b[k] - g * ca * a[k];
      if (gb) gb[k] += inv * a[k] - g * cb * b[k];
    }
  }
  template <class T>
  void matrix(TensorView<const T> x, TensorView<const T> y, TensorView<T> out, WorkBuffers* work = nullptr) const {
    gram_matrix<T>(x, y, out, work);
    const Index N = x.dim(0), M = y.dim(0), D = x.dim(1);
    const T e = static_cast<T>(eps);
    auto clamp = [e](T n2) { return detail::at_least(std::sqrt(n2), e); };
    if (x.data() == y.data() && N == M) {
      // The norms are on the Gram diagonal: scale the off-diagonal entries first.
      for (Index i = 0; i < N; ++i)
        for (Index j = 0; j < N; ++j)
          if (i != j) out(i, j) /= clamp(out(i, i)) * clamp(out(j, j));
      for (Index i = 0; i < N; ++i) out(i, i) /= clamp(out(i, i)) * clamp(out(i, i));
      return;
    }
    std::vector<T> yn(static_cast<std::size_t>(M));
    for (Index j = 0; j < M; ++j) yn[static_cast<std::size_t>(j)] = clamp(detail::row_dot(y.data() + j * D, y.data() + j * D, D));
    for (Index i = 0; i < N; ++i) {
      const T xn = clamp(detail::row_dot(x.data() + i * D, x.data() + i * D, D));
      for (Index j = 0; j < M; ++j) out(i, j) /= xn * yn[static_cast<std::size_t>(j)];
    }
  }
};

struct DotProductSimilarity {
  static constexpr bool is_inverted = true;
  static constexpr const char* name = "DotProductSimilarity";

  void validate() const {}
  std::string str() const { return "DotProductSimilarity"; }

  template <class T>
  T row(const T* a, const T* b, Index D) const {
    return detail::row_dot(a, b, D);
  }
  template <class T>
  void row_backward(const T* a, const T* b, Index D, T g, T* ga, T* gb) const {
    for (Index k = 0; k < D; ++k) {
      if (ga) ga[k] += g * b[k];
      if (gb) gb[k] += g * a[k];
    }
  }
  template <class T>
  void matrix(TensorView<const T> x, TensorView<const T> y, TensorView<T> out, WorkBuffers* work = nullptr) const {
    gram_matrix<T>(x, y, out, work);
  }
  // y_k = a_k b_k.
  template <class T>
  void elementwise(const T* a, const T* b, Index D, T* y) const {
    for (Index k = 0; k < D; ++k) y[k] = a[k] * b[k];
  }
  template <class T>
  void elementwise_backward(const T* a, const T* b, Index D, const T* dy, T* ga, T* gb) const {
    for (Index k = 0; k < D; ++k) {
      if (ga) ga[k] = dy[k] * b[k];
      if (gb) gb[k] = dy[k] * a[k];
    }
  }
};

// One of the kinds above, chosen at run time: `.distance = CosineSimilarity{}` in any loss,
// miner, head or diagnostic's options. Default: LpDistance{} (Euclidean).
class Distance {
 public:
  Distance() = default;
  // Implicit on purpose: an options field reads `.distance = LpDistance{.p = 1}`.
  Distance(const LpDistance& d) : v_(d) { d.validate(); }                      // NOLINT
  Distance(const CosineSimilarity& d) : v_(d) { d.validate(); }                // NOLINT
  Distance(const DotProductSimilarity& d) : v_(d) { d.validate(); }            // NOLINT

  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), v_);
  }
  template <class K>
  const K* get_if() const {
    return std::get_if<K>(&v_);
  }

  bool is_inverted() const {
    return visit([](const auto& d) { return std::remove_cvref_t<decltype(d)>::is_inverted; });
  }
  const char* name() const {
    return visit([](const auto& d) { return std::remove_cvref_t<decltype(d)>::name; });
  }
  std::string str() const {
    return visit([](const auto& d) { return d.str(); });
  }
  // Whether elementwise() exists for this kind (LpDistance, DotProductSimilarity).
  bool has_elementwise() const { return !std::holds_alternative<CosineSimilarity>(v_); }

  // Ordering, the same code for distances and similarities (see INVERSION above).
  template <class T>
  bool closer(T x, T y) const {
    return is_inverted() ? x > y : x < y;
  }
  template <class T>
  T farther_by(T x, T y) const {
    return is_inverted() ? y - x : x - y;
  }
  // d(farther_by(x, y))/dx: +1 for a distance, -1 for a similarity (and the negative for y).
  template <class T>
  T farther_sign() const {
    return is_inverted() ? T(-1) : T(1);
  }

  template <class T>
  T row(const T* a, const T* b, Index D) const {
    return visit([&](const auto& d) { return d.row(a, b, D); });
  }
  // ADDS g dd/da to ga and g dd/db to gb; either may be null.
  template <class T>
  void row_backward(const T* a, const T* b, Index D, T g, T* ga, T* gb) const {
    visit([&](const auto& d) { d.row_backward(a, b, D, g, ga, gb); });
  }
  // out (N, M) for x (N, D), y (M, D). Allocates nothing when x and y are the same rows and
  // `work` (the GEMM's packing buffers, reused) has served a call of this size before.
  template <class T>
  void matrix(TensorView<const T> x, TensorView<const T> y, TensorView<T> out, WorkBuffers* work = nullptr) const {
    detail::check_pairwise(x, y, out, name());
    visit([&](const auto& d) { d.matrix(x, y, out, work); });
  }
  // dx (N, D), dy (M, D) = the gradient of sum_ij dout(i, j) d(x_i, y_j); ASSIGNED. Pass the
  // same buffer for dx and dy (when x and y are the same rows) to get the total gradient.
  // Exact (per pair, O(N M D)), not through the GEMM expansion.
  template <class T>
  void matrix_backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dout, TensorView<T> dx,
                       TensorView<T> dy) const {
    if (x.rank() != 2 || y.rank() != 2 || x.dim(1) != y.dim(1))
      throw shape_error(detail::concat(name(), "::matrix_backward: expected (N, D) and (M, D), got ", x.shape().str(),
                                       " and ", y.shape().str()));
    const Index N = x.dim(0), M = y.dim(0), D = x.dim(1);
    require_shape(dout.shape(), Shape{N, M}, "Distance::matrix_backward: dout");
    if (dx.data()) require_shape(dx.shape(), x.shape(), "Distance::matrix_backward: dx");
    if (dy.data()) require_shape(dy.shape(), y.shape(), "Distance::matrix_backward: dy");
    if (dx.data()) std::fill(dx.begin(), dx.end(), T(0));
    if (dy.data() && dy.data() != dx.data()) std::fill(dy.begin(), dy.end(), T(0));
    visit([&](const auto& d) {
      for (Index i = 0; i < N; ++i)
        for (Index j = 0; j < M; ++j)
          d.row_backward(x.data() + i * D, y.data() + j * D, D, dout(i, j), dx.data() ? dx.data() + i * D : nullptr,
                         dy.data() ? dy.data() + j * D : nullptr);
    });
  }
  // y (D) = per-component terms of one pair; dy -> ga, gb ASSIGNED (either may be null).
  template <class T>
  void elementwise(const T* a, const T* b, Index D, T* y) const {
    visit([&](const auto& d) {
      if constexpr (requires { d.elementwise(a, b, D, y); }) d.elementwise(a, b, D, y);
      else throw error(detail::concat(name(), " has no element-wise form"));
    });
  }
  template <class T>
  void elementwise_backward(const T* a, const T* b, Index D, const T* dy, T* ga, T* gb) const {
    visit([&](const auto& d) {
      if constexpr (requires { d.elementwise_backward(a, b, D, dy, ga, gb); }) d.elementwise_backward(a, b, D, dy, ga, gb);
      else throw error(detail::concat(name(), " has no element-wise form"));
    });
  }

 private:
  std::variant<LpDistance, CosineSimilarity, DotProductSimilarity> v_;
};

// d (N) from a, b (N, D).
template <ViewLike A, ViewLike B, class T = view_value_t<A>>
void distance_forward(const Distance& dist, const A& a_in, const B& b_in, std::type_identity_t<TensorView<T>> d) {
  const TensorView<const T> a = cview(a_in), b = cview(b_in);
  detail::check_pair_shapes(a.shape(), b.shape(), dist.name());
  const Index N = a.dim(0), D = a.dim(1);
  if (d.size() != N)
    throw shape_error(detail::concat(dist.name(), ": output must hold ", N, " distances, got ", d.shape().str()));
  // One row per pair, O(N D): a batch's worth is too little work to spread over threads.
  for (Index i = 0; i < N; ++i) d[i] = dist.row(a.data() + i * D, b.data() + i * D, D);
}

// da, db (N, D) = dd (N) times the gradient of each row's distance; ASSIGNED (either may be
// empty).
template <ViewLike A, ViewLike B, class T = view_value_t<A>>
void distance_backward(const Distance& dist, const A& a_in, const B& b_in, std::type_identity_t<TensorView<const T>> dd,
                       std::type_identity_t<TensorView<T>> da, std::type_identity_t<TensorView<T>> db) {
  const TensorView<const T> a = cview(a_in), b = cview(b_in);
  detail::check_pair_shapes(a.shape(), b.shape(), dist.name());
  const Index N = a.dim(0), D = a.dim(1);
  if (dd.size() != N)
    throw shape_error(detail::concat(dist.name(), ": dd must hold ", N, " values, got ", dd.shape().str()));
  if (da.data()) require_shape(da.shape(), a.shape(), "distance_backward: da");
  if (db.data()) require_shape(db.shape(), b.shape(), "distance_backward: db");
  for (Index i = 0; i < N; ++i) {
    T* ga = da.data() ? da.data() + i * D : nullptr;
    T* gb = db.data() ? db.data() + i * D : nullptr;
    if (ga) std::fill(ga, ga + D, T(0));
    if (gb) std::fill(gb, gb + D, T(0));
    dist.row_backward(a.data() + i * D, b.data() + i * D, D, dd[i], ga, gb);
  }
}

// The (N, N) matrix of the rows of x against themselves.
template <ViewLike V, class T = view_value_t<V>>
Tensor<T, 2> pairwise_distances(const V& x_in, const Distance& dist = {}) {
  const TensorView<const T> x = cview(x_in);
  if (x.rank() != 2) throw shape_error(detail::concat("pairwise_distances: expected (N, D), got ", x.shape().str()));
  Tensor<T, 2> out(Shape{x.dim(0), x.dim(0)});
  dist.matrix<T>(x, x, out.view());
  return out;
}

}  // namespace twin

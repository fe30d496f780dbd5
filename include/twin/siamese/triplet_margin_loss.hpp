#pragma once
// TripletMarginLoss, PyTorch's torch.nn.TripletMarginLoss (same names and defaults:
// margin 1.0, p 2, eps 1e-6, swap false, reduction mean) plus two common variants.
//
//   d(x, y)  = || x - y + eps ||_p          (PyTorch's pairwise_distance: eps is added to the
//                                            difference, which keeps the gradient finite at x == y)
//   squared  : d^2 instead of d             (FaceNet's form; not in PyTorch)
//   swap     : d_an = min(d(a, n), d(p, n)) (Balntas et al. 2016 "distance swap")
//   loss     : l = max(0, d_ap - d_an + margin)
//   soft_margin: l = softplus(d_ap - d_an) = log(1 + exp(d_ap - d_an))   (Hermans et al.
//              2017; margin is ignored). Not in PyTorch.
//   gradient : dl/dd_ap = s, dl/dd_an = -s with s = [l > 0] (hinge) or sigmoid(d_ap - d_an)
//              (soft); dd/dx_k = sign(x_k) |x_k|^(p-1) / d^(p-1) for x = a - b + eps.
//
// Two entry points: explicit (anchor, positive, negative) rows, or a batch of embeddings
// with mined Triplet indices (mining.hpp), whose gradients are scattered back to the rows.
// An empty triplet list gives loss 0, gradients 0, count 0.
#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "twin/siamese/batch.hpp"
#include "twin/siamese/reduction.hpp"
#include "twin/siamese/view_arg.hpp"

namespace twin {

struct TripletMarginLoss {
  double margin = 1.0;
  double p = 2.0;
  double eps = 1e-6;
  bool swap = false;
  bool squared = false;
  bool soft_margin = false;
  Reduction reduction = Reduction::mean;

  // d(x, y) as PyTorch's pairwise_distance (or its square).
  template <class T>
  T dist(const T* x, const T* y, Index D) const {
    T s = T(0);
    const T e = static_cast<T>(eps);
    if (p == 2.0) {
      for (Index k = 0; k < D; ++k) s += (x[k] - y[k] + e) * (x[k] - y[k] + e);
      return squared ? s : std::sqrt(s);
    }
    const T pp = static_cast<T>(p);
    for (Index k = 0; k < D; ++k) s += std::pow(std::abs(x[k] - y[k] + e), pp);
    const T d = std::pow(s, T(1) / pp);
    return squared ? d * d : d;
  }
  // Adds g * dd/dx to gx and subtracts it from gy (either may be null).
  template <class T>
  void dist_backward(const T* x, const T* y, Index D, T d, T g, T* gx, T* gy) const {
    const T e = static_cast<T>(eps);
    if (!(d > T(0)) || g == T(0)) return;
    if (p == 2.0) {
      // d (or d^2 = s): dd/dx = x / d, ds/dx = 2 x.
      const T c = squared ? T(2) * g : g / d;
      for (Index k = 0; k < D; ++k) {
        const T v = c * (x[k] - y[k] + e);
        if (gx) gx[k] += v;
        if (gy) gy[k] -= v;
      }
      return;
    }
    const T pp = static_cast<T>(p);
    const T n = squared ? std::sqrt(d) : d;  // the p-norm itself
    const T c = (squared ? T(2) * n * g : g) / std::pow(n, pp - T(1));
    for (Index k = 0; k < D; ++k) {
      const T x_k = x[k] - y[k] + e;
      const T v = c * (x_k > T(0) ? T(1) : x_k < T(0) ? T(-1) : T(0)) * std::pow(std::abs(x_k), pp - T(1));
      if (gx) gx[k] += v;
      if (gy) gy[k] -= v;
    }
  }

  // Explicit triplets: anchor, positive, negative (N, D) each.
  template <class T>
  LossResult<T> operator()(const TripletBatch<T>& in, TripletGrads<T> grads = {}) const {
    detail::check_pair_shapes(in.anchor.shape(), in.positive.shape(), "TripletMarginLoss (anchor, positive)");
    detail::check_pair_shapes(in.anchor.shape(), in.negative.shape(), "TripletMarginLoss (anchor, negative)");
    const Index N = in.anchor.dim(0), D = in.anchor.dim(1);
    for (TensorView<T> g : {grads.anchor, grads.positive, grads.negative})
      if (g.data()) {
        require_shape(g.shape(), in.anchor.shape(), "TripletMarginLoss: gradient");
        std::fill(g.begin(), g.end(), T(0));
      }
    auto row = [D](TensorView<const T> v, Index i) { return v.data() + i * D; };
    auto grow = [D](TensorView<T> v, Index i) { return v.data() ? v.data() + i * D : nullptr; };
    return run<T>(
        N, D, [&](Index i) { return row(in.anchor, i); }, [&](Index i) { return row(in.positive, i); },
        [&](Index i) { return row(in.negative, i); }, [&](Index i) { return grow(grads.anchor, i); },
        [&](Index i) { return grow(grads.positive, i); }, [&](Index i) { return grow(grads.negative, i); });
  }

  // Mined triplets over one batch of embeddings (N, D); d_embeddings (N, D) is assigned
  // (rows in no triplet get 0).
  template <ViewLike V, class T = view_value_t<V>>
  LossResult<T> operator()(const V& embeddings_in, std::span<const Triplet> triplets,
                           TensorView<T> d_embeddings = {}) const {
    const TensorView<const T> embeddings = cview(embeddings_in);
    if (embeddings.rank() != 2) throw shape_error(detail::concat("TripletMarginLoss: embeddings must be (N, D), got ",
                                                                 embeddings.shape().str()));
    const Index N = embeddings.dim(0), D = embeddings.dim(1);
    for (const Triplet& t : triplets)
      if (t.anchor < 0 || t.anchor >= N || t.positive < 0 || t.positive >= N || t.negative < 0 || t.negative >= N)
        throw shape_error(detail::concat("TripletMarginLoss: triplet (", t.anchor, ", ", t.positive, ", ", t.negative,
                                         ") out of range for ", N, " embeddings"));
    if (d_embeddings.data()) {
      require_shape(d_embeddings.shape(), embeddings.shape(), "TripletMarginLoss: d_embeddings");
      std::fill(d_embeddings.begin(), d_embeddings.end(), T(0));
    }
    auto row = [&](Index r) { return embeddings.data() + r * D; };
    auto grow = [&](Index r) { return d_embeddings.data() ? d_embeddings.data() + r * D : nullptr; };
    auto tr = [&](Index i) -> const Triplet& { return triplets[static_cast<std::size_t>(i)]; };
    return run<T>(
        static_cast<Index>(triplets.size()), D, [&](Index i) { return row(tr(i).anchor); },
        [&](Index i) { return row(tr(i).positive); }, [&](Index i) { return row(tr(i).negative); },
        [&](Index i) { return grow(tr(i).anchor); }, [&](Index i) { return grow(tr(i).positive); },
        [&](Index i) { return grow(tr(i).negative); });
  }

 private:
  // The loop both entry points share; gradients are ADDED to the rows the getters return
  // (the callers zero them first), so a row used by several triplets sums their gradients.
  template <class T, class A, class P, class N_, class GA, class GP, class GN>
  LossResult<T> run(Index n, Index D, A a, P pos, N_ neg, GA ga, GP gp, GN gn) const {
    LossResult<T> r;
    r.per_sample.resize(static_cast<std::size_t>(n));
    const std::span<T> s = detail::loss_scratch<T, 0>(n), dap = detail::loss_scratch<T, 1>(n),
                       dan = detail::loss_scratch<T, 2>(n);
    const std::span<char> swapped = detail::loss_scratch<char, 0>(n);
    std::fill(swapped.begin(), swapped.end(), char(0));
    for (Index i = 0; i < n; ++i) {
      const auto u = static_cast<std::size_t>(i);
      dap[u] = dist(a(i), pos(i), D);
      dan[u] = dist(a(i), neg(i), D);
      if (swap) {
        const T dpn = dist(pos(i), neg(i), D);
        if (dpn < dan[u]) {
          dan[u] = dpn;
          swapped[u] = 1;
        }
      }
      const T z = dap[u] - dan[u];
      if (soft_margin) {
        r.per_sample[u] = std::max(z, T(0)) + std::log1p(std::exp(-std::abs(z)));
        s[u] = z >= T(0) ? T(1) / (T(1) + std::exp(-z)) : std::exp(z) / (T(1) + std::exp(z));
      } else {
        const T h = z + static_cast<T>(margin);
        r.per_sample[u] = h > T(0) ? h : T(0);
        s[u] = h > T(0) ? T(1) : T(0);
      }
    }
    const T w = detail::reduce(r, reduction);
    for (Index i = 0; i < n; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const T g = w * s[u];
      if (g == T(0)) continue;
      dist_backward(a(i), pos(i), D, dap[u], g, ga(i), gp(i));
      if (swapped[u]) dist_backward(pos(i), neg(i), D, dan[u], -g, gp(i), gn(i));
      else dist_backward(a(i), neg(i), D, dan[u], -g, ga(i), gn(i));
    }
    return r;
  }
};

}  // namespace twin

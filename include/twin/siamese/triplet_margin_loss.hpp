#pragma once
// TripletMarginLoss, PyTorch's torch.nn.TripletMarginLoss (same names and defaults: margin
// 1.0, Euclidean distance, swap false, reduction mean) plus a soft-margin variant, on any
// Distance (distance.hpp):
//
//   z        = farther_by(d_ap, d_an)       (d_ap - d_an; for a similarity s_an - s_ap: either
//                                            way z < 0 when the positive is the closer one)
//   swap     : d_an = the closer of d(a, n) and d(p, n)   (Balntas et al. 2016 "distance swap")
//   loss     : l = max(0, z + margin)
//   soft_margin: l = softplus(z) = log(1 + exp(z))   (Hermans et al. 2017; margin is ignored;
//              not in PyTorch)
//   gradient : dl/dz = [z + margin > 0] (hinge; 0 exactly at the margin) or sigmoid(z) (soft),
//              then dz/dd_ap = -dz/dd_an = farther_sign (+1, or -1 for a similarity), then the
//              distance's row_backward. A NaN distance gives a NaN loss and NaN gradients.
//
// PyTorch's p and eps belong to the distance here: `.distance = LpDistance{.p = 1}` for
// PyTorch's p = 1, LpDistance{.squared = true} for FaceNet's squared distances. A deliberate
// difference: PyTorch's pairwise_distance adds eps = 1e-6 to the difference (|a - b + eps|_p),
// twin's LpDistance guards the root instead (max(S, 1e-7)^(1/p)); the values differ by about
// eps, and twin's distance stays symmetric.
//
// Two entry points: explicit (anchor, positive, negative) rows, or a batch of embeddings
// with mined Triplet indices (mining.hpp), whose gradients are scattered back to the rows.
// Gradients are ASSIGNED. An empty triplet list gives loss 0, gradients 0, count 0.
// Workspace use (reduction.hpp): distance (2 n), slope, swapped, result.
#include <algorithm>
#include <cmath>
#include <span>
#include <type_traits>
#include <utility>

#include "twin/siamese/batch.hpp"
#include "twin/siamese/distance.hpp"
#include "twin/siamese/reduction.hpp"
#include "twin/siamese/view_arg.hpp"

namespace twin {

struct TripletMarginLoss {
  double margin = 1.0;
  Distance distance{};  // LpDistance{} (Euclidean, PyTorch's p = 2)
  bool swap = false;
  bool soft_margin = false;
  Reduction reduction = Reduction::mean;

  // Explicit triplets: anchor, positive, negative (N, D) each.
  template <class T>
  const LossResult<T>& operator()(const TripletBatch<T>& in, TripletGrads<T> grads, LossWorkspace<T>& ws) const {
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
        ws, N, D, [&](Index i) { return row(in.anchor, i); }, [&](Index i) { return row(in.positive, i); },
        [&](Index i) { return row(in.negative, i); }, [&](Index i) { return grow(grads.anchor, i); },
        [&](Index i) { return grow(grads.positive, i); }, [&](Index i) { return grow(grads.negative, i); });
  }
  template <class T>
  LossResult<T> operator()(const TripletBatch<T>& in, TripletGrads<T> grads = {}) const {
    LossWorkspace<T> ws;
    (*this)(in, grads, ws);
    return std::move(ws.result);
  }

  // Mined triplets over one batch of embeddings (N, D); d_embeddings (N, D) is ASSIGNED
  // (rows in no triplet get 0).
  template <ViewLike V, class T = view_value_t<V>>
  const LossResult<T>& operator()(const V& embeddings_in, std::span<const Triplet> triplets,
                                  std::type_identity_t<TensorView<T>> d_embeddings, LossWorkspace<T>& ws) const {
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
        ws, static_cast<Index>(triplets.size()), D, [&](Index i) { return row(tr(i).anchor); },
        [&](Index i) { return row(tr(i).positive); }, [&](Index i) { return row(tr(i).negative); },
        [&](Index i) { return grow(tr(i).anchor); }, [&](Index i) { return grow(tr(i).positive); },
        [&](Index i) { return grow(tr(i).negative); });
  }
  template <ViewLike V, class T = view_value_t<V>>
  LossResult<T> operator()(const V& embeddings, std::span<const Triplet> triplets,
                           std::type_identity_t<TensorView<T>> d_embeddings = {}) const {
    LossWorkspace<T> ws;
    (*this)(embeddings, triplets, d_embeddings, ws);
    return std::move(ws.result);
  }

 private:
  // The loop both entry points share; gradients are ADDED to the rows the getters return
  // (the callers zero them first), so a row used by several triplets sums their gradients.
  template <class T, class A, class P, class N_, class GA, class GP, class GN>
  const LossResult<T>& run(LossWorkspace<T>& ws, Index n, Index D, A a, P pos, N_ neg, GA ga, GP gp, GN gn) const {
    LossResult<T>& r = ws.result;
    r.per_sample.resize(static_cast<std::size_t>(n));
    const std::span<T> s = detail::grow(ws.slope, n), dist = detail::grow(ws.distance, 2 * n);
    const std::span<T> dap = dist.first(static_cast<std::size_t>(n)), dan = dist.last(static_cast<std::size_t>(n));
    const std::span<unsigned char> swapped = detail::grow(ws.swapped, n);
    std::fill(swapped.begin(), swapped.end(), static_cast<unsigned char>(0));
    for (Index i = 0; i < n; ++i) {
      const auto u = static_cast<std::size_t>(i);
      dap[u] = distance.row(a(i), pos(i), D);
      dan[u] = distance.row(a(i), neg(i), D);
      if (swap) {
        const T dpn = distance.row(pos(i), neg(i), D);
        if (distance.closer(dpn, dan[u])) {
          dan[u] = dpn;
          swapped[u] = 1;
        }
      }
      const T z = distance.farther_by(dap[u], dan[u]);
      if (soft_margin) {
        r.per_sample[u] = std::max(z, T(0)) + std::log1p(std::exp(-std::abs(z)));  // keeps a NaN z
        s[u] = z >= T(0) ? T(1) / (T(1) + std::exp(-z)) : std::exp(z) / (T(1) + std::exp(z));
      } else {
        const auto [l, slope] = detail::hinge(z + static_cast<T>(margin));
        r.per_sample[u] = l;
        s[u] = slope;
      }
    }
    const T w = detail::reduce(r, reduction);
    const T sg = distance.farther_sign<T>();
    for (Index i = 0; i < n; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const T g = w * s[u] * sg;
      if (g == T(0)) continue;  // inactive triplet (a NaN goes through)
      distance.row_backward(a(i), pos(i), D, g, ga(i), gp(i));
      if (swapped[u]) distance.row_backward(pos(i), neg(i), D, -g, gp(i), gn(i));
      else distance.row_backward(a(i), neg(i), D, -g, ga(i), gn(i));
    }
    return r;
  }
};

}  // namespace twin

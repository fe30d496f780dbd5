#pragma once
// ContrastiveLoss (Hadsell, Chopra & LeCun 2006; pytorch-metric-learning's ContrastiveLoss
// names: pos_margin, neg_margin, distance).
//
//   per pair, with d = distance(a, b):
//     same:       l = relu(farther_by(d, pos_margin))^power    = relu(d - pos_margin)^power
//     different:  l = relu(farther_by(neg_margin, d))^power    = relu(neg_margin - d)^power
//   dl/dd = power h^(power-1) dh/dd, dh/dd = +-1 (the sign flips for a similarity, see
//   distance.hpp). A hinge exactly at its margin has loss and gradient 0; a NaN distance
//   gives a NaN loss and a NaN gradient (never the 0 a plain max(0, NaN) would give).
//
// The margins are in the distance's units: Euclidean by default (pos 0, neg 1, as
// pytorch-metric-learning); for `.distance = CosineSimilarity{}` use pos_margin 1 and
// neg_margin 0 (same pairs pulled above pos_margin, different pairs pushed below neg_margin).
// power = 1 is pytorch-metric-learning's; power = 2 with pos_margin 0 is Hadsell's and the
// Keras tutorial's squared form (without Hadsell's 1/2). Reduction defaults to
// pytorch-metric-learning's mean over non-zero. Unlike pytorch-metric-learning's LpDistance,
// embeddings are not L2-normalised first: end the tower with L2Normalize if you want it.
//
// Two entry points: on embeddings (PairBatch, gradients ASSIGNED to both embeddings), or on
// distances the caller already has (on_distances; the Keras tutorial feeds its sigmoid output).
// Workspace use (reduction.hpp): distance, slope, result.
#include <cmath>
#include <span>
#include <type_traits>
#include <utility>

#include "twin/siamese/batch.hpp"
#include "twin/siamese/distance.hpp"
#include "twin/siamese/reduction.hpp"

namespace twin {

struct ContrastiveLoss {
  double pos_margin = 0.0;
  double neg_margin = 1.0;
  Distance distance{};  // LpDistance{} (Euclidean)
  double power = 1.0;
  Reduction reduction = Reduction::mean_nonzero;

  // Per-pair loss and dl/dd for one distance.
  template <class T>
  std::pair<T, T> pair_loss(T d, PairLabel label) const {
    const bool same = is_same(label);
    const T h = same ? distance.farther_by(d, static_cast<T>(pos_margin)) : distance.farther_by(static_cast<T>(neg_margin), d);
    const auto [hv, hs] = detail::hinge(h);
    if (!(hv > T(0))) return {hv, hs};  // (0, 0) at or below the margin, (NaN, NaN) for NaN
    const T p = static_cast<T>(power);
    const T l = power == 1.0 ? h : power == 2.0 ? h * h : std::pow(h, p);
    const T dl = power == 1.0 ? T(1) : power == 2.0 ? T(2) * h : p * std::pow(h, p - T(1));
    const T dh = same ? distance.farther_sign<T>() : -distance.farther_sign<T>();
    return {l, dl * dh};
  }

  // d (N) given; dd (N) ASSIGNED when not empty.
  template <ViewLike V, class T = view_value_t<V>>
  const LossResult<T>& on_distances(const V& d_in, std::span<const PairLabel> labels,
                                    std::type_identity_t<TensorView<T>> dd, LossWorkspace<T>& ws) const {
    const TensorView<const T> d = cview(d_in);
    const T w = per_pair<T>(d, labels, ws);
    if (dd.data()) {
      if (dd.size() != d.size()) throw shape_error("ContrastiveLoss: dd must have one value per distance");
      for (Index i = 0; i < d.size(); ++i) dd[i] = w * ws.slope[static_cast<std::size_t>(i)];
    }
    return ws.result;
  }
  template <ViewLike V, class T = view_value_t<V>>
  LossResult<T> on_distances(const V& d, std::span<const PairLabel> labels,
                             std::type_identity_t<TensorView<T>> dd = {}) const {
    LossWorkspace<T> ws;
    on_distances(d, labels, dd, ws);
    return std::move(ws.result);
  }

  // Embeddings (N, D) each; grads.first, grads.second (N, D) ASSIGNED when not empty.
  template <class T>
  const LossResult<T>& operator()(const PairBatch<T>& in, PairGrads<T> grads, LossWorkspace<T>& ws) const {
    detail::check_pair_shapes(in.first.shape(), in.second.shape(), "ContrastiveLoss");
    const Index N = in.first.dim(0), D = in.first.dim(1);
    if (grads.first.data()) require_shape(grads.first.shape(), in.first.shape(), "ContrastiveLoss: grads.first");
    if (grads.second.data()) require_shape(grads.second.shape(), in.second.shape(), "ContrastiveLoss: grads.second");
    const std::span<T> d = detail::grow(ws.distance, N);
    for (Index i = 0; i < N; ++i)
      d[static_cast<std::size_t>(i)] = distance.row(in.first.data() + i * D, in.second.data() + i * D, D);
    const T w = per_pair<T>(TensorView<const T>(d.data(), Shape{N}), in.labels, ws);
    if (grads.first.data()) std::fill(grads.first.begin(), grads.first.end(), T(0));
    if (grads.second.data()) std::fill(grads.second.begin(), grads.second.end(), T(0));
    if (grads.first.data() || grads.second.data())
      for (Index i = 0; i < N; ++i) {
        const T g = w * ws.slope[static_cast<std::size_t>(i)];
        if (g == T(0)) continue;  // inactive pair (a NaN slope goes through)
        distance.row_backward(in.first.data() + i * D, in.second.data() + i * D, D, g,
                              grads.first.data() ? grads.first.data() + i * D : nullptr,
                              grads.second.data() ? grads.second.data() + i * D : nullptr);
      }
    return ws.result;
  }
  template <class T>
  LossResult<T> operator()(const PairBatch<T>& in, PairGrads<T> grads = {}) const {
    LossWorkspace<T> ws;
    (*this)(in, grads, ws);
    return std::move(ws.result);
  }

 private:
  // Per-pair losses into ws.result and their slopes dl/dd into ws.slope; returns the
  // reduction's weight.
  template <class T>
  T per_pair(TensorView<const T> d, std::span<const PairLabel> labels, LossWorkspace<T>& ws) const {
    const Index N = d.size();
    if (static_cast<Index>(labels.size()) != N)
      throw shape_error(detail::concat("ContrastiveLoss: ", N, " distances but ", labels.size(), " labels"));
    ws.result.per_sample.resize(static_cast<std::size_t>(N));
    const std::span<T> slope = detail::grow(ws.slope, N);
    for (Index i = 0; i < N; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const auto [l, dl] = pair_loss(d[i], labels[u]);
      ws.result.per_sample[u] = l;
      slope[u] = dl;
    }
    return detail::reduce(ws.result, reduction);
  }
};

}  // namespace twin

#pragma once
// ContrastiveLoss (Hadsell, Chopra & LeCun 2006; pytorch-metric-learning's ContrastiveLoss
// names: pos_margin, neg_margin).
//
//   per pair, with distance d:   same:       l = relu(d - pos_margin)^power
//                                different:  l = relu(neg_margin - d)^power
//   dl/dd:                       same:       power relu(d - pos_margin)^(power-1)
//                                different: -power relu(neg_margin - d)^(power-1)
//   (a hinge exactly at its margin has gradient 0.)
//
// d is the Euclidean distance (eps-guarded, distance.hpp) or the cosine distance 1 - cos,
// so both margins mean "distance" in either case. power = 1 is pytorch-metric-learning;
// power = 2 with pos_margin 0 is Hadsell's and the Keras tutorial's squared form (without
// Hadsell's 1/2). Defaults follow pytorch-metric-learning (pos 0, neg 1, mean over non-zero)
// except that twin does not L2-normalise embeddings first (PML's LpDistance does by default):
// normalise in the tower if you want it.
//
// Two entry points: on embeddings (PairBatch, gradients to both embeddings), or on
// distances the caller already has (on_distances; the Keras tutorial feeds its sigmoid output).
#include <cmath>
#include <span>
#include <vector>

#include "twin/siamese/batch.hpp"
#include "twin/siamese/distance.hpp"
#include "twin/siamese/reduction.hpp"

namespace twin {

enum class PairDistance { euclidean, cosine };

struct ContrastiveLoss {
  double pos_margin = 0.0;
  double neg_margin = 1.0;
  PairDistance distance = PairDistance::euclidean;
  double power = 1.0;
  Reduction reduction = Reduction::mean_nonzero;

  // Per-pair loss and dl/dd for one distance.
  template <class T>
  std::pair<T, T> pair_loss(T d, PairLabel label) const {
    const T h = is_same(label) ? d - static_cast<T>(pos_margin) : static_cast<T>(neg_margin) - d;
    if (!(h > T(0))) return {T(0), T(0)};
    const T p = static_cast<T>(power);
    const T l = power == 1.0 ? h : power == 2.0 ? h * h : std::pow(h, p);
    const T dl = power == 1.0 ? T(1) : power == 2.0 ? T(2) * h : p * std::pow(h, p - T(1));
    return {l, is_same(label) ? dl : -dl};
  }

  // d (N) given; dd (N) assigned when not empty.
  template <class T>
  LossResult<T> on_distances(TensorView<const T> d, std::span<const PairLabel> labels, TensorView<T> dd = {}) const {
    const Index N = d.size();
    if (static_cast<Index>(labels.size()) != N)
      throw shape_error(detail::concat("ContrastiveLoss: ", N, " distances but ", labels.size(), " labels"));
    if (dd.data() && dd.size() != N) throw shape_error("ContrastiveLoss: dd must have one value per distance");
    LossResult<T> r;
    r.per_sample.resize(static_cast<std::size_t>(N));
    const std::span<T> g = detail::loss_scratch<T, 0>(N);  // dl/dd before the reduction's weight
    for (Index i = 0; i < N; ++i) {
      const auto [l, dl] = pair_loss(d[i], labels[static_cast<std::size_t>(i)]);
      r.per_sample[static_cast<std::size_t>(i)] = l;
      g[static_cast<std::size_t>(i)] = dl;
    }
    const T w = detail::reduce(r, reduction);
    if (dd.data())
      for (Index i = 0; i < N; ++i) dd[i] = w * g[static_cast<std::size_t>(i)];
    return r;
  }

  template <class T>
  LossResult<T> operator()(const PairBatch<T>& in, PairGrads<T> grads = {}) const {
    detail::check_pair_shapes(in.first.shape(), in.second.shape(), "ContrastiveLoss");
    const Index N = in.first.dim(0), D = in.first.dim(1);
    // Slots 1 and 2: on_distances below holds slot 0.
    const TensorView<T> d(detail::loss_scratch<T, 1>(N).data(), Shape{N}), dd(detail::loss_scratch<T, 2>(N).data(), Shape{N});
    const Euclidean euclid;
    const Cosine cosine;
    for (Index i = 0; i < N; ++i) {
      const T* a = in.first.data() + i * D;
      const T* b = in.second.data() + i * D;
      d[i] = distance == PairDistance::euclidean ? euclid.row(a, b, D) : cosine.row(a, b, D);
    }
    LossResult<T> r = on_distances<T>(d, in.labels, dd);
    if (grads.first.data()) require_shape(grads.first.shape(), in.first.shape(), "ContrastiveLoss: grads.first");
    if (grads.second.data()) require_shape(grads.second.shape(), in.second.shape(), "ContrastiveLoss: grads.second");
    if (grads.first.data() || grads.second.data())
      for (Index i = 0; i < N; ++i) {
        const T* a = in.first.data() + i * D;
        const T* b = in.second.data() + i * D;
        T* ga = grads.first.data() ? grads.first.data() + i * D : nullptr;
        T* gb = grads.second.data() ? grads.second.data() + i * D : nullptr;
        if (distance == PairDistance::euclidean) euclid.row_backward(a, b, D, d[i], dd[i], ga, gb);
        else cosine.row_backward(a, b, D, d[i], dd[i], ga, gb);
      }
    return r;
  }
};

}  // namespace twin

#pragma once
// BCEWithLogitsLoss, PyTorch's torch.nn.BCEWithLogitsLoss for one logit per sample.
//
//   l = pos_weight y softplus(-x) + (1 - y) softplus(x),   softplus(x) = max(x, 0) + log1p(e^-|x|)
//   dl/dx = (1 - y) sigmoid(x) - pos_weight y sigmoid(-x)      (= sigmoid(x) - y when pos_weight 1)
//
// Always on logits, never on probabilities: the softplus form is finite for any finite x
// (x = +-100 in float gives l = 100 or 0 and gradient sigmoid(x) - y exactly), where
// -y log(p) - (1 - y) log(1 - p) overflows once p rounds to 0 or 1.
// Targets are y in [0, 1], or PairLabel (same = 1: a high logit means "same").
// Differences from PyTorch: pos_weight is one scalar (PyTorch takes one per class); `weight`
// (per-sample rescaling) is not offered. A NaN logit gives a NaN loss and gradient.
// The logit usually comes from a PairHead (pair_head.hpp): Koch et al.'s L1 |e1 - e2| ->
// Dense -> sigmoid is PairHead{L1 element-wise} + Dense + this loss (the sigmoid lives here).
// Workspace use (reduction.hpp): target (PairLabel form), result.
#include <cmath>
#include <algorithm>
#include <span>
#include <type_traits>
#include <utility>

#include "twin/siamese/pair_label.hpp"
#include "twin/siamese/reduction.hpp"
#include "twin/siamese/view_arg.hpp"

namespace twin {

struct BCEWithLogitsLoss {
  double pos_weight = 1.0;
  Reduction reduction = Reduction::mean;

  template <class T>
  static T softplus(T x) {
    return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
  }
  template <class T>
  static T sigmoid(T x) {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }

  // logits: N values (any shape with N elements, e.g. (N, 1)); dlogits ASSIGNED, same shape.
  template <ViewLike V, class T = view_value_t<V>>
  const LossResult<T>& operator()(const V& logits_in, std::span<const std::type_identity_t<T>> targets,
                                  std::type_identity_t<TensorView<T>> dlogits, LossWorkspace<T>& ws) const {
    const TensorView<const T> logits = cview(logits_in);
    const Index N = logits.size();
    if (static_cast<Index>(targets.size()) != N)
      throw shape_error(detail::concat("BCEWithLogitsLoss: ", N, " logits but ", targets.size(), " targets"));
    if (dlogits.data()) require_shape(dlogits.shape(), logits.shape(), "BCEWithLogitsLoss: dlogits");
    const T pw = static_cast<T>(pos_weight);
    LossResult<T>& r = ws.result;
    r.per_sample.resize(static_cast<std::size_t>(N));
    for (Index i = 0; i < N; ++i) {
      const T x = logits[i], y = targets[static_cast<std::size_t>(i)];
      r.per_sample[static_cast<std::size_t>(i)] = pw * y * softplus(-x) + (T(1) - y) * softplus(x);
    }
    const T w = detail::reduce(r, reduction);
    if (dlogits.data())
      for (Index i = 0; i < N; ++i) {
        const T x = logits[i], y = targets[static_cast<std::size_t>(i)];
        dlogits[i] = w * ((T(1) - y) * sigmoid(x) - pw * y * sigmoid(-x));
      }
    return r;
  }
  template <ViewLike V, class T = view_value_t<V>>
  LossResult<T> operator()(const V& logits, std::span<const std::type_identity_t<T>> targets,
                           std::type_identity_t<TensorView<T>> dlogits = {}) const {
    LossWorkspace<T> ws;
    (*this)(logits, targets, dlogits, ws);
    return std::move(ws.result);
  }

  // PairLabel targets (same = 1), made in ws.target.
  template <ViewLike V, class T = view_value_t<V>>
  const LossResult<T>& operator()(const V& logits, std::span<const PairLabel> labels,
                                  std::type_identity_t<TensorView<T>> dlogits, LossWorkspace<T>& ws) const {
    const std::span<T> y = detail::grow(ws.target, static_cast<Index>(labels.size()));
    for (std::size_t i = 0; i < labels.size(); ++i) y[i] = to_target<T>(labels[i]);
    return (*this)(logits, std::span<const T>(y), dlogits, ws);
  }
  template <ViewLike V, class T = view_value_t<V>>
  LossResult<T> operator()(const V& logits, std::span<const PairLabel> labels,
                           std::type_identity_t<TensorView<T>> dlogits = {}) const {
    LossWorkspace<T> ws;
    (*this)(logits, labels, dlogits, ws);
    return std::move(ws.result);
  }
};

}  // namespace twin

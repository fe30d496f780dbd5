#pragma once
// PairHead<T>: turns two embeddings into a score, e1, e2 (N, D) -> combine -> net -> (N, K).
//
//   combine   PairCombine{.distance, .elementwise}, with any Distance (distance.hpp):
//             elementwise = true:  the distance's per-component terms (N, D) for the net to
//                                  weigh; LpDistance{.p = 1} gives |e1 - e2| (Koch et al. 2015,
//                                  the default), DotProductSimilarity e1 * e2
//             elementwise = false: the distance itself (N, 1); LpDistance{} is the Keras
//                                  tutorial's Euclidean head
//   net       any Sequential<T> taking combine.features(D) inputs, e.g. Dense(D, 1) for a
//             similarity logit.
//
// Koch et al.'s head, |e1 - e2| -> Dense(D, 1) -> sigmoid, is make_similarity_head(D): a
// logit trained with BCEWithLogitsLoss (high logit = same; PairLabel convention). The sigmoid
// of the paper is folded into the loss for stability; apply it only to report probabilities.
//
// The head owns its parameters (net.params()); step them with their own optimiser, or
// with the same optimiser type over a second span. backward() ACCUMULATES into
// net.grads() and ASSIGNS de1, de2, which the caller then adds into the tower's
// d_embeddings.
#include <algorithm>
#include <string>
#include <utility>

#include "twin/layers/dense.hpp"
#include "twin/sequential.hpp"
#include "twin/siamese/distance.hpp"

namespace twin {

struct PairCombine {
  Distance distance = LpDistance{.p = 1.0};  // Koch et al.'s L1
  bool elementwise = true;                   // (N, D) per-component terms; false: (N, 1) distance

  // The net's input width for embeddings of width D.
  Index features(Index D) const { return elementwise ? D : 1; }
  void validate() const {
    if (elementwise && !distance.has_elementwise())
      throw error(detail::concat("PairCombine: ", distance.name(), " has no element-wise form; use elementwise = false"));
  }
};

template <class T>
class PairHeadWorkspace {
 private:
  template <class>
  friend class PairHead;
  Workspace<T> ws_;
  Tensor<T> a_, b_;   // (N, D) copies of the embeddings backward needs
  Tensor<T> c_;       // (N, D) or (N, 1): the combined features
  bool has_forward_ = false;
};

template <class T>
class PairHead {
 public:
  PairHead(PairCombine combine, Sequential<T> net) : combine_(std::move(combine)), net_(std::move(net)) {
    combine_.validate();
  }
  Sequential<T>& net() { return net_; }
  const Sequential<T>& net() const { return net_; }
  const PairCombine& combine() const { return combine_; }

  TensorView<const T> forward(TensorView<const T> e1, TensorView<const T> e2, PairHeadWorkspace<T>& ws,
                              Mode mode) const {
    detail::check_pair_shapes(e1.shape(), e2.shape(), "PairHead");
    const Index N = e1.dim(0), D = e1.dim(1);
    ws.a_.resize(e1.shape());  // kept for backward; the buffers are reused across calls
    ws.b_.resize(e2.shape());
    std::copy(e1.begin(), e1.end(), ws.a_.begin());
    std::copy(e2.begin(), e2.end(), ws.b_.begin());
    ws.c_.resize(Shape{N, combine_.features(D)});
    if (combine_.elementwise) {
      for (Index i = 0; i < N; ++i)
        combine_.distance.elementwise(e1.data() + i * D, e2.data() + i * D, D, ws.c_.data() + i * D);
    } else {
      distance_forward(combine_.distance, e1, e2, ws.c_.view());
    }
    ws.has_forward_ = true;
    return net_.forward(ws.c_.view(), ws.ws_, mode);
  }

  // dout (N, K) -> de1, de2 (N, D) ASSIGNED (either may be empty); net parameter gradients
  // accumulated.
  void backward(TensorView<const T> dout, PairHeadWorkspace<T>& ws, TensorView<T> de1, TensorView<T> de2) const {
    if (!ws.has_forward_) throw error("PairHead::backward: no matching forward in this workspace");
    const TensorView<const T> dc = net_.backward(dout, ws.ws_, true);
    const TensorView<const T> a = ws.a_.view(), b = ws.b_.view();
    if (de1.data()) require_shape(de1.shape(), a.shape(), "PairHead::backward: de1");
    if (de2.data()) require_shape(de2.shape(), b.shape(), "PairHead::backward: de2");
    const Index N = a.dim(0), D = a.dim(1);
    if (combine_.elementwise) {
      for (Index i = 0; i < N; ++i)
        combine_.distance.elementwise_backward(a.data() + i * D, b.data() + i * D, D, dc.data() + i * D,
                                               de1.data() ? de1.data() + i * D : nullptr,
                                               de2.data() ? de2.data() + i * D : nullptr);
      return;
    }
    distance_backward(combine_.distance, a, b, dc.reshape(Shape{N}), de1, de2);
  }

 private:
  PairCombine combine_;
  Sequential<T> net_;
};

// |e1 - e2| -> Dense(dim, 1): one similarity logit per pair (Koch et al.'s L1 siamese head;
// its sigmoid lives in BCEWithLogitsLoss).
template <class T>
PairHead<T> make_similarity_head(Index dim, std::uint64_t seed) {
  Sequential<T> net;
  net.add(Dense{.in = dim, .out = 1});
  net.init(seed);
  return PairHead<T>(PairCombine{}, std::move(net));
}

}  // namespace twin

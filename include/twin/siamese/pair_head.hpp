#pragma once
// PairHead<T>: turns two embeddings into a score, e1, e2 (N, D) -> combine -> net -> (N, K).
//
//   combine   Combine::abs_diff            |e1 - e2|        (N, D)   Koch et al. 2015
//             Combine::euclidean           Euclidean        (N, 1)   the Keras tutorial
//             Combine::squared_euclidean   SquaredEuclidean (N, 1)
//             Combine::cosine              1 - cos          (N, 1)
//   net       any Sequential<T> taking that, e.g. Dense(D, 1) for a similarity logit.
//
// The classic similarity head is make_similarity_head(D): |e1 - e2| -> Dense(D, 1), a logit
// trained with BCEWithLogitsLoss (high logit = same; PairLabel convention). The sigmoid of
// the original paper is folded into the loss for stability; apply it only to report
// probabilities.
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

enum class Combine { abs_diff, euclidean, squared_euclidean, cosine };

template <class T>
class PairHeadWorkspace {
 private:
  template <class>
  friend class PairHead;
  Workspace<T> ws_;
  Tensor<T> a_, b_;   // (N, D) copies of the embeddings backward needs
  Tensor<T> c_;       // (N, D) or (N, 1): the combined features
  Tensor<T> dc_;      // gradient w.r.t. c_
  bool has_forward_ = false;
};

template <class T>
class PairHead {
 public:
  PairHead(Combine combine, Sequential<T> net) : combine_(combine), net_(std::move(net)) {}
  Sequential<T>& net() { return net_; }
  const Sequential<T>& net() const { return net_; }
  Combine combine() const { return combine_; }

  TensorView<const T> forward(TensorView<const T> e1, TensorView<const T> e2, PairHeadWorkspace<T>& ws,
                              Mode mode) const {
    detail::check_pair_shapes(e1.shape(), e2.shape(), "PairHead");
    const Index N = e1.dim(0);
    ws.a_.resize(e1.shape());  // kept for backward; the buffers are reused across calls
    ws.b_.resize(e2.shape());
    std::copy(e1.begin(), e1.end(), ws.a_.begin());
    std::copy(e2.begin(), e2.end(), ws.b_.begin());
    if (combine_ == Combine::abs_diff) {
      ws.c_.resize(e1.shape());
      AbsDiff{}.forward<T>(e1, e2, ws.c_.view());
    } else {
      ws.c_.resize(Shape{N, 1});
      TensorView<T> d = ws.c_.view();
      switch (combine_) {
        case Combine::euclidean: distance_forward(Euclidean{}, e1, e2, d); break;
        case Combine::squared_euclidean: distance_forward(SquaredEuclidean{}, e1, e2, d); break;
        default: distance_forward(Cosine{}, e1, e2, d); break;
      }
    }
    ws.has_forward_ = true;
    return net_.forward(ws.c_.view(), ws.ws_, mode);
  }

  // dout (N, K) -> de1, de2 (N, D) assigned; net parameter gradients accumulated.
  void backward(TensorView<const T> dout, PairHeadWorkspace<T>& ws, TensorView<T> de1, TensorView<T> de2) const {
    if (!ws.has_forward_) throw error("PairHead::backward: no matching forward in this workspace");
    TensorView<const T> dc = net_.backward(dout, ws.ws_, true);
    const TensorView<const T> a = ws.a_.view(), b = ws.b_.view();
    if (combine_ == Combine::abs_diff) {
      AbsDiff{}.backward<T>(a, b, dc, de1, de2);
      return;
    }
    TensorView<const T> d = ws.c_.view();
    const TensorView<const T> dd = dc.reshape(Shape{d.size()});
    const TensorView<const T> dflat = d.reshape(Shape{d.size()});
    switch (combine_) {
      case Combine::euclidean: distance_backward(Euclidean{}, a, b, dflat, dd, de1, de2); break;
      case Combine::squared_euclidean: distance_backward(SquaredEuclidean{}, a, b, dflat, dd, de1, de2); break;
      default: distance_backward(Cosine{}, a, b, dflat, dd, de1, de2); break;
    }
  }

 private:
  Combine combine_;
  Sequential<T> net_;
};

// |e1 - e2| -> Dense(dim, 1): one similarity logit per pair (Koch et al.'s L1 siamese head).
template <class T>
PairHead<T> make_similarity_head(Index dim, std::uint64_t seed) {
  Sequential<T> net;
  net.add(Dense{.in = dim, .out = 1});
  net.init(seed);
  return PairHead<T>(Combine::abs_diff, std::move(net));
}

}  // namespace twin

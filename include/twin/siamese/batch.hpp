#pragma once
// Named arguments for multi-input losses, so a call site says what each tensor is:
//
//   loss(twin::PairBatch<float>{.first = e1, .second = e2, .labels = y}, {.first = g1, .second = g2});
//   loss(twin::TripletBatch<float>{.anchor = a, .positive = p, .negative = n}, {...});
//
// Embeddings are (N, D) row-major; labels are one PairLabel per row (pair_label.hpp).
// Gradient views are ASSIGNED by the loss; leave one empty to skip it.
#include <span>

#include "twin/siamese/pair_label.hpp"
#include "twin/tensor.hpp"

namespace twin {

template <class T>
struct PairBatch {
  TensorView<const T> first;   // (N, D)
  TensorView<const T> second;  // (N, D)
  std::span<const PairLabel> labels;  // N
};
template <class T>
struct PairGrads {
  TensorView<T> first;   // (N, D) or empty
  TensorView<T> second;  // (N, D) or empty
};

template <class T>
struct TripletBatch {
  TensorView<const T> anchor;    // (N, D)
  TensorView<const T> positive;  // (N, D)
  TensorView<const T> negative;  // (N, D)
};
template <class T>
struct TripletGrads {
  TensorView<T> anchor, positive, negative;  // (N, D) each, or empty
};

// One triplet of row indices into a batch of embeddings (mining.hpp produces these).
struct Triplet {
  Index anchor = 0, positive = 0, negative = 0;
  friend bool operator==(const Triplet&, const Triplet&) = default;
};

}  // namespace twin

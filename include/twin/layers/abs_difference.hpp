#pragma once
// AbsDifference: y = |a - b| element-wise, for two inputs of one shape: the component-wise L1
// distance that Koch et al.'s Siamese head feeds to a Dense layer and a sigmoid.
//   forward   y = |a - b|
//   backward  da = sign(a - b) dy,  db = -sign(a - b) dy   (sign(0) = 0: the subgradient
//             PyTorch's abs uses)                          (reads both inputs)
#include <string>

#include "twin/layer.hpp"

namespace twin {

template <class T>
class AbsDifferenceLayer;

struct AbsDifference {
  template <class T>
  using layer = AbsDifferenceLayer<T>;
};

template <class T>
class AbsDifferenceLayer final : public MultiInputLayer<T> {
 public:
  explicit AbsDifferenceLayer(const AbsDifference&) {}
  std::string name() const override { return "AbsDifferenceerence"; }
  int inputs() const override { return 2; }
  BackwardReads backward_reads() const override { return {.input = true, .output = false}; }
  Shape output_shape_n(std::span<const Shape> in) const override {
    if (!(in[0] == in[1]))
      throw shape_error(detail::concat("AbsDifferenceerence: inputs of shapes ", in[0].str(), " and ", in[1].str(), " differ"));
    return in[0];
  }
  void forward_n(std::span<const TensorView<const T>> xs, TensorView<T> y, const LayerContext&) const override {
    const T *a = xs[0].data(), *b = xs[1].data();
    T* out = y.data();
    for (Index i = 0, n = y.size(); i < n; ++i) out[i] = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
  }
  void backward_n(std::span<const TensorView<const T>> xs, TensorView<const T>, TensorView<const T> dy,
                  std::span<const TensorView<T>> dxs, const LayerContext&) const override {
    const T *a = xs[0].data(), *b = xs[1].data(), *g = dy.data();
    T *da = dxs[0].data(), *db = dxs[1].data();
    for (Index i = 0, n = dy.size(); i < n; ++i) {
      const T s = a[i] > b[i] ? g[i] : (a[i] < b[i] ? -g[i] : T(0));
      if (da) da[i] = s;
      if (db) db[i] = -s;
    }
  }
};

}  // namespace twin

#pragma once
// Identity: y = x. A named tap on a tensor (a graph output that another node also reads,
// an imported model's Identity or Dropout in eval). A view: no copy when the graph lets
// the output share the input's memory.
#include <algorithm>
#include <string>

#include "twin/layer.hpp"

namespace twin {

template <class T>
class IdentityLayer;

struct Identity {
  template <class T>
  using layer = IdentityLayer<T>;
};

template <class T>
class IdentityLayer final : public Layer<T> {
 public:
  explicit IdentityLayer(const Identity&) {}
  std::string name() const override { return "Identity"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  Aliasing aliasing() const override { return Aliasing::view; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    if (y.data() != x.data()) std::copy(x.begin(), x.end(), y.begin());
  }
  void backward(TensorView<const T>, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (dx.data() && dx.data() != dy.data()) std::copy(dy.begin(), dy.end(), dx.begin());
  }
};

}  // namespace twin

#pragma once
// Flatten: (N, d1, d2, ...) -> (N, d1 * d2 * ...). Row-major order is kept, so it matches
// PyTorch's nn.Flatten on NCHW tensors; forward and backward are plain copies, skipped when
// Sequential hands the layer its input's buffer (Aliasing::view).
#include <algorithm>
#include <string>

#include "twin/layer.hpp"

namespace twin {

template <class T>
class FlattenLayer;

struct Flatten {
  template <class T>
  using layer = FlattenLayer<T>;
};

template <class T>
class FlattenLayer final : public Layer<T> {
 public:
  explicit FlattenLayer(const Flatten&) {}
  std::string name() const override { return "Flatten"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  Aliasing aliasing() const override { return Aliasing::view; }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() >= 1, "Flatten", "expected a batch dimension", in);
    return Shape{in[0], in.sample_size()};
  }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    if (y.data() != x.data()) std::copy(x.begin(), x.end(), y.begin());
  }
  void backward(TensorView<const T>, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (dx.data() && dx.data() != dy.data()) std::copy(dy.begin(), dy.end(), dx.begin());
  }
};

}  // namespace twin

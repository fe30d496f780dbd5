#pragma once
// Scale: y = factor * x, a constant factor with no tensors of its own. The residual scale of
// FaceNet's Inception-ResNet blocks (x + 0.17 * branch), and an ONNX Mul or Div by a scalar.
//   forward y = a x;  backward dx = a dy  (element-wise, in place; reads neither x nor y)
#include <string>

#include "twin/layer.hpp"

namespace twin {

template <class T>
class ScaleLayer;

struct Scale {
  double factor = 1.0;
  template <class T>
  using layer = ScaleLayer<T>;
};

template <class T>
class ScaleLayer final : public Layer<T> {
 public:
  explicit ScaleLayer(const Scale& o) : o_(o) {}
  const Scale& options() const { return o_; }
  std::string name() const override { return "Scale"; }
  std::string describe() const override { return detail::concat("Scale(", o_.factor, ")"); }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  Aliasing aliasing() const override { return Aliasing::in_place; }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() >= 1, "Scale", "expected a batch axis", in);
    return in;
  }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    const T a = static_cast<T>(o_.factor);
    for (Index i = 0, n = x.size(); i < n; ++i) y.data()[i] = a * x.data()[i];
  }
  void backward(TensorView<const T>, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (!dx.data()) return;
    const T a = static_cast<T>(o_.factor);
    for (Index i = 0, n = dy.size(); i < n; ++i) dx.data()[i] = a * dy.data()[i];
  }

 private:
  Scale o_;
};

}  // namespace twin

#pragma once
// Softmax over the features of (N, F) inputs, PyTorch's nn.Softmax(dim=1):
//   forward:  y[n, j] = exp(x[n, j] - m) / sum_k exp(x[n, k] - m),   m = max_k x[n, k]
//   backward: dx[n, j] = y[n, j] (dy[n, j] - sum_k dy[n, k] y[n, k])   (reads y only)
// Subtracting the row maximum keeps exp() finite; sums run in double.
#include <algorithm>
#include <cmath>
#include <string>

#include "twin/layer.hpp"

namespace twin {

template <class T>
class SoftmaxLayer;

struct Softmax {
  template <class T>
  using layer = SoftmaxLayer<T>;
};

template <class T>
class SoftmaxLayer final : public Layer<T> {
 public:
  explicit SoftmaxLayer(const Softmax&) {}
  std::string name() const override { return "Softmax"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = true}; }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() == 2 && in[1] > 0, "Softmax", "expected (N, F)", in);
    return in;
  }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    const Index N = x.shape()[0], F = x.shape()[1];
    for (Index n = 0; n < N; ++n) {
      const T* xr = x.data() + n * F;
      T* yr = y.data() + n * F;
      const T m = *std::max_element(xr, xr + F);
      double s = 0;
      for (Index j = 0; j < F; ++j) s += std::exp(double(xr[j] - m));
      for (Index j = 0; j < F; ++j) yr[j] = static_cast<T>(std::exp(double(xr[j] - m)) / s);
    }
  }
  void backward(TensorView<const T>, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (!dx.data()) return;
    const Index N = y.shape()[0], F = y.shape()[1];
    for (Index n = 0; n < N; ++n) {
      const T *yr = y.data() + n * F, *g = dy.data() + n * F;
      double s = 0;
      for (Index j = 0; j < F; ++j) s += double(g[j]) * double(yr[j]);
      for (Index j = 0; j < F; ++j) dx.data()[n * F + j] = static_cast<T>(double(yr[j]) * (double(g[j]) - s));
    }
  }
};

}  // namespace twin

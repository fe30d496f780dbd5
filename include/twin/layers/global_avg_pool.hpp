#pragma once
// GlobalAvgPool: the mean over all positions of each channel,
//   x (N, C, H, W) -> y (N, C),   y[n,c] = mean of x[n,c,:,:]
//   backward: dx[n,c,h,w] = dy[n,c] / (H W)
// PyTorch: nn.AdaptiveAvgPool2d(1) followed by nn.Flatten(). Any (N, C, ...) input of rank
// >= 3 is accepted; the mean runs over everything after C.
#include <string>

#include "twin/layer.hpp"
#include "twin/context.hpp"

namespace twin {

template <class T>
class GlobalAvgPoolLayer;

struct GlobalAvgPool {
  template <class T>
  using layer = GlobalAvgPoolLayer<T>;
};

template <class T>
class GlobalAvgPoolLayer final : public Layer<T> {
 public:
  explicit GlobalAvgPoolLayer(const GlobalAvgPool&) {}
  std::string name() const override { return "GlobalAvgPool"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() >= 3 && in.sample_size() > 0, "GlobalAvgPool", "expected (N, C, H, W) with H W > 0", in);
    return Shape{in[0], in[1]};
  }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const Index planes = y.size(), m = planes ? x.size() / planes : 0;
    ctx.context().parallel_for(0, planes, 64, [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p) {
        T s(0);
        for (Index i = 0; i < m; ++i) s += x.data()[p * m + i];
        y.data()[p] = s / T(m);
      }
    });
  }
  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    if (!dx.data()) return;
    const Index planes = y.size(), m = planes ? x.size() / planes : 0;
    ctx.context().parallel_for(0, planes, 64, [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p) std::fill(dx.data() + p * m, dx.data() + (p + 1) * m, dy.data()[p] / T(m));
    });
  }
};

}  // namespace twin

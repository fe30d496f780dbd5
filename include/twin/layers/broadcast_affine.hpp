#pragma once
// BroadcastAffine: y = scale * x + shift with constant scale and shift broadcast over each
// sample, as NumPy broadcasts. The arithmetic an exporter leaves behind (an ONNX Mul, Add,
// Sub or Div by a constant: input normalisation, a residual scale such as 0.17 in FaceNet's
// Inception-ResNet blocks) as one node.
//   x (N, ...) sample shape S;  scale, shift of shape B, right-aligned against S, each axis
//   1 or equal to S's:  y[n, i] = scale[b(i)] x[n, i] + shift[b(i)]
//   backward: dx = scale[b(i)] dy                      (reads neither x nor y)
// scale and shift are buffers (not trained), set by init() from the options and saved with
// the model like BatchNorm's running statistics.
#include <string>
#include <vector>

#include "twin/layer.hpp"

namespace twin {

template <class T>
class BroadcastAffineLayer;

struct BroadcastAffine {
  Shape shape{1};              // B: {1} a scalar, {C, 1, 1} per channel, ...
  std::vector<double> scale;   // B.numel() values; empty: all 1
  std::vector<double> shift;   // B.numel() values; empty: all 0
  template <class T>
  using layer = BroadcastAffineLayer<T>;
};

template <class T>
class BroadcastAffineLayer final : public Layer<T> {
 public:
  explicit BroadcastAffineLayer(const BroadcastAffine& o) : o_(o) {
    const Index n = o.shape.numel();
    if (o.shape.rank() == 0 || n <= 0 || (!o.scale.empty() && Index(o.scale.size()) != n) ||
        (!o.shift.empty() && Index(o.shift.size()) != n))
      throw shape_error(detail::concat("BroadcastAffine: scale and shift need ", n, " values for shape ", o.shape.str(),
                                       ", got ", o.scale.size(), " and ", o.shift.size()));
  }
  const BroadcastAffine& options() const { return o_; }
  std::string name() const override { return "BroadcastAffine"; }
  std::string describe() const override { return "BroadcastAffine(" + o_.shape.str() + ")"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  Aliasing aliasing() const override { return Aliasing::in_place; }
  Shape output_shape(const Shape& in) const override {
    bool ok = in.rank() >= 2 && o_.shape.rank() <= in.rank() - 1;
    for (int d = 0; ok && d < o_.shape.rank(); ++d) {
      const Index b = o_.shape[o_.shape.rank() - 1 - d], s = in[in.rank() - 1 - d];
      ok = b == 1 || b == s;
    }
    require(ok, "BroadcastAffine", [&] { return "shape " + o_.shape.str() + " does not broadcast over the sample"; }, in);
    return in;
  }
  std::vector<ParamSpec> buffers() const override { return {{"scale", o_.shape}, {"shift", o_.shape}}; }
  void bind(std::span<T>, std::span<T>, std::span<T> b) override {
    const auto n = static_cast<std::size_t>(o_.shape.numel());
    scale_ = b.first(n);
    shift_ = b.subspan(n, n);
  }
  void init(Rng&) override {
    for (std::size_t i = 0; i < scale_.size(); ++i) {
      scale_[i] = o_.scale.empty() ? T(1) : static_cast<T>(o_.scale[i]);
      shift_[i] = o_.shift.empty() ? T(0) : static_cast<T>(o_.shift[i]);
    }
  }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    each(x.shape(), [&](Index i, Index b) { y.data()[i] = scale_[std::size_t(b)] * x.data()[i] + shift_[std::size_t(b)]; });
  }
  void backward(TensorView<const T>, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (!dx.data()) return;
    each(dy.shape(), [&](Index i, Index b) { dx.data()[i] = scale_[std::size_t(b)] * dy.data()[i]; });
  }

 private:
  // Calls f(i, b) for every element i of a tensor of shape `in`, b its index into scale/shift.
  // The sample is walked as (outer, B's axes..., inner) runs, so the index arithmetic is per
  // run, not per element.
  template <class F>
  void each(const Shape& in, F f) const {
    const int r = in.rank(), br = o_.shape.rank();
    // Contiguous trailing block of the sample where b does not change (B is 1 there, or
    // does not reach that axis).
    Index inner = 1;
    for (int a = r - 1; a >= 1; --a) {
      const int ba = br - (r - a);
      if (ba >= 0 && o_.shape[ba] != 1) break;
      inner *= in[a];
    }
    const Index total = in.numel();
    if (total == 0) return;
    const Index runs = total / inner;
    for (Index run = 0; run < runs; ++run) {
      // The b index of this run: decompose the run's first element index.
      Index e = run * inner, b = 0, bstride = 1;
      for (int a = r - 1; a >= 1; --a) {
        const Index coord = e % in[a];
        e /= in[a];
        const int ba = br - (r - a);
        if (ba >= 0) {
          if (o_.shape[ba] != 1) b += coord * bstride;
          bstride *= o_.shape[ba];
        }
      }
      const Index base = run * inner;
      for (Index i = 0; i < inner; ++i) f(base + i, b);
    }
  }

  BroadcastAffine o_;
  std::span<T> scale_, shift_;
};

}  // namespace twin

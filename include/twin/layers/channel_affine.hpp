#pragma once
// ChannelAffine: a learned scale and shift per channel, the form a batch normalisation takes
// once its statistics are folded in (dlib's affine_ layer, face-api's "scale" layer, Caffe's
// Scale layer with a bias).
//   x (N, C, ...) -> y (N, C, ...),   y[n,c,j] = weight[c] x[n,c,j] + bias[c]
//   backward: dx = weight[c] dy,  dweight[c] += sum over n, j of dy x,  dbias[c] += sum of dy
// Initialised to the identity (weight 1, bias 0). Channels are processed in parallel, each
// channel's sums in a fixed order, so results do not depend on the thread count.
#include <algorithm>
#include <span>
#include <string>

#include "twin/context.hpp"
#include "twin/layer.hpp"

namespace twin {

template <class T>
class ChannelAffineLayer;

struct ChannelAffine {
  Index channels = 0;  // C
  template <class T>
  using layer = ChannelAffineLayer<T>;
};

template <class T>
class ChannelAffineLayer final : public Layer<T> {
 public:
  explicit ChannelAffineLayer(const ChannelAffine& o) : c_(o.channels) {
    if (c_ <= 0) throw shape_error(detail::concat("ChannelAffine: need channels > 0, got ", c_));
  }
  std::string name() const override { return "ChannelAffine"; }
  std::string describe() const override { return detail::concat("ChannelAffine(", c_, ")"); }
  BackwardReads backward_reads() const override { return {.input = true, .output = false}; }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() >= 2 && in[1] == c_, "ChannelAffine", [&] { return detail::concat("expected (N, ", c_, ", ...)"); }, in);
    return in;
  }
  std::vector<ParamSpec> params() const override { return {{"weight", Shape{c_}}, {"bias", Shape{c_}}}; }
  void bind(std::span<T> p, std::span<T> g, std::span<T>) override {
    w_ = p.first(std::size_t(c_));
    b_ = p.subspan(std::size_t(c_));
    dw_ = g.first(std::size_t(c_));
    db_ = g.subspan(std::size_t(c_));
  }
  Fusion fusion() const override { return Fusion::channel_affine; }
  void eval_affine(std::span<T> scale, std::span<T> shift) const override {
    std::copy(w_.begin(), w_.end(), scale.begin());
    std::copy(b_.begin(), b_.end(), shift.begin());
  }
  void init(Rng&) override {
    std::fill(w_.begin(), w_.end(), T(1));
    std::fill(b_.begin(), b_.end(), T(0));
  }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const Index n = x.dim(0), s = x.size() / std::max<Index>(1, n * c_);
    ctx.context().parallel_for(0, n * c_, std::max<Index>(1, 4096 / std::max<Index>(1, s)), [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p) {
        const T w = w_[std::size_t(p % c_)], b = b_[std::size_t(p % c_)];
        const T* xp = x.data() + p * s;
        T* yp = y.data() + p * s;
        for (Index j = 0; j < s; ++j) yp[j] = w * xp[j] + b;
      }
    });
  }

  void backward(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    const Index n = x.dim(0), s = x.size() / std::max<Index>(1, n * c_);
    ctx.context().parallel_for(0, c_, 1, [&](Index lo, Index hi) {
      for (Index c = lo; c < hi; ++c) {
        T sum_dy(0), sum_dy_x(0);
        const T w = w_[std::size_t(c)];
        for (Index i = 0; i < n; ++i) {
          const T* xp = x.data() + (i * c_ + c) * s;
          const T* gp = dy.data() + (i * c_ + c) * s;
          for (Index j = 0; j < s; ++j) {
            sum_dy += gp[j];
            sum_dy_x += gp[j] * xp[j];
          }
          if (dx.data()) {
            T* dp = dx.data() + (i * c_ + c) * s;
            for (Index j = 0; j < s; ++j) dp[j] = w * gp[j];
          }
        }
        dw_[std::size_t(c)] += sum_dy_x;
        db_[std::size_t(c)] += sum_dy;
      }
    });
  }

 private:
  Index c_;
  std::span<T> w_, b_, dw_, db_;
};

}  // namespace twin

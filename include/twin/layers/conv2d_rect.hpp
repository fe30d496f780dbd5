#pragma once
// Conv2DRect: a convolution with a rectangular kernel (kh x kw) and padding per axis, as
// nn.Conv2d(in, out, (kh, kw), stride, (pad_h, pad_w)): the factorised 1x7 / 7x1 and 1x3 /
// 3x1 convolutions of Inception-ResNet. Conv2D (square kernels) is the fast path; this one
// is a plain im2col + GEMM.
//   x (N, C, H, W), weight (O, C, kh, kw), bias (O), y (N, O, Ho, Wo)
//   Ho = (H + 2 pad_h - kh) / stride + 1,  Wo = (W + 2 pad_w - kw) / stride + 1
//   forward:  y[n] = W * cols(x[n]) + b          W as (O, C kh kw), cols (C kh kw, Ho Wo)
//   backward: dW += dy[n] cols(x[n])^T,  db += sum of dy[n] over pixels,
//             dx[n] = col2im(W^T dy[n])
// cols of every image are kept in scratch from forward to backward; images run in parallel
// in forward; backward sums the images in order, so results do not depend on the thread count.
#include <algorithm>
#include <string>

#include "twin/init.hpp"
#include "twin/kernels/gemm.hpp"
#include "twin/layer.hpp"

namespace twin {

template <class T>
class Conv2DRectLayer;

struct Conv2DRect {
  Index in = 0, out = 0;
  Index kh = 0, kw = 0;
  Index stride = 1;
  Index pad_h = 0, pad_w = 0;
  bool bias = true;
  Init init = Init::pytorch;
  template <class T>
  using layer = Conv2DRectLayer<T>;
};

template <class T>
class Conv2DRectLayer final : public Layer<T> {
 public:
  explicit Conv2DRectLayer(const Conv2DRect& o) : o_(o) {
    if (o.in <= 0 || o.out <= 0 || o.kh <= 0 || o.kw <= 0 || o.stride <= 0 || o.pad_h < 0 || o.pad_w < 0)
      throw shape_error(detail::concat("Conv2DRect: in, out, kh, kw and stride must be positive and pads >= 0, got in=",
                                       o.in, " out=", o.out, " kernel=", o.kh, "x", o.kw, " stride=", o.stride));
  }
  const Conv2DRect& options() const { return o_; }
  std::string name() const override { return "Conv2DRect"; }
  std::string describe() const override {
    return detail::concat("Conv2DRect(", o_.in, " -> ", o_.out, ", kernel ", o_.kh, "x", o_.kw, ", stride ", o_.stride,
                          ", pad ", o_.pad_h, "x", o_.pad_w, o_.bias ? "" : ", no bias", ")");
  }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }  // cols in scratch
  Shape output_shape(const Shape& in) const override {
    require(in.rank() == 4 && in[1] == o_.in, "Conv2DRect", [&] { return detail::concat("expected (N, ", o_.in, ", H, W)"); }, in);
    require(in[2] + 2 * o_.pad_h >= o_.kh && in[3] + 2 * o_.pad_w >= o_.kw, "Conv2DRect", "padded image smaller than the kernel", in);
    return Shape{in[0], o_.out, oh(in[2]), ow(in[3])};
  }
  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> p{{"weight", Shape{o_.out, o_.in, o_.kh, o_.kw}}};
    if (o_.bias) p.push_back({"bias", Shape{o_.out}});
    return p;
  }
  void bind(std::span<T> p, std::span<T> g, std::span<T>) override {
    const auto nw = static_cast<std::size_t>(o_.out * rows());
    w_ = p.first(nw);
    dw_ = g.first(nw);
    b_ = p.subspan(nw);
    db_ = g.subspan(nw);
  }
  void init(Rng& rng) override {
    const double k2 = double(o_.kh * o_.kw);
    initialise<T>(o_.init, w_, b_, double(o_.in) * k2, double(o_.out) * k2, rng);
  }
  std::size_t scratch_bytes(const Shape& in, Mode) const override {
    const Index px = oh(in[2]) * ow(in[3]);
    return scratch_bytes_for<T>(in[0] * rows() * px) + scratch_bytes_for<T>(rows() * px);
  }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const Index N = x.dim(0), H = x.dim(2), W = x.dim(3), px = oh(H) * ow(W);
    ScratchCarver sc(ctx.scratch);
    T* cols = sc.take<T>(N * rows() * px);
    ctx.context().parallel_for(0, N, 1, [&](Index lo, Index hi, WorkBuffers& buf) {
      for (Index n = lo; n < hi; ++n) {
        T* c = cols + n * rows() * px;
        im2col(x.data() + n * o_.in * H * W, H, W, c);
        T* yo = y.data() + n * o_.out * px;
        if (o_.bias)
          for (Index o = 0; o < o_.out; ++o) std::fill(yo + o * px, yo + (o + 1) * px, b_[std::size_t(o)]);
        kernels::gemm<T>(buf, kernels::Trans::no, kernels::Trans::no, o_.out, px, rows(), T(1), w_.data(), rows(), c, px,
                         o_.bias ? T(1) : T(0), yo, px);
      }
    });
  }
  void backward(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    const Index N = dy.dim(0), H = x.shape()[2], W = x.shape()[3], px = oh(H) * ow(W);
    ScratchCarver sc(ctx.scratch);
    const T* cols = sc.take<T>(N * rows() * px);
    T* dcols = sc.take<T>(rows() * px);
    WorkBuffers& buf = ctx.context().caller_buffers();
    for (Index n = 0; n < N; ++n) {
      const T* g = dy.data() + n * o_.out * px;
      kernels::gemm<T>(buf, kernels::Trans::no, kernels::Trans::yes, o_.out, rows(), px, T(1), g, px, cols + n * rows() * px,
                       px, T(1), dw_.data(), rows());
      if (o_.bias)
        for (Index o = 0; o < o_.out; ++o) {
          T s = 0;
          for (Index i = 0; i < px; ++i) s += g[o * px + i];
          db_[std::size_t(o)] += s;
        }
      if (dx.data()) {
        kernels::gemm<T>(buf, kernels::Trans::yes, kernels::Trans::no, rows(), px, o_.out, T(1), w_.data(), rows(), g, px, T(0),
                         dcols, px);
        T* d = dx.data() + n * o_.in * H * W;
        std::fill(d, d + o_.in * H * W, T(0));
        col2im_add(dcols, H, W, d);
      }
    }
  }

 private:
  Index rows() const { return o_.in * o_.kh * o_.kw; }
  Index oh(Index h) const { return (h + 2 * o_.pad_h - o_.kh) / o_.stride + 1; }
  Index ow(Index w) const { return (w + 2 * o_.pad_w - o_.kw) / o_.stride + 1; }
  // cols[(c, p, q), (i, j)] = x[c, i s - pad_h + p, j s - pad_w + q], 0 in the padding.
  template <class F>
  void each_tap(Index H, Index W, F f) const {
    const Index Ho = oh(H), Wo = ow(W);
    for (Index c = 0; c < o_.in; ++c)
      for (Index p = 0; p < o_.kh; ++p)
        for (Index q = 0; q < o_.kw; ++q) {
          const Index row = (c * o_.kh + p) * o_.kw + q;
          for (Index i = 0; i < Ho; ++i) {
            const Index r = i * o_.stride - o_.pad_h + p;
            for (Index j = 0; j < Wo; ++j) {
              const Index s = j * o_.stride - o_.pad_w + q;
              const bool inside = r >= 0 && r < H && s >= 0 && s < W;
              f(row * Ho * Wo + i * Wo + j, inside ? (c * H + r) * W + s : Index(-1));
            }
          }
        }
  }
  void im2col(const T* x, Index H, Index W, T* cols) const {
    each_tap(H, W, [&](Index k, Index src) { cols[k] = src >= 0 ? x[src] : T(0); });
  }
  void col2im_add(const T* cols, Index H, Index W, T* dx) const {
    each_tap(H, W, [&](Index k, Index src) {
      if (src >= 0) dx[src] += cols[k];
    });
  }

  Conv2DRect o_;
  std::span<T> w_, dw_, b_, db_;
};

}  // namespace twin

#pragma once
// DepthwiseConv2D: one k x k filter per channel, PyTorch's nn.Conv2d(C, C, k, groups=C),
// the first half of a depthwise-separable convolution (MobileNet; face-api's landmark net
// and detectors), whose second half is a 1x1 Conv2D.
//   x (N, C, H, W), weight (C, 1, k, k) as PyTorch lays it out, optional bias (C), y (N, C, Ho, Wo)
//   Ho = floor((H + 2 pad - k) / stride) + 1, likewise Wo
//   forward:  y[n,c,i,j] = b[c] + sum_{p,q} w[c,p,q] x[n,c, i s + p - pad, j s + q - pad]
//   backward: dw[c,p,q] += sum_{n,i,j} dy[n,c,i,j] x[n,c, i s + p - pad, j s + q - pad]
//             db[c] += sum of dy[n,c]
//             dx[n,c,u,v] = sum of w[c,p,q] dy[n,c,i,j] over u = i s + p - pad, v = j s + q - pad
// (x is zero in the padding). The work is a few multiply-adds per output, so plain loops,
// one (n, c) plane per task; the parameter gradients are summed per channel over the batch
// in a fixed order, so the results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <span>
#include <string>

#include "twin/context.hpp"
#include "twin/init.hpp"
#include "twin/layer.hpp"

namespace twin {

template <class T>
class DepthwiseConv2DLayer;

struct DepthwiseConv2D {
  Index channels = 0;  // C (in = out)
  Index kernel = 0;    // k (square)
  Index stride = 1;
  Index pad = 0;       // zero padding on every side (Pad2D before it for asymmetric padding)
  bool bias = true;
  template <class T>
  using layer = DepthwiseConv2DLayer<T>;
};

template <class T>
class DepthwiseConv2DLayer final : public Layer<T> {
 public:
  explicit DepthwiseConv2DLayer(const DepthwiseConv2D& o) : o_(o) {
    if (o.channels <= 0 || o.kernel <= 0 || o.stride <= 0 || o.pad < 0)
      throw shape_error(detail::concat("DepthwiseConv2D: need channels, kernel, stride > 0 and pad >= 0, got channels=",
                                       o.channels, " kernel=", o.kernel, " stride=", o.stride, " pad=", o.pad));
  }
  std::string name() const override { return "DepthwiseConv2D"; }
  std::string describe() const override {
    return detail::concat("DepthwiseConv2D(", o_.channels, ", ", o_.kernel, "x", o_.kernel, ", stride ", o_.stride, ", pad ",
                          o_.pad, o_.bias ? "" : ", no bias", ")");
  }
  BackwardReads backward_reads() const override { return {.input = true, .output = false}; }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() == 4 && in[1] == o_.channels, "DepthwiseConv2D", [&] { return detail::concat("expected (N, ", o_.channels, ", H, W)"); }, in);
    require(in[2] + 2 * o_.pad >= o_.kernel && in[3] + 2 * o_.pad >= o_.kernel, "DepthwiseConv2D",
            [&] { return detail::concat("input smaller than the ", o_.kernel, "x", o_.kernel, " kernel with padding ", o_.pad); }, in);
    return Shape{in[0], in[1], out_size(in[2]), out_size(in[3])};
  }
  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> p{{"weight", Shape{o_.channels, 1, o_.kernel, o_.kernel}}};
    if (o_.bias) p.push_back({"bias", Shape{o_.channels}});
    return p;
  }
  void bind(std::span<T> p, std::span<T> g, std::span<T>) override {
    const auto nw = static_cast<std::size_t>(o_.channels * o_.kernel * o_.kernel);
    w_ = p.first(nw);
    dw_ = g.first(nw);
    if (o_.bias) {
      b_ = p.subspan(nw);
      db_ = g.subspan(nw);
    }
  }
  // PyTorch's default for a grouped convolution: U(-1/sqrt(k k), 1/sqrt(k k)), fan-in k k.
  void init(Rng& rng) override {
    const double bound = 1.0 / std::sqrt(double(o_.kernel * o_.kernel));
    for (T& v : w_) v = T(rng.uniform(-bound, bound));
    for (T& v : b_) v = T(rng.uniform(-bound, bound));
  }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const Index N = x.dim(0), C = o_.channels, H = x.dim(2), W = x.dim(3), Ho = y.dim(2), Wo = y.dim(3);
    const Index k = o_.kernel, s = o_.stride, pad = o_.pad;
    ctx.context().parallel_for(0, N * C, 1, [&](Index lo, Index hi) {
      for (Index plane = lo; plane < hi; ++plane) {
        const Index c = plane % C;
        const T* xp = x.data() + plane * H * W;
        const T* wp = w_.data() + c * k * k;
        T* yp = y.data() + plane * Ho * Wo;
        const T b = o_.bias ? b_[std::size_t(c)] : T(0);
        for (Index i = 0; i < Ho; ++i) {
          // A row at a time: for each tap (p, q), the outputs j whose input column
          // j s + q - pad is inside the image, in one branch-free (vectorisable) loop. Each
          // output still adds its taps in (p, q) order, as the formula above reads.
          T* yr = yp + i * Wo;
          std::fill(yr, yr + Wo, b);
          for (Index p = 0; p < k; ++p) {
            const Index u = i * s + p - pad;
            if (u < 0 || u >= H) continue;
            const T* xr = xp + u * W;
            for (Index q = 0; q < k; ++q) {
              const Index off = q - pad;  // input column j s + off
              if (W - 1 - off < 0) continue;
              const T wv = wp[p * k + q];
              const Index j0 = off >= 0 ? 0 : (s - 1 - off) / s;   // first j with j s + off >= 0
              const Index j1 = std::min(Wo, (W - 1 - off) / s + 1);  // past the last with j s + off < W
              if (s == 1)
                for (Index j = j0; j < j1; ++j) yr[j] += wv * xr[j + off];
              else
                for (Index j = j0; j < j1; ++j) yr[j] += wv * xr[j * s + off];
            }
          }
        }
      }
    });
  }

  void backward(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    const Index N = x.dim(0), C = o_.channels, H = x.dim(2), W = x.dim(3), Ho = dy.dim(2), Wo = dy.dim(3);
    const Index k = o_.kernel, s = o_.stride, pad = o_.pad;
    // Parameter gradients: per channel, over the batch in order.
    ctx.context().parallel_for(0, C, 1, [&](Index lo, Index hi) {
      for (Index c = lo; c < hi; ++c) {
        T* dwp = dw_.data() + c * k * k;
        T db(0);
        for (Index n = 0; n < N; ++n) {
          const T* xp = x.data() + (n * C + c) * H * W;
          const T* gp = dy.data() + (n * C + c) * Ho * Wo;
          for (Index i = 0; i < Ho; ++i)
            for (Index j = 0; j < Wo; ++j) {
              const T g = gp[i * Wo + j];
              db += g;
              for (Index p = 0; p < k; ++p) {
                const Index u = i * s + p - pad;
                if (u < 0 || u >= H) continue;
                for (Index q = 0; q < k; ++q) {
                  const Index v = j * s + q - pad;
                  if (v >= 0 && v < W) dwp[p * k + q] += g * xp[u * W + v];
                }
              }
            }
        }
        if (o_.bias) db_[std::size_t(c)] += db;
      }
    });
    if (!dx.data()) return;
    ctx.context().parallel_for(0, N * C, 1, [&](Index lo, Index hi) {
      for (Index plane = lo; plane < hi; ++plane) {
        const Index c = plane % C;
        const T* wp = w_.data() + c * k * k;
        const T* gp = dy.data() + plane * Ho * Wo;
        T* dp = dx.data() + plane * H * W;
        std::fill(dp, dp + H * W, T(0));
        for (Index i = 0; i < Ho; ++i)
          for (Index j = 0; j < Wo; ++j) {
            const T g = gp[i * Wo + j];
            for (Index p = 0; p < k; ++p) {
              const Index u = i * s + p - pad;
              if (u < 0 || u >= H) continue;
              for (Index q = 0; q < k; ++q) {
                const Index v = j * s + q - pad;
                if (v >= 0 && v < W) dp[u * W + v] += wp[p * k + q] * g;
              }
            }
          }
      }
    });
  }

 private:
  Index out_size(Index n) const { return (n + 2 * o_.pad - o_.kernel) / o_.stride + 1; }
  DepthwiseConv2D o_;
  std::span<T> w_, dw_, b_, db_;
};

}  // namespace twin

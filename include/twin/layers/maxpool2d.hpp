#pragma once
// MaxPool2D, PyTorch's nn.MaxPool2d (ceil_mode = false, dilation = 1).
//   x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = floor((H + 2 pad - k) / stride) + 1
//   forward:  y[n,c,i,j] = max of x[n,c] over window (i, j); padding counts as -inf, so it
//             never wins. The position of the max (first one on ties; a NaN wins, as in
//             PyTorch) is kept in scratch.
//   backward: dx = 0, then dx[n,c,argmax(i,j)] += dy[n,c,i,j]   (overlapping windows add up)
// Each (n, c) plane is one task, so results do not depend on the thread count.
#include <cmath>
#include <cstdint>
#include <string>

#include "twin/layer.hpp"
#include "twin/layers/pool_geometry.hpp"
#include "twin/parallel.hpp"

namespace twin {

template <class T>
class MaxPool2DLayer;

struct MaxPool2D {
  Index kernel = 0;
  Index stride = 0;  // 0: same as kernel (PyTorch's default stride=None)
  Index pad = 0;     // at most kernel / 2
  template <class T>
  using layer = MaxPool2DLayer<T>;
};

template <class T>
class MaxPool2DLayer final : public Layer<T> {
 public:
  explicit MaxPool2DLayer(const MaxPool2D& o) : win_(detail::PoolWindow::make("MaxPool2D", o.kernel, o.stride, o.pad)) {}
  std::string name() const override { return "MaxPool2D"; }
  std::string describe() const override { return win_.describe("MaxPool2D"); }
  Shape output_shape(const Shape& in) const override { return win_.output_shape("MaxPool2D", in); }

  // The argmax of every output, as an offset into its (H, W) plane.
  std::size_t scratch_bytes(const Shape& in, Mode) const override {
    return scratch_bytes_for<std::int32_t>(output_shape(in).numel());
  }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const Index planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = y.dim(2), wo = y.dim(3);
    std::int32_t* arg = ScratchCarver(ctx.scratch).take<std::int32_t>(y.size());  // (N, C, Ho, Wo)
    parallel_for(0, planes, 4, [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p) {
        const T* xp = x.data() + p * h * w;
        for (Index i = 0; i < ho; ++i) {
          Index rb, r0, r1;
          win_.range(i, h, rb, r0, r1);
          for (Index j = 0; j < wo; ++j) {
            Index cb, c0, c1;
            win_.range(j, w, cb, c0, c1);
            Index best_at = r0 * w + c0;
            T best = xp[best_at];
            for (Index r = r0; r < r1; ++r)
              for (Index c = c0; c < c1; ++c) {
                const T v = xp[r * w + c];
                if (v > best || std::isnan(v)) {
                  best = v;
                  best_at = r * w + c;
                }
              }
            const Index o = (p * ho + i) * wo + j;
            y.data()[o] = best;
            arg[o] = static_cast<std::int32_t>(best_at);
          }
        }
      }
    });
  }

  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    if (!dx.data()) return;
    const Index planes = x.dim(0) * x.dim(1), hw = x.dim(2) * x.dim(3), hwo = y.dim(2) * y.dim(3);
    const std::int32_t* arg = ScratchCarver(ctx.scratch).take<std::int32_t>(y.size());
    parallel_for(0, planes, 4, [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p) {
        T* d = dx.data() + p * hw;
        std::fill(d, d + hw, T(0));
        for (Index o = p * hwo; o < (p + 1) * hwo; ++o) d[arg[o]] += dy.data()[o];
      }
    });
  }

 private:
  detail::PoolWindow win_;
};

}  // namespace twin

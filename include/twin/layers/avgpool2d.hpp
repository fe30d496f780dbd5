#pragma once
// AvgPool2D, PyTorch's nn.AvgPool2d (ceil_mode = false, no divisor_override).
//   x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = floor((H + 2 pad - k) / stride) + 1
//   forward:  y[n,c,i,j] = (sum of x[n,c] over the part of window (i, j) inside the image) / d
//             d = k * k when count_include_pad (PyTorch's default: padding counts as zeros),
//             else the number of window positions inside the image.
//   backward: dx = 0, then every x in window (i, j) gets dy[n,c,i,j] / d.
// Each (n, c) plane is one task, so results do not depend on the thread count.
#include <string>

#include "twin/layer.hpp"
#include "twin/layers/pool_geometry.hpp"
#include "twin/context.hpp"

namespace twin {

template <class T>
class AvgPool2DLayer;

struct AvgPool2D {
  Index kernel = 0;
  Index stride = 0;  // 0: same as kernel (PyTorch's default stride=None)
  Index pad = 0;     // at most kernel / 2
  bool count_include_pad = true;
  template <class T>
  using layer = AvgPool2DLayer<T>;
};

template <class T>
class AvgPool2DLayer final : public Layer<T> {
 public:
  explicit AvgPool2DLayer(const AvgPool2D& o)
      : win_(detail::PoolWindow::make("AvgPool2D", o.kernel, o.stride, o.pad)), include_pad_(o.count_include_pad) {}
  std::string name() const override { return "AvgPool2D"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  std::string describe() const override {
    return win_.describe("AvgPool2D") + (include_pad_ ? "" : " excluding padding");
  }
  Shape output_shape(const Shape& in) const override { return win_.output_shape("AvgPool2D", in); }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    if (tiles()) {
      tiled_forward(ctx.context(), x, y);
      return;
    }
    Context& exec = ctx.context();
    each_window(exec, x.shape(), y.shape(), [&](Index p, Index o, Index r0, Index r1, Index c0, Index c1, T inv) {
      const T* xp = x.data() + p * x.dim(2) * x.dim(3);
      T s(0);
      for (Index r = r0; r < r1; ++r)
        for (Index c = c0; c < c1; ++c) s += xp[r * x.dim(3) + c];
      y.data()[o] = s * inv;
    });
  }

  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    if (!dx.data()) return;
    if (tiles()) {
      tiled_backward(ctx.context(), x, dy, dx);
      return;
    }
    const Index hw = x.dim(2) * x.dim(3);
    Context& exec = ctx.context();
    each_window(exec, x.shape(), y.shape(), [&](Index p, Index o, Index r0, Index r1, Index c0, Index c1, T inv) {
      T* d = dx.data() + p * hw;
      if (o == p * y.dim(2) * y.dim(3)) std::fill(d, d + hw, T(0));  // first window of the plane
      const T g = dy.data()[o] * inv;
      for (Index r = r0; r < r1; ++r)
        for (Index c = c0; c < c1; ++c) d[r * x.dim(3) + c] += g;
    });
  }

 private:
  // Windows that tile the image (stride == kernel, no padding: AvgPool2D{.kernel = 2}) need
  // no clipping and cover every input at most once. The fast path below sums in the same
  // order as each_window, so both give the same bits.
  bool tiles() const { return win_.stride == win_.kernel && win_.pad == 0; }
  void tiled_forward(Context& exec, TensorView<const T> x, TensorView<T> y) const {
    const Index planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = y.dim(2), wo = y.dim(3), k = win_.kernel;
    const T inv = T(1) / T(k * k);
    exec.parallel_for(0, planes, 4, [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p)
        for (Index i = 0; i < ho; ++i) {
          const T* xr = x.data() + (p * h + i * k) * w;  // first row of this band of windows
          T* yo = y.data() + (p * ho + i) * wo;
          if (k == 2) {  // the common 2 x 2 window with a fixed trip count, so it vectorises
            const T* xr1 = xr + w;
            for (Index j = 0; j < wo; ++j) yo[j] = (((T(0) + xr[2 * j]) + xr[2 * j + 1]) + xr1[2 * j]) + xr1[2 * j + 1];
            for (Index j = 0; j < wo; ++j) yo[j] *= inv;
            continue;
          }
          for (Index j = 0; j < wo; ++j) {
            T s(0);
            for (Index r = 0; r < k; ++r)
              for (Index c = 0; c < k; ++c) s += xr[r * w + j * k + c];
            yo[j] = s * inv;
          }
        }
    });
  }
  void tiled_backward(Context& exec, TensorView<const T> x, TensorView<const T> dy, TensorView<T> dx) const {
    const Index planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = h / win_.kernel, wo = w / win_.kernel,
                k = win_.kernel;
    const T inv = T(1) / T(k * k);
    exec.parallel_for(0, planes, 4, [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p) {
        T* d = dx.data() + p * h * w;
        const T* g = dy.data() + p * ho * wo;
        for (Index r = 0; r < h; ++r) {
          T* dr = d + r * w;
          const Index i = r / k;
          if (i >= ho) {  // rows past the last window get no gradient
            std::fill(dr, dr + w, T(0));
            continue;
          }
          // 0 + g * inv, as the general path computes it (dx zeroed, then += once).
          if (k == 2) {
            for (Index j = 0; j < wo; ++j) dr[2 * j] = dr[2 * j + 1] = T(0) + g[i * wo + j] * inv;
            std::fill(dr + wo * k, dr + w, T(0));
            continue;
          }
          for (Index j = 0; j < wo; ++j) {
            const T v = T(0) + g[i * wo + j] * inv;
            for (Index c = 0; c < k; ++c) dr[j * k + c] = v;
          }
          std::fill(dr + wo * k, dr + w, T(0));
        }
      }
    });
  }

  // Calls f(plane, output index, r0, r1, c0, c1, 1 / divisor) for every window, in order
  // within a plane; planes run in parallel.
  template <class F>
  void each_window(Context& exec, const Shape& in, const Shape& out, F&& f) const {
    const Index planes = in[0] * in[1], h = in[2], w = in[3], ho = out[2], wo = out[3];
    const T inv_full = T(1) / T(win_.kernel * win_.kernel);
    exec.parallel_for(0, planes, 4, [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p)
        for (Index i = 0; i < ho; ++i) {
          Index rb, r0, r1;
          win_.range(i, h, rb, r0, r1);
          for (Index j = 0; j < wo; ++j) {
            Index cb, c0, c1;
            win_.range(j, w, cb, c0, c1);
            // With padding counted, every window has the same divisor: no division per output.
            const T inv = include_pad_ ? inv_full : T(1) / T((r1 - r0) * (c1 - c0));
            f(p, (p * ho + i) * wo + j, r0, r1, c0, c1, inv);
          }
        }
    });
  }

  detail::PoolWindow win_;
  bool include_pad_;
};

}  // namespace twin

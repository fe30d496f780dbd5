#pragma once
// LocalResponseNorm, PyTorch's nn.LocalResponseNorm: normalisation across nearby channels.
//   x (N, C, ...) -> y of the same shape; for every sample and position, over channels c:
//   s[c]  = k + (alpha / size) * sum_{c' in W(c)} x[c']^2,   W(c) = [c - size/2, c + (size-1)/2]
//           (channels outside [0, C) count as zero; alpha is divided by size, as PyTorch's
//            avg_pool does)
//   y[c]  = x[c] * s[c]^-beta
//   backward: dx[j] = dy[j] s[j]^-beta
//                     - (2 alpha beta / size) x[j] sum_{i : j in W(i)} dy[i] y[i] / s[i]
// s is kept in scratch. Each sample is one task, so results do not depend on the thread count.
#include <cmath>
#include <string>

#include "twin/layer.hpp"
#include "twin/context.hpp"

namespace twin {

template <class T>
class LocalResponseNormLayer;

struct LocalResponseNorm {
  Index size = 5;  // channels in the window
  double alpha = 1e-4;
  double beta = 0.75;
  double k = 1.0;
  template <class T>
  using layer = LocalResponseNormLayer<T>;
};

template <class T>
class LocalResponseNormLayer final : public Layer<T> {
 public:
  explicit LocalResponseNormLayer(const LocalResponseNorm& o) : o_(o) {
    if (o.size <= 0) throw error(detail::concat("LocalResponseNorm: size must be positive, got ", o.size));
  }
  std::string name() const override { return "LocalResponseNorm"; }
  std::string describe() const override {
    return detail::concat("LocalResponseNorm(size ", o_.size, ", alpha ", o_.alpha, ", beta ", o_.beta, ", k ", o_.k, ")");
  }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() >= 3, "LocalResponseNorm", "expected (N, C, ...) of rank 3 or more, as PyTorch", in);
    return in;
  }
  std::size_t scratch_bytes(const Shape& in, Mode) const override { return scratch_bytes_for<T>(in.numel()); }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const Index n = x.dim(0), c = x.dim(1), s = n * c != 0 ? x.size() / (n * c) : 0;
    T* scale = ScratchCarver(ctx.scratch).take<T>(x.size());  // (N, C, positions)
    const T a = T(o_.alpha / double(o_.size)), k = T(o_.k), mb = T(-o_.beta);
    ctx.context().parallel_for(0, n, 1, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) {
        const T* xi = x.data() + i * c * s;
        T* si = scale + i * c * s;
        for (Index ch = 0; ch < c; ++ch) {
          T* row = si + ch * s;
          std::fill(row, row + s, T(0));
          for (Index w = std::max<Index>(0, ch - o_.size / 2); w <= std::min(c - 1, ch + (o_.size - 1) / 2); ++w)
            for (Index j = 0; j < s; ++j) row[j] += xi[w * s + j] * xi[w * s + j];
          for (Index j = 0; j < s; ++j) {
            row[j] = k + a * row[j];
            y.data()[(i * c + ch) * s + j] = xi[ch * s + j] * std::pow(row[j], mb);
          }
        }
      }
    });
  }

  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    if (!dx.data()) return;
    const Index n = x.dim(0), c = x.dim(1), s = n * c != 0 ? x.size() / (n * c) : 0;
    const T* scale = ScratchCarver(ctx.scratch).take<T>(x.size());
    const T f = T(2 * o_.alpha * o_.beta / double(o_.size)), mb = T(-o_.beta);
    ctx.context().parallel_for(0, n, 1, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) {
        const Index base = i * c * s;
        for (Index ch = 0; ch < c; ++ch) {
          T* out = dx.data() + base + ch * s;
          for (Index j = 0; j < s; ++j) {
            const Index at = base + ch * s + j;
            out[j] = dy.data()[at] * std::pow(scale[at], mb);
          }
          // Channels whose window contains ch: [ch - (size-1)/2, ch + size/2].
          for (Index w = std::max<Index>(0, ch - (o_.size - 1) / 2); w <= std::min(c - 1, ch + o_.size / 2); ++w)
            for (Index j = 0; j < s; ++j) {
              const Index at = base + w * s + j;
              out[j] -= f * x.data()[base + ch * s + j] * dy.data()[at] * y.data()[at] / scale[at];
            }
        }
      }
    });
  }

 private:
  LocalResponseNorm o_;
};

}  // namespace twin

#pragma once
// L2Normalize, PyTorch's F.normalize(x, p=2, dim=1) on (N, D) and, for higher rank, over
// all non-batch dimensions of each sample (as F.normalize of x.flatten(1)).
//   forward:  y = x / max(||x||, eps)                          per sample
//   backward: ||x|| >= eps:  dx = (dy - y (y . dy)) / ||x||    (y is x / ||x||)
//             ||x|| <  eps:  dx = dy / eps                     (the clamp is constant)
// The branch follows PyTorch's clamp_min, whose gradient passes where ||x|| >= eps. A zero
// vector therefore maps to zero with gradient dy / eps instead of NaN.
// The norm of each sample is kept in scratch; sums run in double.
#include <cmath>
#include <string>

#include "twin/layer.hpp"
#include "twin/context.hpp"

namespace twin {

template <class T>
class L2NormalizeLayer;

struct L2Normalize {
  double eps = 1e-12;
  template <class T>
  using layer = L2NormalizeLayer<T>;
};

template <class T>
class L2NormalizeLayer final : public Layer<T> {
 public:
  explicit L2NormalizeLayer(const L2Normalize& o) : eps_(o.eps) {
    if (!(o.eps >= 0)) throw error(detail::concat("L2Normalize: eps must be >= 0, got ", o.eps));
  }
  std::string name() const override { return "L2Normalize"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = true}; }
  std::string describe() const override { return detail::concat("L2Normalize(eps=", eps_, ")"); }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() >= 2, "L2Normalize", "expected (N, D) or (N, ...)", in);
    return in;
  }
  std::size_t scratch_bytes(const Shape& in, Mode) const override { return scratch_bytes_for<double>(in[0]); }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const Index n = x.dim(0), d = n ? x.size() / n : 0;
    double* norms = ScratchCarver(ctx.scratch).take<double>(n);  // (N)
    ctx.context().parallel_for(0, n, 16, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) {
        const T* xp = x.data() + i * d;
        double sq = 0;
        for (Index j = 0; j < d; ++j) sq += double(xp[j]) * double(xp[j]);
        norms[i] = std::sqrt(sq);
        const T inv = T(1.0 / std::max(norms[i], eps_));
        for (Index j = 0; j < d; ++j) y.data()[i * d + j] = xp[j] * inv;
      }
    });
  }

  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    if (!dx.data()) return;
    const Index n = x.dim(0), d = n ? x.size() / n : 0;
    const double* norms = ScratchCarver(ctx.scratch).take<double>(n);
    ctx.context().parallel_for(0, n, 16, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) {
        const T *yp = y.data() + i * d, *g = dy.data() + i * d;
        T* out = dx.data() + i * d;
        if (norms[i] >= eps_) {
          double dot = 0;
          for (Index j = 0; j < d; ++j) dot += double(yp[j]) * double(g[j]);
          const double inv = 1.0 / norms[i];
          for (Index j = 0; j < d; ++j) out[j] = T((double(g[j]) - double(yp[j]) * dot) * inv);
        } else {
          const T inv = T(1.0 / eps_);
          for (Index j = 0; j < d; ++j) out[j] = g[j] * inv;
        }
      }
    });
  }

 private:
  double eps_;
};

}  // namespace twin

#pragma once
// Dropout, PyTorch's nn.Dropout (inverted dropout).
//   train:  mask[i] = 0 with probability p, else 1 / (1 - p);  y = x * mask
//           backward: dx = dy * mask
//   eval:   y = x, dx = dy
// The mask is drawn from ctx.rng (the workspace's seeded stream, one fork per layer), in
// element order on one thread, so it depends on the seed only, never on the thread count;
// it is kept in scratch for backward. p = 1 gives all zeros, as in PyTorch.
#include <string>

#include "twin/layer.hpp"
#include "twin/context.hpp"

namespace twin {

template <class T>
class DropoutLayer;

struct Dropout {
  double p = 0.5;  // probability of zeroing an element
  template <class T>
  using layer = DropoutLayer<T>;
};

template <class T>
class DropoutLayer final : public Layer<T> {
 public:
  explicit DropoutLayer(const Dropout& o) : p_(o.p) {
    if (!(o.p >= 0 && o.p <= 1)) throw error(detail::concat("Dropout: p must be in [0, 1], got ", o.p));
  }
  std::string name() const override { return "Dropout"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }  // the mask is in scratch
  Aliasing aliasing() const override { return Aliasing::in_place; }
  std::string describe() const override { return detail::concat("Dropout(p=", p_, ")"); }
  Shape output_shape(const Shape& in) const override { return in; }

  std::size_t scratch_bytes(const Shape& in, Mode mode) const override {
    return mode == Mode::train ? scratch_bytes_for<T>(in.numel()) : 0;  // the mask, x's shape
  }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    if (ctx.mode == Mode::eval) {
      if (y.data() != x.data()) std::copy(x.begin(), x.end(), y.begin());
      return;
    }
    if (!ctx.rng) throw error("Dropout: training mode needs a random stream (LayerContext::rng)");
    T* mask = ScratchCarver(ctx.scratch).take<T>(x.size());
    const T keep = p_ < 1 ? T(1.0 / (1.0 - p_)) : T(0);
    Rng& rng = *ctx.rng;
    for (Index i = 0; i < x.size(); ++i) mask[i] = rng.uniform() < p_ ? T(0) : keep;
    ctx.context().parallel_for(0, x.size(), 1 << 15, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) y.data()[i] = x.data()[i] * mask[i];
    });
  }

  void backward(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    if (!dx.data()) return;
    if (ctx.mode == Mode::eval) {
      if (dx.data() != dy.data()) std::copy(dy.begin(), dy.end(), dx.begin());
      return;
    }
    const T* mask = ScratchCarver(ctx.scratch).take<T>(x.size());
    ctx.context().parallel_for(0, x.size(), 1 << 15, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) dx.data()[i] = dy.data()[i] * mask[i];
    });
  }

 private:
  double p_;
};

}  // namespace twin

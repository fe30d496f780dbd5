#pragma once
// Dense (fully connected), PyTorch's nn.Linear.
//   forward:  y = x W^T + b            x (N, in), W (out, in), b (out), y (N, out)
//   backward: dW += dy^T x,  db += sum_n dy,  dx = dy W
// An input of higher rank is read as (N, product of the other dimensions); put a Flatten
// in front to make that explicit.
#include <string>

#include "twin/init.hpp"
#include "twin/kernels/gemm.hpp"
#include "twin/layer.hpp"
#include "twin/context.hpp"

namespace twin {

template <class T>
class DenseLayer;

struct Dense {
  Index in = 0;
  Index out = 0;
  bool bias = true;
  Init init = Init::pytorch;
  template <class T>
  using layer = DenseLayer<T>;
};

template <class T>
class DenseLayer final : public Layer<T> {
 public:
  explicit DenseLayer(const Dense& o) : o_(o) {
    if (o.in <= 0 || o.out <= 0)
      throw shape_error(detail::concat("Dense: in and out must be positive, got in=", o.in, " out=", o.out));
  }
  const Dense& options() const { return o_; }
  std::string name() const override { return "Dense"; }
  BackwardReads backward_reads() const override { return {.input = true, .output = false}; }
  std::string describe() const override {
    return detail::concat("Dense(", o_.in, " -> ", o_.out, o_.bias ? "" : ", no bias", ")");
  }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() >= 2 && in.sample_size() == o_.in, "Dense",
            [&] { return detail::concat("expected (N, ", o_.in, ")"); }, in);
    return Shape{in[0], o_.out};
  }
  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> p{{"weight", Shape{o_.out, o_.in}}};
    if (o_.bias) p.push_back({"bias", Shape{o_.out}});
    return p;
  }
  void bind(std::span<T> p, std::span<T> g, std::span<T>) override {
    const auto nw = static_cast<std::size_t>(o_.out * o_.in);
    w_ = p.first(nw);
    dw_ = g.first(nw);
    b_ = p.subspan(nw);
    db_ = g.subspan(nw);
  }
  void init(Rng& rng) override { initialise<T>(o_.init, w_, b_, double(o_.in), double(o_.out), rng); }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const Index n = x.dim(0);
    ctx.context().parallel_for(0, n, 16, [&](Index lo, Index hi, WorkBuffers& buf) {
      T* yo = y.data() + lo * o_.out;
      if (o_.bias)
        for (Index i = lo; i < hi; ++i) std::copy(b_.begin(), b_.end(), y.data() + i * o_.out);
      kernels::gemm<T>(buf, kernels::Trans::no, kernels::Trans::yes, hi - lo, o_.out, o_.in, T(1),
                       x.data() + lo * o_.in, o_.in, w_.data(), o_.in, o_.bias ? T(1) : T(0), yo, o_.out);
    });
  }

  void backward(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    const Index n = x.dim(0);
    // dW += dy^T x  (out, in); db += column sums of dy. One product over the whole batch,
    // split over threads by columns of dW (bit-identical for any thread count).
    kernels::gemm_parallel<T>(ctx.context(), kernels::Trans::yes, kernels::Trans::no, o_.out, o_.in, n, T(1), dy.data(),
                              o_.out, x.data(), o_.in, T(1), dw_.data(), o_.in);
    if (o_.bias)
      for (Index i = 0; i < n; ++i)
        for (Index j = 0; j < o_.out; ++j) db_[static_cast<std::size_t>(j)] += dy.data()[i * o_.out + j];
    if (dx.data())
      ctx.context().parallel_for(0, n, 16, [&](Index lo, Index hi, WorkBuffers& buf) {
        kernels::gemm<T>(buf, kernels::Trans::no, kernels::Trans::no, hi - lo, o_.in, o_.out, T(1),
                         dy.data() + lo * o_.out, o_.out, w_.data(), o_.in, T(0), dx.data() + lo * o_.in, o_.in);
      });
  }

 private:
  Dense o_;
  std::span<T> w_, dw_, b_, db_;
};

}  // namespace twin

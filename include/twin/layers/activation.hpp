#pragma once
// Element-wise activations. Each is one struct of options plus two scalar functions:
//   f(x)            the forward value
//   df(x, y)        dy/dx, from the input x and/or the output y (whichever is cheaper)
// ElementwiseLayer turns such a pair into a layer: y = f(x), dx = dy * df(x, y).
//
//   ReLU       y = max(x, 0)                      dy/dx = [x > 0]
//   LeakyReLU  y = x > 0 ? x : slope x            dy/dx = x > 0 ? 1 : slope   (PyTorch slope 0.01)
//   Tanh       y = tanh(x)                        dy/dx = 1 - y^2
//   Sigmoid    y = 1 / (1 + e^-x)                 dy/dx = y (1 - y)
#include <Eigen/Core>

#include <cmath>
#include <string>
#include <type_traits>

#include "twin/layer.hpp"
#include "twin/parallel.hpp"

namespace twin {

template <class T, class Op>
class ElementwiseLayer final : public Layer<T> {
 public:
  explicit ElementwiseLayer(const Op& op) : op_(op) {}
  std::string name() const override { return Op::name; }
  std::string describe() const override { return op_.describe(); }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    const T* xp = x.data();
    T* yp = y.data();
    parallel_for(0, x.size(), 1 << 15, [&](Index lo, Index hi) {
      // An Op may provide a whole-range (vectorised) version of f.
      if constexpr (requires { op_.apply(xp, yp, Index(0)); }) op_.apply(xp + lo, yp + lo, hi - lo);
      else
        for (Index i = lo; i < hi; ++i) yp[i] = op_.f(xp[i]);
    });
  }
  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (!dx.data()) return;
    const T *xp = x.data(), *yp = y.data(), *g = dy.data();
    T* out = dx.data();
    parallel_for(0, x.size(), 1 << 15, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) out[i] = g[i] * op_.df(xp[i], yp[i]);
    });
  }

 private:
  Op op_;
};

struct ReLU {
  static constexpr const char* name = "ReLU";
  std::string describe() const { return name; }
  template <class T>
  T f(T x) const { return x > T(0) ? x : T(0); }
  template <class T>
  T df(T x, T) const { return x > T(0) ? T(1) : T(0); }
  template <class T>
  using layer = ElementwiseLayer<T, ReLU>;
};

struct LeakyReLU {
  double slope = 0.01;
  static constexpr const char* name = "LeakyReLU";
  std::string describe() const { return detail::concat(name, "(", slope, ")"); }
  template <class T>
  T f(T x) const { return x > T(0) ? x : static_cast<T>(slope) * x; }
  template <class T>
  T df(T x, T) const { return x > T(0) ? T(1) : static_cast<T>(slope); }
  template <class T>
  using layer = ElementwiseLayer<T, LeakyReLU>;
};

struct Tanh {
  static constexpr const char* name = "Tanh";
  std::string describe() const { return name; }
  template <class T>
  T f(T x) const { return std::tanh(x); }
  // For float, Eigen's vectorised tanh: a rational approximation within 3e-7 of the exact
  // value (NaN and +-inf handled), several times faster than libm's tanhf, which dominated
  // small Tanh networks. Double keeps std::tanh.
  template <class T>
  void apply(const T* x, T* y, Index n) const {
    if constexpr (std::is_same_v<T, float>)
      Eigen::Map<Eigen::ArrayXf>(y, n) = Eigen::Map<const Eigen::ArrayXf>(x, n).tanh();
    else
      for (Index i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
  }
  template <class T>
  T df(T, T y) const { return T(1) - y * y; }
  template <class T>
  using layer = ElementwiseLayer<T, Tanh>;
};

struct Sigmoid {
  static constexpr const char* name = "Sigmoid";
  std::string describe() const { return name; }
  // Written so that neither branch overflows: for x < 0, e^x / (1 + e^x).
  template <class T>
  T f(T x) const {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }
  template <class T>
  T df(T, T y) const { return y * (T(1) - y); }
  template <class T>
  using layer = ElementwiseLayer<T, Sigmoid>;
};

}  // namespace twin

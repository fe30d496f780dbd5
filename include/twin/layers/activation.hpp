#pragma once
// Element-wise activations. Each is one struct of options plus scalar functions:
//   f(x)            the forward value
// and either
//   slope_below()   for piecewise-linear ones: dy/dx = x > 0 ? 1 : slope_below(), so
//                   backward needs one bit per element (x > 0), kept in scratch
// or
//   df(y)           dy/dx from the output y
// ElementwiseLayer turns such an op into a layer: y = f(x), dx = dy * dy/dx. It works in
// place (Aliasing::in_place): Sequential writes y over x and dx over dy, and backward reads
// neither x nor (for the piecewise-linear ones) y, so a ReLU after a convolution costs a
// bit per element to train through instead of a second activation-sized buffer.
//
//   ReLU       y = max(x, 0)                      dy/dx = [x > 0]
//   LeakyReLU  y = x > 0 ? x : slope x            dy/dx = x > 0 ? 1 : slope   (PyTorch slope 0.01)
//   Tanh       y = tanh(x)                        dy/dx = 1 - y^2
//   Sigmoid    y = 1 / (1 + e^-x)                 dy/dx = y (1 - y)
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "twin/layer.hpp"
#include "twin/context.hpp"

#if defined(__AVX2__) && !defined(TWIN_NO_SIMD)
#include <immintrin.h>
#define TWIN_ACTIVATION_AVX2 1
#else
#define TWIN_ACTIVATION_AVX2 0
#endif

namespace twin {

struct ReLU;

template <class T, class Op>
class ElementwiseLayer final : public Layer<T> {
  // Piecewise linear around 0: the gradient needs only the sign mask of x.
  static constexpr bool sign_mask = requires(const Op& op) { op.template slope_below<T>(); };

 public:
  explicit ElementwiseLayer(const Op& op) : op_(op) {}
  std::string name() const override { return Op::name; }
  std::string describe() const override { return op_.describe(); }
  Shape output_shape(const Shape& in) const override { return in; }
  Aliasing aliasing() const override { return Aliasing::in_place; }
  BackwardReads backward_reads() const override { return {.input = false, .output = !sign_mask}; }
  Fusion fusion() const override { return std::is_same_v<Op, ReLU> ? Fusion::relu : Fusion::none; }
  // The sign mask: bit i % 8 of byte i / 8 is x[i] > 0.
  std::size_t scratch_bytes(const Shape& in, Mode) const override {
    return sign_mask ? scratch_bytes_for<std::uint8_t>((in.numel() + 7) / 8) : 0;
  }

  // y may be x (in place).
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const T* xp = x.data();
    T* yp = y.data();
    const Index n = x.size();
    if constexpr (sign_mask) {
      std::uint8_t* mask = ScratchCarver(ctx.scratch).take<std::uint8_t>((n + 7) / 8);
      // Whole mask bytes per task, so no two threads write one byte.
      ctx.context().parallel_for(0, (n + 7) / 8, 1 << 12, [&](Index lo, Index hi) {
        Index b = lo;
#if TWIN_ACTIVATION_AVX2
        if constexpr (std::is_same_v<T, float>) b = mask_forward_avx2(xp, yp, mask, lo, std::min(hi, n / 8));
#endif
        for (; b < hi; ++b) {
          const Index i0 = b * 8, i1 = std::min(n, i0 + 8);
          unsigned bits = 0;
          for (Index i = i0; i < i1; ++i) {
            const T v = xp[i];
            bits |= unsigned(v > T(0)) << (i - i0);
            yp[i] = op_.f(v);
          }
          mask[b] = static_cast<std::uint8_t>(bits);
        }
      });
    } else {
      ctx.context().parallel_for(0, n, 1 << 15, [&](Index lo, Index hi) {
        // An Op may provide a whole-range (vectorised) version of f.
        if constexpr (requires { op_.apply(xp, yp, Index(0)); }) op_.apply(xp + lo, yp + lo, hi - lo);
        else
          for (Index i = lo; i < hi; ++i) yp[i] = op_.f(xp[i]);
      });
    }
  }
  // dx may be dy (in place); x is not read, y only when the op's derivative needs it.
  void backward(TensorView<const T>, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    if (!dx.data()) return;
    const T* g = dy.data();
    T* out = dx.data();
    const Index n = dy.size();
    if constexpr (sign_mask) {
      const std::uint8_t* mask = ScratchCarver(ctx.scratch).take<std::uint8_t>((n + 7) / 8);
      const T below = op_.template slope_below<T>();
      ctx.context().parallel_for(0, (n + 7) / 8, 1 << 12, [&](Index lo, Index hi) {
        Index b = lo;
#if TWIN_ACTIVATION_AVX2
        if constexpr (std::is_same_v<T, float>) b = mask_backward_avx2(g, mask, below, out, lo, std::min(hi, n / 8));
#endif
        for (; b < hi; ++b) {
          const Index i0 = b * 8, i1 = std::min(n, i0 + 8);
          for (Index i = i0; i < i1; ++i) out[i] = (mask[b] >> (i - i0)) & 1u ? g[i] : g[i] * below;
        }
      });
    } else {
      const T* yp = y.data();
      ctx.context().parallel_for(0, n, 1 << 15, [&](Index lo, Index hi) {
        for (Index i = lo; i < hi; ++i) out[i] = g[i] * op_.df(yp[i]);
      });
    }
  }

 private:
#if TWIN_ACTIVATION_AVX2
  // Whole mask bytes [lo, hi), 8 floats each, as the scalar loops compute them (same bits):
  // the mask byte is movemask(x > 0); y = x where x > 0, else 0 (ReLU; also for NaN) or
  // slope x. Returns where the scalar tail starts.
  Index mask_forward_avx2(const float* x, float* y, std::uint8_t* mask, Index lo, Index hi) const {
    const __m256 zero = _mm256_setzero_ps();
    const float below = op_.template slope_below<float>();
    const __m256 vbelow = _mm256_set1_ps(below);
    for (Index b = lo; b < hi; ++b) {
      const __m256 v = _mm256_loadu_ps(x + b * 8);
      const __m256 pos = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
      mask[b] = static_cast<std::uint8_t>(_mm256_movemask_ps(pos));
      const __m256 r = below == 0.0f ? _mm256_and_ps(v, pos) : _mm256_blendv_ps(_mm256_mul_ps(v, vbelow), v, pos);
      _mm256_storeu_ps(y + b * 8, r);
    }
    return std::max(lo, hi);
  }
  // dx = bit ? dy : dy * below, one mask byte spread over 8 lanes (lane t tests bit t).
  static Index mask_backward_avx2(const float* g, const std::uint8_t* mask, float below, float* out, Index lo, Index hi) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256 vbelow = _mm256_set1_ps(below);
    for (Index b = lo; b < hi; ++b) {
      const __m256i m = _mm256_and_si256(_mm256_set1_epi32(mask[b]), bit);
      const __m256 on = _mm256_castsi256_ps(_mm256_cmpeq_epi32(m, bit));
      const __m256 v = _mm256_loadu_ps(g + b * 8);
      _mm256_storeu_ps(out + b * 8, _mm256_blendv_ps(_mm256_mul_ps(v, vbelow), v, on));
    }
    return std::max(lo, hi);
  }
#endif
  Op op_;
};

struct ReLU {
  static constexpr const char* name = "ReLU";
  std::string describe() const { return name; }
  template <class T>
  T f(T x) const { return x > T(0) ? x : T(0); }
  template <class T>
  T slope_below() const { return T(0); }
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
  T slope_below() const { return static_cast<T>(slope); }
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
  T df(T y) const { return T(1) - y * y; }
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
  T df(T y) const { return y * (T(1) - y); }
  template <class T>
  using layer = ElementwiseLayer<T, Sigmoid>;
};

}  // namespace twin

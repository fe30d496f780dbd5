#pragma once
// Conv2D, PyTorch's nn.Conv2d (cross-correlation, square kernel, groups = 1, dilation = 1).
//   x (N, C, H, W), weight (O, C, k, k) as PyTorch lays it out, bias (O), y (N, O, Ho, Wo)
//   Ho = floor((H + 2 pad - k) / stride) + 1, likewise Wo
//   forward:  y[n] = W * cols(x[n]) + b                      W viewed as (O, C k k)
//   backward: dW += dy[n] * cols(x[n])^T,  db += sum of dy[n] over (Ho, Wo),
//             dx[n] = col2im(W^T * dy[n])
// where cols(x[n]) (C k k, Ho Wo) is the im2col matrix: column (i, j) holds the receptive
// field of output (i, j), zero where it reaches into the padding. The naive direct loop in
// kernels/conv_reference.hpp is the oracle the tests compare this against.
//
// Threads and determinism: the batch is cut into at most `max_chunks` chunks whose
// boundaries depend only on N. Each chunk has its own im2col buffer and, in backward, its
// own partial weight/bias gradient; the partials are added in chunk order. So the results
// are bit-identical for any thread count. All buffers live in the layer's scratch.
// A 1x1 kernel with stride 1 and no padding needs no im2col: x[n] viewed as (C, H W) is
// already the column matrix.
#include <algorithm>
#include <string>

#include "twin/init.hpp"
#include "twin/kernels/conv_reference.hpp"
#include "twin/kernels/gemm.hpp"
#include "twin/layer.hpp"
#include "twin/parallel.hpp"

namespace twin {

template <class T>
class Conv2DLayer;

struct Conv2D {
  Index in = 0;      // input channels C
  Index out = 0;     // output channels O
  Index kernel = 0;  // k (square)
  Index stride = 1;
  Index pad = 0;     // zero padding on every side
  bool bias = true;
  Init init = Init::pytorch;  // PyTorch: U(-1/sqrt(C k k), +1/sqrt(C k k)) for weight and bias
  template <class T>
  using layer = Conv2DLayer<T>;
};

namespace detail {
// Smallest j >= 0 with j * s >= a (a may be negative).
inline Index ceil_div_nonneg(Index a, Index s) { return a <= 0 ? 0 : (a + s - 1) / s; }

// cols (C k k, Ho Wo) <- receptive fields of x (C, H, W).
template <class T>
void im2col(const kernels::ConvGeometry& g, const T* x, T* cols) {
  const Index ho = g.out_h(), wo = g.out_w();
  for (Index c = 0; c < g.c; ++c)
    for (Index p = 0; p < g.k; ++p)
      for (Index q = 0; q < g.k; ++q) {
        T* row = cols + ((c * g.k + p) * g.k + q) * ho * wo;
        // Outputs j whose input column j*stride - pad + q lies inside [0, W).
        const Index j_lo = std::min(wo, ceil_div_nonneg(g.pad - q, g.stride));
        const Index j_hi = std::max(j_lo, std::min(wo, ceil_div_nonneg(g.w + g.pad - q, g.stride)));
        for (Index i = 0; i < ho; ++i) {
          T* out = row + i * wo;
          const Index r = i * g.stride - g.pad + p;
          if (r < 0 || r >= g.h) {
            std::fill(out, out + wo, T(0));
            continue;
          }
          const T* in = x + (c * g.h + r) * g.w - g.pad + q;
          std::fill(out, out + j_lo, T(0));
          if (g.stride == 1) std::copy(in + j_lo, in + j_hi, out + j_lo);
          else if (g.stride == 2)  // a constant stride the compiler vectorises (even lanes)
            for (Index j = j_lo; j < j_hi; ++j) out[j] = in[2 * j];
          else
            for (Index j = j_lo; j < j_hi; ++j) out[j] = in[j * g.stride];
          std::fill(out + j_hi, out + wo, T(0));
        }
      }
}

// cols (C k k, j1 - j0), row stride ld <- the receptive fields of output pixels [j0, j1)
// (pixels numbered i * Wo + j) of x (C, H, W): the columns j0..j1 of im2col's matrix.
template <class T>
void im2col_range(const kernels::ConvGeometry& g, const T* x, Index j0, Index j1, T* cols, Index ld) {
  const Index wo = g.out_w();
  for (Index c = 0; c < g.c; ++c)
    for (Index p = 0; p < g.k; ++p)
      for (Index q = 0; q < g.k; ++q) {
        const Index row = ((c * g.k + p) * g.k + q) * ld;
        const Index col_lo = std::min(wo, ceil_div_nonneg(g.pad - q, g.stride));
        const Index col_hi = std::max(col_lo, std::min(wo, ceil_div_nonneg(g.w + g.pad - q, g.stride)));
        for (Index j = j0; j < j1;) {  // one output row (a run of pixels [a, b) of row i) at a time
          const Index i = j / wo, a = j - i * wo, b = std::min(wo, a + (j1 - j));
          T* out = cols + row + (j - j0);  // out[jj - a] is pixel (i, jj)
          const Index r = i * g.stride - g.pad + p;
          if (r < 0 || r >= g.h) {
            std::fill(out, out + (b - a), T(0));
          } else {
            const T* in = x + (c * g.h + r) * g.w;  // input column of pixel jj: jj * stride - pad + q
            const Index lo = std::clamp(col_lo, a, b), hi = std::clamp(col_hi, lo, b);
            std::fill(out, out + (lo - a), T(0));
            if (hi > lo) {
              T* o = out + (lo - a);
              const T* src = in + (lo * g.stride - g.pad + q);
              if (g.stride == 1) std::copy(src, src + (hi - lo), o);
              else if (g.stride == 2)
                for (Index t = 0; t < hi - lo; ++t) o[t] = src[2 * t];
              else
                for (Index t = 0; t < hi - lo; ++t) o[t] = src[t * g.stride];
            }
            std::fill(out + (hi - a), out + (b - a), T(0));
          }
          j += b - a;
        }
      }
}

// Sum of v[0:n] in 8 interleaved partial sums (a fixed order, so the same bits on every run),
// which the compiler turns into one vector add per 8 values; a single running sum is one
// dependent add per value.
template <class T>
T sum_8_lanes(const T* v, Index n) {
  T lane[8] = {};
  Index i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lane[l] += v[i + l];
  T s = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
  for (; i < n; ++i) s += v[i];
  return s;
}

// dx (C, H, W) <- sum of the columns of cols (C k k, Ho Wo) at their receptive fields
// (the adjoint of im2col). dx is assigned.
template <class T>
void col2im(const kernels::ConvGeometry& g, const T* cols, T* dx) {
  const Index ho = g.out_h(), wo = g.out_w();
  std::fill(dx, dx + g.c * g.h * g.w, T(0));
  for (Index c = 0; c < g.c; ++c)
    for (Index p = 0; p < g.k; ++p)
      for (Index q = 0; q < g.k; ++q) {
        const T* row = cols + ((c * g.k + p) * g.k + q) * ho * wo;
        const Index j_lo = std::min(wo, ceil_div_nonneg(g.pad - q, g.stride));
        const Index j_hi = std::max(j_lo, std::min(wo, ceil_div_nonneg(g.w + g.pad - q, g.stride)));
        for (Index i = 0; i < ho; ++i) {
          const Index r = i * g.stride - g.pad + p;
          if (r < 0 || r >= g.h) continue;
          const T* in = row + i * wo;
          T* out = dx + (c * g.h + r) * g.w - g.pad + q;
          if (g.stride == 1)  // contiguous: a loop the compiler vectorises
            for (Index j = j_lo; j < j_hi; ++j) out[j] += in[j];
          else
            for (Index j = j_lo; j < j_hi; ++j) out[j * g.stride] += in[j];
        }
      }
}
}  // namespace detail

template <class T>
class Conv2DLayer final : public Layer<T> {
 public:
  // Upper bound on the number of batch chunks (and so on im2col buffers and gradient
  // partials in scratch). Fixed, so that results do not depend on the thread count.
  static constexpr Index max_chunks = 8;
  // Output pixels per im2col block in forward (a multiple of the GEMM kernel's 16 columns).
  static constexpr Index pixel_block = 256;

  explicit Conv2DLayer(const Conv2D& o) : o_(o) {
    if (o.in <= 0 || o.out <= 0 || o.kernel <= 0 || o.stride <= 0 || o.pad < 0)
      throw shape_error(detail::concat("Conv2D: in, out, kernel and stride must be positive and pad >= 0, got in=", o.in,
                                       " out=", o.out, " kernel=", o.kernel, " stride=", o.stride, " pad=", o.pad));
  }
  const Conv2D& options() const { return o_; }
  std::string name() const override { return "Conv2D"; }
  std::string describe() const override {
    return detail::concat("Conv2D(", o_.in, " -> ", o_.out, ", kernel ", o_.kernel, ", stride ", o_.stride, ", pad ",
                          o_.pad, o_.bias ? "" : ", no bias", ")");
  }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() == 4 && in[1] == o_.in, "Conv2D", detail::concat("expected (N, ", o_.in, ", H, W)"), in);
    require(in[2] + 2 * o_.pad >= o_.kernel && in[3] + 2 * o_.pad >= o_.kernel, "Conv2D",
            detail::concat("padded image smaller than the kernel ", o_.kernel, " (pad ", o_.pad, ")"), in);
    const auto g = geometry(in);
    return Shape{in[0], o_.out, g.out_h(), g.out_w()};
  }
  std::vector<ParamSpec> params() const override {
    std::vector<ParamSpec> p{{"weight", Shape{o_.out, o_.in, o_.kernel, o_.kernel}}};
    if (o_.bias) p.push_back({"bias", Shape{o_.out}});
    return p;
  }
  void bind(std::span<T> p, std::span<T> g, std::span<T>) override {
    const auto nw = static_cast<std::size_t>(o_.out * row_len());
    w_ = p.first(nw);
    dw_ = g.first(nw);
    b_ = p.subspan(nw);
    db_ = g.subspan(nw);
  }
  void init(Rng& rng) override {
    const double k2 = double(o_.kernel * o_.kernel);
    initialise<T>(o_.init, w_, b_, double(o_.in) * k2, double(o_.out) * k2, rng);
  }

  std::size_t scratch_bytes(const Shape& in, Mode) const override {
    const auto g = geometry(in);
    const Index chunks = num_chunks(g.n);
    std::size_t bytes = 0;
    if (!pointwise()) bytes += scratch_bytes_for<T>(chunks * cols_size(g));
    bytes += scratch_bytes_for<T>(chunks * partial_size());
    return bytes;
  }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const auto g = geometry(x.shape());
    if (g.n == 0) return;
    ScratchCarver carve(ctx.scratch);
    const Index chunks = num_chunks(g.n), cs = chunk_size(g.n);
    T* cols_all = pointwise() ? nullptr : carve.take<T>(chunks * cols_size(g));
    const Index hw_out = g.out_h() * g.out_w(), x_size = g.c * g.h * g.w;
    parallel_for(0, chunks, 1, [&](Index c_lo, Index c_hi) {
      for (Index c = c_lo; c < c_hi; ++c) {
        T* cols = cols_all ? cols_all + c * cols_size(g) : nullptr;
        for (Index n = c * cs; n < std::min(g.n, (c + 1) * cs); ++n) {
          const T* xn = x.data() + n * x_size;
          T* yn = y.data() + n * o_.out * hw_out;  // (O, Ho Wo)
          if (o_.bias)
            for (Index o = 0; o < o_.out; ++o) std::fill(yn + o * hw_out, yn + (o + 1) * hw_out, b_[std::size_t(o)]);
          if (!cols) {
            kernels::gemm<T>(kernels::Trans::no, kernels::Trans::no, o_.out, hw_out, row_len(), T(1), w_.data(),
                             row_len(), xn, hw_out, o_.bias ? T(1) : T(0), yn, hw_out);
            continue;
          }
          // im2col and multiply one block of output pixels at a time: the block's columns
          // (C k k, pixel_block) stay in L2 between being written and being packed, instead
          // of the whole matrix going out to memory and back.
          for (Index j0 = 0; j0 < hw_out; j0 += pixel_block) {
            const Index nb = std::min(pixel_block, hw_out - j0);
            detail::im2col_range(g, xn, j0, j0 + nb, cols, nb);
            kernels::gemm<T>(kernels::Trans::no, kernels::Trans::no, o_.out, nb, row_len(), T(1), w_.data(), row_len(),
                             cols, nb, o_.bias ? T(1) : T(0), yn + j0, hw_out);
          }
        }
      }
    });
  }

  void backward(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    const auto g = geometry(x.shape());
    if (g.n == 0) return;
    ScratchCarver carve(ctx.scratch);
    const Index chunks = num_chunks(g.n), cs = chunk_size(g.n);
    T* cols_all = pointwise() ? nullptr : carve.take<T>(chunks * cols_size(g));
    T* partial_all = carve.take<T>(chunks * partial_size());  // chunks x (dW (O, C k k), db (O))
    const Index hw_out = g.out_h() * g.out_w(), x_size = g.c * g.h * g.w, k = row_len();
    fixed_chunks(g.n, cs, [&](Index c, Index lo, Index hi) {
      T* cols = cols_all ? cols_all + c * cols_size(g) : nullptr;
      T* pw = partial_all + c * partial_size();
      T* pb = pw + o_.out * k;
      for (Index n = lo; n < hi; ++n) {
        const T* xn = x.data() + n * x_size;
        const T* dyn = dy.data() + n * o_.out * hw_out;  // (O, Ho Wo)
        const T first = n == lo ? T(0) : T(1);         // the first sample overwrites the partial
        if (cols) detail::im2col(g, xn, cols);
        kernels::gemm<T>(kernels::Trans::no, kernels::Trans::yes, o_.out, k, hw_out, T(1), dyn, hw_out, cols ? cols : xn,
                         hw_out, first, pw, k);
        if (o_.bias)
          for (Index o = 0; o < o_.out; ++o) {
            const T s = detail::sum_8_lanes(dyn + o * hw_out, hw_out);
            pb[o] = n == lo ? s : pb[o] + s;
          }
        if (!dx.data()) continue;
        T* dxn = dx.data() + n * x_size;
        if (cols) {  // the im2col buffer is free again: reuse it for W^T dy[n] (C k k, Ho Wo)
          kernels::gemm<T>(kernels::Trans::yes, kernels::Trans::no, k, hw_out, o_.out, T(1), w_.data(), k, dyn, hw_out,
                           T(0), cols, hw_out);
          detail::col2im(g, cols, dxn);
        } else {
          kernels::gemm<T>(kernels::Trans::yes, kernels::Trans::no, k, hw_out, o_.out, T(1), w_.data(), k, dyn, hw_out,
                           T(0), dxn, hw_out);
        }
      }
    });
    // Reduce the partials in chunk order; each gradient element is owned by one task.
    const Index np = o_.out * k + (o_.bias ? o_.out : 0);
    parallel_for(0, np, 4096, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) {
        T s = partial_all[i];
        for (Index c = 1; c < chunks; ++c) s += partial_all[c * partial_size() + i];
        if (i < o_.out * k) dw_[std::size_t(i)] += s;
        else db_[std::size_t(i - o_.out * k)] += s;
      }
    });
  }

  // The batch chunking, shared by scratch_bytes, forward and backward.
  static Index num_chunks(Index n) { return n == 0 ? 0 : (n + chunk_size(n) - 1) / chunk_size(n); }
  static Index chunk_size(Index n) {
    const Index c = std::clamp<Index>(n, 1, max_chunks);
    return std::max<Index>(1, (n + c - 1) / c);
  }

 private:
  kernels::ConvGeometry geometry(const Shape& in) const {
    return {in[0], in[1], in[2], in[3], o_.out, o_.kernel, o_.stride, o_.pad};
  }
  bool pointwise() const { return o_.kernel == 1 && o_.stride == 1 && o_.pad == 0; }
  Index row_len() const { return o_.in * o_.kernel * o_.kernel; }  // C k k
  Index cols_size(const kernels::ConvGeometry& g) const { return row_len() * g.out_h() * g.out_w(); }
  Index partial_size() const { return o_.out * row_len() + (o_.bias ? o_.out : 0); }

  Conv2D o_;
  std::span<T> w_, dw_, b_, db_;
};

}  // namespace twin

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
// Threads, memory and determinism: forward runs images in parallel, each computed whole by
// one thread (kernels/conv_gemm.hpp: an implicit GEMM with the AVX2 kernel). Backward cuts
// the batch into at most `max_chunks` chunks whose boundaries depend only on N; each chunk
// sums its own partial weight/bias gradient and the partials are added in chunk order, so
// the results are bit-identical for any thread count. Backward works on blocks of
// kernels::conv_pixel_block output pixels, rebuilding their im2col columns from x, so nothing
// is kept from forward to backward and the layer needs no workspace scratch. The work
// buffers are the running worker's and the partials the caller's, in the execution context
// (LayerContext::exec, WorkBuffers), grown to the largest layer and reused: about
// threads x C k k x 256 + max_chunks x (O C k k + O) scalars for a whole network, and no
// gradient partials for inference.
// A 1x1 kernel with stride 1 and no padding needs no im2col: x[n] viewed as (C, H W) is
// already the column matrix.
#include <algorithm>
#include <string>

#include "twin/init.hpp"
#include "twin/kernels/conv_gemm.hpp"
#include "twin/kernels/conv_reference.hpp"
#include "twin/kernels/gemm.hpp"
#include "twin/kernels/im2col.hpp"
#include "twin/layer.hpp"
#include "twin/context.hpp"

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

}  // namespace detail

template <class T>
class Conv2DLayer final : public Layer<T> {
 public:
  // Upper bound on the number of batch chunks in backward (and so on weight-gradient
  // partials). Fixed, so that results do not depend on the thread count.
  static constexpr Index max_chunks = 8;

  explicit Conv2DLayer(const Conv2D& o) : o_(o) {
    if (o.in <= 0 || o.out <= 0 || o.kernel <= 0 || o.stride <= 0 || o.pad < 0)
      throw shape_error(detail::concat("Conv2D: in, out, kernel and stride must be positive and pad >= 0, got in=", o.in,
                                       " out=", o.out, " kernel=", o.kernel, " stride=", o.stride, " pad=", o.pad));
  }
  const Conv2D& options() const { return o_; }
  std::string name() const override { return "Conv2D"; }
  BackwardReads backward_reads() const override { return {.input = true, .output = false}; }
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

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const auto g = geometry(x.shape());
    if (g.n == 0) return;
    Context& exec = ctx.context();
    // Packed once per call, in the caller's buffers, read by all workers.
    const T* wp = kernels::pack_conv_weights(exec.caller_buffers(), g, w_.data());
    const T* bias = o_.bias ? b_.data() : nullptr;
    const Index x_size = g.c * g.h * g.w, y_size = o_.out * g.out_h() * g.out_w();
    exec.parallel_for(0, g.n, 1, [&](Index lo, Index hi, WorkBuffers& buf) {
      for (Index n = lo; n < hi; ++n)
        kernels::conv_forward_image(buf, g, x.data() + n * x_size, wp, bias, y.data() + n * y_size);
    });
  }

  void backward(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    const auto g = geometry(x.shape());
    if (g.n == 0) return;
    Context& exec = ctx.context();
    const Index chunks = num_chunks(g.n), cs = chunk_size(g.n);
    // chunks x (dW (O, C k k), db (O)), in the caller's buffers: the tasks below (which may
    // run on the caller's worker too) use only other slots of their workers' buffers.
    T* partial_all = exec.caller_buffers().get<T>(WorkBuffers::conv_partials, chunks * partial_size());
    const Index hw_out = g.out_h() * g.out_w(), x_size = g.c * g.h * g.w, k = row_len();
    exec.fixed_chunks(g.n, cs, [&](Index c, Index lo, Index hi, WorkBuffers& buf) {
      // One block of output pixels at a time: its im2col columns (C k k, nb) stay in L2
      // through both GEMMs and col2im instead of a (C k k, Ho Wo) matrix going to memory.
      const Index block = std::min(hw_out, kernels::conv_pixel_block);
      T* cols = pointwise() ? nullptr : buf.get<T>(WorkBuffers::conv_cols, k * block);
      T* pw = partial_all + c * partial_size();
      T* pb = pw + o_.out * k;
      for (Index n = lo; n < hi; ++n) {
        const T* xn = x.data() + n * x_size;
        const T* dyn = dy.data() + n * o_.out * hw_out;  // (O, Ho Wo)
        T* dxn = dx.data() ? dx.data() + n * x_size : nullptr;
        if (dxn && cols) std::fill(dxn, dxn + x_size, T(0));
        for (Index j0 = 0; j0 < hw_out; j0 += block) {
          const Index nb = std::min(block, hw_out - j0);
          const T beta = n == lo && j0 == 0 ? T(0) : T(1);  // the chunk's first block overwrites the partial
          // B = this block's columns (C k k, nb), row stride ldb: x[n] itself when pointwise.
          const T* b = cols ? cols : xn + j0;
          const Index ldb = cols ? nb : hw_out;
          if (cols) kernels::im2col_range(g, xn, j0, j0 + nb, cols, nb);
          kernels::gemm<T>(buf, kernels::Trans::no, kernels::Trans::yes, o_.out, k, nb, T(1), dyn + j0, hw_out, b, ldb,
                           beta, pw, k);
          if (!dxn) continue;
          if (cols) {  // the block's buffer is free again: W^T dy (C k k, nb), then added onto dx
            kernels::gemm<T>(buf, kernels::Trans::yes, kernels::Trans::no, k, nb, o_.out, T(1), w_.data(), k, dyn + j0,
                             hw_out, T(0), cols, nb);
            kernels::col2im_range_add(g, cols, nb, j0, j0 + nb, dxn);
          } else {
            kernels::gemm<T>(buf, kernels::Trans::yes, kernels::Trans::no, k, nb, o_.out, T(1), w_.data(), k, dyn + j0,
                             hw_out, T(0), dxn + j0, hw_out);
          }
        }
        if (o_.bias)
          for (Index o = 0; o < o_.out; ++o) {
            const T s = detail::sum_8_lanes(dyn + o * hw_out, hw_out);
            pb[o] = n == lo ? s : pb[o] + s;
          }
      }
    });
    // Reduce the partials in chunk order; each gradient element is owned by one task.
    const Index np = o_.out * k + (o_.bias ? o_.out : 0);
    exec.parallel_for(0, np, 4096, [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) {
        T s = partial_all[i];
        for (Index c = 1; c < chunks; ++c) s += partial_all[c * partial_size() + i];
        if (i < o_.out * k) dw_[std::size_t(i)] += s;
        else db_[std::size_t(i - o_.out * k)] += s;
      }
    });
  }

  // The batch chunking of backward.
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
  Index partial_size() const { return o_.out * row_len() + (o_.bias ? o_.out : 0); }

  Conv2D o_;
  std::span<T> w_, dw_, b_, db_;
};

}  // namespace twin

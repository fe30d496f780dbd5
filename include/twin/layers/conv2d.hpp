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
// one thread (kernels/conv_gemm.hpp: an implicit GEMM with the AVX2 kernel, the direct
// kernel with AVX-512, which also takes small images a group per call and, at batch 1,
// splits the output channels between threads; every output the same bits). Backward cuts
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
// Small outputs (Ho Wo <= kernels::conv_batch_pixels in forward, e.g. a ResNet's 3x3 and
// 1x1 levels, conv_batch_pixels_backward in backward) go through forward_grouped /
// backward_grouped instead: a group of images shares one GEMM,
// whose columns are the group's pixels, so the weights are streamed once per group rather
// than once per image; backward then adds into the gradients group by group, in order.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

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
    require(in.rank() == 4 && in[1] == o_.in, "Conv2D", [&] { return detail::concat("expected (N, ", o_.in, ", H, W)"); }, in);
    require(in[2] + 2 * o_.pad >= o_.kernel && in[3] + 2 * o_.pad >= o_.kernel, "Conv2D",
            [&] { return detail::concat("padded image smaller than the kernel ", o_.kernel, " (pad ", o_.pad, ")"); }, in);
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
    if (grouped(g)) {
      const T* w = direct_grouped(g) ? kernels::pack_conv_weights(exec.caller_buffers(), g, w_.data()) : w_.data();
      forward_grouped(g, x.data(), y.data(), exec, w, o_.bias ? b_.data() : nullptr, {});
      return;
    }
    // Packed once per call, in the caller's buffers, read by all workers.
    const T* wp = kernels::pack_conv_weights(exec.caller_buffers(), g, w_.data());
    forward_images(g, x.data(), y.data(), exec, wp, o_.bias ? b_.data() : nullptr, {});
  }

  // Inference fusion (layer.hpp, INFERENCE FUSION): a per-channel affine y = s z + t after
  // this convolution folds into it as W'[o] = s[o] W[o], b'[o] = s[o] b[o] + t[o] (b = 0
  // without bias). The folded state is [b' (O, rounded up to 16)] [W': packed as
  // pack_conv_weights packs it when the forward packs, else (O, C k k)], so the eval forward
  // neither packs per call nor makes separate passes for the affine, the ReLU and the sum.
  bool folds() const override { return true; }
  Index folded_size(const Shape& in) const override {
    const auto g = geometry(in);
    const Index packed = grouped(g) && !direct_grouped(g) ? 0 : kernels::packed_conv_weights_size<T>(g);
    return round16(o_.out) + round16(packed > 0 ? packed : o_.out * row_len());
  }
  void fold(const Shape& in, std::span<const T> scale, std::span<const T> shift, std::span<T> out) const override {
    const auto g = geometry(in);
    const Index k = row_len(), o = o_.out;
    const bool affine = !scale.empty();
    T* b = out.data();
    T* w = b + round16(o);
    const Index packed = grouped(g) && !direct_grouped(g) ? 0 : kernels::packed_conv_weights_size<T>(g);
    std::vector<T> scaled(packed > 0 ? std::size_t(o * k) : 0);  // made when planning, not per call
    T* wf = packed > 0 ? scaled.data() : w;
    for (Index r = 0; r < o; ++r) {
      const T s = affine ? scale[std::size_t(r)] : T(1), bias = o_.bias ? b_[std::size_t(r)] : T(0);
      b[r] = affine ? s * bias + shift[std::size_t(r)] : bias;
      for (Index i = 0; i < k; ++i) wf[r * k + i] = affine ? s * w_[std::size_t(r * k + i)] : w_[std::size_t(r * k + i)];
    }
    if (packed > 0) kernels::pack_conv_weights_into(g, wf, w);
  }
  void forward_folded(TensorView<const T> x, TensorView<T> y, std::span<const T> folded, const Epilogue<T>& e,
                      const LayerContext& ctx) const override {
    const auto g = geometry(x.shape());
    if (g.n == 0) return;
    Context& exec = ctx.context();
    const T* b = folded.data();
    const T* w = b + round16(o_.out);
    if (grouped(g)) {
      forward_grouped(g, x.data(), y.data(), exec, w, b, e);
      return;
    }
    forward_images(g, x.data(), y.data(), exec, w, b, e);
  }

  void backward(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    const auto g = geometry(x.shape());
    if (g.n == 0) return;
    Context& exec = ctx.context();
    if (g.out_h() * g.out_w() <= kernels::conv_batch_pixels_backward) {
      backward_grouped(g, x.data(), dy.data(), dx.data(), exec);
      return;
    }
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
  static bool grouped(const kernels::ConvGeometry& g) { return g.out_h() * g.out_w() <= kernels::conv_batch_pixels; }
  // The grouped forward through the direct kernel (AVX-512 float; weights packed for it).
  static bool direct_grouped(const kernels::ConvGeometry& g) {
    return std::is_same_v<T, float> && grouped(g) && kernels::conv_direct_panels(g) > 0;
  }
  // Backward groups up to kernels::conv_batch_pixels_backward output pixels.

  // The forward of all but the small outputs: each thread a range of images, convolved
  // kernels::conv_forward_group(g) images per call (the direct kernel then reads the weights
  // once per group). With fewer images than threads (batch 1) and the direct kernel, the
  // threads split the output channels instead. Every output is computed the same way in
  // all cases, so the bits do not depend on the thread count or the batch.
  void forward_images(const kernels::ConvGeometry& g, const T* x, T* y, Context& exec, const T* w, const T* bias,
                      const Epilogue<T>& e) const {
    const Index x_size = g.c * g.h * g.w, y_size = o_.out * g.out_h() * g.out_w();
    const Index panels = kernels::conv_direct_panels(g);
    if constexpr (std::is_same_v<T, float>) {
      if (g.n < exec.threads() && panels > 1) {
        exec.parallel_for(0, g.n * panels, 1, [&](Index lo, Index hi, WorkBuffers& buf) {
          for (Index i = lo; i < hi;) {  // images i / panels, panels [i % panels, ...)
            const Index n = i / panels, p0 = i % panels, p1 = std::min(panels, p0 + hi - i);
            kernels::conv_forward_images(buf, g, 1, x + n * x_size, w, bias, y + n * y_size,
                                         e.residual ? e.residual + n * y_size : nullptr, e.relu, p0, p1);
            i += p1 - p0;
          }
        });
        return;
      }
    }
    const Index group = kernels::conv_forward_group(g);
    exec.parallel_for(0, g.n, 1, [&](Index lo, Index hi, WorkBuffers& buf) {
      for (Index n = lo; n < hi; n += group)
        kernels::conv_forward_images(buf, g, std::min(group, hi - n), x + n * x_size, w, bias, y + n * y_size,
                                     e.residual ? e.residual + n * y_size : nullptr, e.relu);
    });
  }

  // Small outputs (kernels::conv_batch_pixels), a group of m images at a time:
  //   cols (C k k, m Ho Wo) = the columns of cols(x[n0]) ... cols(x[n0 + m - 1]),  Y (O, m Ho Wo) = W cols + b
  // and Y's columns copied out to y[n]. Y starts as the bias and the GEMM adds its K blocks
  // onto it, which rounds exactly as the per-image kernel's first-block bias does, so the
  // result is bit-identical to the per-image path (and to any grouping). The direct kernel
  // takes the columns pixel-major (column j m + i): a tile of 16 columns then spans few
  // pixels and skips the taps that are padding for all of them (exact zeros); the GEMM
  // takes them image by image (column i Ho Wo + j).
  // w (O, C k k), or packed for the direct kernel when direct_grouped(g); bias (O) or null:
  // the layer's own or the folded ones; e: the epilogue.
  void forward_grouped(const kernels::ConvGeometry& g, const T* x, T* y, Context& exec, const T* w, const T* bias,
                       const Epilogue<T>& e) const {
    const Index hw = g.out_h() * g.out_w(), k = row_len(), o = o_.out, x_size = g.c * g.h * g.w, y_size = o * hw;
    const Index group = kernels::conv_group_images(g), most = std::min(group, g.n) * hw;
    WorkBuffers& own = exec.caller_buffers();
    T* cols = own.get<T>(WorkBuffers::conv_cols, k * most + 16);  // the direct kernel reads up to 15 past the end
    T* out = own.get<T>(WorkBuffers::conv_panel, o * most);
    const Index panels = direct_grouped(g) ? kernels::conv_direct_panels(g) : 0;
    const bool epilogue = e.residual || e.relu;
    for (Index n0 = 0; n0 < g.n; n0 += group) {
      const Index m = std::min(group, g.n - n0), nc = m * hw;
      T* c = m == 1 ? y + n0 * y_size : out;  // one image: Y is y[n0] itself
      if (panels > 0) {  // the threads split the output channels
        exec.parallel_for(0, m, 1, [&](Index lo, Index hi) {
          kernels::im2col_gather(g, x + (n0 + lo) * x_size, x_size, hi - lo, m, 0, hw, cols + lo, nc);
        });
        exec.parallel_for(0, panels, 1, [&](Index lo, Index hi, WorkBuffers& buf) {
          kernels::conv_forward_columns(buf, g, m, cols, w, bias, c, nc, lo, hi);
        });
      } else {
        exec.parallel_for(0, m, 1, [&](Index lo, Index hi) {
          for (Index i = lo; i < hi; ++i) kernels::im2col_range(g, x + (n0 + i) * x_size, 0, hw, cols + i * hw, nc);
        });
        if (bias)
          for (Index r = 0; r < o; ++r) std::fill(c + r * nc, c + (r + 1) * nc, bias[r]);
        kernels::gemm_parallel<T>(exec, kernels::Trans::no, kernels::Trans::no, o, nc, k, T(1), w, k, cols, nc,
                                  bias ? T(1) : T(0), c, nc);
      }
      const Index js = panels > 0 ? m : 1, is = panels > 0 ? 1 : hw;  // Y's column (j, i) is j js + i is
      exec.parallel_for(0, m, 1, [&](Index lo, Index hi) {
        for (Index i = lo; i < hi; ++i) {
          T* yn = y + (n0 + i) * y_size;
          if (m > 1)
            for (Index r = 0; r < o; ++r)
              for (Index j = 0; j < hw; ++j) yn[r * hw + j] = out[r * nc + j * js + i * is];
          if (epilogue) kernels::conv_epilogue(yn, e.residual ? e.residual + (n0 + i) * y_size : nullptr, e.relu, o, hw, hw);
        }
      });
    }
  }

  // Backward of the same groups, straight into the gradients (no per-chunk partials):
  //   DY (O, m Ho Wo) gathered from dy[n],  dW += DY cols^T,  db += row sums of DY,
  //   dx[n] = col2im of its column block of W^T DY.
  // Groups are added in order and gemm_parallel's blocks do not depend on the thread count,
  // so the result is the same for any number of threads.
  void backward_grouped(const kernels::ConvGeometry& g, const T* x, const T* dy, T* dx, Context& exec) const {
    const Index hw = g.out_h() * g.out_w(), k = row_len(), o = o_.out, x_size = g.c * g.h * g.w, y_size = o * hw;
    const Index group = kernels::conv_group_images(g), most = std::min(group, g.n) * hw;
    WorkBuffers& own = exec.caller_buffers();
    T* cols = own.get<T>(WorkBuffers::conv_cols, k * most);
    T* dyg = own.get<T>(WorkBuffers::conv_panel, o * most);
    for (Index n0 = 0; n0 < g.n; n0 += group) {
      const Index m = std::min(group, g.n - n0), nc = m * hw;
      exec.parallel_for(0, m, 1, [&](Index lo, Index hi) {
        for (Index i = lo; i < hi; ++i) {
          kernels::im2col_range(g, x + (n0 + i) * x_size, 0, hw, cols + i * hw, nc);
          const T* d = dy + (n0 + i) * y_size;
          for (Index r = 0; r < o; ++r) std::copy(d + r * hw, d + (r + 1) * hw, dyg + r * nc + i * hw);
        }
      });
      kernels::gemm_parallel<T>(exec, kernels::Trans::no, kernels::Trans::yes, o, k, nc, T(1), dyg, nc, cols, nc, T(1),
                                dw_.data(), k);
      if (o_.bias)
        for (Index r = 0; r < o; ++r) db_[std::size_t(r)] += detail::sum_8_lanes(dyg + r * nc, nc);
      if (!dx) continue;
      // cols is free again: W^T DY (C k k, m Ho Wo), then each image's block onto its dx.
      kernels::gemm_parallel<T>(exec, kernels::Trans::yes, kernels::Trans::no, k, nc, o, T(1), w_.data(), k, dyg, nc,
                                T(0), cols, nc);
      exec.parallel_for(0, m, 1, [&](Index lo, Index hi) {
        for (Index i = lo; i < hi; ++i) {
          T* dxn = dx + (n0 + i) * x_size;
          std::fill(dxn, dxn + x_size, T(0));
          kernels::col2im_range_add(g, cols + i * hw, nc, 0, hw, dxn);
        }
      });
    }
  }
  Index row_len() const { return o_.in * o_.kernel * o_.kernel; }  // C k k
  static Index round16(Index n) { return (n + 15) / 16 * 16; }  // keeps each folded part 64-byte aligned
  Index partial_size() const { return o_.out * row_len() + (o_.bias ? o_.out : 0); }

  Conv2D o_;
  std::span<T> w_, dw_, b_, db_;
};

}  // namespace twin

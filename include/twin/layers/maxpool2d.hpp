#pragma once
// MaxPool2D, PyTorch's nn.MaxPool2d (ceil_mode = false, dilation = 1).
//   x (N, C, H, W) -> y (N, C, Ho, Wo), Ho = floor((H + 2 pad + pad_end - k) / stride) + 1
//   pad_end (not in PyTorch; default 0) pads after the last row and column only, for
//   TensorFlow's 'same' pooling: MaxPool2D{.kernel = 2, .stride = s, .pad_end = 1} is
//   tf.maxPool(x, 2, s, 'same'), Ho = ceil(H / s).
//   forward:  y[n,c,i,j] = max of x[n,c] over window (i, j); padding counts as -inf, so it
//             never wins. The position of the max (first one on ties; a NaN wins, as in
//             PyTorch) is kept in scratch as its index in the k x k window: one byte per
//             output when k <= 16 (a quarter of an int32 offset), else an int32.
//   backward: dx = 0, then dx[n,c,argmax(i,j)] += dy[n,c,i,j]   (overlapping windows add up)
// Each (n, c) plane is one task, so results do not depend on the thread count.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#if defined(__AVX2__) && !defined(TWIN_NO_SIMD)
#include <immintrin.h>
#endif

#include "twin/layer.hpp"
#include "twin/layers/pool_geometry.hpp"
#include "twin/context.hpp"
#include "twin/kernels/avx512.hpp"

namespace twin {

template <class T>
class MaxPool2DLayer;

#if defined(__AVX2__) && !defined(TWIN_NO_SIMD)
namespace detail {
// Eight neighbouring interior windows of one output row at once, one per lane: window l
// covers rows [r0, r1) and columns col0 + l stride + [0, k). Scans each window in the same
// row-major order with the same test as the scalar loop (greater, or NaN), so the maxima
// and argmax positions are identical to it.
// ao[l] is the window index (r - rb) k + c of lane l's maximum, rb the window's unclipped
// first row.
inline void max_windows_8(const float* xp, Index w, Index rb, Index r0, Index r1, Index col0, Index stride, Index k,
                          float* yo, std::int32_t* ao) {
  const __m256i lane_off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(stride)));
  const __m256i even_lo = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0), odd_hi = _mm256_setr_epi32(0, 0, 0, 0, 1, 3, 5, 7);
  __m256 best = _mm256_setzero_ps();
  __m256i best_at = _mm256_setzero_si256();
  bool first = true;
  for (Index r = r0; r < r1; ++r)
    for (Index c = 0; c < k; ++c) {
      const Index base = r * w + col0 + c;
      const float* p = xp + base;
      __m256 v;
      if (stride == 1) v = _mm256_loadu_ps(p);
      else if (stride == 2)  // p[0], p[2], ..., p[14] without reading past p[14]
        v = _mm256_blend_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(p), even_lo),
                            _mm256_permutevar8x32_ps(_mm256_loadu_ps(p + 7), odd_hi), 0xF0);
      else v = _mm256_i32gather_ps(p, lane_off, 4);
      const __m256i at = _mm256_set1_epi32(int((r - rb) * k + c));  // the same in every lane
      if (first) {
        best = v;
        best_at = at;
        first = false;
        continue;  // the scalar loop's first comparison is with itself: a no-op
      }
      const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
      best = _mm256_blendv_ps(best, v, take);
      best_at = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(best_at), _mm256_castsi256_ps(at), take));
    }
  _mm256_storeu_ps(yo, best);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(ao), best_at);
}
#if TWIN_GEMM_AVX512
// max_windows_8 for the first n <= 16 windows of sixteen, in zmm registers and mask
// registers; lanes n.. read nothing (masked loads) and are not stored, so a row's last
// windows take it too.
inline void max_windows_16(const float* xp, Index w, Index rb, Index r0, Index r1, Index col0, Index stride, Index k,
                           float* yo, std::int32_t* ao, int n = 16) {
  const __mmask16 lanes = kernels::avx512::tail_mask(n);
  const __m512i lane_off = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(int(stride)));
  __m512 best = _mm512_setzero_ps();
  __m512i best_at = _mm512_setzero_si512();
  bool first = true;
  for (Index r = r0; r < r1; ++r)
    for (Index c = 0; c < k; ++c) {
      const float* p = xp + r * w + col0 + c;
      __m512 v;
      if (stride == 1) v = _mm512_maskz_loadu_ps(lanes, p);
      else if (stride == 2) v = kernels::avx512::load_stride2(p, n);
      else v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lanes, lane_off, p, 4);
      const __m512i at = _mm512_set1_epi32(int((r - rb) * k + c));
      if (first) {
        best = v;
        best_at = at;
        first = false;
        continue;
      }
      const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      best = _mm512_mask_mov_ps(best, take, v);
      best_at = _mm512_mask_mov_epi32(best_at, take, at);
    }
  kernels::avx512::store(yo, best, n);
  _mm512_storeu_si512(ao, best_at);  // ao has room for sixteen
}
#endif
}  // namespace detail
#endif

struct MaxPool2D {
  Index kernel = 0;
  Index stride = 0;  // 0: same as kernel (PyTorch's default stride=None)
  Index pad = 0;     // at most kernel / 2
  Index pad_end = 0; // after the last row and column only; pad + pad_end < kernel
  template <class T>
  using layer = MaxPool2DLayer<T>;
};

template <class T>
class MaxPool2DLayer final : public Layer<T> {
 public:
  explicit MaxPool2DLayer(const MaxPool2D& o) : win_(detail::PoolWindow::make("MaxPool2D", o.kernel, o.stride, o.pad, o.pad_end)) {}
  std::string name() const override { return "MaxPool2D"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }  // the argmax is in scratch
  std::string describe() const override { return win_.describe("MaxPool2D"); }
  Shape output_shape(const Shape& in) const override { return win_.output_shape("MaxPool2D", in); }

  // The argmax of every output, as its index in the window.
  std::size_t scratch_bytes(const Shape& in, Mode) const override {
    const Index n = output_shape(in).numel();
    return byte_index() ? scratch_bytes_for<std::uint8_t>(n) : scratch_bytes_for<std::int32_t>(n);
  }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    if (byte_index()) forward_impl<std::uint8_t>(x, y, ctx);
    else forward_impl<std::int32_t>(x, y, ctx);
  }
  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    if (!dx.data()) return;
    if (byte_index()) backward_impl<std::uint8_t>(x, y, dy, dx, ctx);
    else backward_impl<std::int32_t>(x, y, dy, dx, ctx);
  }

 private:
  bool byte_index() const { return win_.kernel * win_.kernel <= 256; }

  template <class U>
  void forward_impl(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const {
    const Index planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = y.dim(2), wo = y.dim(3), k = win_.kernel;
    U* arg = ScratchCarver(ctx.scratch).take<U>(y.size());  // (N, C, Ho, Wo)
    ctx.context().parallel_for(0, planes, 4, [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p) {
        const T* xp = x.data() + p * h * w;
        for (Index i = 0; i < ho; ++i) {
          Index rb, r0, r1;
          win_.range(i, h, rb, r0, r1);
          T* yo = y.data() + (p * ho + i) * wo;
          U* ao = arg + (p * ho + i) * wo;
          // Windows wholly inside the row range [0, w) have a fixed width: the common case,
          // without per-output clipping. Borders take the general path.
          const Index j_lo = std::min(wo, (win_.pad + win_.stride - 1) / win_.stride);
          const Index j_hi =
              w + win_.pad < win_.kernel ? j_lo : std::max(j_lo, std::min(wo, (w + win_.pad - win_.kernel) / win_.stride + 1));
          // cb: the window's first column before clipping; the argmax is kept relative to (rb, cb).
          auto window = [&](Index j, Index cb, Index c0, Index c1) {
            Index best_at = (r0 - rb) * k + (c0 - cb);
            T best = xp[r0 * w + c0];
            for (Index r = r0; r < r1; ++r)
              for (Index c = c0; c < c1; ++c) {
                const T v = xp[r * w + c];
                // Branch-free select; the first maximum wins, and so does a NaN (as in PyTorch).
                const bool take = v > best || v != v;
                best = take ? v : best;
                best_at = take ? (r - rb) * k + (c - cb) : best_at;
              }
            yo[j] = best;
            ao[j] = static_cast<U>(best_at);
          };
          for (Index j = 0; j < wo; ++j) {
            if (j == j_lo && j_lo < j_hi) {
#if defined(__AVX2__) && !defined(TWIN_NO_SIMD)
              if constexpr (std::is_same_v<T, float>) {
#if TWIN_GEMM_AVX512
                for (; j < j_hi; j += 16) {  // 16 windows a step, the last 1-15 masked
                  const int n = int(std::min<Index>(16, j_hi - j));
                  alignas(64) std::int32_t at[16];
                  detail::max_windows_16(xp, w, rb, r0, r1, j * win_.stride - win_.pad, win_.stride, k, yo + j, at, n);
                  for (int l = 0; l < n; ++l) ao[j + l] = static_cast<U>(at[l]);
                }
                j = j_hi;
#endif
                for (; j + 8 <= j_hi; j += 8) {
                  alignas(32) std::int32_t at[8];
                  detail::max_windows_8(xp, w, rb, r0, r1, j * win_.stride - win_.pad, win_.stride, k, yo + j, at);
                  for (int l = 0; l < 8; ++l) ao[j + l] = static_cast<U>(at[l]);
                }
              }
#endif
              for (; j < j_hi; ++j) {
                const Index cb = j * win_.stride - win_.pad;
                window(j, cb, cb, cb + k);
              }
              if (j == wo) break;
            }
            Index cb, c0, c1;
            win_.range(j, w, cb, c0, c1);
            window(j, cb, c0, c1);
          }
        }
      }
    });
  }

  // dx = 0, then every output's gradient added at its argmax, in output order.
  template <class U>
  void backward_impl(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                     const LayerContext& ctx) const {
    const Index planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = y.dim(2), wo = y.dim(3), k = win_.kernel;
    const U* arg = ScratchCarver(ctx.scratch).take<U>(y.size());
    // Offset of window index a from the window's (unclipped) top-left corner in the plane:
    // a table for byte indices, computed for the rare kernels above 16.
    std::array<Index, 256> table{};
    if constexpr (sizeof(U) == 1)
      for (Index a = 0; a < k * k; ++a) table[static_cast<std::size_t>(a)] = (a / k) * w + a % k;
    auto offset = [&](U a) {
      if constexpr (sizeof(U) == 1) return table[a];
      else return Index(a / k) * w + Index(a % k);
    };
    ctx.context().parallel_for(0, planes, 4, [&](Index lo, Index hi) {
      for (Index p = lo; p < hi; ++p) {
        T* d = dx.data() + p * h * w;
        std::fill(d, d + h * w, T(0));
        for (Index i = 0; i < ho; ++i) {
          const Index o = (p * ho + i) * wo;
          const Index row0 = (i * win_.stride - win_.pad) * w - win_.pad;  // window (i, 0)'s corner
          for (Index j = 0; j < wo; ++j) d[row0 + j * win_.stride + offset(arg[o + j])] += dy.data()[o + j];
        }
      }
    });
  }

  detail::PoolWindow win_;
};

}  // namespace twin

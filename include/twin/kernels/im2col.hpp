#pragma once
// im2col and its adjoint col2im, the layout steps that turn a convolution into a GEMM.
//   cols(x) (C k k, Ho Wo): row (c, p, q), column pixel (i, j) (numbered i * Wo + j) holds
//   x[c, i*stride - pad + p, j*stride - pad + q], 0 where that reaches into the padding.
// im2col_row() builds any run of one row, col2im_row_add() is its adjoint: whole matrices or
// blocks of columns (pixels), so that a block stays in L2 between the layout step and the GEMM.
// Geometry and the naive oracle: kernels/conv_reference.hpp.
#include <algorithm>
#include <cstdint>

#include "twin/kernels/conv_reference.hpp"

namespace twin::kernels {

namespace detail {
// Smallest j >= 0 with j * s >= a (a may be negative).
inline Index ceil_div_nonneg(Index a, Index s) { return a <= 0 ? 0 : (a + s - 1) / s; }
}  // namespace detail

// out[0 : j1 - j0] <- row `row` = (c, p, q) of cols(x), pixels [j0, j1); x is one image (C, H, W).
template <class T>
void im2col_row(const ConvGeometry& g, const T* x, Index row, Index j0, Index j1, T* out) {
  const Index c = row / (g.k * g.k), p = row / g.k % g.k, q = row % g.k, wo = g.out_w();
  // Output columns j whose input column j*stride - pad + q lies inside [0, W).
  const Index col_lo = std::min(wo, detail::ceil_div_nonneg(g.pad - q, g.stride));
  const Index col_hi = std::max(col_lo, std::min(wo, detail::ceil_div_nonneg(g.w + g.pad - q, g.stride)));
  for (Index j = j0; j < j1;) {  // one output row (a run of pixels [a, b) of row i) at a time
    const Index i = j / wo, a = j - i * wo, b = std::min(wo, a + (j1 - j));
    T* o = out + (j - j0);  // o[jj - a] is pixel (i, jj)
    const Index r = i * g.stride - g.pad + p;
    if (r < 0 || r >= g.h) {
      std::fill(o, o + (b - a), T(0));
    } else {
      const Index lo = std::clamp(col_lo, a, b), hi = std::clamp(col_hi, lo, b);
      std::fill(o, o + (lo - a), T(0));
      if (hi > lo) {
        T* d = o + (lo - a);
        const T* src = x + (c * g.h + r) * g.w + (lo * g.stride - g.pad + q);
        if (g.stride == 1) std::copy(src, src + (hi - lo), d);
        else if (g.stride == 2)  // a constant stride the compiler vectorises (even lanes)
          for (Index t = 0; t < hi - lo; ++t) d[t] = src[2 * t];
        else
          for (Index t = 0; t < hi - lo; ++t) d[t] = src[t * g.stride];
      }
      std::fill(o + (hi - a), o + (b - a), T(0));
    }
    j += b - a;
  }
}

// At most this many pixels, im2col_range gathers (im2col_gather) instead of copying runs.
inline constexpr Index im2col_few_pixels = 32;

// Columns [j0, j1) (at most im2col_few_pixels) of cols(x) for the m images x + i x_size,
// pixel-major: column (j, i) at (j - j0) js + i of each row (row stride ld, js >= m); with
// m = js = 1 the layout of im2col_range. For the small outputs of a ResNet's last levels (3x3, 1x1),
// whose runs of a pixel or three cost more in bookkeeping than in copying: each tap's
// pixel offsets are worked out once (-1: padding) and every channel gathers through them.
template <class T>
void im2col_gather(const ConvGeometry& g, const T* x, Index x_size, Index m, Index js, Index j0, Index j1, T* cols,
                   Index ld) {
  Index off[im2col_few_pixels];
  const Index n = j1 - j0, wo = g.out_w();
  for (Index p = 0; p < g.k; ++p)
    for (Index q = 0; q < g.k; ++q) {
      for (Index j = 0; j < n; ++j) {
        const Index i = (j0 + j) / wo, r = i * g.stride - g.pad + p, c = (j0 + j - i * wo) * g.stride - g.pad + q;
        off[j] = r >= 0 && r < g.h && c >= 0 && c < g.w ? r * g.w + c : -1;
      }
      for (Index c = 0; c < g.c; ++c) {
        T* out = cols + ((c * g.k + p) * g.k + q) * ld;
        const T* xc = x + c * g.h * g.w;
        for (Index i = 0; i < m; ++i)
          for (Index j = 0; j < n; ++j) out[j * js + i] = off[j] >= 0 ? xc[i * x_size + off[j]] : T(0);
      }
    }
}

// cols (C k k, j1 - j0), row stride ld <- columns [j0, j1) of cols(x).
template <class T>
void im2col_range(const ConvGeometry& g, const T* x, Index j0, Index j1, T* cols, Index ld) {
  if (j1 - j0 <= im2col_few_pixels) return im2col_gather(g, x, 0, 1, 1, j0, j1, cols, ld);
  for (Index row = 0; row < g.c * g.k * g.k; ++row) im2col_row(g, x, row, j0, j1, cols + row * ld);
}

// Bit p k + q set when tap (p, q) of output pixel j reads inside the image (not padding);
// all set for kernels of more than 64 taps.
inline std::uint64_t im2col_pixel_taps(const ConvGeometry& g, Index j) {
  if (g.k * g.k > 64) return ~std::uint64_t(0);
  const Index wo = g.out_w(), i = j / wo, r0 = i * g.stride - g.pad, c0 = (j - i * wo) * g.stride - g.pad;
  std::uint64_t taps = 0;
  for (Index p = 0; p < g.k; ++p)
    for (Index q = 0; q < g.k; ++q)
      if (r0 + p >= 0 && r0 + p < g.h && c0 + q >= 0 && c0 + q < g.w) taps |= std::uint64_t(1) << (p * g.k + q);
  return taps;
}

// cols (C k k, Ho Wo) <- cols(x).
template <class T>
void im2col(const ConvGeometry& g, const T* x, T* cols) {
  const Index hw = g.out_h() * g.out_w();
  im2col_range(g, x, 0, hw, cols, hw);
}

// dx (C, H, W) += row `row` = (c, p, q) of a cols matrix, pixels [j0, j1), at their
// receptive fields: the adjoint of im2col_row (in[0 : j1 - j0] holds the row's values).
template <class T>
void col2im_row_add(const ConvGeometry& g, const T* in, Index row, Index j0, Index j1, T* dx) {
  const Index c = row / (g.k * g.k), p = row / g.k % g.k, q = row % g.k, wo = g.out_w();
  const Index col_lo = std::min(wo, detail::ceil_div_nonneg(g.pad - q, g.stride));
  const Index col_hi = std::max(col_lo, std::min(wo, detail::ceil_div_nonneg(g.w + g.pad - q, g.stride)));
  for (Index j = j0; j < j1;) {
    const Index i = j / wo, a = j - i * wo, b = std::min(wo, a + (j1 - j));
    const T* v = in + (j - j0);  // v[jj - a] is pixel (i, jj)
    const Index r = i * g.stride - g.pad + p;
    if (r >= 0 && r < g.h) {
      const Index lo = std::clamp(col_lo, a, b), hi = std::clamp(col_hi, lo, b);
      const T* s = v + (lo - a);
      T* d = dx + (c * g.h + r) * g.w + (lo * g.stride - g.pad + q);
      if (g.stride == 1)  // contiguous: a loop the compiler vectorises
        for (Index t = 0; t < hi - lo; ++t) d[t] += s[t];
      else
        for (Index t = 0; t < hi - lo; ++t) d[t * g.stride] += s[t];
    }
    j += b - a;
  }
}

// dx (C, H, W) += columns [j0, j1) of a cols matrix (C k k, j1 - j0), row stride ld.
template <class T>
void col2im_range_add(const ConvGeometry& g, const T* cols, Index ld, Index j0, Index j1, T* dx) {
  for (Index row = 0; row < g.c * g.k * g.k; ++row) col2im_row_add(g, cols + row * ld, row, j0, j1, dx);
}

// dx (C, H, W) <- sum of the columns of cols (C k k, Ho Wo) at their receptive fields
// (the adjoint of im2col). dx is assigned.
template <class T>
void col2im(const ConvGeometry& g, const T* cols, T* dx) {
  const Index hw = g.out_h() * g.out_w();
  std::fill(dx, dx + g.c * g.h * g.w, T(0));
  col2im_range_add(g, cols, hw, 0, hw, dx);
}

}  // namespace twin::kernels

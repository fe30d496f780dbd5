#pragma once
// Convolution forward of one image as a GEMM, y = W * cols(x) + b:
//   x (C, H, W), W (O, C k k) (PyTorch's (O, C, k, k) viewed flat), b (O) or null,
//   y (O, Ho Wo), cols(x) (C k k, Ho Wo) the im2col matrix (kernels/im2col.hpp).
//
// float with the packed AVX2 GEMM (kernels/gemm.hpp): an implicit GEMM. The im2col matrix
// is never stored: each row of a B panel block is built by im2col_row() into a one-row
// buffer that stays in L1 and goes straight into the packed panels, and the bias is added
// by the micro-kernel's final write. W is packed once per call (pack_conv_weights), not once
// per image. With AVX-512 as well, most geometries take the direct kernel instead
// (conv_direct below): no B panels at all, the padded image read in place by tiles of 16
// pixels x 16 output channels, summed in the implicit GEMM's order (the same bits).
// Everything else (double, builds without AVX2): im2col in blocks of conv_pixel_block
// columns, then gemm(), the bias written first.
//
// Buffers are the running worker's WorkBuffers (twin/context.hpp: conv_cols, conv_panel,
// and conv_weights of the caller), grown on demand and kept, so the hot path does not
// allocate and their size is bounded by the largest layer, not summed over layers.
// Every output element is computed by one thread in a fixed order: the result does not
// depend on the thread count or on which thread ran which image.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <type_traits>

#include "twin/kernels/avx512.hpp"
#include "twin/kernels/conv_reference.hpp"
#include "twin/kernels/gemm.hpp"
#include "twin/kernels/im2col.hpp"

namespace twin::kernels {

// Output pixels per block of the forward GEMM's B (a multiple of the kernel's 16 columns):
// with C k k <= 320 (one K block) the packed block is <= 320 KiB and stays in L2 with W.
inline constexpr Index conv_pixel_block = 256;

// Output images of at most this many pixels (the last levels of a ResNet: 3x3, 1x1 in
// forward; also 4x4 in backward) are convolved a group of images at a time: one image
// gives the GEMM too few columns to pay for streaming the weights (a 256 -> 256 3x3
// layer's are 2.4 MB), so the group's im2col columns sit side by side in one
// (C k k, images x Ho Wo) matrix. Forward stops earlier: from 4x4 outputs on, the implicit
// per-image kernel with its pre-packed weights is faster than the explicit group matrix
// (measured on the face ResNet: 4x4 x 256 channels, 10 ms per image-at-a-time layer at
// batch 16 against 15 ms grouped; 3x3: 10 against 8.5; 1x1: 9.7 against 2.2).
inline constexpr Index conv_batch_pixels = 12;           // forward
inline constexpr Index conv_batch_pixels_backward = 32;  // backward

// Images per such group: about conv_pixel_block columns; depends only on the geometry.
inline Index conv_group_images(const ConvGeometry& g) {
  return std::max<Index>(1, conv_pixel_block / std::max<Index>(1, g.out_h() * g.out_w()));
}

// The direct forward (AVX-512 builds; detail::conv_forward_direct below): the transposed
// product y^T = cols(x)^T W^T, 16 output pixels x 16 output channels per tile, reading the
// padded image in place (no im2col panels are packed) and the weights pre-packed as (K, 16)
// panels of output channels. A tile's 16 pixels are one or two runs of an output row
// (Wo >= 16) or whole rows (Wo = 8 or 4), so each of its lanes reads at a fixed offset from
// one of at most four run pointers. Other geometries use the implicit GEMM.
inline constexpr Index conv_direct_channels = 16;
inline bool conv_direct(const ConvGeometry& g) {
#if TWIN_GEMM_AVX512
  const Index wo = g.out_w();
  return g.out_h() * wo > conv_batch_pixels && (wo >= 16 || wo == 8 || wo == 4);
#else
  (void)g;
  return false;
#endif
}
// The direct kernel's weight layout: conv_direct(g), and the small outputs (Ho Wo <=
// conv_batch_pixels) that Conv2D convolves a group of images at a time through an explicit
// column matrix, which the same tiles read as one run (conv_forward_columns).
inline bool conv_direct_weights(const ConvGeometry& g) {
  return conv_direct(g) || (TWIN_GEMM_AVX512 && g.out_h() * g.out_w() <= conv_batch_pixels);
}
// Panels of 16 output channels of the direct kernel (0 without it).
inline Index conv_direct_panels(const ConvGeometry& g) {
  return conv_direct_weights(g) ? (g.o + conv_direct_channels - 1) / conv_direct_channels : 0;
}

// The weights as the forward wants them: a packed copy for the AVX2 kernel (in `caller`,
// the calling thread's buffers, Context::caller_buffers(); read by all workers), W itself
// otherwise.
// Scalars of that packed copy; 0 when the forward reads W itself.
template <class T>
Index packed_conv_weights_size(const ConvGeometry& g) {
#if TWIN_GEMM_AVX2
  if constexpr (std::is_same_v<T, float>) {
    const Index mr = conv_direct_weights(g) ? conv_direct_channels : detail::gemm_mr;
    return g.c * g.k * g.k * ((g.o + mr - 1) / mr * mr);
  }
#endif
  (void)g;
  return 0;
}
// out (packed_conv_weights_size(g) scalars) <- W packed, when that size is not 0.
template <class T>
void pack_conv_weights_into(const ConvGeometry& g, const T* w, T* out) {
#if TWIN_GEMM_AVX2
  if constexpr (std::is_same_v<T, float>) {
    const Index K = g.c * g.k * g.k;
    if (conv_direct_weights(g)) {  // panels of 16 output channels, each (K, 16): out[(b K + k) 16 + c] = W[16 b + c][k]
      const Index nc = conv_direct_channels;
      for (Index b = 0; b < (g.o + nc - 1) / nc; ++b)
        for (Index k = 0; k < K; ++k)
          for (Index c = 0; c < nc; ++c) {
            const Index o = b * nc + c;
            out[(b * K + k) * nc + c] = o < g.o ? w[o * K + k] : 0.0f;
          }
      return;
    }
    // K block by K block (gemm_k_block), each as gemm's A panels: block pc starts at pc * Mpad.
    const Index kb = detail::gemm_k_block(K), mr = detail::gemm_mr;
    const Index mpad = (g.o + mr - 1) / mr * mr;
    for (Index pc = 0; pc < K; pc += kb) detail::pack_a(Trans::no, w, K, 0, g.o, pc, std::min(kb, K - pc), out + pc * mpad);
    return;
  }
#endif
  (void)g;
  (void)w;
  (void)out;
}
template <class T>
const T* pack_conv_weights(WorkBuffers& caller, const ConvGeometry& g, const T* w) {
  const Index n = packed_conv_weights_size<T>(g);
  if (n == 0) return w;
  T* out = caller.get<T>(WorkBuffers::conv_weights, n);
  pack_conv_weights_into(g, w, out);
  return out;
}

// A fused forward's epilogue on `rows` rows of `cols` outputs (row stride ld; the residual
// laid out alike): y += residual, then y = y > 0 ? y : 0.
template <class T>
void conv_epilogue(T* y, const T* residual, bool relu, Index rows, Index cols, Index ld) {
  for (Index r = 0; r < rows; ++r) {
    T* yr = y + r * ld;
    if (residual) {
      const T* rr = residual + r * ld;
      if (relu)
        for (Index j = 0; j < cols; ++j) {
          const T v = yr[j] + rr[j];
          yr[j] = v > T(0) ? v : T(0);
        }
      else
        for (Index j = 0; j < cols; ++j) yr[j] += rr[j];
    } else if (relu) {
      for (Index j = 0; j < cols; ++j) yr[j] = yr[j] > T(0) ? yr[j] : T(0);
    }
  }
}

#if TWIN_GEMM_AVX2
namespace detail {
// The image as the panel packing reads it: zero-padded, and with every padded row split by
// column phase (column mod stride), so that each run of an im2col row is a contiguous copy:
//   xpad[c][r][col] = xs[c][r][col % s][col / s],  xs (C, H + 2 pad, s, Wps), Wps = ceil((W + 2 pad) / s)
//   cols row (c, p, q), pixel (i, j) = xs[c][i s + p][q % s][j + q / s]
// = xs[base(c, p, q) + lane(i, j)] with base = ((c Hp + p) s + q % s) Wps + q / s and
// lane = i s s Wps + j: a row's offset plus a pixel's offset.
struct PaddedImage {
  Index hp, wps, row;  // padded rows, columns per phase, floats per padded row (s Wps)
  static constexpr Index guard = 16;  // floats of slack at both ends for the two-run loads below
  static PaddedImage of(const ConvGeometry& g) {
    const Index hp = g.h + 2 * g.pad, wps = (g.w + 2 * g.pad + g.stride - 1) / g.stride;
    return {hp, wps, g.stride * wps};
  }
  Index size(const ConvGeometry& g) const { return g.c * hp * row + 2 * guard; }
  Index base(const ConvGeometry& g, Index c, Index p, Index q) const {  // of cols row (c, p, q)
    if (g.stride == 1) return (c * hp + p) * wps + q;
    return ((c * hp + p) * g.stride + q % g.stride) * wps + q / g.stride;
  }
  Index lane(const ConvGeometry& g, Index pixel) const {
    const Index wo = g.out_w(), i = pixel / wo, j = pixel - i * wo;
    return i * g.stride * row + j;
  }
  // buf (size()) <- x (C, H, W) laid out as above; returns xs (buf + guard).
  float* fill(const ConvGeometry& g, const float* x, float* buf) const {
    std::fill(buf, buf + guard, 0.0f);
    float* xs = buf + guard;
#if TWIN_GEMM_AVX512
    if (g.stride == 1 && g.pad < 16) {
      fill_rows_avx512(g, x, xs);
      std::fill(buf + size(g) - guard, buf + size(g), 0.0f);  // after the last row's spill
      return xs;
    }
#endif
    std::fill(buf + size(g) - guard, buf + size(g), 0.0f);
    for (Index c = 0; c < g.c; ++c)
      for (Index rr = 0; rr < hp; ++rr) {
        float* out = xs + (c * hp + rr) * row;
        const Index r = rr - g.pad;
        if (r < 0 || r >= g.h) {
          std::fill(out, out + row, 0.0f);
          continue;
        }
        const float* in = x + (c * g.h + r) * g.w;
        if (g.stride == 1) {
          std::fill(out, out + g.pad, 0.0f);
          std::copy(in, in + g.w, out + g.pad);
          std::fill(out + g.pad + g.w, out + row, 0.0f);
          continue;
        }
        for (Index ph = 0; ph < g.stride; ++ph) {  // columns m of the phase read in[m s + ph - pad], zero outside
          float* o = out + ph * wps;
          const Index s = g.stride, first = ph - g.pad;  // column of m = 0
          const Index lo = first >= 0 ? 0 : (-first + s - 1) / s;
          const Index hi = g.w - 1 - first < 0 ? 0 : std::min(wps, (g.w - 1 - first) / s + 1);
          std::fill(o, o + std::min(lo, wps), 0.0f);
          if (hi > lo) copy_strided(in + lo * s + first, s, hi - lo, o + lo);
          std::fill(o + std::max(lo, hi), o + wps, 0.0f);
        }
      }
    return xs;
  }
#if TWIN_GEMM_AVX512
  // fill's rows for stride 1 and pad < 16, each written as whole vectors: a row's last one
  // spills into the next row (written after it; the last row's into the end guard), since
  // masked stores cost more than the extra floats (Zen 4) and library calls per row of a few
  // dozen floats more than the copy. Reads only x's floats (masked loads).
  void fill_rows_avx512(const ConvGeometry& g, const float* x, float* xs) const {
    const Index w = g.w, pad = g.pad;
    const __m512i shift = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(int(pad)));
    const __mmask16 right = __mmask16(~avx512::tail_mask(pad));  // lanes [pad, 16)
    for (Index c = 0; c < g.c; ++c)
      for (Index rr = 0; rr < hp; ++rr) {
        float* out = xs + (c * hp + rr) * row;
        const Index r = rr - pad;
        if (r < 0 || r >= g.h) {
          for (Index t = 0; t < row; t += 16) _mm512_storeu_ps(out + t, _mm512_setzero_ps());
          continue;
        }
        const float* in = x + (c * g.h + r) * w;
        // Lane l of the vector at out + t holds in[t + l - pad], 0 outside [0, w).
        const __m512 first = _mm512_maskz_loadu_ps(avx512::tail_mask(std::min<Index>(16 - pad, w)), in);
        _mm512_storeu_ps(out, _mm512_maskz_permutexvar_ps(right, shift, first));
        for (Index t = 16; t < row; t += 16)
          _mm512_storeu_ps(out + t, _mm512_maskz_loadu_ps(avx512::tail_mask(std::max<Index>(0, w + pad - t)), in + t - pad));
      }
  }
#endif

  // dst[i] = src[i s], i < n; reads no further than src[(n - 1) s].
  static void copy_strided(const float* src, Index s, Index n, float* dst) {
    Index i = 0;
#if TWIN_GEMM_AVX512
    if (s == 2) {  // 16 outputs from 31 inputs
      for (; i < n; i += 16)
        avx512::store(dst + i, avx512::load_stride2(src + 2 * i, std::min<Index>(16, n - i)), n - i);
      return;
    }
#endif
    for (; i < n; ++i) dst[i] = src[i * s];
  }
};

// Where the 16 lanes (pixels) of one B panel read from, relative to a cols row's base: lanes
// [0, split) at first + t, lanes [split, 16) at second + t (one or two runs of consecutive
// pixels: a panel crosses at most one output row when Wo >= 16), or else lane by lane from
// off[t], zero from lane `valid` on (the last, partial panel).
struct PanelLanes {
  Index first = 0, second = 0;
  int split = 16, valid = 16;
  bool by_lane = false;
  Index off[16] = {};
};

// lanes[q] for the panels of pixels [j0, j0 + nc).
inline void map_panel_lanes(const ConvGeometry& g, const PaddedImage& pi, Index j0, Index nc, PanelLanes* lanes) {
  for (Index jr = 0, q = 0; jr < nc; jr += gemm_nr, ++q) {
    PanelLanes& l = lanes[q];
    l = PanelLanes{};
    l.valid = int(std::min(gemm_nr, nc - jr));
    for (int t = 0; t < l.valid; ++t) l.off[t] = pi.lane(g, j0 + jr + t);
    l.first = l.off[0];
    int t = 1;
    while (t < l.valid && l.off[t] == l.first + t) ++t;
    l.split = t;
    if (t < l.valid) {
      l.second = l.off[t] - t;
      for (int u = t; u < l.valid; ++u) l.by_lane = l.by_lane || l.off[u] != l.second + u;
    }
    l.by_lane = l.by_lane || l.valid < gemm_nr;
  }
}

// Packs rows [p0, p0 + kc) and the panels mapped in `lanes` of cols(x) as pack_b() packs an
// untransposed B: kc x NR panels; xs from PaddedImage::fill.
inline void pack_b_im2col(const ConvGeometry& g, const PaddedImage& pi, const float* xs, const PanelLanes* lanes,
                          Index panels, Index p0, Index kc, float* out) {
  const __m256i lo = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), hi = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
  // Walk (c, p, q) of the rows with counters: a division per row would cost more than its copies.
  Index c = p0 / (g.k * g.k), p = p0 / g.k % g.k, q = p0 % g.k;
  for (Index kk = 0; kk < kc; ++kk) {
    const float* src = xs + pi.base(g, c, p, q);
    if (++q == g.k) {
      q = 0;
      if (++p == g.k) p = 0, ++c;
    }
    float* dst = out + kk * gemm_nr;
    for (Index q = 0; q < panels; ++q, dst += kc * gemm_nr) {
      const PanelLanes& l = lanes[q];
      if (l.by_lane) {
        for (int t = 0; t < gemm_nr; ++t) dst[t] = t < l.valid ? src[l.off[t]] : 0.0f;
      } else if (l.split == gemm_nr) {
        _mm256_store_ps(dst, _mm256_loadu_ps(src + l.first));
        _mm256_store_ps(dst + 8, _mm256_loadu_ps(src + l.first + 8));
      } else {  // two runs: load both 16-wide and keep lanes < split from the first
        const __m256i split = _mm256_set1_epi32(l.split);
        const __m256 m0 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(split, lo));
        const __m256 m1 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(split, hi));
        const float *a = src + l.first, *b = src + l.second;
        _mm256_store_ps(dst, _mm256_blendv_ps(_mm256_loadu_ps(b), _mm256_loadu_ps(a), m0));
        _mm256_store_ps(dst + 8, _mm256_blendv_ps(_mm256_loadu_ps(b + 8), _mm256_loadu_ps(a + 8), m1));
      }
    }
  }
}

inline void conv_forward_avx2(WorkBuffers& buf, const ConvGeometry& g, const float* x, const float* wp,
                              const float* bias, float* y, const float* residual, bool relu) {
  const Index M = g.o, K = g.c * g.k * g.k, N = g.out_h() * g.out_w(), kb = gemm_k_block(K);
  const Index mpad = (M + gemm_mr - 1) / gemm_mr * gemm_mr;
  const PaddedImage pi = PaddedImage::of(g);
  const float* xs = pi.fill(g, x, buf.get<float>(WorkBuffers::conv_cols, pi.size(g)));
  float* bp = buf.get<float>(WorkBuffers::conv_panel, kb * conv_pixel_block);
  PanelLanes lanes[conv_pixel_block / gemm_nr];
  for (Index jc = 0; jc < N; jc += conv_pixel_block) {
    const Index nc = std::min(conv_pixel_block, N - jc), panels = (nc + gemm_nr - 1) / gemm_nr;
    map_panel_lanes(g, pi, jc, nc, lanes);
    for (Index pc = 0; pc < K; pc += kb) {
      const Index kc = std::min(kb, K - pc);
      pack_b_im2col(g, pi, xs, lanes, panels, pc, kc, bp);
      const float* ap = wp + pc * mpad;
      const bool first = pc == 0;  // the first K block writes y (with the bias), later ones add
      for (Index ic = 0; ic < M; ic += gemm_mc)  // A blocks that fit L2 (one block for M <= 144)
        for (Index jr = 0; jr < nc; jr += gemm_nr) {
          const float* bpanel = bp + (jr / gemm_nr) * kc * gemm_nr;
          for (Index ir = ic; ir < std::min(M, ic + gemm_mc); ir += gemm_mr)
            micro_kernel(kc, ap + (ir / gemm_mr) * kc * gemm_mr, bpanel, y + ir * N + jc + jr, N,
                              std::min(gemm_mr, M - ir), std::min(gemm_nr, nc - jr), 1.0f, first ? 0.0f : 1.0f,
                              first && bias ? bias + ir : nullptr);
        }
    }
    // The block's outputs (M, nc) are still in L2: the epilogue's pass costs no memory traffic.
    if (residual || relu) conv_epilogue(y + jc, residual ? residual + jc : nullptr, relu, M, nc, N);
  }
}

#if TWIN_GEMM_AVX512
// r[0..16) (16 x 16, row i in r[i]) <- its transpose, in registers.
inline void transpose_16x16(__m512* r) {
  // The masked forms with a full mask: the plain ones start from _mm512_undefined_ps(), which
  // GCC 12 reports as uninitialised.
  constexpr __mmask16 all = 0xffff;
  __m512 a[16], b[16];
  for (int i = 0; i < 16; i += 2) {  // within each 128-bit lane: rows i, i+1 interleaved
    a[i] = _mm512_mask_unpacklo_ps(r[i], all, r[i], r[i + 1]);
    a[i + 1] = _mm512_mask_unpackhi_ps(r[i], all, r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // b[i + e], lane L: rows i..i+3 at column 4 L + e
    b[i] = _mm512_mask_shuffle_ps(a[i], all, a[i], a[i + 2], 0x44);
    b[i + 1] = _mm512_mask_shuffle_ps(a[i], all, a[i], a[i + 2], 0xEE);
    b[i + 2] = _mm512_mask_shuffle_ps(a[i + 1], all, a[i + 1], a[i + 3], 0x44);
    b[i + 3] = _mm512_mask_shuffle_ps(a[i + 1], all, a[i + 1], a[i + 3], 0xEE);
  }
  for (int e = 0; e < 4; ++e) {  // gather lane L of b[e], b[4 + e], b[8 + e], b[12 + e] into column 4 L + e
    const __m512 c1 = _mm512_mask_shuffle_f32x4(b[e], all, b[e], b[4 + e], 0x88), c2 = _mm512_mask_shuffle_f32x4(b[e], all, b[e], b[4 + e], 0xDD);
    const __m512 c3 = _mm512_mask_shuffle_f32x4(b[8 + e], all, b[8 + e], b[12 + e], 0x88), c4 = _mm512_mask_shuffle_f32x4(b[8 + e], all, b[8 + e], b[12 + e], 0xDD);
    r[e] = _mm512_mask_shuffle_f32x4(c1, all, c1, c3, 0x88);
    r[4 + e] = _mm512_mask_shuffle_f32x4(c2, all, c2, c4, 0x88);
    r[8 + e] = _mm512_mask_shuffle_f32x4(c1, all, c1, c3, 0xDD);
    r[12 + e] = _mm512_mask_shuffle_f32x4(c2, all, c2, c4, 0xDD);
  }
}

// One tile of the direct forward: out[r] (16 output channels of pixel r) = bias + sum over k
// of cols(x)(k, pixel r) W^T(k, :), where lane r reads run[s(r)][koff[k] + r], s(r) = (r >= A)
// + (r >= B) + (r >= C): the tile's pixels are up to four runs of consecutive padded-image
// offsets, and a compile-time run per lane keeps every read a fixed displacement from one
// of four pointers. w: the panel's (K, 16) weights; bias: its 16 values (64-byte aligned). The K blocks of gemm_k_block are summed
// as the implicit GEMM's micro-kernel sums them ((block 1 + bias) + block 2 + ...), so both
// paths give the same bits.
// With Rows, step k reads weight row wrow[k] instead of k (a tile's rows minus those known
// to be zero: conv_forward_columns_direct).
template <int A, int B, int C, bool Rows = false>
void direct_tile_range(Index k0, Index k1, const int* koff, const float* const* run, const float* w, __m512* out,
                       const int* wrow = nullptr) {
  const float *r0 = run[0], *r1 = run[1], *r2 = run[2], *r3 = run[3];
  __m512 acc[16];  // local, so that the sums stay in registers (out may alias the loads)
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (Index k = k0; k < k1; ++k) {
    const __m512 wv = _mm512_load_ps(w + (Rows ? wrow[k] : k) * 16);
    if constexpr (!Rows) _mm_prefetch(reinterpret_cast<const char*>(w + (k + 32) * 16), _MM_HINT_T0);  // weights stream at batch 1
    const int o = koff[k];
    const float* p[4] = {r0 + o, r1 + o, r2 + o, r3 + o};
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r)
      acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(p[(r >= A) + (r >= B) + (r >= C)][r]), wv, acc[r]);
  }
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r) out[r] = acc[r];
}
template <int A, int B, int C>
void direct_tile(Index K, const int* koff, const float* const* run, const float* w, const float* bias, __m512* out) {
  const __m512 bv = _mm512_load_ps(bias);
  const Index kb = gemm_k_block(K);
  for (Index pc = 0; pc < K; pc += kb) {
    __m512 acc[16];
    direct_tile_range<A, B, C>(pc, std::min(K, pc + kb), koff, run, w, acc);
#pragma GCC unroll 16
    for (int r = 0; r < 16; ++r) out[r] = pc == 0 ? _mm512_add_ps(acc[r], bv) : _mm512_add_ps(out[r], acc[r]);
  }
}

// direct_tile<a, 16, 16> for a = 1..15 (lanes [0, a) in the first run), <16, 16, 16> for a = 0 (one run).
template <int... A>
void two_run_tile(int a, Index K, const int* koff, const float* const* run, const float* w, const float* bias,
                  __m512* out, std::integer_sequence<int, A...>) {
  (void)((a == A ? (direct_tile<(A == 0 ? 16 : A), 16, 16>(K, koff, run, w, bias, out), true) : false) || ...);
}

// Stores a tile from direct_tile: y[c ld + r] = out[r][c] (then + residual alike, ReLU) for
// channels c < cv and pixels r < valid; pixels r >= split (a tile that ran into the next
// image) go `jump` floats further, residual alike.
inline void store_tile(__m512* out, Index cv, Index valid, float* y, Index ld, const float* residual, bool relu,
                       Index split = 16, Index jump = 0) {
  transpose_16x16(out);  // out[c]: channel c of the tile's 16 pixels
  const __mmask16 mask = avx512::tail_mask(valid), first = avx512::tail_mask(split), second = mask & ~first;
  for (Index c = 0; c < cv; ++c) {
    __m512 v = out[c];
    if (residual) {
      const float* rc = residual + c * ld;
      v = _mm512_add_ps(v, split >= valid ? _mm512_maskz_loadu_ps(mask, rc)
                                          : _mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(first, rc), second, rc + jump));
    }
    if (relu) v = _mm512_mask_max_ps(v, 0xffff, v, _mm512_setzero_ps());  // v > 0 ? v : +0, NaN to 0, as conv_epilogue
    if (split >= valid) {
      avx512::store(y + c * ld, v, valid);
    } else {
      _mm512_mask_storeu_ps(y + c * ld, first, v);
      _mm512_mask_storeu_ps(y + c * ld + jump, second, v);
    }
  }
}

// y[i] (O, Ho Wo) <- W cols(x[i]) + b (then the epilogue) for the m images x[i] (C, H, W)
// (strides C H W and O Ho Wo), output channels of the panels [p0, p1) (16 each) only;
// wp from pack_conv_weights (conv_direct(g)). Panel by panel, so a panel's weights stay in
// cache across all the group's tiles.
inline void conv_forward_direct(WorkBuffers& buf, const ConvGeometry& g, Index m, const float* x, const float* wp,
                                const float* bias, float* y, const float* residual, bool relu, Index p0, Index p1) {
  constexpr Index nc = conv_direct_channels;
  const Index K = g.c * g.k * g.k, wo = g.out_w(), hw = g.out_h() * wo, x_size = g.c * g.h * g.w, y_size = g.o * hw;
  const PaddedImage pi = PaddedImage::of(g);
  const Index isize = pi.size(g);
  float* pad = buf.get<float>(WorkBuffers::conv_cols, m * isize);
  int* koff = buf.get<int>(WorkBuffers::conv_panel, K);
  for (Index i = 0; i < m; ++i) pi.fill(g, x + i * x_size, pad + i * isize);
  for (Index k = 0, c = 0, p = 0, q = 0; k < K; ++k) {  // koff[k] = base of cols row k = (c, p, q)
    koff[k] = int(pi.base(g, c, p, q));
    if (++q == g.k) {
      q = 0;
      if (++p == g.k) p = 0, ++c;
    }
  }
  alignas(64) float bpanel[nc];
  __m512 out[16];
  for (Index b = p0; b < p1; ++b) {
    const Index c0 = b * nc, cv = std::min(nc, g.o - c0);
    for (Index c = 0; c < nc; ++c) bpanel[c] = bias && c < cv ? bias[c0 + c] : 0.0f;
    const float* w = wp + b * K * nc;
    Index start = 0;  // image i's first pixel not yet computed (the previous tile may have run into it)
    for (Index i = 0; i < m; ++i) {
      const float* xs = pad + i * isize + PaddedImage::guard;
      for (Index t0 = start; t0 < hw; t0 += 16) {
        // With Wo >= 16, an image's last partial tile runs on into the next image's first
        // row (two runs, as across a row): no lanes idle but the group's last.
        const Index here = hw - t0;
        const bool on = wo >= 16 && here < 16 && i + 1 < m;
        const Index valid = on ? 16 : std::min<Index>(16, here);
        start = on ? 16 - here : 0;
        const Index at = i * y_size + c0 * hw + t0;  // the tile's first output
        // The epilogue's lines, fetched into L2 while the tile's sums run (they miss otherwise).
        for (Index c = 0; c < cv; ++c) {
          _mm_prefetch(reinterpret_cast<const char*>(y + at + c * hw), _MM_HINT_T1);
          _mm_prefetch(reinterpret_cast<const char*>(y + at + c * hw + valid - 1), _MM_HINT_T1);
          if (residual) {
            _mm_prefetch(reinterpret_cast<const char*>(residual + at + c * hw), _MM_HINT_T1);
            _mm_prefetch(reinterpret_cast<const char*>(residual + at + c * hw + valid - 1), _MM_HINT_T1);
          }
        }
        const float* run[4];
        for (Index j = 0; j < 4; ++j) run[j] = xs + pi.lane(g, t0);
        if (wo >= 16) {
          const Index a = wo - t0 % wo;  // lanes left in the first output row
          if (a < valid) run[1] = (on ? xs + isize + pi.lane(g, 0) : xs + pi.lane(g, t0 + a)) - a;
          two_run_tile(int(a < valid ? a : 0), K, koff, run, w, bpanel, out, std::make_integer_sequence<int, 16>());
        } else {  // wo = 8 or 4: whole rows (tiles start at a row, 16 a multiple of wo); lanes past the image read run 0
          for (Index j = 1; j < 16 / wo; ++j)
            if (j * wo < valid) run[j] = xs + pi.lane(g, t0 + j * wo) - j * wo;
          if (wo == 8) direct_tile<8, 16, 16>(K, koff, run, w, bpanel, out);
          else direct_tile<4, 8, 12>(K, koff, run, w, bpanel, out);
        }
        store_tile(out, cv, valid, y + at, hw, residual ? residual + at : nullptr, relu, here, y_size - hw);
      }
    }
  }
}

// C (O, N) (channel stride ldc) <- W cols + b for an explicit column matrix cols (K, N),
// row-major, with 15 readable floats past its end; output channel panels [p0, p1) only.
// Each tile's 16 pixels are one run: lane r reads cols[k N + t0 + r]. K block by K block
// (the block of cols stays in L2 across the panels), C updated as direct_tile updates its
// sums: (block 1 + bias) + block 2 + ..., the same operations on the same values.
// With taps (the columns of m images side by side, pixel-major: column j m + i; taps[j]
// from im2col_pixel_taps, kk taps per channel), a tile skips the rows that are padding for
// all its pixels: their products are exact zeros, so the sums keep their bits.
inline void conv_forward_columns_direct(WorkBuffers& buf, Index K, Index O, Index N, const float* cols,
                                        const float* wp, const float* bias, float* C, Index ldc, Index p0, Index p1,
                                        const std::uint64_t* taps = nullptr, Index m = 1, Index kk = 1) {
  constexpr Index nc = conv_direct_channels;
  const Index kb = gemm_k_block(K);
  int* koff = buf.get<int>(WorkBuffers::gemm_b, K + 2 * kb);
  int *xrow = koff + K, *wrow = xrow + kb;  // a tile's rows of one K block, without the skipped ones
  for (Index k = 0; k < K; ++k) koff[k] = int(k * N);
  const std::uint64_t all = kk >= 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << kk) - 1;
  __m512 acc[16];
  for (Index pc = 0; pc < K; pc += kb) {
    const Index pe = std::min(K, pc + kb);
    for (Index t0 = 0; t0 < N; t0 += 16) {  // the tile's rows once for all panels
      const float* run[4] = {cols + t0, cols + t0, cols + t0, cols + t0};
      std::uint64_t tile = all;
      if (taps) {
        tile = 0;
        for (Index j = t0 / m; j <= (std::min(N, t0 + 16) - 1) / m; ++j) tile |= taps[j];
      }
      const bool full = (tile & all) == all;
      Index n = 0;
      if (!full)
        for (Index k = pc, t = pc % kk; k < pe; ++k, t = t + 1 == kk ? 0 : t + 1)
          if (tile >> t & 1) xrow[n] = koff[k], wrow[n++] = int(k);
      for (Index b = p0; b < p1; ++b) {
        const Index c0 = b * nc, cv = std::min(nc, O - c0);
        if (full) direct_tile_range<16, 16, 16>(pc, pe, koff, run, wp + b * K * nc, acc);
        else direct_tile_range<16, 16, 16, true>(0, n, xrow, run, wp + b * K * nc, acc, wrow);
        transpose_16x16(acc);  // acc[c]: channel c0 + c of the tile's pixels
        const __mmask16 mask = avx512::tail_mask(N - t0);
        for (Index c = 0; c < cv; ++c) {
          float* y = C + (c0 + c) * ldc + t0;
          const __m512 v = pc > 0   ? _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), acc[c])
                           : bias ? _mm512_add_ps(acc[c], _mm512_set1_ps(bias[c0 + c]))
                                  : acc[c];
          avx512::store(y, v, N - t0);
        }
      }
    }
  }
}
#endif
}  // namespace detail
#endif

// The portable path of conv_forward_image: im2col blocks and gemm().
template <class T>
void conv_forward_image_gemm(WorkBuffers& buf, const ConvGeometry& g, const T* x, const T* wp, const T* bias, T* y) {
  const Index K = g.c * g.k * g.k, N = g.out_h() * g.out_w();
  if (bias)
    for (Index o = 0; o < g.o; ++o) std::fill(y + o * N, y + (o + 1) * N, bias[o]);
  if (g.k == 1 && g.stride == 1 && g.pad == 0) {  // x viewed as (C, H W) is cols(x) already
    gemm<T>(buf, Trans::no, Trans::no, g.o, N, K, T(1), wp, K, x, N, bias ? T(1) : T(0), y, N);
    return;
  }
  T* cols = buf.get<T>(WorkBuffers::conv_cols, K * std::min(N, conv_pixel_block));
  for (Index j0 = 0; j0 < N; j0 += conv_pixel_block) {  // the block's columns stay in L2 until gemm packs them
    const Index nb = std::min(conv_pixel_block, N - j0);
    im2col_range(g, x, j0, j0 + nb, cols, nb);
    gemm<T>(buf, Trans::no, Trans::no, g.o, nb, K, T(1), wp, K, cols, nb, bias ? T(1) : T(0), y + j0, N);
  }
}


// y (O, Ho Wo) <- W * cols(x) + b for one image x (C, H, W); wp from pack_conv_weights();
// buf: the running worker's buffers. With a residual (O, Ho Wo) and/or relu, the epilogue
// (conv_epilogue) follows: y = max(W cols(x) + b + residual, 0).
template <class T>
void conv_forward_image(WorkBuffers& buf, const ConvGeometry& g, const T* x, const T* wp, const T* bias, T* y,
                        const T* residual = nullptr, bool relu = false) {
#if TWIN_GEMM_AVX2
  if constexpr (std::is_same_v<T, float>) {
#if TWIN_GEMM_AVX512
    if (conv_direct(g)) {
      detail::conv_forward_direct(buf, g, 1, x, wp, bias, y, residual, relu, 0, conv_direct_panels(g));
      return;
    }
    if (conv_direct_weights(g)) {  // a small output: its explicit columns, read by the same tiles
      const Index K = g.c * g.k * g.k, N = g.out_h() * g.out_w();
      float* cols = buf.get<float>(WorkBuffers::conv_cols, K * N + 16);
      im2col_range(g, x, 0, N, cols, N);
      detail::conv_forward_columns_direct(buf, K, g.o, N, cols, wp, bias, y, N, 0, conv_direct_panels(g));
      if (residual || relu) conv_epilogue(y, residual, relu, g.o, N, N);
      return;
    }
#endif
    detail::conv_forward_avx2(buf, g, x, wp, bias, y, residual, relu);
    return;
  }
#endif
  conv_forward_image_gemm(buf, g, x, wp, bias, y);
  if (residual || relu) conv_epilogue(y, residual, relu, g.o, g.out_h() * g.out_w(), g.out_h() * g.out_w());
}

// Images per conv_forward_images call: the direct path reads the weights once per call, so
// small images go a group at a time (about conv_pixel_block pixels); 1 otherwise.
inline Index conv_forward_group(const ConvGeometry& g) {
  if (!conv_direct(g)) return 1;
  const Index hw = g.out_h() * g.out_w();
  // At least two when a partial last tile can run on into the next image (Wo >= 16).
  const Index least = hw % 16 != 0 && g.out_w() >= 16 ? 2 : 1;
  return std::max<Index>(least, conv_pixel_block / hw);
}

// conv_forward_image for the m images x (m, C, H, W) -> y (m, O, Ho Wo) (residual alike).
// With the direct path, only the output channel panels [p0, p1) of conv_direct_panels(g)
// (so that one image's channels can be split between threads); otherwise p0, p1 must span
// all channels (0, conv_direct_panels(g) = 0 does).
template <class T>
void conv_forward_images(WorkBuffers& buf, const ConvGeometry& g, Index m, const T* x, const T* wp, const T* bias,
                         T* y, const T* residual = nullptr, bool relu = false, Index p0 = 0, Index p1 = -1) {
#if TWIN_GEMM_AVX512
  if constexpr (std::is_same_v<T, float>) {
    if (conv_direct(g)) {
      detail::conv_forward_direct(buf, g, m, x, wp, bias, y, residual, relu, p0, p1 < 0 ? conv_direct_panels(g) : p1);
      return;
    }
  }
#endif
  (void)p0;
  (void)p1;
  const Index x_size = g.c * g.h * g.w, y_size = g.o * g.out_h() * g.out_w();
  for (Index i = 0; i < m; ++i)
    conv_forward_image(buf, g, x + i * x_size, wp, bias, y + i * y_size, residual ? residual + i * y_size : nullptr, relu);
}

// Y (O, m Ho Wo) (row stride ldc) <- W cols + b for the explicit column matrix cols (K = C k k, m Ho Wo)
// of a group of m small images (Conv2D's grouped forward; 15 readable floats past its end),
// output channel panels [p0, p1) of conv_direct_panels(g) > 0, wp from pack_conv_weights.
// The same tiles and sums as the direct forward, hence the same bits as the implicit GEMM.
// cols holds the m images' columns pixel-major (column j m + i, im2col_gather), so Y's are
// too; a tile skips the rows that are padding for all its pixels.
template <class T>
void conv_forward_columns(WorkBuffers& buf, const ConvGeometry& g, Index m, const T* cols, const T* wp, const T* bias,
                          T* Y, Index ldc, Index p0, Index p1) {
#if TWIN_GEMM_AVX512
  if constexpr (std::is_same_v<T, float>) {
    const Index hw = g.out_h() * g.out_w();
    if (conv_direct_weights(g) && hw <= im2col_few_pixels) {
      std::uint64_t taps[im2col_few_pixels];
      for (Index j = 0; j < hw; ++j) taps[j] = im2col_pixel_taps(g, j);
      detail::conv_forward_columns_direct(buf, g.c * g.k * g.k, g.o, m * hw, cols, wp, bias, Y, ldc, p0, p1, taps, m,
                                          g.k * g.k);
      return;
    }
  }
#endif
  (void)buf, (void)g, (void)m, (void)cols, (void)wp, (void)bias, (void)Y, (void)ldc, (void)p0, (void)p1;
  throw error(twin::detail::concat("conv_forward_columns: needs the direct kernel (conv_direct_panels(g) > 0) and at most ",
                                   im2col_few_pixels, " output pixels per image"));
}

}  // namespace twin::kernels

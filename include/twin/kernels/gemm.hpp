#pragma once
// General matrix multiply on row-major arrays, the one entry point every layer uses:
//   C = alpha * op(A) * op(B) + beta * C,   op(X) = X or X^T,
// with op(A) (M, K), op(B) (K, N), C (M, N); lda/ldb/ldc are row strides in elements.
// beta == 0 overwrites C without reading it (so C may hold garbage or NaN).
//
// Runs single-threaded: callers parallelise over independent work (batch chunks), which
// scales better on small products than splitting one product, and keeps results
// independent of the thread count. gemm_parallel() splits one large product into column
// blocks whose every element is computed exactly as gemm() would, so it too gives the
// same bits for any thread count.
//
// Kernels, chosen at compile time (twin::build_info() names the active one):
//  * float with AVX2 + FMA (-mavx2 -mfma or -march=native): a BLIS-style packed GEMM.
//    op(A) and op(B) are copied into contiguous panels (transposes cost nothing after
//    packing), blocked for the caches, and a 6x16 register-blocked micro-kernel keeps 12
//    ymm accumulators live; with AVX-512F as well (-march=native on Zen 4/5, Skylake-SP
//    and later) the micro-kernel is 12x16, one zmm accumulator per row of the tile. Each
//    element of C is the same chain of FMAs over k in both, so they give the same bits.
//    The packing buffers are the calling worker's WorkBuffers
//    (twin/context.hpp, slots gemm_a and gemm_b), which only grow, so the hot path does
//    not allocate.
//  * everything else (double, builds without AVX2): Eigen's GEMM.
//  * gemm_reference(): a naive triple loop, the oracle the tests compare both against.
// Define TWIN_NO_SIMD to force the portable paths (here and in MaxPool2D).
// twin itself never sets -m flags: the consumer chooses. All translation units of one
// program must be built with the same -m flags (the kernel is chosen per translation unit).
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <type_traits>

#include "twin/context.hpp"
#include "twin/tensor.hpp"

#if defined(__AVX2__) && defined(__FMA__) && !defined(TWIN_NO_SIMD)
#include <immintrin.h>
#define TWIN_GEMM_AVX2 1
#if defined(__AVX512F__)
#define TWIN_GEMM_AVX512 1
#else
#define TWIN_GEMM_AVX512 0
#endif
#else
#define TWIN_GEMM_AVX2 0
#define TWIN_GEMM_AVX512 0
#endif

namespace twin::kernels {

enum class Trans { no, yes };

// Name of the kernel gemm<float> uses in this translation unit.
inline constexpr const char* gemm_kernel_name() {
#if TWIN_GEMM_AVX512
  return "avx512 packed 12x16";
#elif TWIN_GEMM_AVX2
  return "avx2-fma packed 6x16";
#else
  return "eigen";
#endif
}

// The naive oracle: one dot product per element, accumulated in T.
template <class T>
void gemm_reference(Trans ta, Trans tb, Index M, Index N, Index K, T alpha, const T* A, Index lda, const T* B,
                    Index ldb, T beta, T* C, Index ldc) {
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < N; ++j) {
      T s = 0;
      for (Index k = 0; k < K; ++k) {
        const T a = ta == Trans::no ? A[i * lda + k] : A[k * lda + i];
        const T b = tb == Trans::no ? B[k * ldb + j] : B[j * ldb + k];
        s += a * b;
      }
      T& c = C[i * ldc + j];
      c = beta == T(0) ? alpha * s : alpha * s + beta * c;
    }
}

namespace detail {

template <class T>
void gemm_eigen(Trans ta, Trans tb, Index M, Index N, Index K, T alpha, const T* A, Index lda, const T* B, Index ldb,
                T beta, T* C, Index ldc) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  using CMap = Eigen::Map<const Mat, Eigen::Unaligned, Stride>;
  Eigen::Map<Mat, Eigen::Unaligned, Stride> c(C, M, N, Stride(ldc));
  const CMap a(A, ta == Trans::no ? M : K, ta == Trans::no ? K : M, Stride(lda));
  const CMap b(B, tb == Trans::no ? K : N, tb == Trans::no ? N : K, Stride(ldb));
  auto run = [&](const auto& opa, const auto& opb) {
    if (beta == T(0)) c.noalias() = alpha * (opa * opb);
    else {
      if (beta != T(1)) c *= beta;
      c.noalias() += alpha * (opa * opb);
    }
  };
  if (ta == Trans::no && tb == Trans::no) run(a, b);
  else if (ta == Trans::no) run(a, b.transpose());
  else if (tb == Trans::no) run(a.transpose(), b);
  else run(a.transpose(), b.transpose());
}

#if TWIN_GEMM_AVX2
// Blocking for a core with 32 KiB L1d and >= 512 KiB L2 (Zen 2/3, Skylake and later):
// one KC x NR panel of B (16 KiB) stays in L1, the MC x KC block of A (144 KiB) in L2,
// the KC x NC panel of B in L3.
// MR rows x NR columns of C per micro-kernel call: 12 x 16 with AVX-512 (12 zmm), else 6 x 16 (12 ymm).
inline constexpr Index gemm_mr = TWIN_GEMM_AVX512 ? 12 : 6, gemm_nr = 16;
inline constexpr Index gemm_kc = 256, gemm_mc = 144, gemm_nc = 3072, gemm_nc_small = 256;
// Up to this many columns of C, an untransposed A is read in place instead of packed.
inline constexpr Index gemm_n_unpacked_a = 64;

// One packed panel: out[k * W + r] = src[r * rs + k * ks] for r < n, 0 for n <= r < W, k < kc.
// Every panel of A (W = MR) and every edge panel of B (W = NR) is this loop; only the strides
// differ with the transposition. A full panel (n == W) skips the bounds test.
template <Index W>
void pack_panel(const float* src, Index rs, Index ks, Index kc, Index n, float* out) {
  if (n == W) {
    for (Index k = 0; k < kc; ++k)
      for (Index r = 0; r < W; ++r) out[k * W + r] = src[r * rs + k * ks];
  } else {
    for (Index k = 0; k < kc; ++k)
      for (Index r = 0; r < W; ++r) out[k * W + r] = r < n ? src[r * rs + k * ks] : 0.0f;
  }
}

// Packs op(A)[i0 : i0+mc, p0 : p0+kc] as ceil(mc / MR) panels, each kc x MR (k-major),
// zero-padded to a multiple of MR rows.
inline void pack_a(Trans ta, const float* A, Index lda, Index i0, Index mc, Index p0, Index kc, float* out) {
  for (Index ir = 0; ir < mc; ir += gemm_mr, out += kc * gemm_mr) {
    const Index mr = std::min(gemm_mr, mc - ir);
    if (ta == Trans::no) pack_panel<gemm_mr>(A + (i0 + ir) * lda + p0, lda, 1, kc, mr, out);
    else pack_panel<gemm_mr>(A + p0 * lda + i0 + ir, 1, lda, kc, mr, out);  // op(A)(i, k) = A[k * lda + i]
  }
}

// dst[r * ldd + c] = src[c * lds + r] for an 8 x 8 block.
inline void transpose_8x8(const float* src, Index lds, float* dst, Index ldd) {
  __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds), r2 = _mm256_loadu_ps(src + 2 * lds),
         r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds),
         r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
               t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  r0 = _mm256_shuffle_ps(t0, t2, 0x44);
  r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  r2 = _mm256_shuffle_ps(t1, t3, 0x44);
  r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  r4 = _mm256_shuffle_ps(t4, t6, 0x44);
  r5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  r6 = _mm256_shuffle_ps(t5, t7, 0x44);
  r7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(r0, r4, 0x20));
  _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(r1, r5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(r2, r6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(r3, r7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(r0, r4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(r1, r5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(r2, r6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(r3, r7, 0x31));
}

// Packs op(B)[p0 : p0+kc, j0 : j0+nc] as ceil(nc / NR) panels, each kc x NR, zero-padded.
inline void pack_b(Trans tb, const float* B, Index ldb, Index p0, Index kc, Index j0, Index nc, float* out) {
  if (tb == Trans::no) {
    // Full panels of an untransposed B, one row of B at a time: each row is read as one
    // contiguous stream (a panel at a time would jump ldb floats per load, which the
    // hardware prefetchers do not follow, and packing turns latency-bound).
    const Index full = nc / gemm_nr;
    for (Index k = 0; k < kc; ++k) {
      const float* src = B + (p0 + k) * ldb + j0;
      float* dst = out + k * gemm_nr;
      for (Index q = 0; q < full; ++q) {
        _mm256_store_ps(dst + q * kc * gemm_nr, _mm256_loadu_ps(src + q * gemm_nr));
        _mm256_store_ps(dst + q * kc * gemm_nr + 8, _mm256_loadu_ps(src + q * gemm_nr + 8));
      }
    }
  }
  for (Index jr = 0; jr < nc; jr += gemm_nr, out += kc * gemm_nr) {
    const Index nr = std::min(gemm_nr, nc - jr);
    if (tb == Trans::no) {
      // Full panels were packed row by row above; the edge panel is op(B)(k, j) = B[k * ldb + j].
      if (nr < gemm_nr) pack_panel<gemm_nr>(B + p0 * ldb + j0 + jr, 1, ldb, kc, nr, out);
      continue;
    }
    // op(B)(k, j) = B[j * ldb + k]: full panels transpose 8 x 8 blocks in registers.
    const float* src = B + (j0 + jr) * ldb + p0;
    Index k = 0;
    if (nr == gemm_nr)
      for (; k + 8 <= kc; k += 8)
        for (Index c = 0; c < gemm_nr; c += 8) transpose_8x8(src + c * ldb + k, ldb, out + k * gemm_nr + c, gemm_nr);
    pack_panel<gemm_nr>(src + k, ldb, 1, kc - k, nr, out + k * gemm_nr);
  }
}

#if TWIN_GEMM_AVX512
template <bool PackedA>
inline void micro_kernel_impl(Index kc, const float* a, Index lda, const float* b, float* C, Index ldc, Index mr,
                              Index nr, float alpha, float beta, const float* bias) {
  __m512 acc[gemm_mr];
#pragma GCC unroll 12
  for (Index r = 0; r < gemm_mr; ++r) acc[r] = _mm512_setzero_ps();
  for (Index r = 0; r < mr; ++r) {  // C is touched only after the loop: start fetching its lines now
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + nr - 1), _MM_HINT_T0);
  }
  const float* ar[gemm_mr];  // unpacked A: as in the AVX2 kernel below
  for (Index r = 0; r < gemm_mr; ++r) ar[r] = a + (PackedA || r >= mr ? 0 : r * lda);
#pragma GCC unroll 2
  for (Index k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b);
#pragma GCC unroll 12
    for (Index r = 0; r < gemm_mr; ++r)
      acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(PackedA ? a[r] : ar[r][k]), b0, acc[r]);
    if constexpr (PackedA) a += gemm_mr;
    b += gemm_nr;
  }
  // alpha * acc + bias, then + beta * C, as the AVX2 kernel does; edge tiles through a mask.
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 m = nr >= gemm_nr ? __mmask16(0xffff) : __mmask16((1u << nr) - 1u);
  auto store_rows = [&](Index rows) {
#pragma GCC unroll 12
    for (Index r = 0; r < rows; ++r) {
      float* c = C + r * ldc;
      __m512 v = _mm512_mul_ps(va, acc[r]);
      if (bias) v = _mm512_add_ps(v, _mm512_set1_ps(bias[r]));
      if (beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, c), v);
      _mm512_mask_storeu_ps(c, m, v);
    }
  };
  if (mr == gemm_mr) store_rows(gemm_mr);  // a constant trip count: the accumulators stay in registers
  else store_rows(mr);
}
#else
// C[0:mr, 0:nr] = alpha * (a_panel * b_panel) + bias + beta * C, the panels packed as above;
// bias (mr values, one per row, or null) is added in the same write, so a convolution's bias
// costs no pass over its output. Tiles with all NR columns store straight to C; narrower
// edge tiles go through a small buffer.
// PackedA: a is a packed panel (kc x MR, k-major); otherwise a points at row 0 of an
// unpacked row-major A with row stride lda (rows >= mr are not read), which saves packing A
// when only a panel or two of B reuse it. Both sum every element in the same order.
template <bool PackedA>
inline void micro_kernel_impl(Index kc, const float* a, Index lda, const float* b, float* C, Index ldc, Index mr,
                                   Index nr, float alpha, float beta, const float* bias) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
         c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
         c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
         c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  // C is touched only after the loop: start fetching its lines now.
  for (Index r = 0; r < mr; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + nr - 1), _MM_HINT_T0);
  }
  // Unpacked A: one pointer per row, the missing rows of an edge tile repeating row 0.
  const float* ar[gemm_mr];
  for (Index r = 0; r < gemm_mr; ++r) ar[r] = a + (PackedA || r >= mr ? 0 : r * lda);
  auto a_at = [&](Index k, Index r) -> const float* {
    if constexpr (PackedA) return a + r;  // a advances by MR per k below
    else return ar[r] + k;
  };
#pragma GCC unroll 4
  for (Index k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 a0 = _mm256_broadcast_ss(a_at(k, 0)), a1 = _mm256_broadcast_ss(a_at(k, 1));
    c00 = _mm256_fmadd_ps(a0, b0, c00);
    c01 = _mm256_fmadd_ps(a0, b1, c01);
    c10 = _mm256_fmadd_ps(a1, b0, c10);
    c11 = _mm256_fmadd_ps(a1, b1, c11);
    a0 = _mm256_broadcast_ss(a_at(k, 2));
    a1 = _mm256_broadcast_ss(a_at(k, 3));
    c20 = _mm256_fmadd_ps(a0, b0, c20);
    c21 = _mm256_fmadd_ps(a0, b1, c21);
    c30 = _mm256_fmadd_ps(a1, b0, c30);
    c31 = _mm256_fmadd_ps(a1, b1, c31);
    a0 = _mm256_broadcast_ss(a_at(k, 4));
    a1 = _mm256_broadcast_ss(a_at(k, 5));
    c40 = _mm256_fmadd_ps(a0, b0, c40);
    c41 = _mm256_fmadd_ps(a0, b1, c41);
    c50 = _mm256_fmadd_ps(a1, b0, c50);
    c51 = _mm256_fmadd_ps(a1, b1, c51);
    if constexpr (PackedA) a += gemm_mr;
    b += gemm_nr;
  }
  const __m256 acc[gemm_mr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  // alpha * acc + bias, then + beta * C: the same operations, in the same order, for the
  // vector and the scalar stores.
  auto scaled = [&](Index r, int h) {
    const __m256 v = _mm256_mul_ps(va, acc[r][h]);
    return bias ? _mm256_add_ps(v, _mm256_set1_ps(bias[r])) : v;
  };
  auto store_rows = [&](Index rows) {
    for (Index r = 0; r < rows; ++r) {
      float* c = C + r * ldc;
      for (int h = 0; h < 2; ++h) {
        __m256 v = scaled(r, h);
        if (beta != 0.0f) v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8 * h), v);
        _mm256_storeu_ps(c + 8 * h, v);
      }
    }
  };
  if (nr == gemm_nr) {
    if (mr == gemm_mr) store_rows(gemm_mr);  // a constant trip count: the accumulators stay in registers
    else store_rows(mr);
    return;
  }
  alignas(32) float tile[gemm_mr * gemm_nr];
  for (Index r = 0; r < mr; ++r)
    for (int h = 0; h < 2; ++h) _mm256_store_ps(tile + r * gemm_nr + 8 * h, scaled(r, h));
  for (Index r = 0; r < mr; ++r)
    for (Index j = 0; j < nr; ++j) {
      float& c = C[r * ldc + j];
      c = beta == 0.0f ? tile[r * gemm_nr + j] : std::fma(beta, c, tile[r * gemm_nr + j]);
    }
}

#endif

inline void micro_kernel(Index kc, const float* a, const float* b, float* C, Index ldc, Index mr, Index nr,
                              float alpha, float beta, const float* bias = nullptr) {
  micro_kernel_impl<true>(kc, a, 0, b, C, ldc, mr, nr, alpha, beta, bias);
}

// K is cut into equal blocks of at most gemm_kc (up to 5/4 gemm_kc in one block): a short
// last block would reload and store C for little work. The blocks depend only on K.
inline Index gemm_k_block(Index K) {
  if (K <= gemm_kc + gemm_kc / 4) return K;
  const Index blocks = (K + gemm_kc - 1) / gemm_kc;
  return (K + blocks - 1) / blocks;
}

inline void gemm_avx2(WorkBuffers& buf, Trans ta, Trans tb, Index M, Index N, Index K, float alpha, const float* A,
                      Index lda, const float* B, Index ldb, float beta, float* C, Index ldc) {
  const Index kb = gemm_k_block(K);
  if (ta == Trans::no && N <= gemm_n_unpacked_a) {
    // Few columns (a convolution of small images, a matrix-vector product): A would be
    // packed for a panel or two of use, so the kernel reads it in place, row block by row
    // block, its 6 x kc block staying in L1 across the panels of B.
    float* bp = buf.get<float>(WorkBuffers::gemm_b, kb * ((N + gemm_nr - 1) / gemm_nr) * gemm_nr);
    for (Index pc = 0; pc < K; pc += kb) {
      const Index kc = std::min(kb, K - pc);
      const float beta_k = pc == 0 ? beta : 1.0f;
      pack_b(tb, B, ldb, pc, kc, 0, N, bp);
      for (Index ir = 0; ir < M; ir += gemm_mr)
        for (Index jr = 0; jr < N; jr += gemm_nr)
          micro_kernel_impl<false>(kc, A + ir * lda + pc, lda, bp + (jr / gemm_nr) * kc * gemm_nr, C + ir * ldc + jr,
                                        ldc, std::min(gemm_mr, M - ir), std::min(gemm_nr, N - jr), alpha, beta_k,
                                        nullptr);
    }
    return;
  }
  const Index mc_max = std::min(M, gemm_mc);
  float* ap = buf.get<float>(WorkBuffers::gemm_a, kb * ((mc_max + gemm_mr - 1) / gemm_mr) * gemm_mr);
  if (M <= gemm_mc) {
    // One block of A (conv layers: M = output channels, N = pixels): pack it once per K
    // block, then B in blocks of gemm_nc_small columns that stay in L2 while the
    // micro-kernels sweep them.
    const Index ncs = std::min(N, gemm_nc_small);
    float* bp = buf.get<float>(WorkBuffers::gemm_b, kb * ((ncs + gemm_nr - 1) / gemm_nr) * gemm_nr);
    for (Index pc = 0; pc < K; pc += kb) {
      const Index kc = std::min(kb, K - pc);
      const float beta_k = pc == 0 ? beta : 1.0f;  // later K blocks add to the first
      pack_a(ta, A, lda, 0, M, pc, kc, ap);
      for (Index jc = 0; jc < N; jc += gemm_nc_small) {
        const Index nc = std::min(gemm_nc_small, N - jc);
        pack_b(tb, B, ldb, pc, kc, jc, nc, bp);
        for (Index jr = 0; jr < nc; jr += gemm_nr) {
          const Index nr = std::min(gemm_nr, nc - jr);
          const float* bpanel = bp + (jr / gemm_nr) * kc * gemm_nr;
          for (Index ir = 0; ir < M; ir += gemm_mr)
            micro_kernel(kc, ap + (ir / gemm_mr) * kc * gemm_mr, bpanel, C + ir * ldc + jc + jr, ldc,
                              std::min(gemm_mr, M - ir), nr, alpha, beta_k);
        }
      }
    }
    return;
  }
  const Index nc_max = std::min(N, gemm_nc);
  float* bp = buf.get<float>(WorkBuffers::gemm_b, kb * ((nc_max + gemm_nr - 1) / gemm_nr) * gemm_nr);
  for (Index jc = 0; jc < N; jc += gemm_nc) {
    const Index nc = std::min(gemm_nc, N - jc);
    for (Index pc = 0; pc < K; pc += kb) {
      const Index kc = std::min(kb, K - pc);
      const float beta_k = pc == 0 ? beta : 1.0f;
      pack_b(tb, B, ldb, pc, kc, jc, nc, bp);
      for (Index ic = 0; ic < M; ic += gemm_mc) {
        const Index mc = std::min(gemm_mc, M - ic);
        pack_a(ta, A, lda, ic, mc, pc, kc, ap);
        for (Index jr = 0; jr < nc; jr += gemm_nr) {
          const Index nr = std::min(gemm_nr, nc - jr);
          const float* bpanel = bp + (jr / gemm_nr) * kc * gemm_nr;
          for (Index ir = 0; ir < mc; ir += gemm_mr)
            micro_kernel(kc, ap + (ir / gemm_mr) * kc * gemm_mr, bpanel, C + (ic + ir) * ldc + jc + jr, ldc,
                              std::min(gemm_mr, mc - ir), nr, alpha, beta_k);
        }
      }
    }
  }
}
#endif

}  // namespace detail

// buf: the scratch of the worker running this call (Context::parallel_for hands it to its
// body; Context::caller_buffers() outside a parallel region). Unused by the Eigen path.
template <class T>
void gemm(WorkBuffers& buf, Trans ta, Trans tb, Index M, Index N, Index K, T alpha, const T* A, Index lda, const T* B,
          Index ldb, T beta, T* C, Index ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) {
    for (Index i = 0; i < M; ++i)
      for (Index j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
#if TWIN_GEMM_AVX2
  if constexpr (std::is_same_v<T, float>) {
    detail::gemm_avx2(buf, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  (void)buf;
  detail::gemm_eigen(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// gemm() split over the context's workers into column blocks of C. The blocks are fixed (a
// multiple of the micro-kernel width, independent of the thread count) and every element
// is summed in the same order as gemm() sums it, so the result is bit-identical to gemm()
// for float with the packed kernel. Worth it only for large products called outside a
// parallel region (inside one it runs serially).
template <class T>
void gemm_parallel(Context& ctx, Trans ta, Trans tb, Index M, Index N, Index K, T alpha, const T* A, Index lda,
                   const T* B, Index ldb, T beta, T* C, Index ldc) {
  constexpr Index block = 128;  // columns of C per task, a multiple of the kernel's NR
  if (N <= block || M * N * K < (Index(1) << 21)) {
    gemm(ctx.caller_buffers(), ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  ctx.fixed_chunks(N, block, [&](Index, Index lo, Index hi, WorkBuffers& buf) {
    const T* b = tb == Trans::no ? B + lo : B + lo * ldb;
    gemm(buf, ta, tb, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo, ldc);
  });
}

}  // namespace twin::kernels

#pragma once
// Small AVX-512 pieces the kernels share: the mask of a vector's first n lanes, the even
// lanes of a stride-2 run, and rows of floats copied or zeroed 16 at a time. Masked lanes
// are neither read nor written (AVX-512 masked loads do not fault on them), so a row's
// tail takes the same code as its body and nothing past its end is touched.
// Only in builds with AVX-512 (TWIN_GEMM_AVX512, kernels/gemm.hpp).
#include "twin/kernels/gemm.hpp"

#if TWIN_GEMM_AVX512
#include <algorithm>

namespace twin::kernels::avx512 {

// Lanes [0, n) of 16 (n >= 0; 16 or more gives all).
inline __mmask16 tail_mask(Index n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1u); }

// p[0], p[2], ..., p[2 (n - 1)] in lanes [0, n) (n <= 16; the others 0), reading no float
// past p[2 (n - 1)].
inline __m512 load_stride2(const float* p, Index n) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const Index span = 2 * n - 1;  // floats from p[0] to the last one read
  return _mm512_maskz_permutex2var_ps(tail_mask(n), _mm512_maskz_loadu_ps(tail_mask(span), p), even,
                                      _mm512_maskz_loadu_ps(tail_mask(std::max<Index>(0, span - 16)), p + 16));
}

// p[0, n) <- v[0, n) (n <= 16). Masked stores are slower than plain ones (AMD Zen 4), so
// a full vector takes a plain store.
inline void store(float* p, __m512 v, Index n) {
  if (n >= 16) _mm512_storeu_ps(p, v);
  else _mm512_mask_storeu_ps(p, tail_mask(n), v);
}

// dst[0, n) <- src[0, n).
inline void copy(const float* src, Index n, float* dst) {
  Index i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
  if (i < n) store(dst + i, _mm512_maskz_loadu_ps(tail_mask(n - i), src + i), n - i);
}

// dst[0, n) <- 0.
inline void zero(float* dst, Index n) {
  for (Index i = 0; i < n; i += 16) store(dst + i, _mm512_setzero_ps(), n - i);
}

}  // namespace twin::kernels::avx512
#endif

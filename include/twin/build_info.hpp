#pragma once
// What this build of twin runs on: the GEMM kernel chosen at compile time (by the -m flags
// of the translation unit that calls this), the SIMD level and the thread count a Context
// made now without one would get (default_threads()).
//   std::cout << twin::build_info().str() << "\n";
//   // twin 0.1.0, gemm kernel: avx2-fma packed 6x16, simd: avx2+fma, threads: 2
#include <string>

#include "twin/kernels/gemm.hpp"
#include "twin/context.hpp"
#include "twin/version.hpp"

namespace twin {

struct BuildInfo {
  std::string version;      // "0.1.0"
  std::string gemm_kernel;  // "avx512 packed 12x16", "avx2-fma packed 6x16" or "eigen"
  std::string simd;         // "avx512f", "avx2+fma", "sse2", "none"
  int threads = 1;          // default_threads() at the time of the call
  std::string str() const {
    return detail::concat("twin ", version, ", gemm kernel: ", gemm_kernel, ", simd: ", simd, ", threads: ", threads);
  }
};

inline BuildInfo build_info() {
  BuildInfo b;
  b.version = detail::concat(version_major, ".", version_minor, ".", version_patch);
  b.gemm_kernel = kernels::gemm_kernel_name();
#if defined(__AVX512F__)
  b.simd = "avx512f";
#elif defined(__AVX2__) && defined(__FMA__)
  b.simd = "avx2+fma";
#elif defined(__SSE2__)
  b.simd = "sse2";
#else
  b.simd = "none";
#endif
  b.threads = default_threads();
  return b;
}

}  // namespace twin

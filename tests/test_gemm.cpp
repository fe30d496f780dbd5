// kernels::gemm (packed AVX2 kernel when built with AVX2+FMA, Eigen otherwise) against the
// naive gemm_reference on many shapes: every Trans combination, sizes that are not
// multiples of the micro-kernel tile, row strides larger than the row, beta 0 / 1 / other,
// K = 0, and K larger than one cache block. tests/gemm_native.cmake builds this file a
// second time with -march=native, so both kernels are checked.
#include <doctest/doctest.h>

#include <twin/twin.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace test_gemm {  // file-local: the test files are compiled as unity batches

using namespace twin;
using kernels::Trans;

namespace {

template <class T>
std::vector<T> random_vec(Index n, Rng& rng) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<T>(rng.uniform(-1.0, 1.0));
  return v;
}

struct Case {
  Index M, N, K;
};

// Runs gemm and gemm_reference on the same inputs and checks every element of C,
// including the padding between rows, which neither may touch.
template <class T>
void check_case(Trans ta, Trans tb, Index M, Index N, Index K, T alpha, T beta, Rng& rng) {
  const Index pad = 3;
  const Index arows = ta == Trans::no ? M : K, acols = ta == Trans::no ? K : M;
  const Index brows = tb == Trans::no ? K : N, bcols = tb == Trans::no ? N : K;
  const Index lda = acols + pad, ldb = bcols + pad, ldc = N + pad;
  const auto a = random_vec<T>(std::max<Index>(arows * lda, 1), rng);
  const auto b = random_vec<T>(std::max<Index>(brows * ldb, 1), rng);
  auto c = random_vec<T>(std::max<Index>(M * ldc, 1), rng);
  if (beta == T(0))  // beta == 0 must not read C
    for (Index i = 0; i < M; ++i)
      for (Index j = 0; j < N; ++j) c[static_cast<std::size_t>(i * ldc + j)] = std::numeric_limits<T>::quiet_NaN();
  auto want = c;
  kernels::gemm_reference<T>(ta, tb, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, want.data(), ldc);
  auto got = c;
  WorkBuffers buf;
  kernels::gemm<T>(buf, ta, tb, M, N, K, alpha, a.data(), lda, b.data(), ldb, beta, got.data(), ldc);
  const double eps = std::numeric_limits<T>::epsilon();
  // |error| <= K * eps * sum |a||b| <= K * eps * K (inputs in [-1, 1]), plus beta * C.
  const double tol = 4 * eps * (double(K) * double(K) + 2);
  double worst = 0;
  bool padding_kept = true;
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < ldc && i * ldc + j < Index(c.size()); ++j) {
      const auto at = static_cast<std::size_t>(i * ldc + j);
      if (j >= N) padding_kept = padding_kept && got[at] == c[at];
      else worst = std::max(worst, std::abs(double(got[at]) - double(want[at])));  // NaN fails below
    }
  INFO("ta=", int(ta), " tb=", int(tb), " M=", M, " N=", N, " K=", K, " alpha=", double(alpha), " beta=", double(beta));
  CHECK(padding_kept);
  CHECK(worst <= tol);
  for (std::size_t i = 0; i < got.size(); ++i)
    if (std::isnan(double(got[i])) && !std::isnan(double(want[i]))) FAIL_CHECK("NaN in the result at ", i);
}

template <class T>
void check_all() {
  Rng rng(7);
  const std::vector<Case> cases{{1, 1, 1},   {1, 17, 5},   {7, 1, 3},    {6, 16, 8},   {12, 32, 1},
                                {5, 15, 7},  {13, 33, 29}, {31, 47, 64}, {64, 100, 300}, {150, 40, 257},
                                {7, 3100, 9}, {3, 5, 0},   {0, 4, 4},    {4, 0, 4},
                                {20, 9, 700}, {256, 1, 2304}, {9, 64, 40}, {9, 65, 40}};
  for (Trans ta : {Trans::no, Trans::yes})
    for (Trans tb : {Trans::no, Trans::yes})
      for (const Case& c : cases)
        for (T beta : {T(0), T(1), T(-0.5)}) check_case<T>(ta, tb, c.M, c.N, c.K, T(1), beta, rng);
  for (Trans ta : {Trans::no, Trans::yes}) check_case<T>(ta, Trans::no, 9, 21, 11, T(-0.7), T(0.25), rng);
}

}  // namespace

TEST_CASE("gemm<float> equals the reference on many shapes") {
  MESSAGE("gemm<float> kernel: " << std::string(kernels::gemm_kernel_name()));
  check_all<float>();
}

TEST_CASE("gemm<double> equals the reference on many shapes") { check_all<double>(); }

TEST_CASE("gemm_parallel gives the same bits as gemm, for any thread count") {
  Rng rng(11);
  const Index M = 40, N = 700, K = 300;
  const auto a = random_vec<float>(M * K, rng), b = random_vec<float>(K * N, rng);
  std::vector<float> serial(static_cast<std::size_t>(M * N)), par = serial;
  WorkBuffers buf;
  kernels::gemm<float>(buf, Trans::no, Trans::no, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, serial.data(), N);
  for (int t : {1, 2, 3}) {
    Context ctx(t);
    kernels::gemm_parallel<float>(ctx, Trans::no, Trans::no, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, par.data(),
                                  N);
    if (std::string(kernels::gemm_kernel_name()) != "eigen") CHECK(par == serial);
    std::vector<float> again(par.size());
    kernels::gemm_parallel<float>(ctx, Trans::no, Trans::no, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f,
                                  again.data(), N);
    CHECK(again == par);
  }
}

TEST_CASE("gemm reads a narrow product's A in place with the same bits as packed") {
  // Up to gemm_n_unpacked_a columns the AVX2 kernel reads A unpacked; the columns of a wider
  // product (A packed) must come out bit for bit the same. K = 700: several K blocks.
  Rng rng(12);
  const Index M = 23, K = 700, N = 80, narrow = 64;
  const auto a = random_vec<float>(M * K, rng), b = random_vec<float>(K * N, rng);
  std::vector<float> wide(static_cast<std::size_t>(M * N)), part(static_cast<std::size_t>(M * narrow));
  WorkBuffers buf;
  kernels::gemm<float>(buf, Trans::no, Trans::no, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, wide.data(), N);
  kernels::gemm<float>(buf, Trans::no, Trans::no, M, narrow, K, 1.0f, a.data(), K, b.data(), N, 0.0f, part.data(),
                       narrow);
  if (std::string(kernels::gemm_kernel_name()) == "eigen") return;  // Eigen blocks as it likes
  for (Index i = 0; i < M; ++i)
    CHECK(std::memcmp(&wide[std::size_t(i * N)], &part[std::size_t(i * narrow)], sizeof(float) * std::size_t(narrow)) ==
          0);
}

TEST_CASE("build_info names the kernel and the thread count") {
  const BuildInfo info = build_info();
  CHECK(info.gemm_kernel == kernels::gemm_kernel_name());
  CHECK(info.threads == default_threads());
  set_default_threads(3);
  CHECK(build_info().threads == 3);
  CHECK(Context().threads() == 3);
  set_default_threads(0);
  CHECK(build_info().threads == info.threads);
  CHECK(info.str().find(info.gemm_kernel) != std::string::npos);
}

}  // namespace test_gemm

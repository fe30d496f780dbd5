// The fast pooling paths (MaxPool2D's 8- and 16-window SIMD kernels, AvgPool2D's tiled path) against
// naive loops, on rows wide enough for the fast paths to run, with many ties and some NaNs.
// tests/gemm_native.cmake also builds this file with -march=native, where the SIMD kernel
// is compiled in.
#include <doctest/doctest.h>

#include <twin/twin.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace test_pool_kernels {  // file-local: the test files are compiled as unity batches

using namespace twin;

namespace {

struct Geometry {
  Index n, c, h, w, k, s, p;
};

// Values from a small set, so that windows often hold several equal maxima.
Tensor<float> tied_input(const Shape& s, std::uint64_t seed, bool with_nan) {
  Tensor<float> x(s);
  Rng rng(seed);
  for (auto& v : x) v = float(rng.below(5)) - 2.0f;
  if (with_nan)
    for (Index i = 3; i < x.size(); i += 97) x[i] = std::numeric_limits<float>::quiet_NaN();
  return x;
}

// The documented rule: scan each window in row-major order, take a value that is greater
// than the best so far, or NaN. Returns y and dx for dy = 1, 2, 3, ...
void naive_maxpool(const Geometry& g, const Tensor<float>& x, std::vector<float>& y, std::vector<float>& dx) {
  const Index ho = (g.h + 2 * g.p - g.k) / g.s + 1, wo = (g.w + 2 * g.p - g.k) / g.s + 1;
  y.assign(std::size_t(g.n * g.c * ho * wo), 0.0f);
  dx.assign(std::size_t(x.size()), 0.0f);
  for (Index pl = 0; pl < g.n * g.c; ++pl)
    for (Index i = 0; i < ho; ++i)
      for (Index j = 0; j < wo; ++j) {
        Index best_at = -1;
        float best = 0;
        for (Index r = std::max<Index>(0, i * g.s - g.p); r < std::min(g.h, i * g.s - g.p + g.k); ++r)
          for (Index c = std::max<Index>(0, j * g.s - g.p); c < std::min(g.w, j * g.s - g.p + g.k); ++c) {
            const float v = x[(pl * g.h + r) * g.w + c];
            if (best_at < 0 || v > best || std::isnan(v)) {
              best = v;
              best_at = r * g.w + c;
            }
          }
        const Index o = (pl * ho + i) * wo + j;
        y[std::size_t(o)] = best;
        dx[std::size_t(pl * g.h * g.w + best_at)] += float(o % 7 + 1);
      }
}

template <class Options>
void run(const Options& o, const Shape& in, const Tensor<float>& x, std::vector<float>& y, std::vector<float>& dx) {
  Sequential<float> net;
  net.add(o);
  net.init(0);
  net.workspace().set_check_input(false);  // NaN inputs on purpose: the kernels must pass them on
  auto out = net.forward(x.view(), Mode::train);
  y.assign(out.begin(), out.end());
  Tensor<float> dy(out.shape());
  for (Index i = 0; i < dy.size(); ++i) dy[i] = float(i % 7 + 1);
  auto d = net.backward(dy.view(), true);
  dx.assign(d.begin(), d.end());
  CHECK(Shape(d.shape()) == in);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

}  // namespace

TEST_CASE("MaxPool2D fast path equals the naive scan (ties, NaN, strides 1-3, padding)") {
  const Geometry cases[] = {{2, 3, 9, 40, 3, 2, 0}, {1, 2, 7, 37, 3, 2, 1}, {2, 1, 6, 33, 2, 1, 0},
                            {1, 2, 8, 50, 3, 3, 1}, {1, 1, 5, 64, 2, 2, 0}, {3, 2, 11, 29, 3, 1, 1},
                            // rows of 16-window (AVX-512) and 8-window blocks and a scalar rest
                            {1, 2, 5, 60, 3, 1, 0}, {1, 2, 7, 72, 3, 2, 0}};
  for (const auto& g : cases)
    for (bool nan : {false, true}) {
      INFO("k=", g.k, " s=", g.s, " p=", g.p, " w=", g.w, " nan=", nan);
      const Shape in{g.n, g.c, g.h, g.w};
      const auto x = tied_input(in, std::uint64_t(g.w * 10 + g.k), nan);
      std::vector<float> y, dx, ry, rdx;
      run(MaxPool2D{.kernel = g.k, .stride = g.s, .pad = g.p}, in, x, y, dx);
      naive_maxpool(g, x, ry, rdx);
      CHECK(same_bits(y, ry));
      CHECK(same_bits(dx, rdx));
    }
}

TEST_CASE("MaxPool2D fast path: every row length, so each masked tail of 1-15 windows runs") {
  for (Index s = 1; s <= 3; ++s)
    for (Index p = 0; p <= 1; ++p)
      for (Index wo = 1; wo <= 40; ++wo) {
        const Geometry g{1, 2, 4, (wo - 1) * s + 3 - 2 * p, 3, s, p};
        for (bool nan : {false, true}) {
          INFO("s=", s, " p=", p, " w=", g.w, " nan=", nan);
          const Shape in{g.n, g.c, g.h, g.w};
          const auto x = tied_input(in, std::uint64_t(g.w * 10 + s), nan);
          std::vector<float> y, dx, ry, rdx;
          run(MaxPool2D{.kernel = g.k, .stride = g.s, .pad = g.p}, in, x, y, dx);
          naive_maxpool(g, x, ry, rdx);
          CHECK(same_bits(y, ry));
          CHECK(same_bits(dx, rdx));
        }
      }
}

TEST_CASE("AvgPool2D tiled path equals the naive average (odd sizes drop the last row/column)") {
  for (Index k : {2, 3})
    for (const Shape& in : {Shape{2, 3, 24, 24}, Shape{1, 2, 7, 11}}) {
      const auto x = tied_input(in, 5, false);
      std::vector<float> y, dx;
      run(AvgPool2D{.kernel = k}, in, x, y, dx);
      const Index h = in[2], w = in[3], ho = h / k, wo = w / k;
      std::vector<float> ry(y.size()), rdx(dx.size(), 0.0f);
      for (Index pl = 0; pl < in[0] * in[1]; ++pl)
        for (Index i = 0; i < ho; ++i)
          for (Index j = 0; j < wo; ++j) {
            float s = 0;
            for (Index r = 0; r < k; ++r)
              for (Index c = 0; c < k; ++c) s += x[(pl * h + i * k + r) * w + j * k + c];
            const Index o = (pl * ho + i) * wo + j;
            ry[std::size_t(o)] = s * (1.0f / float(k * k));
            for (Index r = 0; r < k; ++r)
              for (Index c = 0; c < k; ++c)
                rdx[std::size_t((pl * h + i * k + r) * w + j * k + c)] += float(o % 7 + 1) * (1.0f / float(k * k));
          }
      INFO("k=", k, " in=", in.str());
      CHECK(same_bits(y, ry));
      CHECK(same_bits(dx, rdx));
    }
}

}  // namespace test_pool_kernels

// Conv2D's forward (kernels/conv_gemm.hpp) works in blocks of output pixels
// (kernels::conv_pixel_block) and, with the AVX2 kernel, builds the im2col panels while
// packing them (an implicit GEMM) and adds the bias in the micro-kernel's final write.
// These images are large enough for several blocks, a partial last block and blocks that
// start in the middle of an output row, with C k k over one K block and O over one A block;
// the result must match the naive direct loop, and the implicit GEMM must give the same bits
// as an explicit im2col followed by gemm().
// tests/gemm_native.cmake also builds this file with -march=native (the SIMD GEMM).
#include <doctest/doctest.h>

#include <twin/testing/random.hpp>
#include <twin/twin.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

namespace test_conv_blocks {  // file-local: the test files are compiled as unity batches

using namespace twin;

TEST_CASE("Conv2D forward in pixel blocks equals the direct loop") {
  struct Case {
    Index n, c, h, w, o, k, s, p;
    bool bias;
  };
  const Case cases[] = {{2, 3, 30, 41, 5, 3, 1, 1, true},   {1, 2, 33, 50, 4, 5, 2, 2, true},
                        {2, 1, 40, 70, 7, 7, 2, 3, true},   {1, 2, 31, 47, 3, 3, 3, 0, true},
                        {2, 2, 29, 37, 3, 1, 2, 0, true},   {1, 1, 20, 300, 2, 3, 1, 0, true},
                        {1, 40, 12, 23, 7, 3, 1, 1, true},  // C k k = 360: two K blocks
                        {1, 2, 9, 30, 150, 3, 1, 1, true},  // O = 150: two A blocks
                        {2, 3, 17, 19, 13, 3, 1, 0, false}, {1, 5, 16, 16, 8, 1, 1, 0, true}};
  for (const Case& cs : cases) {
    INFO("C=", cs.c, " bias=", cs.bias, " H=", cs.h, " W=", cs.w, " O=", cs.o, " k=", cs.k, " s=", cs.s, " p=", cs.p);
    Sequential<float> net;
    net.add(Conv2D{.in = cs.c, .out = cs.o, .kernel = cs.k, .stride = cs.s, .pad = cs.p, .bias = cs.bias});
    net.init(3);
    Tensor<float> x(Shape{cs.n, cs.c, cs.h, cs.w});
    Rng rng(5);
    for (auto& v : x) v = float(rng.uniform(-1.0, 1.0));
    const auto y = net.forward(x.view(), Mode::train);
    const kernels::ConvGeometry g{cs.n, cs.c, cs.h, cs.w, cs.o, cs.k, cs.s, cs.p};
    std::vector<float> want(static_cast<std::size_t>(y.size()));
    const auto params = net.params();
    kernels::conv2d_reference_forward<float>(g, x.data(), params.data(),
                                             cs.bias ? params.data() + cs.o * cs.c * cs.k * cs.k : nullptr, want.data());
    double worst = 0;
    for (Index i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(double(y[i]) - double(want[std::size_t(i)])));
    CHECK(worst <= 1e-5 * double(cs.c * cs.k * cs.k));
    for (Index i = 0; i < y.size(); ++i) REQUIRE(std::isfinite(y[i]));
  }
}

TEST_CASE("im2col_range, im2col_gather and im2col_pixel_taps follow the definition") {
  // Ranges of few pixels gather through tap offsets (im2col_few_pixels), longer ones copy runs.
  struct Case {
    Index c, h, w, k, s, p;
  };
  const Case cases[] = {{3, 3, 3, 3, 1, 1}, {2, 1, 1, 3, 1, 1}, {2, 2, 2, 5, 2, 2}, {4, 8, 8, 3, 2, 0},
                        {2, 9, 11, 3, 1, 1}, {3, 7, 5, 1, 1, 0}, {2, 12, 10, 5, 3, 2}};
  for (const Case& cs : cases) {
    const kernels::ConvGeometry g{1, cs.c, cs.h, cs.w, 1, cs.k, cs.s, cs.p};
    INFO("C=", cs.c, " H=", cs.h, " W=", cs.w, " k=", cs.k, " s=", cs.s, " p=", cs.p);
    const Index wo = g.out_w(), hw = g.out_h() * wo, K = cs.c * cs.k * cs.k, x_size = cs.c * cs.h * cs.w, m = 3;
    const Tensor<float> x = twin::testing::random_tensor<float>(Shape{m, cs.c, cs.h, cs.w}, 4);
    auto want = [&](Index img, Index row, Index j) {  // cols(x[img]) (row, j), from the definition
      const Index c = row / (cs.k * cs.k), p = row / cs.k % cs.k, q = row % cs.k;
      const Index r = j / wo * cs.s - cs.p + p, col = j % wo * cs.s - cs.p + q;
      return r < 0 || r >= cs.h || col < 0 || col >= cs.w ? 0.0f : x[img * x_size + (c * cs.h + r) * cs.w + col];
    };
    for (Index j0 = 0; j0 < hw; j0 += std::max<Index>(1, hw / 3))
      for (Index j1 : {std::min(hw, j0 + 1), std::min(hw, j0 + 5), hw}) {
        const Index n = j1 - j0, ld = n + 2;
        std::vector<float> cols(std::size_t(K * ld), -7.0f);
        kernels::im2col_range(g, x.data(), j0, j1, cols.data(), ld);
        for (Index row = 0; row < K; ++row)
          for (Index j = 0; j < ld; ++j)
            REQUIRE(cols[std::size_t(row * ld + j)] == (j < n ? want(0, row, j0 + j) : -7.0f));
        if (n > kernels::im2col_few_pixels) continue;
        const Index js = m + 1, ldg = n * js;  // pixel-major, one spare column per pixel
        std::vector<float> gathered(std::size_t(K * ldg), -7.0f);
        kernels::im2col_gather(g, x.data(), x_size, m, js, j0, j1, gathered.data(), ldg);
        for (Index row = 0; row < K; ++row)
          for (Index j = 0; j < n; ++j)
            for (Index i = 0; i < js; ++i)
              REQUIRE(gathered[std::size_t(row * ldg + j * js + i)] == (i < m ? want(i, row, j0 + j) : -7.0f));
      }
    for (Index j = 0; j < hw; ++j) {  // a tap is valid when it reads inside the image
      const std::uint64_t taps = kernels::im2col_pixel_taps(g, j);
      for (Index t = 0; t < cs.k * cs.k; ++t) {
        const Index r = j / wo * cs.s - cs.p + t / cs.k, col = j % wo * cs.s - cs.p + t % cs.k;
        CHECK(bool(taps >> t & 1) == (r >= 0 && r < cs.h && col >= 0 && col < cs.w));
      }
    }
  }
}

TEST_CASE("implicit-GEMM convolution gives the same bits as im2col + gemm") {
  // gemm() with the bias written into y first and beta = 1 adds b + W cols in the same
  // order as the implicit kernel's fused write, K block by K block.
  struct Case {
    Index c, h, w, o, k, s, p;
  };
  const Case cases[] = {{3, 30, 41, 5, 3, 1, 1}, {1, 40, 70, 7, 7, 2, 3}, {40, 12, 23, 7, 3, 1, 1}, {2, 9, 30, 150, 3, 1, 1}};
  Rng rng(9);
  for (const Case& cs : cases) {
    INFO("C=", cs.c, " H=", cs.h, " W=", cs.w, " O=", cs.o, " k=", cs.k, " s=", cs.s, " p=", cs.p);
    const kernels::ConvGeometry g{1, cs.c, cs.h, cs.w, cs.o, cs.k, cs.s, cs.p};
    const Index K = cs.c * cs.k * cs.k, N = g.out_h() * g.out_w();
    std::vector<float> x(std::size_t(cs.c * cs.h * cs.w)), w(std::size_t(cs.o * K)), b(std::size_t(cs.o));
    for (auto* v : {&x, &w, &b})
      for (float& e : *v) e = float(rng.uniform(-1.0, 1.0));
    std::vector<float> got(std::size_t(cs.o * N)), want(got.size()), cols(std::size_t(K * N));
    WorkBuffers buf;
    kernels::conv_forward_image<float>(buf, g, x.data(), kernels::pack_conv_weights<float>(buf, g, w.data()), b.data(),
                                       got.data());
    kernels::im2col<float>(g, x.data(), cols.data());
    for (Index o = 0; o < cs.o; ++o)
      for (Index j = 0; j < N; ++j) want[std::size_t(o * N + j)] = b[std::size_t(o)];
    for (Index j0 = 0; j0 < N; j0 += kernels::conv_pixel_block)  // the same column blocks
      kernels::gemm<float>(buf, kernels::Trans::no, kernels::Trans::no, cs.o, std::min(kernels::conv_pixel_block, N - j0),
                           K, 1.0f, w.data(), K, cols.data() + j0, N, 1.0f, want.data() + j0, N);
    CHECK(got == want);
  }
}

TEST_CASE("conv_forward_images: groups, channel ranges and the fused epilogue") {
  // With AVX-512 (twin_tests_native on such a machine) these geometries take the direct
  // kernel (kernels::conv_direct): tiles of 16 pixels in one or two runs of an output row
  // (Wo >= 16, with a partial last tile), whole rows (Wo = 8 with an odd Ho, Wo = 4), small
  // outputs through explicit columns (kernels::conv_direct_weights), strides
  // 1 and 2, padding, 1x1 kernels, K over several K blocks, O not a multiple of its 16
  // channels. Every path must match the direct loop, and a group of images or a range of
  // output channel panels must give the bits of one image at a time.
  struct Case {
    Index n, c, h, w, o, k, s, p;
  };
  const Case cases[] = {{3, 3, 20, 37, 20, 3, 1, 1}, {2, 7, 19, 40, 33, 3, 2, 1}, {5, 6, 8, 8, 17, 1, 1, 0},
                        {3, 9, 9, 8, 5, 3, 1, 1},    {4, 40, 4, 4, 32, 3, 1, 1}, {2, 3, 41, 41, 16, 7, 2, 0},
                        {3, 2, 18, 18, 48, 3, 1, 0}, {2, 4, 10, 10, 16, 3, 1, 1},
                        // small outputs (3x3, 1x1): explicit columns read by the direct tiles
                        {3, 8, 3, 3, 7, 3, 1, 1},    {2, 64, 3, 3, 20, 3, 2, 0}};
  Rng rng(11);
  for (const Case& cs : cases) {
    const kernels::ConvGeometry g{cs.n, cs.c, cs.h, cs.w, cs.o, cs.k, cs.s, cs.p};
    INFO("N=", cs.n, " C=", cs.c, " H=", cs.h, " W=", cs.w, " O=", cs.o, " k=", cs.k, " s=", cs.s, " p=", cs.p,
         " direct=", kernels::conv_direct(g));
    const Index K = cs.c * cs.k * cs.k, hw = g.out_h() * g.out_w(), x_size = cs.c * cs.h * cs.w, y_size = cs.o * hw;
    std::vector<float> x(std::size_t(cs.n * x_size)), w(std::size_t(cs.o * K)), b(std::size_t(cs.o)),
        res(std::size_t(cs.n * y_size));
    for (auto* v : {&x, &w, &b, &res})
      for (float& e : *v) e = float(rng.uniform(-1.0, 1.0));
    WorkBuffers buf, caller;
    const float* wp = kernels::pack_conv_weights<float>(caller, g, w.data());
    // The oracle: the direct loop, then + residual and the ReLU.
    std::vector<float> want(res.size());
    kernels::conv2d_reference_forward<float>(g, x.data(), w.data(), b.data(), want.data());
    for (std::size_t i = 0; i < want.size(); ++i) want[i] = std::max(want[i] + res[i], 0.0f);
    // One image at a time (conv_forward_image), then the whole batch as one group.
    std::vector<float> one(res.size()), group(res.size()), split(res.size());
    for (Index n = 0; n < cs.n; ++n)
      kernels::conv_forward_image<float>(buf, g, x.data() + n * x_size, wp, b.data(), one.data() + n * y_size,
                                         res.data() + n * y_size, true);
    kernels::conv_forward_images<float>(buf, g, cs.n, x.data(), wp, b.data(), group.data(), res.data(), true);
    double worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, double(std::abs(one[i] - want[i])));
    CHECK(worst <= 1e-5 * double(K));
    CHECK(group == one);
    // Output channel panels one by one (how batch-1 work is split between threads).
    const Index panels = kernels::conv_direct_panels(g);
    if (panels > 0) {
      CHECK(kernels::conv_direct_weights(g));
      for (Index n = 0; n < cs.n; ++n)
        for (Index p = 0; p < panels; ++p)
          kernels::conv_forward_images<float>(buf, g, 1, x.data() + n * x_size, wp, b.data(), split.data() + n * y_size,
                                              res.data() + n * y_size, true, p, p + 1);
      CHECK(split == one);
    }
    // Without bias and epilogue.
    kernels::conv_forward_images<float>(buf, g, cs.n, x.data(), wp, nullptr, group.data());
    kernels::conv2d_reference_forward<float>(g, x.data(), w.data(), nullptr, want.data());
    worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, double(std::abs(group[i] - want[i])));
    CHECK(worst <= 1e-5 * double(K));
  }
}

}  // namespace test_conv_blocks

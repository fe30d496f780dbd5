// Conv2D's forward runs im2col + GEMM in blocks of output pixels (Conv2DLayer::pixel_block).
// These images are large enough for several blocks, a partial last block and blocks that
// start in the middle of an output row; the result must match the naive direct loop.
// tests/gemm_native.cmake also builds this file with -march=native (the SIMD GEMM).
#include <doctest/doctest.h>

#include <twin/twin.hpp>

#include <cmath>
#include <vector>

using namespace twin;

TEST_CASE("Conv2D forward in pixel blocks equals the direct loop") {
  struct Case {
    Index n, c, h, w, o, k, s, p;
  };
  const Case cases[] = {{2, 3, 30, 41, 5, 3, 1, 1}, {1, 2, 33, 50, 4, 5, 2, 2}, {2, 1, 40, 70, 7, 7, 2, 3},
                        {1, 2, 31, 47, 3, 3, 3, 0}, {2, 2, 29, 37, 3, 1, 2, 0}, {1, 1, 20, 300, 2, 3, 1, 0}};
  for (const Case& cs : cases) {
    INFO("C=", cs.c, " H=", cs.h, " W=", cs.w, " O=", cs.o, " k=", cs.k, " s=", cs.s, " p=", cs.p);
    Sequential<float> net;
    net.add(Conv2D{.in = cs.c, .out = cs.o, .kernel = cs.k, .stride = cs.s, .pad = cs.p});
    net.init(3);
    Tensor<float> x(Shape{cs.n, cs.c, cs.h, cs.w});
    Rng rng(5);
    for (auto& v : x) v = float(rng.uniform(-1.0, 1.0));
    const auto y = net.forward(x.view(), Mode::train);
    const kernels::ConvGeometry g{cs.n, cs.c, cs.h, cs.w, cs.o, cs.k, cs.s, cs.p};
    std::vector<float> want(static_cast<std::size_t>(y.size()));
    const auto params = net.params();
    kernels::conv2d_reference_forward<float>(g, x.data(), params.data(), params.data() + cs.o * cs.c * cs.k * cs.k,
                                             want.data());
    double worst = 0;
    for (Index i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(double(y[i]) - double(want[std::size_t(i)])));
    CHECK(worst <= 1e-5 * double(cs.c * cs.k * cs.k));
    for (Index i = 0; i < y.size(); ++i) REQUIRE(std::isfinite(y[i]));
  }
}

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include <twin/data/binarize.hpp>
#include <twin/twin.hpp>

namespace test_binarize {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace twin::data;

namespace {
// A (h, w) scan: paper at `paper` +- noise, a dark ink rectangle at rows [y0, y1) and
// columns [x0, x1) at `ink` +- noise.
Tensor<std::uint8_t, 2> scan(Index h, Index w, int paper, int ink, Index y0, Index y1, Index x0, Index x1,
                             std::uint64_t seed) {
  Rng rng(seed);
  Tensor<std::uint8_t, 2> img(Shape{h, w});
  for (Index y = 0; y < h; ++y)
    for (Index x = 0; x < w; ++x) {
      const bool in = y >= y0 && y < y1 && x >= x0 && x < x1;
      const int v = (in ? ink : paper) + static_cast<int>(rng.below(11)) - 5;
      img(y, x) = static_cast<std::uint8_t>(std::clamp(v, 0, 255));
    }
  return img;
}
}  // namespace

TEST_CASE("otsu + binarize: paper becomes exactly 0 whatever its level, ink exactly 1") {
  for (int paper : {200, 235, 250}) {
    CAPTURE(paper);
    auto img = scan(40, 60, paper, 60, 10, 20, 15, 45, 7);
    const int t = otsu_threshold(img.view());
    CHECK(t >= 65);  // the darkest ink is 65
    CHECK(t < paper - 5);
    auto b = binarize(img.view(), t);
    for (Index y = 0; y < 40; ++y)
      for (Index x = 0; x < 60; ++x) {
        const bool in = y >= 10 && y < 20 && x >= 15 && x < 45;
        CHECK(b(y, x) == (in ? 1.0f : 0.0f));
      }
  }
}

TEST_CASE("otsu: a flat image has no ink") {
  Tensor<std::uint8_t, 2> img(Shape{5, 5}, std::uint8_t{240});
  CHECK(otsu_threshold(img.view()) == -1);
  auto b = binarize(img.view(), -1);
  for (float v : b.span()) CHECK(v == 0.0f);
  CHECK(ink_bbox(b.view()).empty());
  auto n = normalise_document(img.view(), 8, 16);
  CHECK(n.dim(0) == 8);
  for (float v : n.span()) CHECK(v == 0.0f);
}

TEST_CASE("ink_bbox and crop find the ink exactly") {
  auto img = scan(50, 70, 240, 30, 12, 31, 5, 66, 3);
  auto b = binarize(img.view(), otsu_threshold(img.view()));
  const Box box = ink_bbox(b.view());
  CHECK(box == Box{12, 5, 19, 61});
  auto c = crop(b.view(), box);
  CHECK(c.dim(0) == 19);
  CHECK(c.dim(1) == 61);
  for (float v : c.span()) CHECK(v == 1.0f);
  CHECK_THROWS_AS(crop(b.view(), Box{40, 0, 20, 5}), shape_error);
}

TEST_CASE("fit_into_canvas keeps the aspect ratio, centres, and keeps paper at 0") {
  // A 10 x 40 block (aspect 1:4) into a 32 x 64 canvas: scale 1.6 -> 16 x 64, rows 8..23.
  Tensor<float, 2> block(Shape{10, 40}, 1.0f);
  auto f = fit_into_canvas(block.view(), 32, 64);
  const Box box = ink_bbox(f.view());
  CHECK(box == Box{8, 0, 16, 64});
  for (Index y = 0; y < 32; ++y)
    for (Index x = 0; x < 64; ++x) CHECK(f(y, x) == ((y >= 8 && y < 24) ? doctest::Approx(1.0f) : doctest::Approx(0.0f)));
  // A tall 60 x 20 block (3:1) into 30 x 60: scale 0.5 -> 30 x 10, columns 25..34.
  Tensor<float, 2> tall(Shape{60, 20}, 1.0f);
  auto g = fit_into_canvas(tall.view(), 30, 60);
  CHECK(ink_bbox(g.view()) == Box{0, 25, 30, 10});
  // Downscaling by area keeps the ink mass (up to the scale factor squared).
  Tensor<float, 2> checker(Shape{40, 40}, 0.0f);
  for (Index y = 0; y < 40; ++y)
    for (Index x = 0; x < 40; ++x) checker(y, x) = static_cast<float>((x + y) % 2);
  auto d = fit_into_canvas(checker.view(), 16, 16);
  double mass = 0;
  for (float v : d.span()) {
    CHECK(v >= 0.0f);
    CHECK(v <= 1.0f);
    mass += v;
  }
  CHECK(mass == doctest::Approx(800.0 * 16 * 16 / (40.0 * 40.0)).epsilon(1e-4));
}

TEST_CASE("normalise_document: two scans of one shape on different papers give the same image") {
  // The CEDAR shortcut: the same ink on grey vs white paper, at different contrast.
  auto grey = scan(60, 120, 236, 90, 20, 35, 10, 100, 11);
  auto white = scan(80, 150, 252, 40, 30, 45, 40, 130, 12);
  auto a = normalise_document(grey.view(), 32, 96);
  auto b = normalise_document(white.view(), 32, 96);
  for (Index i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]));
  // Paper exactly 0 outside the fitted ink, and the ink fills the canvas width.
  CHECK(ink_bbox(a.view()).width == 96);
}

TEST_CASE("normalise_document: a threshold passed in is used instead of Otsu's") {
  // Paper 200, a frame of mid grey 140 and a core of ink 30: Otsu's level separates the core
  // from the rest; a threshold of 150 counts the frame as ink too, so the crop grows.
  Tensor<std::uint8_t, 2> img(Shape{40, 80}, std::uint8_t{200});
  for (Index y = 5; y < 35; ++y)
    for (Index x = 5; x < 75; ++x) img(y, x) = (y >= 15 && y < 25 && x >= 20 && x < 60) ? 30 : 140;
  const int t = otsu_threshold(img.view());
  const auto otsu = normalise_document(img.view(), 20, 40);
  const auto same = normalise_document(img.view(), 20, 40, {.threshold = t});
  CHECK(std::equal(otsu.begin(), otsu.end(), same.begin()));
  const auto wide = binarize(img.view(), 150);
  const auto core = binarize(img.view(), t);
  CHECK(ink_bbox(wide.view()).height == 30);
  CHECK(ink_bbox(core.view()).height < 30);
  const auto framed = normalise_document(img.view(), 20, 40, {.threshold = 150});
  CHECK(!std::equal(otsu.begin(), otsu.end(), framed.begin()));
}

TEST_CASE("fit_into_canvas with a scale limit: fixed size where it fits, shrunk where it does not") {
  // A 10 x 40 block at scale limit 0.5 into 32 x 64: 5 x 20, centred (rows 13..17, columns 22..41).
  Tensor<float, 2> block(Shape{10, 40}, 1.0f);
  auto f = fit_into_canvas(block.view(), 32, 64, 0.5);
  CHECK(ink_bbox(f.view()) == Box{13, 22, 5, 20});
  for (Index y = 0; y < 32; ++y)
    for (Index x = 0; x < 64; ++x) CHECK(f(y, x) == doctest::Approx((y >= 13 && y < 18 && x >= 22 && x < 42) ? 1.0f : 0.0f));
  // A block twice as large in both directions keeps twice the size: relative size survives.
  Tensor<float, 2> big(Shape{20, 80}, 1.0f);
  CHECK(ink_bbox(fit_into_canvas(big.view(), 32, 64, 0.5).view()) == Box{11, 12, 10, 40});
  // Too wide at 0.5 (200 -> 100 > 64): shrunk to fit as without a limit.
  Tensor<float, 2> wide(Shape{10, 200}, 1.0f);
  const auto w = fit_into_canvas(wide.view(), 32, 64, 0.5), w0 = fit_into_canvas(wide.view(), 32, 64);
  CHECK(std::equal(w.begin(), w.end(), w0.begin()));
  CHECK(ink_bbox(w.view()).width == 64);
  // A limit above the fitting scale, or 0, changes nothing.
  const auto f0 = fit_into_canvas(block.view(), 32, 64), f9 = fit_into_canvas(block.view(), 32, 64, 9.0);
  CHECK(std::equal(f0.begin(), f0.end(), f9.begin()));
  CHECK_THROWS_AS(fit_into_canvas(block.view(), 32, 64, std::nan("")), shape_error);
  CHECK_THROWS_AS(fit_into_canvas(block.view(), 32, 64, HUGE_VAL), shape_error);
}

TEST_CASE("normalise_document with a fixed scale: a larger signature stays larger, strokes stay 0/1") {
  // The same shape written at two sizes: filled, both take the canvas width; at a fixed
  // scale the larger one is twice as wide, and both keep the redrawn strokes' 0/1 values.
  auto small = scan(60, 120, 240, 40, 20, 30, 20, 60, 21);   // ink 10 x 40
  auto large = scan(80, 160, 240, 40, 20, 40, 40, 120, 22);  // ink 20 x 80
  const DocumentOptions fill{.speck_share = 0.0, .stroke_radius = 1};
  DocumentOptions fixed = fill;
  fixed.fixed_scale = 0.5;
  const Index fill_small = ink_bbox(normalise_document(small.view(), 32, 96, fill).view()).width;
  const Index fill_large = ink_bbox(normalise_document(large.view(), 32, 96, fill).view()).width;
  CHECK(std::abs(fill_small - fill_large) <= 1);  // the skeletons' ends differ by a pixel
  const auto a = normalise_document(small.view(), 32, 96, fixed), b = normalise_document(large.view(), 32, 96, fixed);
  // (Thinning shortens a bar by about its height, so the widths are near 17 and 32, not 20 and 40.)
  const Box ba = ink_bbox(a.view()), bb = ink_bbox(b.view());
  CHECK(ba.width < 25);
  CHECK(static_cast<double>(bb.width) / static_cast<double>(ba.width) == doctest::Approx(2.0).epsilon(0.15));
  for (const auto* t : {&a, &b})
    for (float v : t->span()) CHECK((v == 0.0f || v == 1.0f));
}

}  // namespace test_binarize

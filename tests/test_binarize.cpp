#include <doctest/doctest.h>

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

}  // namespace test_binarize

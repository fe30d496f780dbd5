// Image transforms: conversion, resize (bilinear up, area down), invert, normalise, affine
// augmentation.
#include <doctest/doctest.h>

#include <twin/data/transform.hpp>

namespace test_transform {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace twin::data;

namespace {
Image make(Index h, Index w, std::initializer_list<float> v) {
  Image img(Shape{h, w});
  REQUIRE(static_cast<Index>(v.size()) == h * w);
  std::copy(v.begin(), v.end(), img.begin());
  return img;
}
double sum(const Image& img) {
  double s = 0;
  for (float v : img) s += v;
  return s;
}
}  // namespace

TEST_CASE("to_float, invert, normalise") {
  Tensor<std::uint8_t, 2> u(Shape{1, 3});
  u[0] = 0;
  u[1] = 51;
  u[2] = 255;
  const Image f = to_float(u);
  CHECK(f[0] == 0.0f);
  CHECK(f[1] == doctest::Approx(0.2));
  CHECK(f[2] == 1.0f);
  const Image inv = invert(f);
  CHECK(inv[0] == 1.0f);
  CHECK(inv[2] == 0.0f);
  const Image n = normalise(f, 0.5f, 0.25f);
  CHECK(n[0] == doctest::Approx(-2.0));
  CHECK(n[2] == doctest::Approx(2.0));
  CHECK_THROWS_AS(normalise(f, 0.0f, 0.0f), numeric_error);
}

TEST_CASE("resize: same size is the identity, constant stays constant") {
  Rng rng(3);
  Image img(Shape{5, 7});
  for (float& v : img) v = static_cast<float>(rng.uniform());
  const Image same = resize(img, 5, 7);
  for (Index i = 0; i < img.size(); ++i) CHECK(same[i] == doctest::Approx(img[i]));
  Image c(Shape{13, 9}, 0.7f);
  for (auto [h, w] : {std::pair<Index, Index>{4, 3}, {20, 30}, {5, 40}, {1, 1}}) {
    const Image r = resize(c, h, w);
    CHECK(r.dim(0) == h);
    CHECK(r.dim(1) == w);
    for (float v : r) CHECK(v == doctest::Approx(0.7));
  }
  CHECK_THROWS_AS(resize(img, 0, 3), shape_error);
}

TEST_CASE("resize: bilinear when enlarging, against hand-computed values") {
  // 1 x 2 -> 1 x 4: centres of output pixels map to source x = -0.25, 0.25, 0.75, 1.25,
  // clamped to [0, 1]: values 0, 0.25, 0.75, 1 of a ramp from 0 to 1.
  const Image r = resize(make(1, 2, {0.0f, 1.0f}), 1, 4);
  CHECK(r[0] == doctest::Approx(0.0));
  CHECK(r[1] == doctest::Approx(0.25));
  CHECK(r[2] == doctest::Approx(0.75));
  CHECK(r[3] == doctest::Approx(1.0));
}

TEST_CASE("resize: area averaging when shrinking keeps a thin stroke's ink") {
  // 2 x 4 -> 1 x 2: each output pixel is the mean of a 2 x 2 block.
  const Image r = resize(make(2, 4, {1, 2, 3, 4, 5, 6, 7, 8}), 1, 2);
  CHECK(r[0] == doctest::Approx(3.5));
  CHECK(r[1] == doctest::Approx(5.5));
  // Non-integer factor 3 -> 2: output 0 covers [0, 1.5): (a + 0.5 b) / 1.5.
  const Image q = resize(make(1, 3, {3, 6, 9}), 1, 2);
  CHECK(q[0] == doctest::Approx((3 + 0.5 * 6) / 1.5));
  CHECK(q[1] == doctest::Approx((0.5 * 6 + 9) / 1.5));

  // A one-pixel vertical stroke in a 64 x 64 image shrunk 8x: bilinear sampling would miss
  // it; area averaging keeps its ink (sum scaled by the area ratio) in one column.
  Image stroke(Shape{64, 64}, 0.0f);
  for (Index y = 0; y < 64; ++y) stroke(y, 29) = 1.0f;
  const Image small = resize(stroke, 8, 8);
  CHECK(sum(small) * 64.0 == doctest::Approx(sum(stroke)));
  for (Index y = 0; y < 8; ++y) CHECK(small(y, 3) == doctest::Approx(1.0 / 8));
  // Shrinking by a non-integer factor also keeps the ink mass.
  const Image odd = resize(stroke, 10, 7);
  CHECK(sum(odd) * (64.0 * 64.0) / (10.0 * 7.0) == doctest::Approx(sum(stroke)).epsilon(1e-5));
}

TEST_CASE("affine: identity, whole-pixel shift, 90 degree rotation, fill") {
  Rng rng(5);
  Image img(Shape{5, 5});
  for (float& v : img) v = static_cast<float>(rng.uniform());
  const Image id = affine(img, {});
  for (Index i = 0; i < img.size(); ++i) CHECK(id[i] == img[i]);

  const Image sh = affine(img, {.shift_y = 1.0, .shift_x = 2.0}, -1.0f);
  for (Index y = 0; y < 5; ++y)
    for (Index x = 0; x < 5; ++x) {
      const float want = (y >= 1 && x >= 2) ? img(y - 1, x - 2) : -1.0f;
      CHECK(sh(y, x) == doctest::Approx(want));
    }

  // Counter-clockwise on screen by 90 degrees: the pixel right of the centre moves above it.
  Image dot(Shape{5, 5}, 0.0f);
  dot(2, 4) = 1.0f;
  const Image rot = affine(dot, {.angle_deg = 90.0});
  CHECK(rot(0, 2) == doctest::Approx(1.0));
  CHECK(sum(rot) == doctest::Approx(1.0));

  // Scale 2 about the centre: the centre pixel stays put.
  const Image big = affine(img, {.scale = 2.0});
  CHECK(big(2, 2) == doctest::Approx(img(2, 2)));
  CHECK_THROWS_AS(affine(img, {.scale = 0.0}), error);
}

TEST_CASE("random_affine: seeded, zero options are the identity, output stays in range") {
  Image img(Shape{28, 28}, 0.0f);
  for (Index y = 8; y < 20; ++y) img(y, 14) = 1.0f;
  Rng a(42), b(42), c(43);
  const Image ra = random_affine(img, a, {.max_shift = 0.1, .max_rotation_deg = 15.0});
  const Image rb = random_affine(img, b, {.max_shift = 0.1, .max_rotation_deg = 15.0});
  const Image rc = random_affine(img, c, {.max_shift = 0.1, .max_rotation_deg = 15.0});
  CHECK(std::equal(ra.begin(), ra.end(), rb.begin()));
  CHECK_FALSE(std::equal(ra.begin(), ra.end(), rc.begin()));
  for (float v : ra) {
    CHECK(v >= 0.0f);
    CHECK(v <= 1.0f + 1e-6f);
  }
  Rng d(1);
  const Image none = random_affine(img, d, {.max_shift = 0.0, .max_rotation_deg = 0.0, .scale_range = {1.0, 1.0}});
  for (Index i = 0; i < img.size(); ++i) CHECK(none[i] == img[i]);
  CHECK_THROWS_AS(random_affine(img, d, {.scale_range = {1.2, 1.1}}), error);
}

}  // namespace test_transform

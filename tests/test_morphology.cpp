#include <doctest/doctest.h>

#include <twin/data/binarize.hpp>
#include <twin/data/morphology.hpp>

namespace test_morphology {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace twin::data;

namespace {
Index ink_count(const Tensor<float, 2>& t) {
  Index n = 0;
  for (float v : t.span()) n += v > 0.0f;
  return n;
}
// A horizontal bar of `thickness` rows centred on row `y`, columns [x0, x1).
void bar(Tensor<float, 2>& t, Index y, Index thickness, Index x0, Index x1) {
  for (Index r = y - thickness / 2; r < y - thickness / 2 + thickness; ++r)
    for (Index x = x0; x < x1; ++x) t(r, x) = 1.0f;
}
}  // namespace

TEST_CASE("remove_small_components drops specks, keeps the big strokes and the crop follows") {
  Tensor<float, 2> ink(Shape{40, 80}, 0.0f);
  bar(ink, 20, 3, 30, 70);  // 120 pixels
  ink(2, 2) = 1.0f;         // a speck far away
  ink(3, 3) = 1.0f;         // diagonal neighbour: the same 8-connected speck
  const Index before = ink_count(ink);
  CHECK(ink_bbox(ink.view()) == Box{2, 2, 20, 68});
  CHECK(remove_small_components(ink, 0.05) == 2);
  CHECK(ink_count(ink) == before - 2);
  CHECK(ink_bbox(ink.view()) == Box{19, 30, 3, 40});
  // A share so small that no component is below it changes nothing.
  CHECK(remove_small_components(ink, 1e-6) == 0);
}

TEST_CASE("remove_small_components on an empty image is a no-op") {
  Tensor<float, 2> ink(Shape{5, 7}, 0.0f);
  CHECK(remove_small_components(ink, 0.5) == 0);
  CHECK(ink_count(ink) == 0);
}

TEST_CASE("thin: bars of any thickness become a one-pixel line of about the same length") {
  for (Index thickness : {1, 3, 5, 7}) {
    CAPTURE(thickness);
    Tensor<float, 2> ink(Shape{30, 60}, 0.0f);
    bar(ink, 15, thickness, 10, 50);
    const auto s = thin(ink.view());
    // One pixel per column over most of the bar's length, never two in a column.
    Index columns = 0;
    for (Index x = 0; x < 60; ++x) {
      Index c = 0;
      for (Index y = 0; y < 30; ++y) c += s(y, x) > 0.0f;
      CHECK(c <= 1);
      columns += c;
    }
    CHECK(columns >= 40 - thickness - 1);
    for (float v : s.span()) CHECK((v == 0.0f || v == 1.0f));
  }
}

TEST_CASE("thin keeps a ring closed (connectivity)") {
  Tensor<float, 2> ink(Shape{30, 30}, 0.0f);
  for (Index y = 0; y < 30; ++y)
    for (Index x = 0; x < 30; ++x) {
      const Index d2 = (y - 15) * (y - 15) + (x - 15) * (x - 15);
      if (d2 >= 64 && d2 <= 144) ink(y, x) = 1.0f;
    }
  auto s = thin(ink.view());
  CHECK(ink_count(s) > 40);
  // Still one component holding all the skeleton, and the centre still enclosed: removing
  // components below 100% keeps nothing only if there were several.
  auto copy = s;
  CHECK(remove_small_components(copy, 0.99) == 0);
  CHECK(s(15, 15) == 0.0f);
}

TEST_CASE("dilate: radius 1 is the 3x3 square, radius 0 binarises") {
  Tensor<float, 2> ink(Shape{7, 7}, 0.0f);
  ink(3, 3) = 0.4f;
  const auto d1 = dilate(ink.view(), 1);
  CHECK(ink_count(d1) == 9);
  CHECK(d1(2, 2) == 1.0f);
  CHECK(d1(1, 3) == 0.0f);
  const auto d0 = dilate(ink.view(), 0);
  CHECK(ink_count(d0) == 1);
  CHECK(d0(3, 3) == 1.0f);
  CHECK(ink_count(dilate(ink.view(), 2)) == 21);  // the disc x^2 + y^2 <= 6
  CHECK_THROWS_AS(dilate(ink.view(), -1), shape_error);
}

TEST_CASE("normalise_document with stroke normalisation: thin and thick pens give the same input") {
  // Two scans of the same bar, one written with a 3-pixel pen, one with a 9-pixel pen.
  auto scan = [](Index thickness) {
    Tensor<std::uint8_t, 2> img(Shape{60, 200}, std::uint8_t{240});
    for (Index y = 30 - thickness / 2; y < 30 - thickness / 2 + thickness; ++y)
      for (Index x = 20; x < 180; ++x) img(y, x) = 40;
    img(5, 5) = 40;  // a speck
    return img;
  };
  const DocumentOptions opt{.speck_share = 0.01, .stroke_radius = 1};
  const auto a = normalise_document(scan(3).view(), 20, 80, opt);
  const auto b = normalise_document(scan(9).view(), 20, 80, opt);
  for (float v : a.span()) CHECK((v == 0.0f || v == 1.0f));
  // Both fill the canvas's width (the speck was dropped before the crop) with a 3-row stroke.
  Index rows_a = 0, rows_b = 0;
  for (Index y = 0; y < 20; ++y) rows_a += a(y, 40) > 0.0f, rows_b += b(y, 40) > 0.0f;
  CHECK(rows_a == 3);
  CHECK(rows_b == 3);
  CHECK(a(10, 0) + a(9, 0) + a(11, 0) + a(10, 1) + a(9, 1) + a(11, 1) > 0.0f);
  // Without the options the pen's width shows (the default stays as it was).
  const auto c = normalise_document(scan(3).view(), 20, 80);
  const auto d = normalise_document(scan(9).view(), 20, 80);
  float mass_c = 0, mass_d = 0;
  for (float v : c.span()) mass_c += v;
  for (float v : d.span()) mass_d += v;
  CHECK(mass_d > mass_c);
}

}  // namespace test_morphology

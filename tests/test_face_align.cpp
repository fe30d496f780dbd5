// Face input geometry without weights: the similarity fit recovers a known transform,
// dlib's face chip of landmarks made from the mean face lands them on the template, chips
// sample bilinearly with zero outside, square_resize pads centred and resizes as tfjs does.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include <twin/face/align.hpp>
#include <twin/face/square_resize.hpp>

namespace test_face_align {  // file-local: the test files are compiled as unity batches

using namespace twin::face;

TEST_CASE("fit_similarity recovers a rotation, scale and shift exactly") {
  const SimilarityTransform t{.a = 1.2 * std::cos(0.3), .b = 1.2 * std::sin(0.3), .tx = 5, .ty = -7};
  std::vector<Point> from{{0, 0}, {10, 0}, {3, 8}, {-4, 2}}, to;
  for (const auto& p : from) to.push_back(t(p));
  const auto f = fit_similarity(from, to);
  CHECK(f.a == doctest::Approx(t.a).epsilon(1e-12));
  CHECK(f.b == doctest::Approx(t.b).epsilon(1e-12));
  CHECK(f.tx == doctest::Approx(5).epsilon(1e-12));
  CHECK(f.ty == doctest::Approx(-7).epsilon(1e-12));
  CHECK(f.scale() == doctest::Approx(1.2));
  CHECK(f.angle() == doctest::Approx(0.3));
  CHECK_THROWS_AS(fit_similarity(std::vector<Point>{{1, 1}}, std::vector<Point>{{1, 1}}), twin::error);
  CHECK_THROWS_AS(fit_similarity(std::vector<Point>{{1, 1}, {1, 1}}, std::vector<Point>{{0, 0}, {2, 2}}), twin::error);
}

TEST_CASE("face_chip_transform maps dlib's template onto landmarks placed by a known transform") {
  // Landmarks = T(template in chip coordinates); the fit must give back T.
  const SimilarityTransform t{.a = 0.5 * std::cos(-0.2), .b = 0.5 * std::sin(-0.2), .tx = 20, .ty = 30};
  const double size = 150, pad = 0.25;
  Landmarks68 lm{};
  for (int i = 17; i < 68; ++i)
    lm[std::size_t(i)] = t({(pad + dlib_mean_face_x[std::size_t(i - 17)]) / (1 + 2 * pad) * size,
                            (pad + dlib_mean_face_y[std::size_t(i - 17)]) / (1 + 2 * pad) * size});
  lm[20] = {1e6, 1e6};  // an eyebrow point: not used by the fit
  lm[57] = {-1e6, 0};   // lower lip: not used either
  const auto f = face_chip_transform(lm, 150, 0.25);
  CHECK(f.a == doctest::Approx(t.a).epsilon(1e-9));
  CHECK(f.b == doctest::Approx(t.b).epsilon(1e-9));
  CHECK(f.tx == doctest::Approx(t.tx).epsilon(1e-9));
  CHECK(f.ty == doctest::Approx(t.ty).epsilon(1e-9));
}

TEST_CASE("extract_chip samples bilinearly, zero outside; grey is replicated to RGB") {
  // 4 x 4 grey image, value 10 x + y... as uint8: column x, row y -> 10 x + y
  std::vector<std::uint8_t> img(16);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) img[std::size_t(y * 4 + x)] = std::uint8_t(10 * x + y);
  const SimilarityTransform half{.a = 0.5, .b = 0, .tx = 0.5, .ty = 1};  // chip (x, y) -> (x/2 + 0.5, y/2 + 1)
  const auto c = extract_chip(img.data(), 4, 4, 1, half, 4);
  // chip (0, 0) -> image (0.5, 1): 10 * 0.5 + 1 = 6 in every channel
  CHECK(c[0] == doctest::Approx(6.f));
  CHECK(c[1] == doctest::Approx(6.f));
  CHECK(c[2] == doctest::Approx(6.f));
  // chip (3, 3) -> image (2, 2.5): 20 + 2.5
  CHECK(c[std::size_t((3 * 4 + 3) * 3)] == doctest::Approx(22.5f));
  const SimilarityTransform far{.a = 1, .b = 0, .tx = 100, .ty = 0};
  for (float v : extract_chip(img.data(), 4, 4, 1, far, 3)) CHECK(v == 0.f);
  CHECK_THROWS_AS(extract_chip(img.data(), 4, 4, 2, half, 4), twin::shape_error);
}

TEST_CASE("square_resize pads centred with black and resizes like tf.image.resizeBilinear") {
  // 2 rows x 1 column: padded to 2 x 2 with one black column (round(1 / 2) = 1 after, 0 before).
  const std::vector<std::uint8_t> col{100, 200};
  const auto same = square_resize(col.data(), 2, 1, 1, 2);
  CHECK(same[0] == 100.f);   // (0, 0)
  CHECK(same[3] == 0.f);     // (0, 1): the padding
  CHECK(same[6] == 200.f);   // (1, 0)
  // Upsampled to 4: source row y * 2 / 4, no half-pixel shift; the last row repeats the edge.
  const auto up = square_resize(col.data(), 2, 1, 1, 4);
  CHECK(up[0] == 100.f);
  CHECK(up[std::size_t((1 * 4 + 0) * 3)] == 150.f);  // row 0.5
  CHECK(up[std::size_t((2 * 4 + 0) * 3)] == 200.f);  // row 1
  CHECK(up[std::size_t((3 * 4 + 0) * 3)] == 200.f);  // row 1.5 clamps to the edge
  CHECK(up[std::size_t((0 * 4 + 1) * 3)] == 50.f);   // column 0.5: half image, half padding
  CHECK_THROWS_AS(square_resize(col.data(), 0, 1, 1, 4), twin::shape_error);
}

}  // namespace test_face_align

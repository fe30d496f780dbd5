// The shortcut probe (metrics/shortcut_probe.hpp) and the image statistics it reads
// (data/image_statistics.hpp): a planted cue is found and named, no cue gives chance.
#include <doctest/doctest.h>

#include <twin/data/image_statistics.hpp>
#include <twin/metrics/shortcut_probe.hpp>
#include <twin/rng.hpp>
#include <twin/testing/error_message.hpp>

namespace test_shortcut_probe {

using Row = std::array<double, 3>;

namespace {
// n rows of 3 seeded uniform features; feature `cue` (when >= 0) is shifted by `shift` for
// the positive rows (label 1 every other row).
void make(int n, int cue, double shift, std::uint64_t seed, std::vector<Row>& x, std::vector<int>& y) {
  twin::Rng rng(seed);
  x.clear(), y.clear();
  for (int i = 0; i < n; ++i) {
    Row r{rng.uniform(), rng.uniform(), rng.uniform()};
    const int label = i % 2;
    if (cue >= 0 && label) r[static_cast<std::size_t>(cue)] += shift;
    x.push_back(r);
    y.push_back(label);
  }
}
}  // namespace

TEST_CASE("shortcut_probe: finds a planted cue and names its feature; no cue gives about 0.5") {
  std::vector<Row> xtr, xte;
  std::vector<int> ytr, yte;
  make(400, 1, 0.6, 1, xtr, ytr);
  make(400, 1, 0.6, 2, xte, yte);
  const auto r = twin::metrics::shortcut_probe(xtr, ytr, xte, yte);
  CHECK(r.auc > 0.9);
  REQUIRE(r.feature_auc.size() == 3);
  CHECK(r.feature_auc[1] > 0.9);
  CHECK(r.feature_auc[0] < 0.6);
  CHECK(r.feature_auc[2] < 0.6);
  CHECK(r.p_test.size() == 400);

  // A cue of the other sign is found as well (the single-feature AUC is folded).
  make(400, 2, -0.6, 3, xtr, ytr);
  make(400, 2, -0.6, 4, xte, yte);
  const auto neg = twin::metrics::shortcut_probe(xtr, ytr, xte, yte);
  CHECK(neg.auc > 0.9);
  CHECK(neg.feature_auc[2] > 0.9);

  make(400, -1, 0, 5, xtr, ytr);
  make(400, -1, 0, 6, xte, yte);
  const auto none = twin::metrics::shortcut_probe(xtr, ytr, xte, yte);
  CHECK(none.auc > 0.4);
  CHECK(none.auc < 0.6);
  // Deterministic: the same rows give the same numbers.
  CHECK(twin::metrics::shortcut_probe(xtr, ytr, xte, yte).auc == none.auc);
}

TEST_CASE("shortcut_probe: bad input is refused with what is wrong") {
  using twin::testing::error_message;
  std::vector<Row> x(4, Row{0, 1, 2});
  const std::vector<int> y = {0, 1, 0, 1};
  CHECK(error_message([&] { twin::metrics::shortcut_probe(x, std::vector<int>{0, 1, 0}, x, y); })
            .find("4 training rows but 3 labels") != std::string::npos);
  CHECK(error_message([&] { twin::metrics::shortcut_probe(x, y, x, std::vector<int>{1, 1, 1, 1}); })
            .find("test rows need both classes") != std::string::npos);
  CHECK(error_message([&] { twin::metrics::shortcut_probe(x, std::vector<int>{0, 2, 0, 1}, x, y); })
            .find("label 2") != std::string::npos);
  auto bad = x;
  bad[2][1] = std::numeric_limits<double>::infinity();
  CHECK(error_message([&] { twin::metrics::shortcut_probe(bad, y, x, y); }).find("not finite") != std::string::npos);
  CHECK(error_message([&] { twin::metrics::shortcut_probe(x, y, x, y, {.iterations = 0}); }).find("iterations") !=
        std::string::npos);
}

TEST_CASE("image statistics of a scan and of an ink canvas") {
  // A 10 x 10 scan: paper 200, a 2 x 10 bar of ink 20.
  twin::Tensor<std::uint8_t, 2> scan(twin::Shape{10, 10}, std::uint8_t{200});
  for (twin::Index x = 0; x < 10; ++x) scan(4, x) = scan(5, x) = 20;
  const auto s = twin::data::scan_statistics(scan.view());
  CHECK(s[0] == doctest::Approx(0.8 * 200 + 0.2 * 20));  // mean
  CHECK(s[1] == doctest::Approx(72.0));                   // std: sqrt(0.2 * 0.8) * 180
  CHECK(s[2] == 200);                                     // median
  CHECK(s[3] == 20);                                      // 5th percentile
  CHECK(s[4] >= 20);                                      // Otsu between the two levels
  CHECK(s[4] < 200);
  CHECK(s[5] == doctest::Approx(0.2));                    // ink share
  CHECK(twin::data::scan_statistic_names[5] == std::string("ink"));

  // A 10 x 20 canvas: rows 2-3, columns 5-14 inked, half of them at 0.5.
  twin::Tensor<float, 2> c(twin::Shape{10, 20}, 0.0f);
  for (twin::Index x = 5; x < 15; ++x) c(2, x) = 1.0f, c(3, x) = 0.5f;
  const auto f = twin::data::canvas_statistics(c.view());
  CHECK(f[0] == doctest::Approx(15.0 / 200));             // mass per pixel
  CHECK(f[1] == doctest::Approx(0.75));                   // mean ink where inked
  CHECK(f[2] == doctest::Approx(0.5));                    // partial share
  CHECK(f[3] == doctest::Approx(0.2));                    // box height 2 of 10
  CHECK(f[4] == doctest::Approx(0.5));                    // box width 10 of 20
  CHECK(f[5] == doctest::Approx((2 * 10 + 3 * 5.0) / 15 / 10));  // centroid row / height
  const auto blank = twin::data::canvas_statistics(twin::Tensor<float, 2>(twin::Shape{4, 4}, 0.0f).view());
  for (double v : blank) CHECK(v == 0);
}

}  // namespace test_shortcut_probe

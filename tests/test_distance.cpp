// The distance objects of twin/siamese/distance.hpp: rows, all-pairs matrices and element-wise
// terms with their backward, by finite differences in double at random points and at the edge
// cases (a == b, zero vectors); closer and farther_by; NaN in, NaN out.
#include <doctest/doctest.h>

#include <twin/siamese.hpp>
#include <twin/testing/gradcheck.hpp>

#include "layer_helpers.hpp"  // CHECK_GRAD

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace test_distance {  // file-local: the test files are compiled as unity batches

using namespace twin;
using twin::testing::compare_gradients;
using twin::testing::numeric_gradient;

namespace {
const double nan = std::numeric_limits<double>::quiet_NaN();

Tensor<double> rand_t(Shape s, Rng& r, double scale = 1.0) {
  Tensor<double> t(s);
  for (double& v : t) v = r.uniform(-scale, scale);
  return t;
}
std::vector<std::pair<std::string, Distance>> every_distance() {
  return {{"L2", LpDistance{}},
          {"L2 squared", LpDistance{.squared = true}},
          {"L1", LpDistance{.p = 1}},
          {"L1 squared", LpDistance{.p = 1, .squared = true}},
          {"L3", LpDistance{.p = 3}},
          {"L3 squared", LpDistance{.p = 3, .squared = true}},
          {"cosine", CosineSimilarity{}},
          {"dot", DotProductSimilarity{}}};
}
// sum_i w_i d(a_i, b_i) and its analytic gradient (distance_backward, outputs NaN-prefilled:
// they are assigned).
void check_rows(const std::string& name, const Distance& dist, Tensor<double>& a, Tensor<double>& b, double h = 1e-6) {
  const Index N = a.dim(0);
  Rng r(9);
  Tensor<double> w(Shape{N}), d(Shape{N});
  for (double& v : w) v = r.uniform(0.5, 1.5);
  auto f = [&] {
    distance_forward(dist, a, b, d.view());
    double s = 0;
    for (Index i = 0; i < N; ++i) s += w[i] * d[i];
    return s;
  };
  Tensor<double> ga(a.shape(), nan), gb(b.shape(), nan);
  distance_backward(dist, a, b, w.view(), ga.view(), gb.view());
  CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span(), h), name + " da"));
  CHECK_GRAD(compare_gradients(gb.span(), numeric_gradient(f, b.span(), h), name + " db"));
}
}  // namespace

TEST_CASE("distances: row values against naive formulas") {
  Rng r(1);
  auto a = rand_t(Shape{3, 5}, r), b = rand_t(Shape{3, 5}, r);
  for (Index i = 0; i < 3; ++i) {
    const double* x = a.data() + i * 5;
    const double* y = b.data() + i * 5;
    double s1 = 0, s2 = 0, s3 = 0, ab = 0, aa = 0, bb = 0;
    for (Index k = 0; k < 5; ++k) {
      const double v = std::abs(x[k] - y[k]);
      s1 += v, s2 += v * v, s3 += v * v * v, ab += x[k] * y[k], aa += x[k] * x[k], bb += y[k] * y[k];
    }
    CHECK(Distance(LpDistance{}).row(x, y, 5) == doctest::Approx(std::sqrt(s2)));
    CHECK(Distance(LpDistance{.squared = true}).row(x, y, 5) == doctest::Approx(s2));
    CHECK(Distance(LpDistance{.p = 1}).row(x, y, 5) == doctest::Approx(s1));
    CHECK(Distance(LpDistance{.p = 3}).row(x, y, 5) == doctest::Approx(std::cbrt(s3)));
    CHECK(Distance(CosineSimilarity{}).row(x, y, 5) == doctest::Approx(ab / std::sqrt(aa * bb)));
    CHECK(Distance(DotProductSimilarity{}).row(x, y, 5) == doctest::Approx(ab));
  }
}

TEST_CASE("distances: row gradients at random points, every kind") {
  Rng r(2);
  auto a = rand_t(Shape{4, 5}, r), b = rand_t(Shape{4, 5}, r);
  for (auto& [name, dist] : every_distance()) check_rows(name, dist, a, b);
}

TEST_CASE("distances: a == b (zero distance) has finite gradients that match finite differences") {
  Rng r(3);
  auto a = rand_t(Shape{3, 4}, r);
  auto b = a;
  for (auto& [name, dist] : every_distance()) {
    CAPTURE(name);
    check_rows(name, dist, a, b);
  }
  // The Euclidean guard: sqrt(eps) and gradient exactly 0, not NaN (a - b over |a - b| = 0/0).
  Tensor<double> d(Shape{3}), ga(a.shape(), nan), gb(a.shape(), nan), one(Shape{3}, 1.0);
  distance_forward(LpDistance{}, a, b, d.view());
  for (double v : d) CHECK(v == doctest::Approx(std::sqrt(1e-7)));
  distance_backward(LpDistance{}, a, b, one.view(), ga.view(), gb.view());
  for (double v : ga) CHECK(v == 0.0);
  for (double v : gb) CHECK(v == 0.0);
}

TEST_CASE("distances: row_backward adds to what the buffers hold (the losses scatter with it)") {
  Rng r(11);
  auto a = rand_t(Shape{1, 5}, r), b = rand_t(Shape{1, 5}, r);
  for (auto& [name, dist] : every_distance()) {
    CAPTURE(name);
    std::vector<double> fresh_a(5, 0.0), fresh_b(5, 0.0), ga(5, 0.75), gb(5, -0.5);
    dist.row_backward(a.data(), b.data(), 5, 1.3, fresh_a.data(), fresh_b.data());
    dist.row_backward(a.data(), b.data(), 5, 1.3, ga.data(), gb.data());
    for (std::size_t k = 0; k < 5; ++k) {
      CHECK(ga[k] == doctest::Approx(fresh_a[k] + 0.75));
      CHECK(gb[k] == doctest::Approx(fresh_b[k] - 0.5));
    }
    dist.row_backward(a.data(), b.data(), 5, 1.0, static_cast<double*>(nullptr), gb.data());  // either may be null
  }
}

TEST_CASE("cosine: zero vectors have similarity 0 and finite gradients") {
  Tensor<double> z(Shape{2, 3}, 0.0), z2(Shape{2, 3}, 0.0);
  Rng r(4);
  auto b = rand_t(Shape{2, 3}, r);
  Tensor<double> d(Shape{2});
  distance_forward(CosineSimilarity{}, z, b, d.view());
  CHECK(d[0] == 0.0);
  distance_forward(CosineSimilarity{}, z, z2, d.view());
  CHECK(d[0] == 0.0);
  // Below the clamp the similarity is linear in the zero vector: check with h well below eps.
  check_rows("cosine, zero a", CosineSimilarity{}, z, b, 1e-11);
  check_rows("cosine, both zero", CosineSimilarity{}, z, z2, 1e-11);
}

TEST_CASE("distances: matrix equals the rows, self and cross, and its backward matches finite differences") {
  Rng r(5);
  auto x = rand_t(Shape{5, 4}, r), y = rand_t(Shape{3, 4}, r);
  for (Index k = 0; k < 4; ++k) x(3, k) = x(1, k);  // two identical rows
  for (auto& [name, dist] : every_distance()) {
    CAPTURE(name);
    Tensor<double> xy(Shape{5, 3}), xx(Shape{5, 5});
    dist.matrix<double>(x, y, xy.view());
    dist.matrix<double>(x, x, xx.view());
    for (Index i = 0; i < 5; ++i) {
      for (Index j = 0; j < 3; ++j)
        CHECK(xy(i, j) == doctest::Approx(dist.row(x.data() + i * 4, y.data() + j * 4, 4)).epsilon(1e-9));
      for (Index j = 0; j < 5; ++j)
        CHECK(xx(i, j) == doctest::Approx(dist.row(x.data() + i * 4, x.data() + j * 4, 4)).epsilon(1e-9).scale(1e-6));
    }

    // sum_ij W_ij M_ij: cross (dx and dy apart) and self (one buffer: the total gradient).
    auto W = rand_t(Shape{5, 3}, r), Wself = rand_t(Shape{5, 5}, r);
    Tensor<double> dx(x.shape(), nan), dy(y.shape(), nan), dself(x.shape(), nan);
    dist.matrix_backward<double>(x, y, W, dx, dy);
    auto f = [&] {
      dist.matrix<double>(x, y, xy.view());
      double s = 0;
      for (Index i = 0; i < xy.size(); ++i) s += W[i] * xy[i];
      return s;
    };
    CHECK_GRAD(compare_gradients(dx.span(), numeric_gradient(f, x.span()), name + " matrix dx"));
    CHECK_GRAD(compare_gradients(dy.span(), numeric_gradient(f, y.span()), name + " matrix dy"));
    dist.matrix_backward<double>(x, x, Wself, dself, dself);
    auto fself = [&] {
      dist.matrix<double>(x, x, xx.view());
      double s = 0;
      for (Index i = 0; i < xx.size(); ++i) s += Wself[i] * xx[i];
      return s;
    };
    // Rows 1 and 3 coincide: the L1 kink there makes one-sided differences; skip them for L1.
    if (name.rfind("L1", 0) != 0)
      CHECK_GRAD(compare_gradients(dself.span(), numeric_gradient(fself, x.span()), name + " self matrix dx"));
  }
  Tensor<double> bad(Shape{5, 4});
  CHECK_THROWS_AS(Distance().matrix<double>(x, y, bad.view()), shape_error);
}

TEST_CASE("distances: the Euclidean matrix of one point repeated is sqrt(eps), not a negative root") {
  Tensor<float> x(Shape{4, 8}, 0.3f);
  const auto d = pairwise_distances(x);
  for (float v : d) CHECK(v == doctest::Approx(std::sqrt(1e-7f)));
  const auto s = pairwise_distances(x, LpDistance{.squared = true});
  for (float v : s) CHECK(v == 0.0f);
}

TEST_CASE("distances: element-wise terms and their backward (pair heads)") {
  Rng r(6);
  auto a = rand_t(Shape{3, 4}, r), b = rand_t(Shape{3, 4}, r), R = rand_t(Shape{3, 4}, r);
  const std::vector<std::pair<std::string, Distance>> kinds{
      {"L1", LpDistance{.p = 1}}, {"L2", LpDistance{}}, {"L3", LpDistance{.p = 3}}, {"dot", DotProductSimilarity{}}};
  for (const auto& [name, dist] : kinds) {
    CAPTURE(name);
    Tensor<double> y(a.shape());
    auto f = [&] {
      for (Index i = 0; i < 3; ++i) dist.elementwise(a.data() + i * 4, b.data() + i * 4, 4, y.data() + i * 4);
      double s = 0;
      for (Index i = 0; i < y.size(); ++i) s += R[i] * y[i];
      return s;
    };
    f();
    if (name == "L1") CHECK(y(0, 0) == doctest::Approx(std::abs(a(0, 0) - b(0, 0))));
    Tensor<double> ga(a.shape(), nan), gb(b.shape(), nan);
    for (Index i = 0; i < 3; ++i)
      dist.elementwise_backward(a.data() + i * 4, b.data() + i * 4, 4, R.data() + i * 4, ga.data() + i * 4,
                                gb.data() + i * 4);
    CHECK_GRAD(compare_gradients(ga.span(), numeric_gradient(f, a.span()), name + " elementwise da"));
    CHECK_GRAD(compare_gradients(gb.span(), numeric_gradient(f, b.span()), name + " elementwise db"));
  }
  double y[4];
  CHECK_THROWS_AS(Distance(CosineSimilarity{}).elementwise(a.data(), b.data(), 4, y), error);
  CHECK_FALSE(Distance(CosineSimilarity{}).has_elementwise());
}

TEST_CASE("distances: closer and farther_by order distances and similarities the same way") {
  const Distance l2, cos = CosineSimilarity{};
  CHECK_FALSE(l2.is_inverted());
  CHECK(cos.is_inverted());
  CHECK(Distance(DotProductSimilarity{}).is_inverted());
  CHECK(l2.closer(0.1, 0.5));
  CHECK(cos.closer(0.9, 0.2));  // a higher similarity is closer
  CHECK(l2.farther_by(0.5, 0.1) == doctest::Approx(0.4));
  CHECK(cos.farther_by(0.2, 0.9) == doctest::Approx(0.7));
  CHECK(l2.farther_sign<double>() == 1.0);
  CHECK(cos.farther_sign<double>() == -1.0);
  CHECK(std::string(l2.name()) == "LpDistance");
  CHECK(Distance(LpDistance{.p = 1, .squared = true}).str() == "LpDistance(p = 1, squared)");
  CHECK_THROWS_AS(Distance(LpDistance{.p = 0.5}), error);
  CHECK_THROWS_AS(Distance(CosineSimilarity{.eps = 0}), error);
}

TEST_CASE("distances: a NaN input gives a NaN distance and a NaN gradient, never 0") {
  Rng r(7);
  auto a = rand_t(Shape{2, 4}, r), b = rand_t(Shape{2, 4}, r);
  a(1, 2) = nan;
  for (auto& [name, dist] : every_distance()) {
    CAPTURE(name);
    Tensor<double> d(Shape{2}), one(Shape{2}, 1.0), ga(a.shape(), 0.0), gb(b.shape(), 0.0);
    distance_forward(dist, a, b, d.view());
    CHECK(std::isfinite(d[0]));
    CHECK(std::isnan(d[1]));
    distance_backward(dist, a, b, one.view(), ga.view(), gb.view());
    bool any_nan = false;
    for (Index k = 0; k < 4; ++k) any_nan = any_nan || std::isnan(ga(1, k)) || std::isnan(gb(1, k));
    CHECK(any_nan);
    Tensor<double> m(Shape{2, 2});
    dist.matrix<double>(a, b, m.view());
    CHECK(std::isnan(m(1, 0)));
    CHECK(std::isfinite(m(0, 0)));
  }
}

}  // namespace test_distance

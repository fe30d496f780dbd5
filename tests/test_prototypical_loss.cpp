// PrototypicalLoss (twin/siamese/prototypical_loss.hpp): gradients in double against central
// differences, the value against a naive softmax over prototypes, and its shape errors.
#include <doctest/doctest.h>

#include <twin/siamese/prototypical_loss.hpp>
#include <twin/testing/gradcheck.hpp>

#include "layer_helpers.hpp"  // CHECK_GRAD

#include <cmath>
#include <vector>

namespace test_prototypical_loss {  // file-local: the test files are compiled as unity batches

using namespace twin;
using twin::testing::compare_gradients;
using twin::testing::numeric_gradient;

namespace {
Tensor<double> rand_t(Shape s, Rng& r) {
  Tensor<double> t(s);
  for (double& v : t) v = r.uniform(-1.0, 1.0);
  return t;
}

// The loss written out directly: prototypes, -squared distances, log-softmax, mean.
double naive(const Tensor<double>& sup, const Tensor<double>& qry, Index C) {
  const Index D = sup.dim(1), S = sup.dim(0) / C, Q = qry.dim(0) / C;
  std::vector<double> p(static_cast<std::size_t>(C * D), 0.0);
  for (Index r = 0; r < C * S; ++r)
    for (Index k = 0; k < D; ++k) p[static_cast<std::size_t>((r / S) * D + k)] += sup(r, k) / double(S);
  double l = 0;
  for (Index i = 0; i < C * Q; ++i) {
    std::vector<double> z;
    for (Index c = 0; c < C; ++c) {
      double d = 0;
      for (Index k = 0; k < D; ++k) d += std::pow(qry(i, k) - p[static_cast<std::size_t>(c * D + k)], 2);
      z.push_back(-d);
    }
    double s = 0;
    for (double v : z) s += std::exp(v);
    l += std::log(s) - z[static_cast<std::size_t>(i / Q)];
  }
  return l / double(C * Q);
}
}  // namespace

TEST_CASE("PrototypicalLoss: value matches a naive loop, gradients match central differences") {
  for (Index S : {1, 3}) {
    Rng r(static_cast<std::uint64_t>(5 + S));
    const Index C = 4, Q = 2, D = 3;
    auto sup = rand_t(Shape{C * S, D}, r), qry = rand_t(Shape{C * Q, D}, r);
    const PrototypicalLoss loss{.ways = C};
    PrototypicalWorkspace<double> ws;
    Tensor<double> ds(sup.shape(), std::nan("")), dq(qry.shape(), std::nan(""));  // NaN: every element must be written
    const auto res = loss(sup, qry, ws, ds.view(), dq.view());
    CHECK(res.value == doctest::Approx(naive(sup, qry, C)).epsilon(1e-12));
    CHECK(res.accuracy >= 0.0);
    CHECK(res.accuracy <= 1.0);
    auto f = [&] { return double(loss(sup, qry, ws).value); };
    CHECK_GRAD(compare_gradients(ds.span(), numeric_gradient(f, sup.span()), "dsupport"));
    CHECK_GRAD(compare_gradients(dq.span(), numeric_gradient(f, qry.span()), "dquery"));
  }
}

TEST_CASE("PrototypicalLoss: accuracy counts queries nearest their own prototype") {
  // Two classes on a line: class 0 at 0, class 1 at 10; queries at 1 (right) and 4 (wrong
  // for class 1: nearer 0).
  Tensor<double> sup(Shape{2, 1}), qry(Shape{2, 1});
  sup[0] = 0, sup[1] = 10, qry[0] = 1, qry[1] = 4;
  PrototypicalWorkspace<double> ws;
  const auto res = PrototypicalLoss{.ways = 2}(sup, qry, ws);
  CHECK(res.accuracy == 0.5);
}

TEST_CASE("PrototypicalLoss: shape errors name the problem") {
  PrototypicalWorkspace<float> ws;
  Tensor<float> sup(Shape{6, 4}), qry(Shape{5, 4}), q3(Shape{6, 3});
  CHECK_THROWS_WITH_AS(PrototypicalLoss{.ways = 3}(sup, qry, ws),
                       doctest::Contains("not positive multiples of 3 ways"), shape_error);
  CHECK_THROWS_WITH_AS(PrototypicalLoss{.ways = 3}(sup, q3, ws), doctest::Contains("one D"), shape_error);
  CHECK_THROWS_WITH_AS(PrototypicalLoss{.ways = 1}(sup, sup, ws), doctest::Contains("at least 2"),
                       shape_error);
}

}  // namespace test_prototypical_loss

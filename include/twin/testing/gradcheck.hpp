#pragma once
// Finite-difference gradient checking, for twin's tests and for users' own layers.
//
//   numeric_gradient(f, x)      central differences of a scalar function f(x)
//   compare_gradients(a, n)     |a - n| <= atol + rtol |n| element-wise, with a report
//   check_layer(layer, shape)   a layer's input and parameter gradients of L = dot(y, R),
//                               R seeded random, against central differences in double.
//
// check_layer pre-fills the parameter gradients with a sentinel and expects backward to add
// to it (the accumulate contract), and pre-fills dx with NaN, so a layer that assigns its
// parameter gradients or leaves part of dx unwritten fails.
#include <cmath>
#include <functional>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "twin/sequential.hpp"  // Graph, Sequential

namespace twin::testing {

struct GradCheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string report;  // first few mismatches, "" when ok
  explicit operator bool() const { return ok; }
};

struct Tolerance {
  double atol = 1e-5;
  double rtol = 1e-3;
};

// d f / d x by central differences, x perturbed in place and restored.
inline std::vector<double> numeric_gradient(const std::function<double()>& f, std::span<double> x, double h = 1e-6) {
  std::vector<double> g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double fp = f();
    x[i] = saved - h;
    const double fm = f();
    x[i] = saved;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

inline GradCheckResult compare_gradients(std::span<const double> analytic, std::span<const double> numeric,
                                         const std::string& what, Tolerance tol = {}) {
  GradCheckResult r;
  std::ostringstream os;
  int shown = 0;
  if (analytic.size() != numeric.size()) {
    r.ok = false;
    r.report = what + ": sizes differ";
    return r;
  }
  for (std::size_t i = 0; i < analytic.size(); ++i) {
    const double err = std::abs(analytic[i] - numeric[i]);
    const bool bad = !(err <= tol.atol + tol.rtol * std::abs(numeric[i]));  // NaN fails
    if (std::isnan(err)) r.max_abs_error = std::numeric_limits<double>::infinity();
    else r.max_abs_error = std::max(r.max_abs_error, err);
    if (bad) {
      r.ok = false;
      if (shown++ < 5) os << what << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric[i] << "\n";
    }
  }
  r.report = os.str();
  return r;
}

struct LayerCheckOptions {
  std::uint64_t seed = 1;
  Mode mode = Mode::train;
  Tolerance tol{};
  double h = 1e-6;
  double input_scale = 1.0;  // inputs ~ U(-scale, scale)
  bool check_input = true;
  bool check_params = true;
};

// Checks the gradients of L = sum(y * R) for a Graph<double> or Sequential<double> (often
// of one layer) on random inputs of `input_shapes` (one per graph input): the gradients
// with respect to every input and every parameter. The net must be initialised.
// Stochastic layers see the same random stream in every evaluation.
inline GradCheckResult check_gradients(Graph<double>& net, const std::vector<Shape>& input_shapes, LayerCheckOptions o = {}) {
  Rng rng(o.seed);
  std::vector<Tensor<double>> xs;
  for (const Shape& s : input_shapes) {
    xs.emplace_back(s);
    for (double& v : xs.back()) v = rng.uniform(-o.input_scale, o.input_scale);
  }
  const Shape out_shape = net.output_shape(input_shapes);
  Tensor<double> R(out_shape);
  for (double& v : R) v = rng.uniform(-1.0, 1.0);

  Workspace<double> ws;
  ws.set_poison(true);
  std::vector<TensorView<const double>> views;
  auto loss = [&]() {
    ws.seed(o.seed);
    views.clear();
    for (const auto& x : xs) views.push_back(x.view());
    auto y = net.forward(views, ws, o.mode);
    double s = 0;
    for (Index i = 0; i < y.size(); ++i) s += y[i] * R[i];
    return s;
  };

  // Analytic gradients, with sentinels in the parameter gradients.
  constexpr double sentinel = 0.375;
  auto grads = net.grads();
  std::fill(grads.begin(), grads.end(), sentinel);
  loss();
  net.backward(R.view(), ws, o.check_input);
  std::vector<std::vector<double>> dx;
  if (o.check_input)
    for (int i = 0; i < net.num_inputs(); ++i) {
      auto d = net.input_grad(ws, i);
      dx.emplace_back(d.begin(), d.end());
    }
  std::vector<double> dp(grads.begin(), grads.end());
  for (double& v : dp) v -= sentinel;
  net.zero_grad();

  GradCheckResult total;
  std::ostringstream os;
  auto merge = [&](const GradCheckResult& r) {
    total.ok = total.ok && r.ok;
    total.max_abs_error = std::max(total.max_abs_error, r.max_abs_error);
    os << r.report;
  };
  if (o.check_input)
    for (std::size_t i = 0; i < xs.size(); ++i) {
      std::span<double> x = xs[i].span();
      merge(compare_gradients(dx[i], numeric_gradient(loss, x, o.h), "d input " + std::to_string(i), o.tol));
    }
  if (o.check_params && !net.params().empty()) {
    merge(compare_gradients(dp, numeric_gradient(loss, net.params(), o.h), "d params", o.tol));
  }
  total.report = os.str();
  return total;
}
inline GradCheckResult check_gradients(Graph<double>& net, const Shape& input_shape, LayerCheckOptions o = {}) {
  return check_gradients(net, std::vector<Shape>{input_shape}, o);
}

// Convenience: one layer from its options.
template <class Options>
GradCheckResult check_layer(const Options& options, const Shape& input_shape, LayerCheckOptions o = {}) {
  Sequential<double> net;
  net.add(options);
  net.init(o.seed + 1000);
  return check_gradients(net, input_shape, o);
}

}  // namespace twin::testing

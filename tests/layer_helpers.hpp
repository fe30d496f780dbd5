#pragma once
// Shared by the layer tests: the gradient-check macro, PyTorch-style fixture inputs, and
// runs of one layer used to compare float with double and 1 thread with 2.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include <twin/testing/gradcheck.hpp>
#include <twin/twin.hpp>

#define CHECK_GRAD(expr)  \
  do {                    \
    auto r_ = (expr);     \
    INFO(r_.report);      \
    CHECK(r_.ok);         \
  } while (0)

namespace layer_test {
using namespace twin;

// x[i] = ((i % m) - a) * step: the inputs the PyTorch fixture scripts build.
template <class T = double>
Tensor<T> seq(const Shape& s, Index m, double a, double step) {
  Tensor<T> t(s);
  for (Index i = 0; i < t.size(); ++i) t[i] = static_cast<T>(double((i % m) - a) * step);
  return t;
}

// One forward and backward of a single layer; everything converted to double.
struct Run {
  std::vector<double> y, dx, grads, buffers;
};

// Parameters and buffers come from a double net initialised with `seed` (then a nudge of
// the buffers, so eval-mode BatchNorm is not the identity); x ~ U(-1, 1), dy ~ U(-1, 1).
template <class T, class Options>
Run run_layer(const Options& options, const Shape& in, Mode mode, std::uint64_t seed = 7, int threads = 0) {
  Sequential<double> ref;
  ref.add(options);
  ref.init(seed);
  Rng rng(seed);
  for (double& b : ref.buffers()) b += rng.uniform(0.1, 0.5);
  Sequential<T> net;
  net.add(options);
  std::vector<T> p(ref.params().begin(), ref.params().end()), b(ref.buffers().begin(), ref.buffers().end());
  net.assign(p, b);
  Tensor<T> x(in);
  for (T& v : x) v = static_cast<T>(rng.uniform(-1, 1));
  Workspace<T> ws(seed);
  Context ctx(threads > 0 ? threads : default_threads());
  ws.set_context(&ctx);
  ws.set_poison(true);
  auto y = net.forward(x.view(), ws, mode);
  Tensor<T> dy(y.shape());
  for (T& v : dy) v = static_cast<T>(rng.uniform(-1, 1));
  Run r;
  r.y.assign(y.begin(), y.end());
  auto dx = net.backward(dy.view(), ws, true);
  r.dx.assign(dx.begin(), dx.end());
  r.grads.assign(net.grads().begin(), net.grads().end());
  r.buffers.assign(net.buffers().begin(), net.buffers().end());
  return r;
}

inline void check_close(const std::vector<double>& a, const std::vector<double>& b, double rel, double abs,
                        const char* what) {
  REQUIRE(a.size() == b.size());
  int bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(std::abs(a[i] - b[i]) <= abs + rel * std::abs(b[i])) && bad++ < 5) {
      INFO(what << "[" << i << "]: " << a[i] << " vs " << b[i]);
      CHECK(false);
    }
  CHECK(bad == 0);
}

// float32 agrees with the double path within float tolerance.
template <class Options>
void float_smoke(const Options& o, const Shape& in, Mode mode = Mode::train) {
  const Run f = run_layer<float>(o, in, mode), d = run_layer<double>(o, in, mode);
  check_close(f.y, d.y, 1e-4, 1e-5, "y");
  check_close(f.dx, d.dx, 1e-3, 1e-4, "dx");
  check_close(f.grads, d.grads, 1e-3, 1e-4, "grads");
  check_close(f.buffers, d.buffers, 1e-4, 1e-5, "buffers");
}

inline bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

// The float outputs, input gradients, parameter gradients and buffers are bit-identical
// with 1 and with 2 threads.
template <class Options>
void same_bits_1_vs_2_threads(const Options& o, const Shape& in, Mode mode = Mode::train) {
  const Run a = run_layer<float>(o, in, mode, 7, 1);
  const Run b = run_layer<float>(o, in, mode, 7, 2);
  CHECK(same_bits(a.y, b.y));
  CHECK(same_bits(a.dx, b.dx));
  CHECK(same_bits(a.grads, b.grads));
  CHECK(same_bits(a.buffers, b.buffers));
}

}  // namespace layer_test

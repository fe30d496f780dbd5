// Graph: the multi-input nodes (Add, Concat), padding and Identity nodes, fan-out
// gradients, whole blocks (residual, Inception-style concat, a shared input used twice),
// build-time errors, names, and the memory plan against running every node on its own.
#include <doctest/doctest.h>

#include <twin/testing/gradcheck.hpp>
#include <twin/testing/random.hpp>
#include <twin/twin.hpp>

#include "layer_helpers.hpp"

namespace test_graph {
using namespace twin;
using twin::testing::check_gradients;
using twin::testing::check_layer;
using twin::testing::random_tensor;

// A ResNet basic block, x (N, C, H, W) -> (N, out, H / stride, W / stride), with a 1x1
// projection shortcut when the shape changes: what a user composes.
template <class T>
Value basic_block(Graph<T>& g, const std::string& name, Value x, Index in, Index out, Index stride) {
  auto h = g.add(name + ".conv1", Conv2D{.in = in, .out = out, .kernel = 3, .stride = stride, .pad = 1}, x);
  h = g.add(name + ".bn1", BatchNorm2d{.features = out}, h);
  h = g.add(name + ".relu1", ReLU{}, h);
  h = g.add(name + ".conv2", Conv2D{.in = out, .out = out, .kernel = 3, .pad = 1}, h);
  Value shortcut = x;
  if (in != out || stride != 1) shortcut = g.add(name + ".proj", Conv2D{.in = in, .out = out, .kernel = 1, .stride = stride}, x);
  auto s = g.add(name + ".add", Add{}, {h, shortcut});
  return g.add(name + ".relu2", ReLU{}, s);
}

// dlib's down-sampling block: main path conv 3x3/2 valid + ReLU, conv 3x3 same, padded at
// the bottom and right to the shortcut's size; shortcut avg-pool 2x2/2 + zero channels.
template <class T>
Value dlib_down_block(Graph<T>& g, const std::string& name, Value x, Index in, Index out) {
  auto h = g.add(name + ".conv1", Conv2D{.in = in, .out = out, .kernel = 3, .stride = 2}, x);
  h = g.add(name + ".relu1", ReLU{}, h);
  h = g.add(name + ".conv2", Conv2D{.in = out, .out = out, .kernel = 3, .pad = 1}, h);
  h = g.add(name + ".pad", Pad2D{.bottom = 1, .right = 1}, h);
  auto s = g.add(name + ".pool", AvgPool2D{.kernel = 2}, x);
  s = g.add(name + ".zeros", PadChannels{.after = out - in}, s);
  return g.add(name + ".relu2", ReLU{}, g.add(name + ".add", Add{}, {h, s}));
}

TEST_CASE("graph: Add with scales, on two inputs and on one input read twice") {
  Graph<double> g;
  auto a = g.input("a", Shape{3, 4});
  auto b = g.input("b", Shape{3, 4});
  g.output(g.add("add", Add{.scale = {1.0, 0.17}}, {a, b}));
  g.init(1);
  CHECK_GRAD(check_gradients(g, {Shape{2, 3, 4}, Shape{2, 3, 4}}));

  Graph<double> twice;  // d(x + x)/dx = 2: the two slots' gradients are summed
  auto x = twice.input("x", Shape{5});
  twice.output(twice.add("add", Add{.scale = {1.0, -0.5}}, {x, x}));
  twice.init(1);
  CHECK_GRAD(check_gradients(twice, {Shape{3, 5}}));
}

TEST_CASE("graph: Concat along channels, and its shape errors") {
  Graph<double> g;
  auto a = g.input("a", Shape{2, 3, 3});
  auto b = g.input("b", Shape{1, 3, 3});
  g.output(g.add("cat", Concat{}, {a, b, a}));
  g.init(1);
  const auto y = g.forward(std::vector<TensorView<const double>>{random_tensor<double>(Shape{2, 2, 3, 3}, 1).view(),
                                                                  random_tensor<double>(Shape{2, 1, 3, 3}, 2).view()},
                           g.workspace(), Mode::eval);
  CHECK(y.shape() == Shape{2, 5, 3, 3});
  CHECK_GRAD(check_gradients(g, {Shape{2, 2, 3, 3}, Shape{2, 1, 3, 3}}));

  Graph<double> bad;
  auto p = bad.input("p", Shape{2, 3, 3});
  auto q = bad.input("q", Shape{2, 4, 3});
  try {
    bad.add("cat", Concat{}, {p, q});
    FAIL("no shape_error");
  } catch (const shape_error& e) {
    const std::string m = e.what();
    CHECK(m.find("\"cat\"") != std::string::npos);
    CHECK(m.find("p (1, 2, 3, 3)") != std::string::npos);
    CHECK(m.find("q (1, 2, 4, 3)") != std::string::npos);
  }
}

TEST_CASE("graph: Pad2D, PadChannels and Identity gradients") {
  CHECK_GRAD(check_layer(Pad2D{.top = 1, .bottom = 2, .left = 0, .right = 1}, Shape{2, 2, 3, 4}));
  CHECK_GRAD(check_layer(PadChannels{.after = 3}, Shape{2, 2, 3, 3}));
  CHECK_GRAD(check_layer(Identity{}, Shape{2, 5}));
}

TEST_CASE("graph: residual, projection and dlib-style blocks pass the gradient check") {
  Graph<double> g;
  auto x = g.input("x", Shape{2, 8, 8});
  auto h = basic_block(g, "layer1.0", x, 2, 2, 1);  // identity shortcut
  h = basic_block(g, "layer2.0", h, 2, 3, 2);       // projection shortcut, 8x8 -> 4x4
  h = dlib_down_block(g, "down", h, 3, 4);          // main path 1x1 padded to the shortcut's 2x2
  g.output(g.add("pool", GlobalAvgPool{}, h));
  g.init(3);
  CHECK_GRAD(check_gradients(g, {Shape{2, 2, 8, 8}}));
  // Eval mode (BatchNorm's running statistics) too.
  CHECK_GRAD(check_gradients(g, {Shape{2, 2, 8, 8}}, {.mode = Mode::eval}));
}

TEST_CASE("graph: an Inception-style block, branches from one tensor joined by Concat") {
  Graph<double> g;
  auto x = g.input("x", Shape{3, 5, 5});
  auto b0 = g.add("b0", Conv2D{.in = 3, .out = 2, .kernel = 1}, x);
  auto b1 = g.add("b1.relu", ReLU{}, g.add("b1.conv", Conv2D{.in = 3, .out = 2, .kernel = 3, .pad = 1}, x));
  auto b2 = g.add("b2.pool", MaxPool2D{.kernel = 3, .stride = 1, .pad = 1}, x);
  auto cat = g.add("cat", Concat{}, {b0, b1, b2});
  auto up = g.add("up", Conv2D{.in = 7, .out = 3, .kernel = 1}, cat);
  auto res = g.add("res", Add{.scale = {1.0, 0.17}}, {x, up});  // Inception-ResNet's scaled residual
  g.output(g.add("relu", ReLU{}, res));
  g.init(5);
  CHECK_GRAD(check_gradients(g, {Shape{2, 3, 5, 5}}));
}

TEST_CASE("graph: parameter names follow the node names") {
  Graph<float> g;
  auto x = g.input("x", Shape{2, 6, 6});
  g.output(g.add("pool", GlobalAvgPool{}, basic_block(g, "layer1.0", x, 2, 4, 2)));
  std::vector<std::string> names;
  for (const auto& t : g.named_tensors()) names.push_back(t.name);
  CHECK(names.front() == "layer1.0.conv1.weight");
  CHECK(std::find(names.begin(), names.end(), "layer1.0.bn1.running_mean") != names.end());
  CHECK(std::find(names.begin(), names.end(), "layer1.0.proj.weight") != names.end());
  Sequential<float> s;
  s.add(Dense{.in = 2, .out = 3}).add(ReLU{}).add(Dense{.in = 3, .out = 1});
  CHECK(s.named_tensors()[2].name == "2.weight");
}

TEST_CASE("graph: construction errors name the node at build time") {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const shape_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Graph<float> g;
  auto x = g.input("x", Shape{3, 8, 8});
  auto c = g.add("conv", Conv2D{.in = 3, .out = 4, .kernel = 3, .pad = 1}, x);
  CHECK(message([&] { g.add("relu", ReLU{}, "nope"); }).find("reads \"nope\"") != std::string::npos);
  CHECK(message([&] { g.add("conv", ReLU{}, c); }).find("\"conv\" is taken") != std::string::npos);
  const std::string add = message([&] { g.add("add", Add{}, {c, x}); });
  CHECK(add.find("node \"add\"") != std::string::npos);
  CHECK(add.find("conv (1, 4, 8, 8)") != std::string::npos);
  CHECK(add.find("x (1, 3, 8, 8)") != std::string::npos);
  CHECK(message([&] { g.add("one", Add{}, {c}); }).find("two or more") != std::string::npos);
  CHECK(message([&] { g.add("wrong", Conv2D{.in = 5, .out = 4, .kernel = 3}, c); }).find("\"wrong\"") != std::string::npos);
  auto r = g.add("relu", ReLU{}, c);
  g.add("dangling", ReLU{}, c);
  CHECK(message([&] { g.output(r); }).find("\"dangling\"") != std::string::npos);
  CHECK(message([&] { Graph<float> e; e.add("a", ReLU{}, Value{0}); }).find("declare an input") != std::string::npos);
}

// The graph's planned run equals every node run on its own buffers (no sharing), forward
// and backward, bit for bit.
template <class T>
void same_as_unplanned(Graph<T>& g, const Shape& in, std::uint64_t seed) {
  const auto x = random_tensor<T>(in, seed);
  Workspace<T> ws(seed);
  const auto y = g.forward(x.view(), ws, Mode::train);
  const std::vector<T> y_planned(y.begin(), y.end());
  const auto dy = random_tensor<T>(y.shape(), seed + 1);
  g.zero_grad();
  const auto dx = g.backward(dy.view(), ws, true);
  const std::vector<T> dx_planned(dx.begin(), dx.end());
  const std::vector<T> grads_planned(g.grads().begin(), g.grads().end());

  // Unplanned: values and gradients in separate tensors, fan-out summed by hand.
  const int I = g.num_inputs();
  const std::size_t V = static_cast<std::size_t>(I + g.size());
  std::vector<Tensor<T>> val(V), grad(V);
  using Bytes = std::unique_ptr<std::byte[], detail::AlignedDelete<std::byte>>;
  std::vector<Bytes> scratch(static_cast<std::size_t>(g.size()));
  std::vector<std::size_t> scratch_size(static_cast<std::size_t>(g.size()));
  val[0] = Tensor<T>(in);
  std::copy(x.begin(), x.end(), val[0].begin());
  Context exec(1);
  for (Index k = 0; k < g.size(); ++k) {
    std::vector<TensorView<const T>> xs;
    std::vector<Shape> shapes;
    for (int u : g.node_inputs(k)) {
      xs.push_back(val[static_cast<std::size_t>(u)].view());
      shapes.push_back(val[static_cast<std::size_t>(u)].shape());
    }
    val[static_cast<std::size_t>(I + k)] = Tensor<T>(g[k].output_shape_n(shapes));
    const auto kk = static_cast<std::size_t>(k);
    scratch_size[kk] = g[k].scratch_bytes_n(shapes, Mode::train);
    scratch[kk] = detail::aligned_alloc_array<std::byte>(static_cast<Index>(scratch_size[kk] + 1));
    Rng r(1);
    g[k].forward_n(xs, val[kk + I].view(), {Mode::train, {scratch[kk].get(), scratch_size[kk]}, &r, &exec});
  }
  const std::vector<T> y_plain(val.back().begin(), val.back().end());
  CHECK(y_plain == y_planned);
  grad.back() = Tensor<T>(dy.shape());
  std::copy(dy.begin(), dy.end(), grad.back().begin());
  g.zero_grad();
  std::vector<char> has_grad(V, 0);
  has_grad.back() = 1;
  for (Index k = g.size(); k-- > 0;) {
    std::vector<TensorView<const T>> xs;
    std::vector<Tensor<T>> dxs;
    std::vector<TensorView<T>> dxv;
    for (int u : g.node_inputs(k)) {
      xs.push_back(val[static_cast<std::size_t>(u)].view());
      dxs.emplace_back(val[static_cast<std::size_t>(u)].shape());
    }
    for (auto& d : dxs) dxv.push_back(d.view());
    Rng r(1);
    const auto kk = static_cast<std::size_t>(k);
    g[k].backward_n(xs, val[kk + I].view(), grad[kk + I].view(), dxv,
                    {Mode::train, {scratch[kk].get(), scratch_size[kk]}, &r, &exec});
    for (std::size_t j = 0; j < dxs.size(); ++j) {
      const auto u = static_cast<std::size_t>(g.node_inputs(k)[j]);
      auto& acc = grad[u];
      if (!has_grad[u]) {
        has_grad[u] = 1;
        acc = std::move(dxs[j]);
      } else {
        for (Index i = 0; i < acc.size(); ++i) acc[i] += dxs[j][i];
      }
    }
  }
  CHECK(std::vector<T>(grad[0].begin(), grad[0].end()) == dx_planned);
  CHECK(std::vector<T>(g.grads().begin(), g.grads().end()) == grads_planned);
}

TEST_CASE("graph: the memory plan gives the same bits as unshared buffers") {
  Graph<float> g;
  auto x = g.input("x", Shape{2, 8, 8});
  auto h = basic_block(g, "layer1.0", x, 2, 2, 1);
  auto b1 = g.add("b1", Conv2D{.in = 2, .out = 3, .kernel = 1}, h);
  auto b2 = g.add("b2.relu", ReLU{}, g.add("b2.conv", Conv2D{.in = 2, .out = 2, .kernel = 3, .pad = 1}, h));
  h = g.add("cat", Concat{}, {b1, b2, h});
  h = dlib_down_block(g, "down", h, 7, 8);
  h = g.add("flat", Flatten{}, h);
  h = g.add("tanh", Tanh{}, h);
  g.output(g.add("fc", Dense{.in = 8 * 4 * 4, .out = 5}, h));
  g.init(11);
  same_as_unplanned(g, Shape{3, 2, 8, 8}, 4);
}

TEST_CASE("graph: a second training step reuses the workspace and allocates nothing") {
  Graph<float> g;
  auto x = g.input("x", Shape{2, 8, 8});
  g.output(g.add("pool", GlobalAvgPool{}, basic_block(g, "layer1.0", x, 2, 4, 2)));
  g.init(2);
  Workspace<float> ws;
  const auto in = random_tensor<float>(Shape{4, 2, 8, 8}, 1);
  const auto dy = random_tensor<float>(Shape{4, 4}, 2);
  g.forward(in.view(), ws, Mode::train);
  g.backward(dy.view(), ws);
  const std::size_t bytes = ws.bytes();
  g.forward(in.view(), ws, Mode::train);
  g.backward(dy.view(), ws);
  CHECK(ws.bytes() == bytes);
}

TEST_CASE("graph: the memory plan shares buffers (a chain needs far less than one buffer per value)") {
  Sequential<float> net;
  for (int i = 0; i < 8; ++i) net.add(Dense{.in = 256, .out = 256}).add(ReLU{});
  net.init(1);
  Workspace<float> ws;
  const auto x = random_tensor<float>(Shape{16, 256}, 1);
  ws.set_forward_only(true);
  net.forward(x.view(), ws, Mode::eval);
  // Inference: two live activations at a time, whatever the depth (plus the input copy).
  CHECK(ws.bytes() <= 4 * 16 * 256 * sizeof(float));
  CHECK_THROWS_AS(net.backward(x.view(), ws), twin::error);
  Workspace<float> keep;  // by default an eval forward keeps what backward reads
  net.forward(x.view(), keep, Mode::eval);
  CHECK(keep.bytes() > 8 * 16 * 256 * sizeof(float));
}

TEST_CASE("graph: training-mode forward refuses a NaN input, naming it") {
  Sequential<float> net;
  net.add(Dense{.in = 3, .out = 2});
  net.init(1);
  Tensor<float> x(Shape{2, 3}, 0.5f);
  x[4] = std::numeric_limits<float>::quiet_NaN();
  Workspace<float> ws;
  CHECK_THROWS_WITH_AS(net.forward(x.view(), ws, Mode::train), doctest::Contains("input \"input\""), numeric_error);
  CHECK_NOTHROW(net.forward(x.view(), ws, Mode::eval));  // inference: the caller's business
  ws.set_check_input(false);
  CHECK_NOTHROW(net.forward(x.view(), ws, Mode::train));
}

}  // namespace test_graph

namespace test_graph {
TEST_CASE("graph: dlib's face ResNet builder has dlib's 29 convolutions and 5,614,592 parameters") {
  auto net = twin::models::dlib_face_resnet<float>();
  Index convs = 0;
  for (Index k = 0; k < net.size(); ++k) convs += net[k].name() == "Conv2D";
  CHECK(convs == 29);
  CHECK(net.num_params() == 5614592);
  CHECK(net.output_shape(Shape{2, 3, 150, 150}) == Shape{2, 128});
  // A narrow one runs forward and backward (every down block's shapes, padding included;
  // the blocks' gradients are checked above).
  auto small = twin::models::dlib_face_resnet<float>({.embedding = 8, .width = 0.125});
  small.init(1);
  const auto x = random_tensor<float>(Shape{2, 3, 150, 150}, 1);
  Workspace<float> ws;
  const auto y = small.forward(x.view(), ws, Mode::train);
  CHECK(y.shape() == Shape{2, 8});
  const auto dy = random_tensor<float>(y.shape(), 2);
  small.backward(dy.view(), ws);
  CHECK(first_non_finite(std::span<const float>(small.grads())) < 0);
}
}  // namespace test_graph

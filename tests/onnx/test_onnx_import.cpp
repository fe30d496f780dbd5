// ONNX import and export without other runtimes: models written here with the ONNX protobuf
// classes, round trips twin -> ONNX -> twin, the errors, and the builders' parameter counts.
// The comparisons with PyTorch and ONNX Runtime are tests/onnx/check_runtimes.py.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <twin/models/inception_resnet_v1.hpp>
#include <twin/models/resnet.hpp>
#include <twin/models/signature_tower.hpp>
#include <twin/models/vgg_face.hpp>
#include <twin/onnx/export.hpp>
#include <twin/onnx/import.hpp>
#include <twin/onnx/npy.hpp>
#include <twin/layers/conv2d_rect.hpp>
#include <twin/layers/scale.hpp>
#include <twin/testing/error_message.hpp>
#include <twin/twin.hpp>

namespace test_onnx_import {
using namespace twin;
namespace fs = std::filesystem;
using twin::testing::error_message;

fs::path tmp(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("twin-onnx-test-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}

// A model with one float input "x" of shape dims (dims[0] may be -1: symbolic).
struct Builder {
  ::onnx::ModelProto m;
  ::onnx::GraphProto* g;
  explicit Builder(std::vector<std::int64_t> dims, std::int64_t opset = 13) {
    m.set_ir_version(7);
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    g = m.mutable_graph();
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) {
      if (d < 0) tt->mutable_shape()->add_dim()->set_dim_param("N");
      else tt->mutable_shape()->add_dim()->set_dim_value(d);
    }
  }
  ::onnx::NodeProto* node(const std::string& op, const std::string& name, std::vector<std::string> in, std::string out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  }
  Builder& ints(::onnx::NodeProto* n, const std::string& k, std::vector<std::int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(k);
    a->set_type(::onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
    return *this;
  }
  Builder& integer(::onnx::NodeProto* n, const std::string& k, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(k);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(v);
    return *this;
  }
  ::onnx::TensorProto* init(const std::string& name, std::vector<std::int64_t> dims, std::vector<float> v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    for (float x : v) t->add_float_data(x);
    return t;
  }
  void init64(const std::string& name, std::vector<std::int64_t> v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    t->add_dims(std::int64_t(v.size()));
    for (auto x : v) t->add_int64_data(x);
  }
  void output(const std::string& name) { g->add_output()->set_name(name); }
  fs::path save(const std::string& file) {
    const fs::path p = tmp(file);
    twin::onnx::write_model(m, p);
    return p;
  }
};

std::vector<float> iota(std::size_t n, float a, float step) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = a + step * float(i % 17) - 0.03f * float(i % 5);
  return v;
}

Tensor<float> input(const Shape& s, std::uint64_t seed) {
  Tensor<float> x(s);
  Rng r(seed);
  for (float& v : x) v = static_cast<float>(r.uniform(-1, 1));
  return x;
}

double max_abs_diff(TensorView<const float> a, TensorView<const float> b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (Index i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

// A graph using every exportable layer: exported, imported again, it must compute the same.
Graph<float> every_layer() {
  Graph<float> g;
  auto x = g.input("image", Shape{3, 12, 12});
  auto h = g.add("conv1", Conv2D{.in = 3, .out = 8, .kernel = 3, .pad = 1}, x);
  h = g.add("bn1", BatchNorm2d{.features = 8}, h);
  h = g.add("act1", LeakyReLU{.slope = 0.1}, h);
  auto a = g.add("branch_a", Conv2D{.in = 8, .out = 4, .kernel = 1, .bias = false}, h);
  auto b = g.add("branch_b.pool", AvgPool2D{.kernel = 3, .stride = 1, .pad = 1, .count_include_pad = false}, h);
  b = g.add("branch_b.conv", Conv2D{.in = 8, .out = 4, .kernel = 3, .pad = 1}, b);
  auto c = g.add("cat", Concat{}, {a, b});
  c = g.add("scale", BroadcastAffine{.shape = Shape{8, 1, 1}, .scale = std::vector<double>(8, 0.5),
                                     .shift = {0, .1, .2, .3, .4, .5, .6, .7}},
            c);
  auto s = g.add("sum", Add{}, {c, h});
  s = g.add("lrn", LocalResponseNorm{.size = 3}, s);
  s = g.add("pad", Pad2D{.top = 1, .bottom = 0, .left = 0, .right = 1}, s);
  s = g.add("pool", MaxPool2D{.kernel = 2, .stride = 2}, s);
  s = g.add("zeros", PadChannels{.after = 2}, s);
  s = g.add("tanh", Tanh{}, s);
  s = g.add("conv17", Conv2DRect{.in = 10, .out = 10, .kh = 1, .kw = 3, .pad_h = 0, .pad_w = 1}, s);
  s = g.add("half", Scale{.factor = 0.5}, s);
  auto p = g.add("gap", GlobalAvgPool{}, s);
  auto f = g.add("flat", Flatten{}, g.add("sig", Sigmoid{}, s));
  auto d = g.add("fc1", Dense{.in = 10 * 6 * 6, .out = 10}, f);
  d = g.add("drop", Dropout{.p = 0.3}, d);
  auto e = g.add("add2", Add{}, {d, p});
  e = g.add("relu", ReLU{}, e);
  auto sm = g.add("softmax", Softmax{}, g.add("fc2", Dense{.in = 10, .out = 6}, e));
  g.output(g.add("norm", L2Normalize{}, sm));
  g.init(3);
  Rng r(5);
  for (float& v : g.buffers()) v += static_cast<float>(r.uniform(0.1, 0.4));  // BatchNorm not the identity
  return g;
}

TEST_CASE("onnx: a graph of every exportable layer survives export and import") {
  auto g = every_layer();
  const auto path = tmp("every_layer.onnx");
  twin::onnx::export_model(g, path, Shape{3, 12, 12});
  auto back = twin::onnx::import_model<float>(path);
  CHECK(back.num_params() == g.num_params());
  const auto x = input(Shape{3, 3, 12, 12}, 11);
  Workspace<float> w1, w2;
  auto y1 = g.forward(x.view(), w1, Mode::eval);
  auto y2 = back.forward(x.view(), w2, Mode::eval);
  CHECK(max_abs_diff(y1, y2) < 1e-6);
  // Names follow the weights: the imported graph's tensors are the original's.
  std::set<std::string> names;
  for (const auto& t : back.named_tensors()) names.insert(t.name);
  CHECK(names.count("conv1.weight"));
  CHECK(names.count("bn1.running_var"));
  CHECK(names.count("fc2.bias"));
}

TEST_CASE("onnx: MaxPool2D's pad_end (TensorFlow's 'same' pooling) survives export and import") {
  Graph<float> g;
  auto x = g.input("input", Shape{2, 7, 7});
  g.output(g.add("pool", MaxPool2D{.kernel = 2, .stride = 1, .pad_end = 1}, x));
  g.init(1);
  const auto path = tmp("pad_end.onnx");
  twin::onnx::export_model(g, path, Shape{2, 7, 7});
  auto back = twin::onnx::import_model<float>(path);
  const auto in = input(Shape{3, 2, 7, 7}, 5);
  Workspace<float> w1, w2;
  auto y1 = g.forward(in.view(), w1, Mode::eval);
  auto y2 = back.forward(in.view(), w2, Mode::eval);
  REQUIRE(y2.shape() == Shape{3, 2, 7, 7});
  CHECK(max_abs_diff(y1, y2) == 0.0);
}

TEST_CASE("onnx: the D2 signature tower and ResNet-18 survive export and import") {
  auto tower = models::signature_tower<float>(40, 60);
  tower.init(1);
  auto r18 = models::resnet18<float>({.input = 64, .classes = 10});
  r18.init(2);
  Rng r(9);
  for (float& v : r18.buffers()) v += static_cast<float>(r.uniform(0.1, 0.4));
  struct Case {
    Graph<float>* g;
    Shape sample;
  } cases[] = {{&tower, Shape{1, 40, 60}}, {&r18, Shape{3, 64, 64}}};
  for (auto& c : cases) {
    const auto path = tmp("model.onnx");
    twin::onnx::export_model(*c.g, path, c.sample);
    auto back = twin::onnx::import_model<float>(path);
    Shape in{2};
    for (Index d : c.sample) in.push_back(d);
    const auto x = input(in, 4);
    Workspace<float> w1, w2;
    auto y1 = c.g->forward(x.view(), w1, Mode::eval);
    auto y2 = back.forward(x.view(), w2, Mode::eval);
    CHECK(max_abs_diff(y1, y2) < 1e-5);
  }
}

TEST_CASE("onnx: an imported model is trainable") {
  auto g = models::resnet18<float>({.input = 32, .classes = 4});
  g.init(1);
  const auto path = tmp("trainable.onnx");
  twin::onnx::export_model(g, path, Shape{3, 32, 32});
  auto net = twin::onnx::import_model<float>(path);
  const auto x = input(Shape{4, 3, 32, 32}, 2);
  Workspace<float> ws;
  auto y = net.forward(x.view(), ws, Mode::train);
  Tensor<float> dy(y.shape());
  for (float& v : dy) v = 0.1f;
  net.zero_grad();
  net.backward(dy.view(), ws);
  double s = 0;
  for (float v : net.grads()) s += std::abs(v);
  CHECK(s > 0);
}

TEST_CASE("onnx: ops that map onto twin layers, by value") {
  // x (N, 2, 4, 4): a Conv with asymmetric pads, Mul/Sub/Div by constants, a Reshape through
  // Shape/Gather/Concat, Unsqueeze and a no-op Transpose, MatMul, LpNormalization.
  Builder b({-1, 2, 4, 4});
  const auto w = iota(24, -0.5f, 0.07f), m = iota(240, -0.4f, 0.05f);
  b.init("w", {3, 2, 2, 2}, w);
  b.init("two", {}, {2.0f});
  b.init("chan", {3, 1, 1}, {1.0f, -1.0f, 0.5f});
  b.init("m", {48, 5}, m);  // the conv gives (3, 4, 4): 48 features
  b.init64("zero", {0});
  b.init64("minus1", {-1});
  b.init64("axes2", {2});
  b.ints(b.node("Conv", "conv", {"x", "w"}, "c"), "pads", {0, 1, 1, 0});  // top, left, bottom, right
  b.node("Mul", "mul", {"c", "two"}, "m1");
  b.node("Sub", "sub", {"chan", "m1"}, "m2");
  b.node("Div", "div", {"m2", "two"}, "m3");  // chan / 2 - c
  b.node("Shape", "shape", {"m3"}, "s");
  b.integer(b.node("Gather", "gather", {"s", "zero"}, "n"), "axis", 0);
  b.integer(b.node("Concat", "cat", {"n", "minus1"}, "target"), "axis", 0);
  b.node("Reshape", "reshape", {"m3", "target"}, "flat");
  b.node("MatMul", "matmul", {"flat", "m"}, "mm");
  b.node("Unsqueeze", "unsq", {"mm", "axes2"}, "u");
  b.ints(b.node("Transpose", "tr", {"u"}, "t"), "perm", {0, 2, 1});
  b.integer(b.node("Flatten", "flatten", {"t"}, "f"), "axis", 1);
  b.integer(b.node("LpNormalization", "lp", {"f"}, "y"), "axis", 1);
  b.output("y");
  auto net = twin::onnx::import_model<float>(b.save("ops.onnx"));

  // The same computation written out with twin layers.
  Graph<float> ref;
  auto x = ref.input("x", Shape{2, 4, 4});
  auto h = ref.add("pad", Pad2D{.top = 0, .bottom = 1, .left = 1, .right = 0}, x);
  h = ref.add("conv", Conv2D{.in = 2, .out = 3, .kernel = 2, .bias = false}, h);
  h = ref.add("aff", BroadcastAffine{.shape = Shape{3, 1, 1}, .scale = {-1, -1, -1}, .shift = {0.5, -0.5, 0.25}}, h);
  h = ref.add("flat", Flatten{}, h);
  h = ref.add("mm", Dense{.in = 48, .out = 5, .bias = false}, h);
  ref.output(ref.add("norm", L2Normalize{}, h));
  ref.init(0);
  auto p = ref.params();
  std::copy(w.begin(), w.end(), p.begin());
  for (int i = 0; i < 48; ++i)
    for (int j = 0; j < 5; ++j) p[std::size_t(24 + j * 48 + i)] = m[std::size_t(i * 5 + j)];
  const auto xin = input(Shape{2, 2, 4, 4}, 3);
  Workspace<float> w1, w2;
  auto y = net.forward(xin.view(), w1, Mode::eval);
  CHECK(y.shape() == Shape{2, 5});
  CHECK(max_abs_diff(y, ref.forward(xin.view(), w2, Mode::eval)) < 1e-6);
}

TEST_CASE("onnx: a depthwise Conv (group = channels) becomes DepthwiseConv2D") {
  Builder b({-1, 3, 6, 6});
  const auto w = iota(27, -0.6f, 0.05f), bias = iota(3, 0.1f, 0.2f);
  b.init("w", {3, 1, 3, 3}, w);
  b.init("b", {3}, bias);
  const auto conv = b.node("Conv", "dw", {"x", "w", "b"}, "y");
  b.integer(conv, "group", 3);
  b.ints(conv, "pads", {1, 1, 1, 1});
  b.ints(conv, "strides", {2, 2});
  b.output("y");
  auto net = twin::onnx::import_model<float>(b.save("depthwise.onnx"));
  Graph<float> ref;
  ref.output(ref.add("dw", DepthwiseConv2D{.channels = 3, .kernel = 3, .stride = 2, .pad = 1},
                     ref.input("x", Shape{3, 6, 6})));
  ref.init(0);
  auto p = ref.params();
  std::copy(w.begin(), w.end(), p.begin());
  std::copy(bias.begin(), bias.end(), p.begin() + 27);
  const auto xin = input(Shape{2, 3, 6, 6}, 9);
  Workspace<float> w1, w2;
  const auto y = net.forward(xin.view(), w1, Mode::eval);
  CHECK(y.shape() == Shape{2, 3, 3, 3});
  CHECK(max_abs_diff(y, ref.forward(xin.view(), w2, Mode::eval)) < 1e-6);
}

TEST_CASE("onnx: the L2-normalise pattern of F.normalize and a SAME-padded conv") {
  Builder b({1, 1, 5, 5});
  b.init("w", {2, 1, 3, 3}, iota(18, -0.3f, 0.05f));
  b.init("eps", {}, {1e-12f});
  auto* conv = b.node("Conv", "conv", {"x", "w"}, "c");
  auto* a = conv->add_attribute();
  a->set_name("auto_pad");
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s("SAME_UPPER");
  b.ints(conv, "strides", {2, 2});
  b.node("Flatten", "flat", {"c"}, "f");
  b.ints(b.node("ReduceL2", "norm", {"f"}, "n"), "axes", {1});
  b.node("Max", "clamp", {"n", "eps"}, "nc");
  b.node("Shape", "shape", {"f"}, "fs");
  b.node("Expand", "expand", {"nc", "fs"}, "ne");
  b.node("Div", "div", {"f", "ne"}, "y");
  b.output("y");
  auto net = twin::onnx::import_model<float>(b.save("normalize.onnx"));
  // SAME_UPPER, stride 2 on 5: output 3, total pad 2 -> 1 on each side.
  Graph<float> ref;
  auto x = ref.input("x", Shape{1, 5, 5});
  auto h = ref.add("conv", Conv2D{.in = 1, .out = 2, .kernel = 3, .stride = 2, .pad = 1, .bias = false}, x);
  ref.output(ref.add("norm", L2Normalize{}, ref.add("flat", Flatten{}, h)));
  ref.init(0);
  auto w = iota(18, -0.3f, 0.05f);
  std::copy(w.begin(), w.end(), ref.params().begin());
  const auto xin = input(Shape{3, 1, 5, 5}, 8);
  Workspace<float> w1, w2;
  CHECK(max_abs_diff(net.forward(xin.view(), w1, Mode::eval), ref.forward(xin.view(), w2, Mode::eval)) < 1e-6);
}

TEST_CASE("onnx: errors name the file, the node and its op type") {
  SUBCASE("unsupported op") {
    Builder b({1, 3, 8, 8});
    b.node("Erf", "erf_7", {"x"}, "y");
    b.output("y");
    const auto msg = error_message([&] { twin::onnx::import_model<float>(b.save("erf.onnx")); });
    CHECK(msg.find("erf.onnx") != std::string::npos);
    CHECK(msg.find("node \"erf_7\" (Erf)") != std::string::npos);
    CHECK(msg.find("unsupported op") != std::string::npos);
  }
  SUBCASE("grouped convolution") {
    Builder b({1, 4, 8, 8});
    b.init("w", {4, 2, 3, 3}, iota(72, 0, 0.01f));
    b.integer(b.node("Conv", "dw", {"x", "w"}, "y"), "group", 2);
    b.output("y");
    const auto msg = error_message([&] { twin::onnx::import_model<float>(b.save("grouped.onnx")); });
    CHECK(msg.find("grouped.onnx: node \"dw\" (Conv): unsupported (group=2)") != std::string::npos);
  }
  SUBCASE("dilated convolution") {
    Builder b({1, 1, 8, 8});
    b.init("w", {2, 1, 3, 3}, iota(18, 0, 0.01f));
    b.ints(b.node("Conv", "atrous", {"x", "w"}, "y"), "dilations", {2, 2});
    b.output("y");
    CHECK(error_message([&] { twin::onnx::import_model<float>(b.save("dilated.onnx")); })
              .find("node \"atrous\" (Conv): unsupported (dilations (2, 2))") != std::string::npos);
  }
  SUBCASE("opset") {
    Builder b({1, 3, 8, 8}, 30);
    b.node("Relu", "r", {"x"}, "y");
    b.output("y");
    const auto msg = error_message([&] { twin::onnx::import_model<float>(b.save("future.onnx")); });
    CHECK(msg.find("future.onnx: opset 30") != std::string::npos);
  }
  SUBCASE("external data") {
    Builder b({1, 4});
    auto* t = b.init("fc.weight", {2, 4}, {});
    t->set_data_location(::onnx::TensorProto::EXTERNAL);
    auto* e = t->add_external_data();
    e->set_key("location");
    e->set_value("weights.bin");
    b.integer(b.node("Gemm", "fc", {"x", "fc.weight"}, "y"), "transB", 1);
    b.output("y");
    const auto msg = error_message([&] { twin::onnx::import_model<float>(b.save("external.onnx")); });
    CHECK(msg.find("external.onnx: tensor \"fc.weight\" keeps its data in an external file") != std::string::npos);
  }
  SUBCASE("dynamic shape") {
    Builder b({-1, 3, -1, -1});
    b.node("Relu", "r", {"x"}, "y");
    b.output("y");
    const auto p = b.save("dynamic.onnx");
    const auto msg = error_message([&] { twin::onnx::import_model<float>(p); });
    CHECK(msg.find("dynamic.onnx: input \"x\" has a dynamic axis 2") != std::string::npos);
    // ... which the caller may fix.
    auto net = twin::onnx::import_model<float>(p, {.input_shape = Shape{3, 5, 6}});
    CHECK(net.output_shape(Shape{2, 3, 5, 6}) == Shape{2, 3, 5, 6});
  }
  SUBCASE("a computed weight") {
    Builder b({1, 1, 4, 4});
    b.node("Conv", "selfconv", {"x", "x"}, "y");
    b.output("y");
    CHECK(error_message([&] { twin::onnx::import_model<float>(b.save("computed.onnx")); }).find("node \"selfconv\" (Conv): input 1 (weight") !=
          std::string::npos);
  }
  SUBCASE("not a model") {
    const auto p = tmp("junk.onnx");
    std::ofstream(p) << "definitely not protobuf \x01\x02\x03";
    CHECK(error_message([&] { twin::onnx::import_model<float>(p); }).find("junk.onnx") != std::string::npos);
  }
  SUBCASE("export of a layer without an ONNX counterpart") {
    Graph<float> g;
    auto x = g.input("x", Shape{4});
    auto a = g.add("a", Dense{.in = 4, .out = 4}, x);
    auto b2 = g.add("b", Dense{.in = 4, .out = 4}, x);
    g.output(g.add("diff", AbsDifference{}, {a, b2}));
    g.init(1);
    CHECK(error_message([&] { twin::onnx::export_model(g, tmp("absdiff.onnx"), Shape{4}); }).find("node \"diff\"") != std::string::npos);
  }
}

TEST_CASE("onnx: npy files round-trip") {
  const auto x = input(Shape{2, 3, 4, 5}, 1);
  const auto p = tmp("x.npy");
  twin::onnx::write_npy(p, x.view());
  const auto y = twin::onnx::read_npy(p);
  CHECK(y.shape() == x.shape());
  CHECK(max_abs_diff(x.view(), y.view()) == 0);
}

TEST_CASE("models: parameter counts of the builders") {
  CHECK(models::resnet18<float>().num_params() == 11689512);
  CHECK(models::resnet34<float>().num_params() == 21797672);
  CHECK(models::resnet18<float>({.input = 112, .classes = 0}).output_shape(Shape{1, 3, 112, 112}) == Shape{1, 512});
  auto facenet = models::inception_resnet_v1<float>();
  CHECK(facenet.num_params() == 23482624);
  CHECK(facenet.output_shape(Shape{1, 3, 160, 160}) == Shape{1, 512});
  auto vgg = models::vgg_face<float>();
  CHECK(vgg.num_params() == 145002878);
  CHECK(vgg.output_shape(Shape{1, 3, 224, 224}) == Shape{1, 2622});
}

}  // namespace test_onnx_import

// ChannelAffine: gradients (random scale and shift), a hand-computed case, float32 vs
// double, 1 vs 2 threads, shape errors; and dlib's ResNet in its folded-affine form has the
// same parameter count as with BatchNorm.
#include <twin/layers/channel_affine.hpp>

#include "layer_helpers.hpp"

namespace test_channel_affine {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace layer_test;
using twin::testing::check_gradients;

TEST_CASE("ChannelAffine: gradients with random scale and shift") {
  for (const Shape& in : {Shape{2, 3, 4, 5}, Shape{1, 1, 2, 2}, Shape{3, 4}, Shape{2, 2, 3}}) {
    Sequential<double> net;
    net.add(ChannelAffine{.channels = in[1]});
    net.init(1);
    Rng rng(3);
    for (double& p : net.params()) p = rng.uniform(-1.5, 1.5);
    CHECK_GRAD(check_gradients(net, in));
  }
}

TEST_CASE("ChannelAffine: a hand-computed case; identity at init") {
  Sequential<double> net;
  net.add(ChannelAffine{.channels = 2});
  net.init(0);
  Tensor<double> x(Shape{1, 2, 1, 2});
  for (Index i = 0; i < 4; ++i) x[i] = double(i + 1);  // channel 0: 1 2, channel 1: 3 4
  auto y0 = net.forward(x.view());
  for (Index i = 0; i < 4; ++i) CHECK(y0[i] == double(i + 1));
  const std::vector<double> p{2.0, -1.0, 0.5, 10.0};  // weight (2, -1), bias (0.5, 10)
  net.assign(p, {});
  auto y = net.forward(x.view(), Mode::train);
  CHECK(y[0] == 2.5);
  CHECK(y[1] == 4.5);
  CHECK(y[2] == 7.0);
  CHECK(y[3] == 6.0);
  Tensor<double> dy(Shape{1, 2, 1, 2}, 1.0);
  net.zero_grad();
  auto dx = net.backward(dy.view(), true);
  CHECK(dx[0] == 2.0);
  CHECK(dx[3] == -1.0);
  CHECK(net.grads()[0] == 3.0);  // dweight[0] = 1 + 2
  CHECK(net.grads()[1] == 7.0);  // dweight[1] = 3 + 4
  CHECK(net.grads()[2] == 2.0);  // dbias = count
  CHECK(net.grads()[3] == 2.0);
}

TEST_CASE("ChannelAffine: float32 agrees with double; 1 and 2 threads give the same bits") {
  float_smoke(ChannelAffine{.channels = 5}, Shape{3, 5, 6, 7});
  same_bits_1_vs_2_threads(ChannelAffine{.channels = 5}, Shape{3, 5, 6, 7});
}

TEST_CASE("ChannelAffine: parameters, names and shape errors") {
  Sequential<float> net;
  net.add(ChannelAffine{.channels = 3});
  CHECK(net.num_params() == 6);
  CHECK(net.named_tensors()[0].name == "0.weight");
  CHECK(net.named_tensors()[1].name == "0.bias");
  CHECK_THROWS_AS(net.output_shape(Shape{1, 4, 2, 2}), shape_error);
  CHECK_THROWS_AS(ChannelAffineLayer<float>(ChannelAffine{.channels = 0}), shape_error);
}

TEST_CASE("dlib ResNet: the folded-affine form has BatchNorm's parameter count and runs") {
  auto bn = models::dlib_face_resnet<float>({});
  auto af = models::dlib_face_resnet<float>({.norm = models::DlibNorm::affine});
  CHECK(bn.num_params() == 5614592);
  CHECK(af.num_params() == 5614592);
  CHECK(af.buffers().empty());
  bool named = false;
  for (const auto& t : af.named_tensors()) named = named || t.name == "level5.down.1.affine.weight";
  CHECK(named);
  // conv + bias, then the affine: the unit the folded form repeats 29 times.
  Sequential<double> unit;
  unit.add(Conv2D{.in = 2, .out = 3, .kernel = 3, .pad = 1}).add(ChannelAffine{.channels = 3}).add(ReLU{});
  unit.init(2);
  Rng rng(5);
  for (double& p : unit.params()) p += rng.uniform(-0.5, 0.5);
  CHECK_GRAD(check_gradients(unit, Shape{2, 2, 5, 4}));
}

}  // namespace test_channel_affine

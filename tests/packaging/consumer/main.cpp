// A consumer of twin: builds a tiny network, runs one training step, prints the version.
#include <twin/twin.hpp>

#include <cstdio>

int main() {
  twin::Sequential<float> net;
  net.add(twin::Dense{.in = 3, .out = 2}).add(twin::ReLU{});
  net.init(1);
  twin::Tensor<float> x(twin::Shape{4, 3}, 0.5f), dy(twin::Shape{4, 2}, 1.0f);
  net.forward(x.view(), twin::Mode::train);
  net.backward(dy.view());
  twin::SGD<float> opt({.lr = 0.1});
  opt.step(net.params(), net.grads());
  std::printf("twin %d.%d.%d ok, %td params\n", twin::version_major, twin::version_minor, twin::version_patch,
              net.num_params());
  return 0;
}

#include "model.hpp"

#include <cmath>

#include <twin/layers/activation.hpp>
#include <twin/layers/batchnorm.hpp>
#include <twin/layers/l2_normalize.hpp>
#include <twin/layers/conv2d.hpp>
#include <twin/layers/dense.hpp>
#include <twin/layers/flatten.hpp>

namespace sigver {

std::string TowerConfig::describe() const {
  return twin::detail::concat("conv tower width ", width, batchnorm ? " with BatchNorm" : "", ", embedding ", embed,
                              l2norm ? " (L2-normalised)" : "", ", input ", canvas.height, "x", canvas.width,
                              canvas.speck_share > 0 ? twin::detail::concat(", specks < ", canvas.speck_share, " removed") : "",
                              canvas.stroke_radius >= 0 ? twin::detail::concat(", strokes redrawn r=", canvas.stroke_radius) : "");
}

double tower_weight_count(const TowerConfig& c) {
  // Each stride-2 convolution with padding k/2 (k odd) maps n pixels to (n - 1) / 2 + 1.
  auto after = [](double n) { return std::floor((n - 1) / 2) + 1; };
  double h = static_cast<double>(c.canvas.height), w = static_cast<double>(c.canvas.width);
  for (int i = 0; i < 4; ++i) h = after(h), w = after(w);
  const double ch = c.width;
  const double conv = ch * 25 + 2 * ch * ch * 9 + 8 * ch * ch * 9 + 24 * ch * ch * 9;
  return conv + 6 * ch * h * w * static_cast<double>(c.embed);
}

twin::Sequential<float> make_tower(const TowerConfig& c) {
  using namespace twin;
  const Index w = c.width;
  Sequential<float> net;
  auto block = [&](Index in, Index out, Index k) {
    net.add(Conv2D{.in = in, .out = out, .kernel = k, .stride = 2, .pad = k / 2, .bias = !c.batchnorm,
                   .init = Init::he_uniform});
    if (c.batchnorm) net.add(BatchNorm2d{.features = out});
    net.add(ReLU{});
  };
  block(1, w, 5);
  block(w, 2 * w, 3);
  block(2 * w, 4 * w, 3);
  block(4 * w, 6 * w, 3);
  net.add(Flatten{});
  const Shape s = net.output_shape(Shape{1, 1, c.canvas.height, c.canvas.width});
  net.add(Dense{.in = s[1], .out = c.embed});
  if (c.l2norm) net.add(L2Normalize{});
  return net;
}

}  // namespace sigver

#include "model.hpp"

#include <cmath>

#include <twin/layers/activation.hpp>
#include <twin/layers/conv2d.hpp>
#include <twin/layers/dense.hpp>
#include <twin/layers/flatten.hpp>

namespace sigver {

std::string TowerConfig::describe() const {
  return twin::detail::concat("conv tower width ", width, ", embedding ", embed, ", input ", canvas.height, "x",
                              canvas.width);
}

twin::Sequential<float> make_tower(const TowerConfig& c) {
  using namespace twin;
  const Index w = c.width;
  Sequential<float> net;
  net.add(Conv2D{.in = 1, .out = w, .kernel = 5, .stride = 2, .pad = 2, .init = Init::he_uniform})
      .add(ReLU{})
      .add(Conv2D{.in = w, .out = 2 * w, .kernel = 3, .stride = 2, .pad = 1, .init = Init::he_uniform})
      .add(ReLU{})
      .add(Conv2D{.in = 2 * w, .out = 4 * w, .kernel = 3, .stride = 2, .pad = 1, .init = Init::he_uniform})
      .add(ReLU{})
      .add(Conv2D{.in = 4 * w, .out = 6 * w, .kernel = 3, .stride = 2, .pad = 1, .init = Init::he_uniform})
      .add(ReLU{})
      .add(Flatten{});
  const Shape s = net.output_shape(Shape{1, 1, c.canvas.height, c.canvas.width});
  net.add(Dense{.in = s[1], .out = c.embed});
  return net;
}

twin::Tensor<float, 2> embed_all(const twin::Sequential<float>& net, const twin::Tensor<float, 4>& images,
                                 twin::Index batch) {
  using namespace twin;
  const Index n = images.dim(0), plane = images.size() / std::max<Index>(n, 1);
  twin::Workspace<float> ws;
  Tensor<float, 2> out;
  for (Index lo = 0; lo < n; lo += batch) {
    const Index m = std::min(batch, n - lo);
    TensorView<const float> x(images.data() + lo * plane, images.shape().with_batch(m));
    auto y = net.forward(x, ws, Mode::eval);
    if (lo == 0) out.resize(Shape{n, y.dim(1)});
    std::copy(y.begin(), y.end(), out.data() + lo * y.dim(1));
  }
  return out;
}

float euclidean(const float* a, const float* b, twin::Index d) {
  float s = 0;
  for (twin::Index k = 0; k < d; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
  return std::sqrt(s);
}

}  // namespace sigver

#pragma once
// The D2 signature tower of the benchmarks (bench/, examples/mpi_train): for 1 x h x w
// images, conv 7x7/2 (32) + ReLU + max-pool 3/2, conv 5x5 (64) + ReLU + max-pool 3/2,
// conv 3x3 (128) + ReLU, conv 3x3 (128) + ReLU + max-pool 3/2, Dense 256 + ReLU,
// Dense 128, L2Normalize: 128-d embeddings on the unit sphere.
#include "twin/layers/activation.hpp"
#include "twin/layers/conv2d.hpp"
#include "twin/layers/dense.hpp"
#include "twin/layers/flatten.hpp"
#include "twin/layers/l2_normalize.hpp"
#include "twin/layers/maxpool2d.hpp"
#include "twin/sequential.hpp"

namespace twin::models {

template <class T>
Sequential<T> signature_tower(Index h, Index w) {
  auto out = [](Index n, Index k, Index s, Index p) { return (n + 2 * p - k) / s + 1; };
  Index hh = out(h, 7, 2, 3), ww = out(w, 7, 2, 3);
  for (int i = 0; i < 3; ++i) hh = out(hh, 3, 2, 0), ww = out(ww, 3, 2, 0);
  Sequential<T> t;
  t.add(Conv2D{.in = 1, .out = 32, .kernel = 7, .stride = 2, .pad = 3})
      .add(ReLU{})
      .add(MaxPool2D{.kernel = 3, .stride = 2})
      .add(Conv2D{.in = 32, .out = 64, .kernel = 5, .stride = 1, .pad = 2})
      .add(ReLU{})
      .add(MaxPool2D{.kernel = 3, .stride = 2})
      .add(Conv2D{.in = 64, .out = 128, .kernel = 3, .stride = 1, .pad = 1})
      .add(ReLU{})
      .add(Conv2D{.in = 128, .out = 128, .kernel = 3, .stride = 1, .pad = 1})
      .add(ReLU{})
      .add(MaxPool2D{.kernel = 3, .stride = 2})
      .add(Flatten{})
      .add(Dense{.in = 128 * hh * ww, .out = 256})
      .add(ReLU{})
      .add(Dense{.in = 256, .out = 128})
      .add(L2Normalize{});
  return t;
}

}  // namespace twin::models

#pragma once
// VGG-Face (Parkhi, Vedaldi and Zisserman 2015): the VGG-16 topology trained on 2,622
// identities, for 224x224x3 faces. 145,002,878 parameters (145.0 M), most of them in fc6.
//
//   conv1_1..conv5_3: 3x3 pad 1 convolutions + ReLU, in blocks of 2, 2, 3, 3, 3 with 64,
//   128, 256, 512, 512 channels, each block followed by max-pool 2x2/2 (pool1..pool5);
//   fc6 25088 -> 4096 + ReLU + dropout, fc7 4096 -> 4096 + ReLU + dropout, fc8 -> 2,622.
//
// Node names are those of the published Caffe/PyTorch ports (conv1_1 ... fc8), so their
// weights load by name. Verification compares the fc7 descriptor (4,096-d, after its ReLU)
// by cosine distance; the original notebook calls a pair the same person below 0.40.
// VggFaceOptions::descriptor = true ends the graph there (relu7) instead of at fc8.
#include <string>

#include "twin/graph.hpp"
#include "twin/layers/activation.hpp"
#include "twin/layers/conv2d.hpp"
#include "twin/layers/dense.hpp"
#include "twin/layers/dropout.hpp"
#include "twin/layers/flatten.hpp"
#include "twin/layers/maxpool2d.hpp"

namespace twin::models {

struct VggFaceOptions {
  Index classes = 2622;     // fc8 outputs
  bool descriptor = false;  // end at relu7 (the 4,096-d face descriptor), without fc8
  double dropout = 0.5;
};

template <class T>
Graph<T> vgg_face(const VggFaceOptions& o = {}) {
  Graph<T> g;
  Value h = g.input("input", Shape{3, 224, 224});
  const int convs[5] = {2, 2, 3, 3, 3};
  const Index width[5] = {64, 128, 256, 512, 512};
  Index in = 3;
  for (int b = 0; b < 5; ++b) {
    for (int c = 0; c < convs[b]; ++c) {
      const std::string id = std::to_string(b + 1) + "_" + std::to_string(c + 1);
      h = g.add("conv" + id, Conv2D{.in = in, .out = width[b], .kernel = 3, .pad = 1}, h);
      h = g.add("relu" + id, ReLU{}, h);
      in = width[b];
    }
    h = g.add("pool" + std::to_string(b + 1), MaxPool2D{.kernel = 2, .stride = 2}, h);
  }
  h = g.add("flatten", Flatten{}, h);
  h = g.add("fc6", Dense{.in = 512 * 7 * 7, .out = 4096}, h);
  h = g.add("relu6", ReLU{}, h);
  h = g.add("dropout6", Dropout{.p = o.dropout}, h);
  h = g.add("fc7", Dense{.in = 4096, .out = 4096}, h);
  h = g.add("relu7", ReLU{}, h);
  if (!o.descriptor) {
    h = g.add("dropout7", Dropout{.p = o.dropout}, h);
    h = g.add("fc8", Dense{.in = 4096, .out = o.classes}, h);
  }
  g.output(h);
  return g;
}

}  // namespace twin::models

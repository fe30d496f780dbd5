#pragma once
// torchvision's ResNet-18 and ResNet-34 (He et al. 2016, "basic" residual blocks) as Graphs,
// with torchvision's module names, so that named_tensors() are the keys of its state_dict
// ("layer1.0.conv1.weight", "layer2.0.downsample.1.running_var", "fc.bias"):
//
//   conv1 7x7/2 pad 3 (64, no bias), bn1, ReLU, max-pool 3x3/2 pad 1
//   layer1..layer4: {2,2,2,2} (18) or {3,4,6,3} (34) blocks of 64, 128, 256, 512 channels;
//     block: conv 3x3/s (no bias), bn, ReLU, conv 3x3 (no bias), bn, + shortcut, ReLU;
//     shortcut: the input, or conv 1x1/s (no bias) + bn ("downsample") where the block
//     changes the stride or the width (the first block of layer2..4)
//   avgpool (global), fc 512 -> classes
//
// Parameters with 1000 classes: 11,689,512 (ResNet-18), 21,797,672 (ResNet-34), as
// torchvision's. classes = 0 drops fc: the tower then gives the 512-d pooled descriptor.
// BatchNorm stays a trainable node (fold it for inference with an exporter if needed).
#include <string>
#include <vector>

#include "twin/graph.hpp"
#include "twin/layers/activation.hpp"
#include "twin/layers/add.hpp"
#include "twin/layers/batchnorm.hpp"
#include "twin/layers/conv2d.hpp"
#include "twin/layers/dense.hpp"
#include "twin/layers/global_avg_pool.hpp"
#include "twin/layers/maxpool2d.hpp"

namespace twin::models {

struct ResNetOptions {
  Index input = 224;      // square input side (any side >= 32 works; 112 for faces)
  Index in_channels = 3;  // RGB
  Index classes = 1000;   // fc outputs; 0: no fc, the 512-d pooled features
};

namespace detail {
template <class T>
Value resnet_basic_block(Graph<T>& g, const std::string& name, Value x, Index in, Index out, Index stride) {
  auto h = g.add(name + ".conv1", Conv2D{.in = in, .out = out, .kernel = 3, .stride = stride, .pad = 1, .bias = false}, x);
  h = g.add(name + ".bn1", BatchNorm2d{.features = out}, h);
  h = g.add(name + ".relu1", ReLU{}, h);
  h = g.add(name + ".conv2", Conv2D{.in = out, .out = out, .kernel = 3, .stride = 1, .pad = 1, .bias = false}, h);
  h = g.add(name + ".bn2", BatchNorm2d{.features = out}, h);
  Value s = x;
  if (stride != 1 || in != out) {
    s = g.add(name + ".downsample.0", Conv2D{.in = in, .out = out, .kernel = 1, .stride = stride, .bias = false}, x);
    s = g.add(name + ".downsample.1", BatchNorm2d{.features = out}, s);
  }
  return g.add(name + ".relu2", ReLU{}, g.add(name + ".add", Add{}, {h, s}));
}

template <class T>
Graph<T> resnet_basic(const std::vector<int>& blocks, const ResNetOptions& o) {
  Graph<T> g;
  auto x = g.input("input", Shape{o.in_channels, o.input, o.input});
  auto h = g.add("conv1", Conv2D{.in = o.in_channels, .out = 64, .kernel = 7, .stride = 2, .pad = 3, .bias = false}, x);
  h = g.add("bn1", BatchNorm2d{.features = 64}, h);
  h = g.add("relu", ReLU{}, h);
  h = g.add("maxpool", MaxPool2D{.kernel = 3, .stride = 2, .pad = 1}, h);
  Index in = 64;
  for (int l = 0; l < 4; ++l) {
    const Index out = Index(64) << l;
    for (int b = 0; b < blocks[std::size_t(l)]; ++b) {
      const std::string name = "layer" + std::to_string(l + 1) + "." + std::to_string(b);
      h = resnet_basic_block(g, name, h, in, out, b == 0 && l > 0 ? 2 : 1);
      in = out;
    }
  }
  h = g.add("avgpool", GlobalAvgPool{}, h);
  if (o.classes > 0) h = g.add("fc", Dense{.in = 512, .out = o.classes}, h);
  g.output(h);
  return g;
}
}  // namespace detail

template <class T>
Graph<T> resnet18(const ResNetOptions& o = {}) {
  return detail::resnet_basic<T>({2, 2, 2, 2}, o);
}
template <class T>
Graph<T> resnet34(const ResNetOptions& o = {}) {
  return detail::resnet_basic<T>({3, 4, 6, 3}, o);
}

}  // namespace twin::models

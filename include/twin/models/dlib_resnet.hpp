#pragma once
// The face-recognition ResNet of dlib (examples/dnn_face_recognition_ex.cpp), as a Graph:
// 150x150x3 in, a 128-d descriptor out, 29 convolutions, 5.6 M parameters. Matching is by
// Euclidean distance (dlib's threshold 0.6 for its trained weights).
//
//   stem   conv 7x7/2 valid (32) + norm + ReLU, max-pool 3x3/2 valid
//   blocks 3 x 32, down 64 + 3 x 64, down 128 + 2 x 128, down 256 + 2 x 256, down 256
//          block: conv 3x3 + norm + ReLU, conv 3x3 + norm, + x, ReLU
//          down:  conv 3x3/2 valid + norm + ReLU, conv 3x3 + norm, zero-padded at the
//                 bottom/right to the shortcut's size; shortcut avg-pool 2x2/2 with zero
//                 channels appended; sum, ReLU
//   head   global average pool, Dense 256 -> 128 without bias
//
// dlib trains with batch normalisation and runs with it folded into a per-channel affine
// transform; here `norm` is BatchNorm2d by default (trainable from scratch or for
// fine-tuning), or, with .norm = DlibNorm::affine, that folded form, ChannelAffine, whose
// "<conv>.affine" weight and bias take pretrained weights (twin/face/recognition_net.hpp).
// Both forms have the same parameters: conv weight and bias, a scale and a shift per channel.
// `width` scales every channel count (1.0: dlib's; smaller towers train on a laptop).
#include <algorithm>
#include <cmath>
#include <string>

#include "twin/graph.hpp"
#include "twin/layers/activation.hpp"
#include "twin/layers/add.hpp"
#include "twin/layers/avgpool2d.hpp"
#include "twin/layers/batchnorm.hpp"
#include "twin/layers/channel_affine.hpp"
#include "twin/layers/conv2d.hpp"
#include "twin/layers/dense.hpp"
#include "twin/layers/global_avg_pool.hpp"
#include "twin/layers/maxpool2d.hpp"
#include "twin/layers/pad.hpp"

namespace twin::models {

// BatchNorm2d (train it) or its folded per-channel affine form (load trained weights into it).
enum class DlibNorm { batchnorm, affine };

struct DlibResNetOptions {
  Index input = 150;       // square input side
  Index in_channels = 3;   // RGB
  Index embedding = 128;
  double width = 1.0;      // channel multiplier (32, 64, 128, 256 at 1.0)
  DlibNorm norm = DlibNorm::batchnorm;
};

namespace detail {
struct DlibBuilder {
  bool affine = false;
  template <class T>
  Value conv_norm(Graph<T>& g, const std::string& name, Value x, Index in, Index out, Index k, Index stride,
                  Index pad, bool relu) {
    auto h = g.add(name + ".conv", Conv2D{.in = in, .out = out, .kernel = k, .stride = stride, .pad = pad}, x);
    h = affine ? g.add(name + ".affine", ChannelAffine{.channels = out}, h) : g.add(name + ".bn", BatchNorm2d{.features = out}, h);
    return relu ? g.add(name + ".relu", ReLU{}, h) : h;
  }
  template <class T>
  Value block(Graph<T>& g, const std::string& name, Value x, Index c) {
    auto h = conv_norm(g, name + ".0", x, c, c, 3, 1, 1, true);
    h = conv_norm(g, name + ".1", h, c, c, 3, 1, 1, false);
    return g.add(name + ".relu", ReLU{}, g.add(name + ".add", Add{}, {h, x}));
  }
  // `side`: the input's spatial size, updated to the output's.
  template <class T>
  Value down(Graph<T>& g, const std::string& name, Value x, Index in, Index out, Index& side) {
    auto h = conv_norm(g, name + ".0", x, in, out, 3, 2, 0, true);
    h = conv_norm(g, name + ".1", h, out, out, 3, 1, 1, false);
    const Index main = (side - 3) / 2 + 1, pooled = side / 2;
    if (pooled > main) h = g.add(name + ".pad", Pad2D{.bottom = pooled - main, .right = pooled - main}, h);
    auto s = g.add(name + ".pool", AvgPool2D{.kernel = 2}, x);
    if (out > in) s = g.add(name + ".zeros", PadChannels{.after = out - in}, s);
    side = pooled;
    return g.add(name + ".relu", ReLU{}, g.add(name + ".add", Add{}, {h, s}));
  }
};
}  // namespace detail

template <class T>
Graph<T> dlib_face_resnet(const DlibResNetOptions& o = {}) {
  detail::DlibBuilder b{.affine = o.norm == DlibNorm::affine};
  auto ch = [&](Index c) { return std::max<Index>(1, static_cast<Index>(std::lround(static_cast<double>(c) * o.width))); };
  const Index c32 = ch(32), c64 = ch(64), c128 = ch(128), c256 = ch(256);
  Graph<T> g;
  auto x = g.input("input", Shape{o.in_channels, o.input, o.input});
  auto h = b.conv_norm(g, "stem", x, o.in_channels, c32, 7, 2, 0, true);
  h = g.add("stem.pool", MaxPool2D{.kernel = 3, .stride = 2}, h);
  Index side = ((o.input - 7) / 2 + 1 - 3) / 2 + 1;
  for (int i = 0; i < 3; ++i) h = b.block(g, "level1." + std::to_string(i), h, c32);
  h = b.down(g, "level2.down", h, c32, c64, side);
  for (int i = 0; i < 3; ++i) h = b.block(g, "level2." + std::to_string(i), h, c64);
  h = b.down(g, "level3.down", h, c64, c128, side);
  for (int i = 0; i < 2; ++i) h = b.block(g, "level3." + std::to_string(i), h, c128);
  h = b.down(g, "level4.down", h, c128, c256, side);
  for (int i = 0; i < 2; ++i) h = b.block(g, "level4." + std::to_string(i), h, c256);
  h = b.down(g, "level5.down", h, c256, c256, side);
  h = g.add("pool", GlobalAvgPool{}, h);
  g.output(g.add("fc", Dense{.in = c256, .out = o.embedding, .bias = false}, h));
  return g;
}

}  // namespace twin::models

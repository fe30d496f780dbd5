#pragma once
// FaceNet's tower, Inception-ResNet-v1 (Szegedy et al. 2016; Schroff et al. 2015) as
// facenet-pytorch defines it (models/inception_resnet_v1.py, classify=False): 160x160x3 faces
// to a 512-d L2-normalised embedding, 23,482,624 parameters. Node names are
// facenet-pytorch's module names, so its state_dict keys are named_tensors().
//
//   conv(in, out, k, s, p) = Conv (no bias) + BatchNorm2d(eps 0.001) + ReLU   ("BasicConv2d")
//   stem      conv2d_1a 3x3/2 (32), conv2d_2a 3x3 (32), conv2d_2b 3x3 p1 (64), maxpool_3a 3/2,
//             conv2d_3b 1x1 (80), conv2d_4a 3x3 (192), conv2d_4b 3x3/2 (256)
//   repeat_1  5 x Block35 (scale 0.17): branches 1x1 32 | 1x1 32, 3x3 32 | 1x1 32, 3x3 32,
//             3x3 32; concat (96), conv2d 1x1 -> 256 (bias); x + 0.17 * that; ReLU
//   mixed_6a  3x3/2 384 | 1x1 192, 3x3 192, 3x3/2 256 | max-pool 3/2 -> 896
//   repeat_2  10 x Block17 (scale 0.10): 1x1 128 | 1x1 128, 1x7 128, 7x1 128; conv2d -> 896
//   mixed_7a  1x1 256, 3x3/2 384 | 1x1 256, 3x3/2 256 | 1x1 256, 3x3 256, 3x3/2 256 |
//             max-pool 3/2 -> 1792
//   repeat_3  5 x Block8 (scale 0.20): 1x1 192 | 1x1 192, 1x3 192, 3x1 192; conv2d -> 1792
//   block8    Block8 with scale 1 and no ReLU
//   head      avgpool_1a (global), dropout (0.6), last_linear 1792 -> 512 (no bias),
//             last_bn BatchNorm1d(512, eps 0.001), L2Normalize
// The 1x7 / 7x1 and 1x3 / 3x1 convolutions are Conv2DRect nodes; the residual scale is a
// Scale node (no tensors).
#include <string>
#include <vector>

#include "twin/graph.hpp"
#include "twin/layers/activation.hpp"
#include "twin/layers/add.hpp"
#include "twin/layers/batchnorm.hpp"
#include "twin/layers/concat.hpp"
#include "twin/layers/conv2d.hpp"
#include "twin/layers/conv2d_rect.hpp"
#include "twin/layers/dense.hpp"
#include "twin/layers/dropout.hpp"
#include "twin/layers/global_avg_pool.hpp"
#include "twin/layers/l2_normalize.hpp"
#include "twin/layers/maxpool2d.hpp"
#include "twin/layers/scale.hpp"

namespace twin::models {

struct InceptionResNetV1Options {
  Index input = 160;       // square input side
  Index embedding = 512;
  double dropout = 0.6;    // before last_linear (facenet-pytorch's dropout_prob)
};

namespace detail {
struct InceptionBuilder {
  // facenet-pytorch's BasicConv2d: conv (no bias), BatchNorm2d(eps 0.001), ReLU.
  template <class T>
  static Value conv(Graph<T>& g, const std::string& name, Value x, Index in, Index out, Index kh, Index kw, Index stride,
                    Index ph, Index pw) {
    Value h = kh == kw && ph == pw
                  ? g.add(name + ".conv", Conv2D{.in = in, .out = out, .kernel = kh, .stride = stride, .pad = ph, .bias = false}, x)
                  : g.add(name + ".conv",
                          Conv2DRect{.in = in, .out = out, .kh = kh, .kw = kw, .stride = stride, .pad_h = ph, .pad_w = pw, .bias = false},
                          x);
    h = g.add(name + ".bn", BatchNorm2d{.features = out, .eps = 1e-3, .momentum = 0.1}, h);
    return g.add(name + ".relu", ReLU{}, h);
  }
  template <class T>
  static Value conv(Graph<T>& g, const std::string& name, Value x, Index in, Index out, Index k, Index stride = 1, Index pad = 0) {
    return conv(g, name, x, in, out, k, k, stride, pad, pad);
  }
  // x + scale * conv2d(concat(branches)), then ReLU unless `relu` is false.
  template <class T>
  static Value residual(Graph<T>& g, const std::string& name, Value x, const std::vector<Value>& branches, Index cat, Index c,
                        double scale, bool relu) {
    Value h = g.add_node(name + ".cat", std::make_unique<ConcatLayer<T>>(Concat{}), {branches.begin(), branches.end()});
    h = g.add(name + ".conv2d", Conv2D{.in = cat, .out = c, .kernel = 1}, h);
    if (scale != 1.0) h = g.add(name + ".scale", Scale{.factor = scale}, h);
    h = g.add(name + ".add", Add{}, {h, x});
    return relu ? g.add(name + ".relu", ReLU{}, h) : h;
  }
  template <class T>
  static Value block35(Graph<T>& g, const std::string& n, Value x) {
    Value b0 = conv(g, n + ".branch0", x, 256, 32, 1);
    Value b1 = conv(g, n + ".branch1.1", conv(g, n + ".branch1.0", x, 256, 32, 1), 32, 32, 3, 1, 1);
    Value b2 = conv(g, n + ".branch2.0", x, 256, 32, 1);
    b2 = conv(g, n + ".branch2.2", conv(g, n + ".branch2.1", b2, 32, 32, 3, 1, 1), 32, 32, 3, 1, 1);
    return residual(g, n, x, {b0, b1, b2}, 96, 256, 0.17, true);
  }
  template <class T>
  static Value block17(Graph<T>& g, const std::string& n, Value x) {
    Value b0 = conv(g, n + ".branch0", x, 896, 128, 1);
    Value b1 = conv(g, n + ".branch1.0", x, 896, 128, 1);
    b1 = conv(g, n + ".branch1.1", b1, 128, 128, 1, 7, 1, 0, 3);
    b1 = conv(g, n + ".branch1.2", b1, 128, 128, 7, 1, 1, 3, 0);
    return residual(g, n, x, {b0, b1}, 256, 896, 0.10, true);
  }
  template <class T>
  static Value block8(Graph<T>& g, const std::string& n, Value x, double scale, bool relu) {
    Value b0 = conv(g, n + ".branch0", x, 1792, 192, 1);
    Value b1 = conv(g, n + ".branch1.0", x, 1792, 192, 1);
    b1 = conv(g, n + ".branch1.1", b1, 192, 192, 1, 3, 1, 0, 1);
    b1 = conv(g, n + ".branch1.2", b1, 192, 192, 3, 1, 1, 1, 0);
    return residual(g, n, x, {b0, b1}, 384, 1792, scale, relu);
  }
};
}  // namespace detail

template <class T>
Graph<T> inception_resnet_v1(const InceptionResNetV1Options& o = {}) {
  using B = detail::InceptionBuilder;
  Graph<T> g;
  Value x = g.input("input", Shape{3, o.input, o.input});
  Value h = B::conv(g, "conv2d_1a", x, 3, 32, 3, 2);
  h = B::conv(g, "conv2d_2a", h, 32, 32, 3);
  h = B::conv(g, "conv2d_2b", h, 32, 64, 3, 1, 1);
  h = g.add("maxpool_3a", MaxPool2D{.kernel = 3, .stride = 2}, h);
  h = B::conv(g, "conv2d_3b", h, 64, 80, 1);
  h = B::conv(g, "conv2d_4a", h, 80, 192, 3);
  h = B::conv(g, "conv2d_4b", h, 192, 256, 3, 2);
  for (int i = 0; i < 5; ++i) h = B::block35(g, "repeat_1." + std::to_string(i), h);
  {
    Value b0 = B::conv(g, "mixed_6a.branch0", h, 256, 384, 3, 2);
    Value b1 = B::conv(g, "mixed_6a.branch1.0", h, 256, 192, 1);
    b1 = B::conv(g, "mixed_6a.branch1.2", B::conv(g, "mixed_6a.branch1.1", b1, 192, 192, 3, 1, 1), 192, 256, 3, 2);
    Value b2 = g.add("mixed_6a.branch2", MaxPool2D{.kernel = 3, .stride = 2}, h);
    h = g.add("mixed_6a.cat", Concat{}, {b0, b1, b2});
  }
  for (int i = 0; i < 10; ++i) h = B::block17(g, "repeat_2." + std::to_string(i), h);
  {
    Value b0 = B::conv(g, "mixed_7a.branch0.1", B::conv(g, "mixed_7a.branch0.0", h, 896, 256, 1), 256, 384, 3, 2);
    Value b1 = B::conv(g, "mixed_7a.branch1.1", B::conv(g, "mixed_7a.branch1.0", h, 896, 256, 1), 256, 256, 3, 2);
    Value b2 = B::conv(g, "mixed_7a.branch2.1", B::conv(g, "mixed_7a.branch2.0", h, 896, 256, 1), 256, 256, 3, 1, 1);
    b2 = B::conv(g, "mixed_7a.branch2.2", b2, 256, 256, 3, 2);
    Value b3 = g.add("mixed_7a.branch3", MaxPool2D{.kernel = 3, .stride = 2}, h);
    h = g.add("mixed_7a.cat", Concat{}, {b0, b1, b2, b3});
  }
  for (int i = 0; i < 5; ++i) h = B::block8(g, "repeat_3." + std::to_string(i), h, 0.20, true);
  h = B::block8(g, "block8", h, 1.0, false);
  h = g.add("avgpool_1a", GlobalAvgPool{}, h);
  h = g.add("dropout", Dropout{.p = o.dropout}, h);
  h = g.add("last_linear", Dense{.in = 1792, .out = o.embedding, .bias = false}, h);
  h = g.add("last_bn", BatchNorm1d{.features = o.embedding, .eps = 1e-3, .momentum = 0.1}, h);
  g.output(g.add("normalize", L2Normalize{}, h));
  return g;
}

}  // namespace twin::models

#pragma once
// face-api's 68-point face landmark net (FaceLandmark68Net) as a twin graph, with face-api's
// trained weights: 112x112 RGB in, 68 (x, y) points out, in the iBUG 300-W order dlib's
// shape predictor uses (0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes, 48-67 mouth).
//
//   stem    dense0: conv 3x3/2 (3 -> 32) + ReLU, then 3 separable convs (below)
//   dense1..3: separable conv 3x3/2 (C -> 2C) + ReLU, then 3 separable convs; 64, 128, 256
//   a dense block: o1 = relu(conv0(x)); o2 = sep1(o1); o3 = sep2(relu(o1 + o2));
//                  o4 = sep3(relu(o1 + o2 + o3)); out = relu(o1 + o2 + o3 + o4)
//   sep:    depthwise 3x3 (no bias) then pointwise 1x1 + bias
//   head    the 7x7 map averaged (face-api: avgPool 7x7/2 valid), Dense 256 -> 136 + bias
// TensorFlow's "same" padding with stride 2 on an even side pads one row and column at the
// bottom/right only (Pad2D before an unpadded convolution); with stride 1 it pads 1 all round.
// The output, (x0, y0, x1, y1, ...), is relative to the 112x112 input (0..1).
//
// Name mapping, face-api -> twin (b = 0..3, i = 0..3):
//   dense0/conv0/filters, bias           -> dense0.conv0.conv.weight (OIHW), .bias
//   denseb/convi/depthwise_filter (3,3,C,1) -> denseb.convi.dw.weight (C, 1, 3, 3)
//   denseb/convi/pointwise_filter (1,1,C,O) -> denseb.convi.pw.weight (O, C, 1, 1)
//   denseb/convi/bias                    -> denseb.convi.pw.bias
//   fc/weights (256, 136), fc/bias       -> fc.weight (136, 256), fc.bias
#include <array>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "twin/face/models_dir.hpp"
#include "twin/face/recognition_net.hpp"
#include "twin/face/square_resize.hpp"
#include "twin/face/tfjs_layout.hpp"
#include "twin/graph.hpp"
#include "twin/io/tfjs.hpp"
#include "twin/layers/activation.hpp"
#include "twin/layers/add.hpp"
#include "twin/layers/conv2d.hpp"
#include "twin/layers/dense.hpp"
#include "twin/layers/depthwise_conv2d.hpp"
#include "twin/layers/global_avg_pool.hpp"
#include "twin/layers/pad.hpp"

namespace twin::face {

inline constexpr Index landmark_side = 112;

struct Point {
  double x = 0, y = 0;
};
using Landmarks68 = std::array<Point, 68>;

namespace detail {
template <class T>
Value separable(Graph<T>& g, const std::string& name, Value x, Index in, Index out, Index stride) {
  if (stride == 2) x = g.add(name + ".pad", Pad2D{.bottom = 1, .right = 1}, x);
  auto h = g.add(name + ".dw", DepthwiseConv2D{.channels = in, .kernel = 3, .stride = stride, .pad = stride == 2 ? 0 : 1, .bias = false}, x);
  return g.add(name + ".pw", Conv2D{.in = in, .out = out, .kernel = 1}, h);
}
template <class T>
Value dense_block(Graph<T>& g, const std::string& name, Value x, Index in, Index out, bool first) {
  Value o1;
  if (first) {
    auto p = g.add(name + ".conv0.pad", Pad2D{.bottom = 1, .right = 1}, x);
    o1 = g.add(name + ".conv0.conv", Conv2D{.in = in, .out = out, .kernel = 3, .stride = 2}, p);
  } else {
    o1 = separable(g, name + ".conv0", x, in, out, 2);
  }
  o1 = g.add(name + ".relu0", ReLU{}, o1);
  auto o2 = separable(g, name + ".conv1", o1, out, out, 1);
  auto i3 = g.add(name + ".relu1", ReLU{}, g.add(name + ".add1", Add{}, {o1, o2}));
  auto o3 = separable(g, name + ".conv2", i3, out, out, 1);
  auto i4 = g.add(name + ".relu2", ReLU{}, g.add(name + ".add2", Add{}, {o1, o2, o3}));
  auto o4 = separable(g, name + ".conv3", i4, out, out, 1);
  return g.add(name + ".relu3", ReLU{}, g.add(name + ".add3", Add{}, {o1, o2, o3, o4}));
}
}  // namespace detail

// The graph, untrained: (N, 3, 112, 112) -> (N, 136).
template <class T = float>
Graph<T> landmark_net() {
  Graph<T> g;
  auto x = g.input("input", Shape{3, landmark_side, landmark_side});
  auto h = detail::dense_block(g, "dense0", x, 3, 32, true);
  h = detail::dense_block(g, "dense1", h, 32, 64, false);
  h = detail::dense_block(g, "dense2", h, 64, 128, false);
  h = detail::dense_block(g, "dense3", h, 128, 256, false);
  h = g.add("pool", GlobalAvgPool{}, h);
  g.output(g.add("fc", Dense{.in = 256, .out = 136}, h));
  return g;
}

template <class T>
void load_landmark_weights(Graph<T>& g, const io::TfjsWeights& w) {
  std::map<std::string, NamedTensor> dst;
  for (const auto& t : g.named_tensors()) dst[t.name] = t;
  std::vector<T> params(static_cast<std::size_t>(g.num_params()));
  std::map<std::string, bool> filled;
  auto put = [&](const std::string& name, const std::vector<float>& v) {
    auto it = dst.find(name);
    if (it == dst.end()) throw io_error("face landmark net: the graph has no tensor \"" + name + "\"");
    if (it->second.shape.numel() != static_cast<Index>(v.size()))
      throw io_error(twin::detail::concat("face landmark net: ", w.source(), " gives ", v.size(), " values for \"", name,
                                          "\" of shape ", it->second.shape.str()));
    filled[name] = true;
    std::transform(v.begin(), v.end(), params.begin() + it->second.offset, [](float a) { return static_cast<T>(a); });
  };
  const Index chans[4] = {32, 64, 128, 256};
  std::size_t used = 0;
  for (int b = 0; b < 4; ++b) {
    const Index out = chans[b], in0 = b == 0 ? 3 : chans[b - 1];
    const std::string fb = "dense" + std::to_string(b), tb = fb;
    for (int i = 0; i < 4; ++i) {
      const std::string fa = fb + "/conv" + std::to_string(i), tw = tb + ".conv" + std::to_string(i);
      const Index in = i == 0 ? in0 : out;
      if (b == 0 && i == 0) {
        put(tw + ".conv.weight", hwio_to_oihw(w.at(fa + "/filters", {3, 3, in, out})));
        put(tw + ".conv.bias", w.at(fa + "/bias", {out}).values);
        used += 2;
        continue;
      }
      put(tw + ".dw.weight", depthwise_to_c1hw(w.at(fa + "/depthwise_filter", {3, 3, in, 1})));
      put(tw + ".pw.weight", hwio_to_oihw(w.at(fa + "/pointwise_filter", {1, 1, in, out})));
      put(tw + ".pw.bias", w.at(fa + "/bias", {out}).values);
      used += 3;
    }
  }
  const auto& fc = w.at("fc/weights", {256, 136});
  std::vector<float> t(fc.values.size());
  for (Index i = 0; i < 256; ++i)
    for (Index j = 0; j < 136; ++j) t[static_cast<std::size_t>(j * 256 + i)] = fc.values[static_cast<std::size_t>(i * 136 + j)];
  put("fc.weight", t);
  put("fc.bias", w.at("fc/bias", {136}).values);
  used += 2;
  if (used != w.size())
    throw io_error(twin::detail::concat("face landmark net: ", w.source(), " holds ", w.size(), " tensors, the net uses ", used));
  for (const auto& [name, e] : dst)
    if (!filled[name]) throw io_error("face landmark net: nothing in " + w.source() + " for \"" + name + "\"");
  g.assign(params, std::vector<T>{});
}

template <class T = float>
Graph<T> load_landmark_net(const std::filesystem::path& dir = {}) {
  Graph<T> g = landmark_net<T>();
  load_landmark_weights(g, io::load_tfjs(model_manifest("face_landmark_68_model", dir)));
  return g;
}

// The landmarks of the face filling an h x w image (grey or RGB): the image padded to a
// square and resized to 112x112 as face-api does (square_resize), and the net's output
// mapped back to the image's pixel coordinates the way face-api maps it (its padding taken
// as |h - w| / 2 on the short side).
template <class T>
Landmarks68 detect_landmarks(const Graph<T>& net, Workspace<T>& ws, const std::uint8_t* pixels, Index h, Index w,
                             Index channels) {
  const auto rgb = square_resize(pixels, h, w, channels, landmark_side);
  Tensor<T> x(Shape{1, 3, landmark_side, landmark_side});
  recognition_input(rgb.data(), landmark_side, x.view(), 0);  // the same mean and scale
  const auto y = net.forward(x.view(), ws, Mode::eval);
  const double n = static_cast<double>(std::max(h, w));
  const double px = w < h ? double(h - w) / 2 : 0, py = h < w ? double(w - h) / 2 : 0;
  Landmarks68 out;
  for (Index i = 0; i < 68; ++i) out[std::size_t(i)] = {double(y[2 * i]) * n - px, double(y[2 * i + 1]) * n - py};
  return out;
}

}  // namespace twin::face

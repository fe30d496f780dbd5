#pragma once
// dlib's face-recognition ResNet with the weights dlib's author trained (about 3 M faces,
// 99.38% on LFW; dlib's model files are public domain), as face-api ships them in tfjs form,
// loaded into twin's graph of the same net (twin/models/dlib_resnet.hpp, folded-affine form).
//
//   auto net = twin::face::load_recognition_net();            // from default_models_dir()
//   twin::Tensor<float> x(twin::Shape{1, 3, 150, 150});
//   twin::face::recognition_input(rgb, x.view(), 0);          // rgb: (150, 150, 3) uint8
//   auto d = net.forward(x.view());                           // (1, 128); same face: |d1 - d2| < 0.6
//
// Name mapping, face-api -> twin (p a face-api prefix, t the twin node):
//   p/conv/filters (kh, kw, C, O) -> t.conv.weight (O, C, kh, kw)   HWIO to OIHW
//   p/conv/bias                   -> t.conv.bias
//   p/scale/weights, p/scale/biases -> t.affine.weight, t.affine.bias
//   fc (256, 128)                 -> fc.weight (128, 256)           transposed
// with p -> t: conv32_down -> stem; conv32_{1,2,3}/conv{1,2} -> level1.{0,1,2}.{0,1};
// conv64_down/conv{1,2} -> level2.down.{0,1}; conv64_{1,2,3} -> level2.{0,1,2};
// conv128_down -> level3.down, conv128_{1,2} -> level3.{0,1}; conv256_down -> level4.down,
// conv256_{1,2} -> level4.{0,1}; conv256_down_out -> level5.down.
// Every twin tensor must be filled exactly once and every face-api tensor used, else io_error.
//
// Input: RGB in [0, 255], minus face-api's mean (122.782, 117.001, 104.298), divided by 255.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "twin/face/models_dir.hpp"
#include "twin/face/tfjs_layout.hpp"
#include "twin/graph.hpp"
#include "twin/io/tfjs.hpp"
#include "twin/models/dlib_resnet.hpp"

namespace twin::face {

inline constexpr Index recognition_side = 150;
inline constexpr float recognition_mean_rgb[3] = {122.782f, 117.001f, 104.298f};
// dlib's and face-api's decision threshold on the Euclidean distance of two descriptors.
inline constexpr double recognition_threshold = 0.6;

// The face-api prefix -> twin node of every convolution (see the table above).
inline std::vector<std::pair<std::string, std::string>> recognition_conv_names() {
  std::vector<std::pair<std::string, std::string>> m{{"conv32_down", "stem"}};
  auto blocks = [&](const std::string& fa, const std::string& tw, int n) {
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < 2; ++j)
        m.emplace_back(fa + "_" + std::to_string(i + 1) + "/conv" + std::to_string(j + 1),
                       tw + "." + std::to_string(i) + "." + std::to_string(j));
  };
  auto down = [&](const std::string& fa, const std::string& tw) {
    for (int j = 0; j < 2; ++j) m.emplace_back(fa + "/conv" + std::to_string(j + 1), tw + "." + std::to_string(j));
  };
  blocks("conv32", "level1", 3);
  down("conv64_down", "level2.down");
  blocks("conv64", "level2", 3);
  down("conv128_down", "level3.down");
  blocks("conv128", "level3", 2);
  down("conv256_down", "level4.down");
  blocks("conv256", "level4", 2);
  down("conv256_down_out", "level5.down");
  return m;
}

// The graph, untrained: dlib's ResNet in its folded-affine form, 150x150x3 -> 128.
template <class T = float>
Graph<T> recognition_net() {
  return models::dlib_face_resnet<T>({.input = recognition_side, .in_channels = 3, .embedding = 128, .width = 1.0,
                                      .norm = models::DlibNorm::affine});
}

// Copies face-api's tensors into `g` (built by recognition_net()).
template <class T>
void load_recognition_weights(Graph<T>& g, const io::TfjsWeights& w) {
  std::map<std::string, NamedTensor> dst;
  for (const auto& t : g.named_tensors()) dst[t.name] = t;
  std::map<std::string, bool> filled;
  std::vector<T> params(static_cast<std::size_t>(g.num_params()));
  auto put = [&](const std::string& name, const std::vector<float>& v) {
    auto it = dst.find(name);
    if (it == dst.end()) throw io_error("face recognition net: the graph has no tensor \"" + name + "\"");
    if (it->second.shape.numel() != static_cast<Index>(v.size()))
      throw io_error(twin::detail::concat("face recognition net: ", w.source(), " gives ", v.size(), " values for \"", name,
                                    "\" of shape ", it->second.shape.str()));
    if (filled[name]) throw io_error("face recognition net: \"" + name + "\" filled twice");
    filled[name] = true;
    if (!it->second.trainable) throw io_error("face recognition net: \"" + name + "\" is a buffer, expected a parameter");
    std::transform(v.begin(), v.end(), params.begin() + it->second.offset, [](float a) { return static_cast<T>(a); });
  };
  Index used = 0;
  for (const auto& [fa, tw] : recognition_conv_names()) {
    const Index out = dst.count(tw + ".conv.bias") ? dst.at(tw + ".conv.bias").shape[0] : 0;
    const auto& f = w.at(fa + "/conv/filters");
    if (f.shape.size() != 4 || f.shape[3] != out)
      throw io_error("tfjs weights " + w.source() + ": tensor \"" + f.name + "\" has shape " +
                     io::TfjsWeights::str(f.shape) + ", expected (kh, kw, C, " + std::to_string(out) + ")");
    put(tw + ".conv.weight", hwio_to_oihw(f));
    put(tw + ".conv.bias", w.at(fa + "/conv/bias", {out}).values);
    put(tw + ".affine.weight", w.at(fa + "/scale/weights", {out}).values);
    put(tw + ".affine.bias", w.at(fa + "/scale/biases", {out}).values);
    used += 4;
  }
  const auto& fc = w.at("fc", {256, 128});
  std::vector<float> t(fc.values.size());
  for (Index i = 0; i < 256; ++i)
    for (Index j = 0; j < 128; ++j) t[static_cast<std::size_t>(j * 256 + i)] = fc.values[static_cast<std::size_t>(i * 128 + j)];
  put("fc.weight", t);
  ++used;
  if (used != static_cast<Index>(w.size()))
    throw io_error(twin::detail::concat("face recognition net: ", w.source(), " holds ", w.size(), " tensors, the net uses ", used));
  for (const auto& [name, e] : dst)
    if (!filled[name]) throw io_error("face recognition net: nothing in " + w.source() + " for \"" + name + "\"");
  std::vector<T> buffers(g.buffers().size());
  g.assign(params, buffers);
}

// recognition_net() with face-api's weights from `dir` (empty: default_models_dir()).
template <class T = float>
Graph<T> load_recognition_net(const std::filesystem::path& dir = {}) {
  Graph<T> g = recognition_net<T>();
  load_recognition_weights(g, io::load_tfjs(model_manifest("face_recognition_model", dir)));
  return g;
}

// An interleaved (side, side, 3) RGB image in [0, 255] -> sample n of x (N, 3, side, side),
// normalised as face-api does.
template <class T, class Pixel>
void recognition_input(const Pixel* rgb, Index side, TensorView<T> x, Index n) {
  if (x.rank() != 4 || x.dim(1) != 3 || x.dim(2) != side || x.dim(3) != side || n < 0 || n >= x.dim(0))
    throw shape_error(twin::detail::concat("recognition_input: expected x (N, 3, ", side, ", ", side, ") and n < N, got ",
                                     x.shape().str(), " and n = ", n));
  T* out = x.data() + n * 3 * side * side;
  for (Index c = 0; c < 3; ++c)
    for (Index i = 0; i < side * side; ++i)
      out[c * side * side + i] = (T(rgb[i * 3 + c]) - T(recognition_mean_rgb[c])) / T(255);
}

}  // namespace twin::face

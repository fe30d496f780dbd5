#pragma once
// face-api's TinyFaceDetector (a Tiny YOLO v2 with depthwise-separable convolutions, one
// class) as a twin graph, with face-api's trained weights (tiny_face_detector_model,
// 193,321 parameters; batch norm is already folded into the biases).
//
//   input   RGB padded to a square at the right/bottom, resized bilinearly to S x S
//           (S = 416 by default, any multiple of 32), minus face-api's mean RGB
//           (117.001, 114.697, 97.404), divided by 255
//   conv0   conv 3x3 valid (3 -> 16) + bias, leaky ReLU 0.1               S - 2
//   conv1..5  separable: pad 1, depthwise 3x3 (no bias), pointwise 1x1 + bias,
//           leaky ReLU 0.1; 16 -> 32 -> 64 -> 128 -> 256 -> 512
//   pools   max 2x2 TensorFlow 'same' after conv0..conv4 with stride 2, after conv5 with
//           stride 1 (MaxPool2D pad_end = 1)                              G = 13 at 416
//   conv8   conv 1x1 (512 -> 25) + bias: 5 anchors x (tx, ty, tw, th, to)
//
// Decoding (face-api's TinyYolov2Base.extractBoxes), cell (row, col), anchor a, G cells:
//   score = sigmoid(to), kept when score > threshold (default 0.5)
//   cx = (col + sigmoid(tx)) / G * S / rw,   w = exp(tw) anchor_a.x / G * S / rw
//   cy = (row + sigmoid(ty)) / G * S / rh,   h = exp(th) anchor_a.y / G * S / rh
//   (rw, rh) = round((W, H) * S / max(W, H)), the image's size inside the S x S input
// so (cx - w / 2, cy - h / 2, w, h) is relative to the image; times (W, H) in pixels. Then
// non-maximum suppression at IoU 0.4 (detection.hpp), highest score first.
//
// Name mapping, face-api -> twin (i = 1..5):
//   conv0/filters (3, 3, 3, 16), bias        -> conv0.weight (OIHW), conv0.bias
//   convi/depthwise_filter (3, 3, C, 1)      -> convi.dw.weight (C, 1, 3, 3)
//   convi/pointwise_filter (1, 1, C, O), bias -> convi.pw.weight (O, C, 1, 1), convi.pw.bias
//   conv8/filters (1, 1, 512, 25), bias      -> conv8.weight, conv8.bias
//
//   auto net = twin::face::load_tiny_face_detector();
//   twin::face::FaceDetectorWorkspace<float> ws;                      // reused from call to call
//   const auto& faces = twin::face::detect_faces(net, ws, pixels, h, w, 1);  // boxes in pixels
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "twin/face/detection.hpp"
#include "twin/face/models_dir.hpp"
#include "twin/face/square_resize.hpp"
#include "twin/face/tfjs_layout.hpp"
#include "twin/graph.hpp"
#include "twin/io/tfjs.hpp"
#include "twin/layers/activation.hpp"
#include "twin/layers/conv2d.hpp"
#include "twin/layers/depthwise_conv2d.hpp"
#include "twin/layers/maxpool2d.hpp"

namespace twin::face {

inline constexpr float tiny_detector_mean_rgb[3] = {117.001f, 114.697f, 97.404f};
inline constexpr double tiny_detector_leak = 0.10000000149011612;  // face-api's 0.1 as a float32
// (width, height) of each anchor, in grid cells
inline constexpr std::array<std::array<double, 2>, 5> tiny_detector_anchors{
    {{1.603231, 2.094468}, {6.041143, 7.080126}, {2.882459, 3.518061}, {4.266906, 5.178857}, {9.041765, 10.66308}}};

struct TinyFaceDetectorOptions {
  Index input_size = 416;         // S: a multiple of 32 (face-api: 128 .. 608 are common)
  double score_threshold = 0.5;   // in (0, 1), as face-api asks
  double iou_threshold = 0.4;
};

// The graph, untrained: (N, 3, S, S) -> (N, 25, G, G) for any S (its input shape is open).
template <class T = float>
Graph<T> tiny_face_detector() {
  Graph<T> g;
  auto h = g.input("input");
  h = g.add("conv0", Conv2D{.in = 3, .out = 16, .kernel = 3}, h);
  h = g.add("leaky0", LeakyReLU{.slope = tiny_detector_leak}, h);
  Index c = 16;
  for (int i = 1; i <= 5; ++i) {
    const std::string n = "conv" + std::to_string(i);
    h = g.add("pool" + std::to_string(i - 1), MaxPool2D{.kernel = 2, .stride = 2, .pad_end = 1}, h);
    h = g.add(n + ".dw", DepthwiseConv2D{.channels = c, .kernel = 3, .stride = 1, .pad = 1, .bias = false}, h);
    h = g.add(n + ".pw", Conv2D{.in = c, .out = 2 * c, .kernel = 1}, h);
    h = g.add("leaky" + std::to_string(i), LeakyReLU{.slope = tiny_detector_leak}, h);
    c *= 2;
  }
  h = g.add("pool5", MaxPool2D{.kernel = 2, .stride = 1, .pad_end = 1}, h);
  g.output(g.add("conv8", Conv2D{.in = 512, .out = 25, .kernel = 1}, h));
  return g;
}

template <class T>
void load_tiny_face_detector_weights(Graph<T>& g, const io::TfjsWeights& w) {
  TfjsFiller<T> f(g, w, "tiny face detector");
  f.put("conv0.weight", hwio_to_oihw(f.take("conv0/filters", {3, 3, 3, 16})));
  f.put("conv0.bias", f.take("conv0/bias", {16}).values);
  for (Index i = 1, c = 16; i <= 5; ++i, c *= 2) {
    const std::string fa = "conv" + std::to_string(i), tw = fa;
    f.put(tw + ".dw.weight", depthwise_to_c1hw(f.take(fa + "/depthwise_filter", {3, 3, c, 1})));
    f.put(tw + ".pw.weight", hwio_to_oihw(f.take(fa + "/pointwise_filter", {1, 1, c, 2 * c})));
    f.put(tw + ".pw.bias", f.take(fa + "/bias", {2 * c}).values);
  }
  f.put("conv8.weight", hwio_to_oihw(f.take("conv8/filters", {1, 1, 512, 25})));
  f.put("conv8.bias", f.take("conv8/bias", {25}).values);
  f.finish();
}

template <class T = float>
Graph<T> load_tiny_face_detector(const std::filesystem::path& dir = {}) {
  Graph<T> g = tiny_face_detector<T>();
  load_tiny_face_detector_weights(g, io::load_tfjs(model_manifest("tiny_face_detector_model", dir)));
  return g;
}

inline void check_detector_options(const TinyFaceDetectorOptions& o) {
  if (o.input_size <= 0 || o.input_size % 32 != 0)
    throw error(twin::detail::concat("tiny face detector: the input size must be a positive multiple of 32, got ", o.input_size));
  if (!(o.score_threshold > 0 && o.score_threshold < 1))
    throw error(twin::detail::concat("tiny face detector: the score threshold must be in (0, 1), got ", o.score_threshold));
  if (!(o.iou_threshold >= 0 && o.iou_threshold <= 1))
    throw error(twin::detail::concat("tiny face detector: the IoU threshold must be in [0, 1], got ", o.iou_threshold));
}

// An h x w x channels image (1: grey, 3: RGB) -> sample n of x (N, 3, S, S); `rgb` holds
// the resized image on the way (its capacity is kept).
template <class T>
void tiny_detector_input(const std::uint8_t* pixels, Index h, Index w, Index channels, TensorView<T> x, Index n,
                         std::vector<float>& rgb) {
  const Index s = x.dim(2);
  square_resize_into(pixels, h, w, channels, s, SquarePad::end, rgb);
  T* out = x.data() + n * 3 * s * s;
  for (Index c = 0; c < 3; ++c)
    for (Index i = 0; i < s * s; ++i)
      out[c * s * s + i] = (T(rgb[std::size_t(i * 3 + c)]) - T(tiny_detector_mean_rgb[c])) / T(255);
}

template <class T>
void tiny_detector_input(const std::uint8_t* pixels, Index h, Index w, Index channels, TensorView<T> x, Index n) {
  std::vector<float> rgb;
  tiny_detector_input(pixels, h, w, channels, x, n, rgb);
}

// Every box above the score threshold, before suppression, from one sample's raw output
// y (25, G, G), in the pixels of the h x w image the input was made from, into `boxes`.
template <class T>
void decode_tiny_detections_into(const T* y, Index grid, Index h, Index w, const TinyFaceDetectorOptions& o,
                                 std::vector<Box>& boxes) {
  const double s = double(o.input_size), scale = s / double(std::max(h, w));
  const double fx = s / std::round(double(w) * scale), fy = s / std::round(double(h) * scale);
  auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
  auto at = [&](Index a, Index k, Index row, Index col) { return double(y[((a * 5 + k) * grid + row) * grid + col]); };
  boxes.clear();
  for (Index row = 0; row < grid; ++row)
    for (Index col = 0; col < grid; ++col)
      for (Index a = 0; a < 5; ++a) {
        const double score = sigmoid(at(a, 4, row, col));
        if (!(score > o.score_threshold)) continue;
        const auto& anchor = tiny_detector_anchors[std::size_t(a)];
        const double cx = (double(col) + sigmoid(at(a, 0, row, col))) / double(grid) * fx;
        const double cy = (double(row) + sigmoid(at(a, 1, row, col))) / double(grid) * fy;
        const double bw = std::exp(at(a, 2, row, col)) * anchor[0] / double(grid) * fx;
        const double bh = std::exp(at(a, 3, row, col)) * anchor[1] / double(grid) * fy;
        boxes.push_back({(cx - bw / 2) * double(w), (cy - bh / 2) * double(h), bw * double(w), bh * double(h), score});
      }
}
template <class T>
std::vector<Box> decode_tiny_detections(const T* y, Index grid, Index h, Index w, const TinyFaceDetectorOptions& o) {
  std::vector<Box> boxes;
  decode_tiny_detections_into(y, grid, h, w, o, boxes);
  return boxes;
}

// What detect_faces needs from call to call, owned by the caller: the network's workspace
// (forward-only: its plan, activations and pre-packed weights), the resized image, the
// network's input and the box lists. Every buffer keeps its capacity, so after the first
// call of a given input size a call allocates nothing. One per thread.
template <class T>
struct FaceDetectorWorkspace {
  FaceDetectorWorkspace() { net.set_forward_only(true); }
  Workspace<T> net;              // set_context() on it to run on the caller's context
  std::vector<float> rgb;        // S x S x 3, the image padded and resized
  Tensor<T> input{Shape{0}};     // (1, 3, S, S)
  std::vector<Box> candidates;   // above the score threshold, before suppression
  NmsScratch nms;
  std::vector<Box> faces;        // the result of the last call
};

// The faces in an h x w x channels image, best first, in its pixel coordinates (a box may
// reach past the image's border; clamp() or pixel_rect() it). The result is ws.faces,
// valid until the next call with ws.
template <class T>
const std::vector<Box>& detect_faces(const Graph<T>& net, FaceDetectorWorkspace<T>& ws, const std::uint8_t* pixels,
                                     Index h, Index w, Index channels, const TinyFaceDetectorOptions& o = {}) {
  check_detector_options(o);
  const Shape in{1, 3, o.input_size, o.input_size};
  if (!(ws.input.shape() == in)) ws.input.resize(in);
  tiny_detector_input(pixels, h, w, channels, ws.input.view(), 0, ws.rgb);
  const auto y = net.forward_borrowing_input(ws.input.view(), ws.net, Mode::eval);  // (1, 25, G, G)
  if (y.rank() != 4 || y.dim(1) != 25 || y.dim(2) != y.dim(3))
    throw shape_error("tiny face detector: expected an output (1, 25, G, G), got " + y.shape().str());
  decode_tiny_detections_into(y.data(), y.dim(2), h, w, o, ws.candidates);
  nms_into(ws.candidates, o.iou_threshold, ws.nms, ws.faces);
  return ws.faces;
}
// The same with a Workspace of the caller's and every other buffer made per call.
template <class T>
std::vector<Box> detect_faces(const Graph<T>& net, Workspace<T>& ws, const std::uint8_t* pixels, Index h, Index w,
                              Index channels, const TinyFaceDetectorOptions& o = {}) {
  check_detector_options(o);
  Tensor<T> x(Shape{1, 3, o.input_size, o.input_size});
  tiny_detector_input(pixels, h, w, channels, x.view(), 0);
  const auto y = net.forward(x.view(), ws, Mode::eval);  // (1, 25, G, G)
  if (y.rank() != 4 || y.dim(1) != 25 || y.dim(2) != y.dim(3))
    throw shape_error("tiny face detector: expected an output (1, 25, G, G), got " + y.shape().str());
  return nms(decode_tiny_detections(y.data(), y.dim(2), h, w, o), o.iou_threshold);
}

}  // namespace twin::face

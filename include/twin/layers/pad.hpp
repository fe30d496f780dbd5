#pragma once
// Zero padding of NCHW tensors.
//   Pad2D{.top, .bottom, .left, .right}: rows and columns of zeros around each map
//     (torch.nn.ZeroPad2d; dlib's face ResNet pads its strided main path one row and
//     column at the bottom and right to meet the shortcut).
//   PadChannels{.after}: `after` all-zero channels appended (dlib's down-sampling
//     shortcut: average pool, then zero channels up to the new width).
//   forward   y = x placed inside zeros;   backward  dx = the matching window of dy.
// Neither reads x or y in backward.
#include <algorithm>
#include <string>

#include "twin/layer.hpp"

namespace twin {

template <class T>
class Pad2DLayer;
template <class T>
class PadChannelsLayer;

struct Pad2D {
  Index top = 0, bottom = 0, left = 0, right = 0;
  template <class T>
  using layer = Pad2DLayer<T>;
};
struct PadChannels {
  Index after = 0;
  template <class T>
  using layer = PadChannelsLayer<T>;
};

template <class T>
class Pad2DLayer final : public Layer<T> {
 public:
  explicit Pad2DLayer(const Pad2D& o) : o_(o) {
    if (o.top < 0 || o.bottom < 0 || o.left < 0 || o.right < 0) throw shape_error("Pad2D: padding must be >= 0");
  }
  std::string name() const override { return "Pad2D"; }
  std::string describe() const override {
    return detail::concat("Pad2D(top ", o_.top, ", bottom ", o_.bottom, ", left ", o_.left, ", right ", o_.right, ")");
  }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() == 4, "Pad2D", "expected (N, C, H, W)", in);
    return Shape{in[0], in[1], in[2] + o_.top + o_.bottom, in[3] + o_.left + o_.right};
  }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    const Shape& s = x.shape();
    const Index planes = s[0] * s[1], H = s[2], W = s[3], Ho = y.shape()[2], Wo = y.shape()[3];
    std::fill(y.begin(), y.end(), T(0));
    for (Index p = 0; p < planes; ++p)
      for (Index h = 0; h < H; ++h) {
        const T* src = x.data() + (p * H + h) * W;
        std::copy(src, src + W, y.data() + (p * Ho + h + o_.top) * Wo + o_.left);
      }
  }
  void backward(TensorView<const T>, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (!dx.data()) return;
    const Shape& s = dx.shape();
    const Index planes = s[0] * s[1], H = s[2], W = s[3], Ho = dy.shape()[2], Wo = dy.shape()[3];
    for (Index p = 0; p < planes; ++p)
      for (Index h = 0; h < H; ++h) {
        const T* src = dy.data() + (p * Ho + h + o_.top) * Wo + o_.left;
        std::copy(src, src + W, dx.data() + (p * H + h) * W);
      }
  }

 private:
  Pad2D o_;
};

template <class T>
class PadChannelsLayer final : public Layer<T> {
 public:
  explicit PadChannelsLayer(const PadChannels& o) : o_(o) {
    if (o.after < 0) throw shape_error("PadChannels: after must be >= 0");
  }
  std::string name() const override { return "PadChannels"; }
  std::string describe() const override { return detail::concat("PadChannels(after ", o_.after, ")"); }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  Shape output_shape(const Shape& in) const override {
    require(in.rank() >= 2, "PadChannels", "expected (N, C, ...)", in);
    Shape out = in;
    out[1] = in[1] + o_.after;
    return out;
  }
  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext&) const override {
    const Index N = x.shape()[0], per = x.shape().sample_size(), out = y.shape().sample_size();
    for (Index n = 0; n < N; ++n) {
      std::copy(x.data() + n * per, x.data() + (n + 1) * per, y.data() + n * out);
      std::fill(y.data() + n * out + per, y.data() + (n + 1) * out, T(0));
    }
  }
  void backward(TensorView<const T>, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext&) const override {
    if (!dx.data()) return;
    const Index N = dx.shape()[0], per = dx.shape().sample_size(), out = dy.shape().sample_size();
    for (Index n = 0; n < N; ++n) std::copy(dy.data() + n * out, dy.data() + n * out + per, dx.data() + n * per);
  }

 private:
  PadChannels o_;
};

}  // namespace twin

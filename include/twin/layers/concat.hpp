#pragma once
// Concat: joins two or more inputs along the channel axis (axis 1), as torch.cat(xs, 1):
// the parallel branches of an Inception block.
//   forward   y[n, c_0 + ... + c_{i-1} + c, ...] = x_i[n, c, ...]
//   backward  dx_i = the same slice of dy        (reads neither x nor y)
// Shapes: inputs (N, C_i, ...) equal in every axis but 1 -> (N, sum C_i, ...).
#include <algorithm>
#include <string>

#include "twin/layer.hpp"

namespace twin {

template <class T>
class ConcatLayer;

struct Concat {
  template <class T>
  using layer = ConcatLayer<T>;
};

template <class T>
class ConcatLayer final : public MultiInputLayer<T> {
 public:
  explicit ConcatLayer(const Concat&) {}
  std::string name() const override { return "Concat"; }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  Shape output_shape_n(std::span<const Shape> in) const override {
    Shape out = in[0];
    if (out.rank() < 2) throw shape_error("Concat: inputs need a batch and a channel axis, got " + out.str());
    Index c = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
      bool ok = in[i].rank() == out.rank();
      for (int d = 0; ok && d < out.rank(); ++d) ok = d == 1 || in[i][d] == out[d];
      if (!ok)
        throw shape_error(detail::concat("Concat: input ", i, " has shape ", in[i].str(), ", input 0 has ", in[0].str(),
                                         " (only axis 1 may differ)"));
      c += in[i][1];
    }
    out[1] = c;
    return out;
  }
  // Copies, per sample, each input's block of C_i * (inner) elements in turn.
  void forward_n(std::span<const TensorView<const T>> xs, TensorView<T> y, const LayerContext&) const override {
    const Index N = y.shape()[0], per = y.shape().sample_size();
    for (Index n = 0; n < N; ++n) {
      T* out = y.data() + n * per;
      for (const auto& x : xs) {
        const Index b = x.shape().sample_size();
        std::copy(x.data() + n * b, x.data() + (n + 1) * b, out);
        out += b;
      }
    }
  }
  void backward_n(std::span<const TensorView<const T>>, TensorView<const T>, TensorView<const T> dy,
                  std::span<const TensorView<T>> dxs, const LayerContext&) const override {
    const Index N = dy.shape()[0], per = dy.shape().sample_size();
    for (Index n = 0; n < N; ++n) {
      const T* g = dy.data() + n * per;
      for (const auto& dx : dxs) {
        const Index b = dx.shape().sample_size();
        if (dx.data()) std::copy(g, g + b, dx.data() + n * b);
        g += b;
      }
    }
  }
};

}  // namespace twin

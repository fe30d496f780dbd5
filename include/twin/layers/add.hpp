#pragma once
// Add: y = s_0 x_0 + s_1 x_1 + ... over two or more inputs of one shape: the residual sum of
// a ResNet block (all s_i = 1) or Inception-ResNet's scaled residual (x + 0.17 branch:
// Add{.scale = {1.0, 0.17}}).
//   forward   y = sum_i s_i x_i
//   backward  dx_i = s_i dy                      (reads neither x nor y)
// Shapes: every input has the output's shape.
#include <string>
#include <vector>

#include "twin/layer.hpp"

namespace twin {

template <class T>
class AddLayer;

struct Add {
  std::vector<double> scale;  // one per input; empty: all 1
  template <class T>
  using layer = AddLayer<T>;
};

template <class T>
class AddLayer final : public MultiInputLayer<T> {
 public:
  explicit AddLayer(const Add& o) : o_(o) {}
  std::string name() const override { return "Add"; }
  std::string describe() const override {
    if (o_.scale.empty()) return "Add";
    std::string s = "Add(scale";
    for (double v : o_.scale) {
      s += ' ';
      s += detail::concat(v);
    }
    s += ')';
    return s;
  }
  BackwardReads backward_reads() const override { return {.input = false, .output = false}; }
  Fusion fusion() const override { return o_.scale.empty() ? Fusion::sum : Fusion::none; }
  Shape output_shape_n(std::span<const Shape> in) const override {
    if (!o_.scale.empty() && o_.scale.size() != in.size())
      throw shape_error(detail::concat("Add: ", o_.scale.size(), " scales for ", in.size(), " inputs"));
    for (std::size_t i = 1; i < in.size(); ++i)
      if (!(in[i] == in[0]))
        throw shape_error(detail::concat("Add: input ", i, " has shape ", in[i].str(), ", input 0 has ", in[0].str()));
    return in[0];
  }
  void forward_n(std::span<const TensorView<const T>> xs, TensorView<T> y, const LayerContext&) const override {
    const Index n = y.size();
    T* out = y.data();
    const T s0 = scale(0);
    const T* a = xs[0].data();
    for (Index i = 0; i < n; ++i) out[i] = s0 * a[i];
    for (std::size_t j = 1; j < xs.size(); ++j) {
      const T s = scale(j);
      const T* b = xs[j].data();
      if (s == T(1))
        for (Index i = 0; i < n; ++i) out[i] += b[i];
      else
        for (Index i = 0; i < n; ++i) out[i] += s * b[i];
    }
  }
  void backward_n(std::span<const TensorView<const T>>, TensorView<const T>, TensorView<const T> dy,
                  std::span<const TensorView<T>> dxs, const LayerContext&) const override {
    const Index n = dy.size();
    const T* g = dy.data();
    for (std::size_t j = 0; j < dxs.size(); ++j) {
      if (!dxs[j].data()) continue;
      const T s = scale(j);
      T* d = dxs[j].data();
      for (Index i = 0; i < n; ++i) d[i] = s * g[i];
    }
  }

 private:
  T scale(std::size_t j) const { return o_.scale.empty() ? T(1) : static_cast<T>(o_.scale[j]); }
  Add o_;
};

}  // namespace twin

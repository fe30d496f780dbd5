#pragma once
// ParameterStore: one flat block of parameters, one of gradients and one of non-trainable
// buffers for a whole model, with a stable name for every tensor in it (PyTorch-style:
// "layer1.0.conv1.weight", "3.running_mean"). Layers hold spans into the blocks, set by
// Layer::bind(). Optimisers, zeroing, serialisation, checkpoints, gradient checks and data-
// parallel averaging are then plain operations on three spans.
//
// The blocks grow by doubling as layers are added (every layer is rebound when they move)
// and are trimmed to their exact size by compact(), which init() and assign() call, so
// building a large model copies its weights O(1) times per element.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "twin/layer.hpp"

namespace twin {

// Every parameter and buffer with its name and its place in params() or buffers().
struct NamedTensor {
  std::string name;
  Shape shape;
  bool trainable;
  Index offset;  // into params() when trainable, else into buffers()
};

template <class T>
class ParameterStore {
 public:
  ParameterStore() = default;
  ParameterStore(ParameterStore&&) noexcept = default;
  ParameterStore& operator=(ParameterStore&&) noexcept = default;

  // Registers `layer`'s tensors under `prefix` ("layer1.0.conv1" -> "layer1.0.conv1.weight")
  // and binds it. The layer must outlive the store's use of it (the owning model keeps both).
  void add(const std::string& prefix, Layer<T>& layer) {
    touch();
    Bound b{&layer, n_params_, n_buffers_, 0, 0};
    for (const auto& p : layer.params()) {
      const std::string name = prefix + "." + p.name;
      check_unique(name);
      entries_.push_back({name, p.shape, true, n_params_});
      n_params_ += p.shape.numel();
    }
    for (const auto& q : layer.buffers()) {
      const std::string name = prefix + "." + q.name;
      check_unique(name);
      entries_.push_back({name, q.shape, false, n_buffers_});
      n_buffers_ += q.shape.numel();
    }
    b.param_end = n_params_;
    b.buffer_end = n_buffers_;
    layers_.push_back(b);
    if (reserve(n_params_, n_buffers_, /*exact=*/false)) rebind_all();
    else rebind(b);
  }

  std::span<T> params() {
    touch();
    return params_.span().first(static_cast<std::size_t>(n_params_));
  }
  std::span<const T> params() const { return params_.span().first(static_cast<std::size_t>(n_params_)); }
  std::span<T> grads() { return grads_.span().first(static_cast<std::size_t>(n_params_)); }
  std::span<const T> grads() const { return grads_.span().first(static_cast<std::size_t>(n_params_)); }
  std::span<T> buffers() {
    touch();
    return buffers_.span().first(static_cast<std::size_t>(n_buffers_));
  }
  std::span<const T> buffers() const { return buffers_.span().first(static_cast<std::size_t>(n_buffers_)); }
  Index num_params() const { return n_params_; }
  Index num_buffers() const { return n_buffers_; }
  const std::vector<NamedTensor>& named_tensors() const { return entries_; }
  void zero_grad() {
    auto g = grads();
    std::fill(g.begin(), g.end(), T(0));
  }

  // The parameters, gradients and buffers of the i-th layer added.
  std::size_t layers() const { return layers_.size(); }
  std::span<T> layer_params(std::size_t i) { return params().subspan(p0(i), pn(i)); }  // touches
  std::span<const T> layer_grads(std::size_t i) const { return grads().subspan(p0(i), pn(i)); }
  std::span<T> layer_buffers(std::size_t i) {  // touches
    return buffers().subspan(static_cast<std::size_t>(layers_[i].buffer_begin),
                             static_cast<std::size_t>(layers_[i].buffer_end - layers_[i].buffer_begin));
  }

  // A count that moves whenever the values may have changed: every non-const access to the
  // parameters or buffers (params(), buffers(), layer_params(), layer_buffers(); an
  // optimiser step goes through params()), assign(), adding a layer, and a training-mode
  // forward of a graph on this store (BatchNorm's running statistics). What is derived from
  // the values (a forward-only plan's folded convolution weights) is rebuilt when it moves.
  // Code that keeps a span and writes through it later calls touch() after writing.
  std::uint64_t version() const { return version_; }
  void touch() { ++version_; }

  // Sets all parameters and buffers at once (a model file, a broadcast).
  void assign(std::span<const T> params, std::span<const T> buffers) {
    touch();
    if (static_cast<Index>(params.size()) != n_params_ || static_cast<Index>(buffers.size()) != n_buffers_)
      throw shape_error(detail::concat("ParameterStore::assign: model has ", n_params_, " parameters and ", n_buffers_,
                                       " buffer values, got ", params.size(), " and ", buffers.size()));
    compact();
    std::copy(params.begin(), params.end(), params_.begin());
    std::copy(buffers.begin(), buffers.end(), buffers_.begin());
    zero_grad();
  }
  // Trims the blocks to their exact size (rebinding every layer when they move).
  void compact() {
    if (reserve(n_params_, n_buffers_, /*exact=*/true)) rebind_all();
  }

 private:
  std::size_t p0(std::size_t i) const { return static_cast<std::size_t>(layers_[i].param_begin); }
  std::size_t pn(std::size_t i) const { return static_cast<std::size_t>(layers_[i].param_end - layers_[i].param_begin); }
  struct Bound {
    Layer<T>* layer;
    Index param_begin = 0, buffer_begin = 0, param_end = 0, buffer_end = 0;
  };
  void check_unique(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) throw shape_error("ParameterStore: two tensors named \"" + name + "\" (give the nodes distinct names)");
  }
  // Grows (or, when exact, trims) the blocks; returns whether they moved.
  bool reserve(Index np, Index nb, bool exact) {
    bool moved = false;
    auto fit = [&](Tensor<T>& t, Index need) {
      const Index cap = t.size();
      if (exact ? cap == need : cap >= need) return;
      const Index n = exact ? need : std::max(need, 2 * cap);
      Tensor<T> fresh(Shape{n}, T(0));
      std::copy(t.begin(), t.begin() + std::min(cap, n), fresh.begin());
      t = std::move(fresh);
      moved = true;
    };
    fit(params_, np);
    fit(grads_, np);
    fit(buffers_, nb);
    return moved;
  }
  void rebind(const Bound& b) {
    const auto p = static_cast<std::size_t>(b.param_begin), np = static_cast<std::size_t>(b.param_end - b.param_begin);
    const auto q = static_cast<std::size_t>(b.buffer_begin), nq = static_cast<std::size_t>(b.buffer_end - b.buffer_begin);
    b.layer->bind(params_.span().subspan(p, np), grads_.span().subspan(p, np), buffers_.span().subspan(q, nq));
  }
  void rebind_all() {
    for (const auto& b : layers_) rebind(b);
  }

  std::vector<NamedTensor> entries_;
  std::vector<Bound> layers_;
  Tensor<T> params_{Shape{0}}, grads_{Shape{0}}, buffers_{Shape{0}};
  Index n_params_ = 0, n_buffers_ = 0;
  std::uint64_t version_ = 0;
};

}  // namespace twin

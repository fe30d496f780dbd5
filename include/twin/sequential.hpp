#pragma once
// Sequential: a network built at run time from layer options, owning one flat block of
// parameters, one of gradients and one of non-trainable buffers; each layer holds spans
// into them. Optimisers, zeroing, serialisation and weight sharing are operations on those
// spans.
//
//   twin::Sequential<float> net;
//   net.add(twin::Conv2D{.in = 1, .out = 32, .kernel = 7, .stride = 2, .pad = 3})
//      .add(twin::ReLU{})
//      .add(twin::Flatten{})
//      .add(twin::Dense{.in = 32 * 48 * 96, .out = 128});
//   net.init(/*seed=*/42);
//
// Per-call state (activations, layer scratch, the dropout RNG) lives in a Workspace. A
// Workspace keeps its buffers across calls and only grows them, so a training loop with a
// fixed batch shape allocates once. forward(x, ws, mode) is const: several threads may run
// inference on one trained model, each with its own Workspace.
#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "twin/check_finite.hpp"
#include "twin/layer.hpp"

namespace twin {

template <class T>
class Workspace {
 public:
  explicit Workspace(std::uint64_t seed = 0) : rng_(seed) {}
  // The seed of the stream that stochastic layers (Dropout) draw from.
  void seed(std::uint64_t s) { rng_.reseed(s); }
  Rng& rng() { return rng_; }
  // Debug aid: fill every input-gradient buffer with NaN before the layer writes it, so a
  // backward that leaves part of dx unwritten shows up as NaN.
  void set_poison(bool on) { poison_ = on; }
  // Numeric guard: after every layer's forward and backward, check its output, its input
  // gradient and its parameter gradients for NaN/Inf and throw numeric_error naming the
  // step, the layer index and the layer. Costs one pass over each buffer.
  void set_check_finite(bool on) { check_finite_ = on; }
  // Forward passes are numbered 1, 2, ... per workspace (one per training step in the
  // usual loop); set_step(s) makes the next forward step s, e.g. to follow an optimiser.
  void set_step(std::uint64_t s) { next_step_ = s; }
  std::uint64_t step() const { return step_; }

 private:
  template <class>
  friend class Sequential;
  struct Bytes {
    std::unique_ptr<std::byte[], detail::AlignedDelete<std::byte>> data;
    std::size_t capacity = 0, size = 0;
    std::span<std::byte> span() const { return {data.get(), size}; }
    void resize(std::size_t n) {
      if (n > capacity) {
        data = detail::aligned_alloc_array<std::byte>(static_cast<Index>(n));
        capacity = n;
      }
      size = n;
    }
  };
  Tensor<T> input_;
  std::vector<Tensor<T>> act_;       // act_[i]: output of layer i
  std::vector<Bytes> scratch_;       // scratch_[i]: layer i's bytes from forward to backward
  std::vector<Rng> layer_rng_;       // the stream layer i drew from in the last forward
  Tensor<T> grad_[2];                // ping-pong gradient buffers for backward
  Mode mode_ = Mode::eval;
  bool has_forward_ = false;
  bool poison_ = false;
  bool check_finite_ = false;
  std::uint64_t step_ = 0, next_step_ = 1;
  Rng rng_;
};

template <class T>
class Sequential {
 public:
  using value_type = T;
  Sequential() = default;
  Sequential(Sequential&&) noexcept = default;
  Sequential& operator=(Sequential&&) noexcept = default;

  // Appends a layer made from its options struct (Dense{...}, ReLU{}, ...).
  template <class Options>
    requires requires { typename Options::template layer<T>; }
  Sequential& add(const Options& options) {
    return add(std::make_unique<typename Options::template layer<T>>(options));
  }
  Sequential& add(std::unique_ptr<Layer<T>> layer) {
    if (!layer) throw error("Sequential::add: null layer");
    layers_.push_back(std::move(layer));
    initialised_ = false;
    allocate();
    return *this;
  }

  Index size() const { return static_cast<Index>(layers_.size()); }
  Layer<T>& operator[](Index i) { return *layers_.at(static_cast<std::size_t>(i)); }
  const Layer<T>& operator[](Index i) const { return *layers_.at(static_cast<std::size_t>(i)); }

  // Draws initial parameters from `seed`; layer i uses its own stream, so adding a layer at
  // the end does not change the others' weights.
  void init(std::uint64_t seed) {
    Rng base(seed);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      Rng r = base.fork(i);
      layers_[i]->init(r);
    }
    zero_grad();
    initialised_ = true;
  }
  bool initialised() const { return initialised_; }
  // Sets all parameters and buffers at once (e.g. from a model file) instead of init().
  void assign(std::span<const T> params, std::span<const T> buffers) {
    if (params.size() != params_.span().size() || buffers.size() != buffers_.span().size())
      throw shape_error(detail::concat("Sequential::assign: model has ", params_.size(), " parameters and ",
                                       buffers_.size(), " buffer values, got ", params.size(), " and ", buffers.size()));
    std::copy(params.begin(), params.end(), params_.begin());
    std::copy(buffers.begin(), buffers.end(), buffers_.begin());
    zero_grad();
    initialised_ = true;
  }

  std::span<T> params() { return params_.span(); }
  std::span<const T> params() const { return params_.span(); }
  std::span<T> grads() { return grads_.span(); }
  std::span<const T> grads() const { return grads_.span(); }
  std::span<T> buffers() { return buffers_.span(); }
  std::span<const T> buffers() const { return buffers_.span(); }
  Index num_params() const { return params_.size(); }
  void zero_grad() { grads_.zero(); }

  // Every parameter and buffer with a PyTorch-style name ("3.weight", "1.running_mean")
  // and its place in params() or buffers().
  struct NamedTensor {
    std::string name;
    Shape shape;
    bool trainable;
    Index offset;  // into params() when trainable, else into buffers()
  };
  std::vector<NamedTensor> named_tensors() const {
    std::vector<NamedTensor> out;
    Index po = 0, bo = 0;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      for (const auto& p : layers_[i]->params()) {
        out.push_back({std::to_string(i) + "." + p.name, p.shape, true, po});
        po += p.shape.numel();
      }
      for (const auto& b : layers_[i]->buffers()) {
        out.push_back({std::to_string(i) + "." + b.name, b.shape, false, bo});
        bo += b.shape.numel();
      }
    }
    return out;
  }

  Shape output_shape(const Shape& in) const {
    Shape s = in;
    for (std::size_t i = 0; i < layers_.size(); ++i) s = layer_output_shape(i, s);
    return s;
  }

  // One line per layer: Index, description, output shape, parameter count.
  std::string summary(const Shape& in) const {
    std::ostringstream os;
    os << "input " << in.str() << "\n";
    Shape s = in;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      s = layer_output_shape(i, s);
      os << "  " << i << "  " << layers_[i]->describe() << "  -> " << s.str() << "  " << total_size(layers_[i]->params())
         << " params\n";
    }
    os << "total " << num_params() << " params\n";
    return os.str();
  }

  // Runs all layers on x; the result stays valid in `ws` until its next forward.
  TensorView<const T> forward(TensorView<const T> x, Workspace<T>& ws, Mode mode) const {
    if (!initialised_) throw error("Sequential::forward: call init(seed) (or load parameters) first");
    if (layers_.empty()) throw error("Sequential::forward: no layers");
    ws.act_.resize(layers_.size());
    ws.scratch_.resize(layers_.size());
    ws.layer_rng_.resize(layers_.size());
    ws.input_.resize(x.shape());
    std::copy(x.begin(), x.end(), ws.input_.begin());
    ws.mode_ = mode;
    ws.step_ = ws.next_step_++;
    if (ws.check_finite_) guard(ws, ws.input_.span(), layers_.size(), "input");
    const std::uint64_t step_seed = ws.rng_.next();
    TensorView<const T> in = ws.input_.view();
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const Shape out_shape = layer_output_shape(i, in.shape());
      ws.act_[i].resize(out_shape);
      ws.scratch_[i].resize(layers_[i]->scratch_bytes(in.shape(), mode));
      ws.layer_rng_[i] = Rng(step_seed).fork(i);
      Rng r = ws.layer_rng_[i];
      layers_[i]->forward(in, ws.act_[i].view(), {mode, ws.scratch_[i].span(), &r});
      if (ws.check_finite_) guard(ws, ws.act_[i].span(), i, "forward output");
      in = ws.act_[i].view();
    }
    ws.has_forward_ = true;
    return in;
  }

  // Back-propagates dy (the gradient of the loss with respect to the last forward's output)
  // through all layers, ACCUMULATING parameter gradients into grads(). Returns the gradient
  // with respect to the input when need_input_grad, else an empty view.
  TensorView<const T> backward(TensorView<const T> dy, Workspace<T>& ws, bool need_input_grad = false) const {
    if (!ws.has_forward_ || ws.act_.size() != layers_.size())
      throw error("Sequential::backward: no matching forward in this workspace");
    require_shape(dy.shape(), ws.act_.back().shape(), "Sequential::backward: dy");
    if (ws.check_finite_) guard(ws, dy.span(), layers_.size(), "output gradient (dy from the loss)");
    TensorView<const T> g = dy;
    int slot = 0;
    for (std::size_t i = layers_.size(); i-- > 0;) {
      TensorView<const T> x = i == 0 ? ws.input_.view() : ws.act_[i - 1].view();
      TensorView<T> dx;
      if (i > 0 || need_input_grad) {
        ws.grad_[slot].resize(x.shape());
        dx = ws.grad_[slot].view();
        if (ws.poison_) ws.grad_[slot].fill(std::numeric_limits<T>::quiet_NaN());
      }
      Rng r = ws.layer_rng_[i];
      layers_[i]->backward(x, ws.act_[i].view(), g, dx, {ws.mode_, ws.scratch_[i].span(), &r});
      if (ws.check_finite_) {
        if (dx.data()) guard(ws, dx.span(), i, "input gradient");
        guard(ws, grads_.span().subspan(static_cast<std::size_t>(param_begin_[i]),
                                        static_cast<std::size_t>(param_begin_[i + 1] - param_begin_[i])),
              i, "parameter gradients");
      }
      g = dx;
      slot ^= 1;
    }
    return g;
  }

  // Conveniences that use a workspace owned by the model (not thread-safe).
  TensorView<const T> forward(TensorView<const T> x, Mode mode = Mode::eval) { return forward(x, own_ws_, mode); }
  TensorView<const T> backward(TensorView<const T> dy, bool need_input_grad = false) {
    return backward(dy, own_ws_, need_input_grad);
  }
  Workspace<T>& workspace() { return own_ws_; }

 private:
  Shape layer_output_shape(std::size_t i, const Shape& in) const {
    try {
      return layers_[i]->output_shape(in);
    } catch (const shape_error& e) {
      throw shape_error(detail::concat("layer ", i, " (", layers_[i]->describe(), "): ", e.what()));
    }
  }
  // Throws numeric_error naming the step and layer `i` (layers_.size(): the whole model)
  // when `v` holds a NaN/Inf. The message is only built on failure.
  void guard(const Workspace<T>& ws, std::span<const T> v, std::size_t i, const char* what) const {
    if (first_non_finite(v) < 0) return;
    const std::string where = i < layers_.size() ? detail::concat("layer ", i, " (", layers_[i]->describe(), ")") : "model";
    check_finite(v, detail::concat("step ", ws.step_, ", ", where, ": ", what));
  }
  // Lays out all layers' tensors in the three flat blocks and rebinds every layer.
  // Existing values are kept, so adding a layer does not lose loaded weights.
  void allocate() {
    Index np = 0, nb = 0;
    for (auto& l : layers_) {
      np += total_size(l->params());
      nb += total_size(l->buffers());
    }
    auto grow = [](Tensor<T>& t, Index n) {
      Tensor<T> fresh(Shape{n}, T(0));
      std::copy(t.begin(), t.begin() + std::min(n, t.size()), fresh.begin());
      t = std::move(fresh);
    };
    grow(params_, np);
    grow(grads_, np);
    grow(buffers_, nb);
    Index po = 0, bo = 0;
    param_begin_.assign(1, 0);
    for (auto& l : layers_) {
      const Index p = total_size(l->params()), b = total_size(l->buffers());
      param_begin_.push_back(po + p);
      l->bind(params_.span().subspan(static_cast<std::size_t>(po), static_cast<std::size_t>(p)),
              grads_.span().subspan(static_cast<std::size_t>(po), static_cast<std::size_t>(p)),
              buffers_.span().subspan(static_cast<std::size_t>(bo), static_cast<std::size_t>(b)));
      po += p;
      bo += b;
    }
  }

  std::vector<std::unique_ptr<Layer<T>>> layers_;
  Tensor<T> params_{Shape{0}}, grads_{Shape{0}}, buffers_{Shape{0}};
  bool initialised_ = false;
  std::vector<Index> param_begin_{0};  // layer i's parameters: [param_begin_[i], param_begin_[i + 1])
  Workspace<T> own_ws_;
};

}  // namespace twin

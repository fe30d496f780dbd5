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
// inference on one trained model, each with its own Workspace (and so its own execution
// context, Workspace::set_context).
//
// Memory plan (from each layer's backward_reads() and aliasing(), layer.hpp). Consecutive
// layers whose outputs share one buffer form a "chain": an in-place layer (ReLU, Tanh...)
// writes over its input when no backward reads that input's value any more, a view layer
// (Flatten) reuses it as it is. A chain whose values some backward reads ("kept") has its
// own buffer in the workspace; every other chain lives in one of two shared buffers, which
// backward then reuses for the gradients (in-place and view layers pass the gradient on in
// the same buffer). The model's output is always kept, so it stays valid after backward.
// For issue 5's D2 tower this keeps only the pooled outputs and conv3's ReLU output: the
// conv outputs and most gradients live in the two shared buffers.
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
  // The execution context (twin/context.hpp: threads and kernel work buffers) the layers run
  // on. Not owned: it must outlive the calls made with this workspace, and is used by one
  // call at a time. With none set (nullptr, the default), the workspace makes its own on
  // first use: Context(default_threads()), i.e. set_default_threads(), else
  // TWIN_NUM_THREADS, else all cores.
  void set_context(Context* exec) { exec_ = exec; }
  Context& context() {
    if (exec_) return *exec_;
    if (!own_exec_) own_exec_ = std::make_unique<Context>();
    return *own_exec_;
  }
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
  // Bytes of activations, gradients and layer scratch this workspace holds (its capacity).
  std::size_t bytes() const {
    std::size_t b = static_cast<std::size_t>(input_.capacity() + shared_[0].capacity() + shared_[1].capacity()) * sizeof(T);
    for (const auto& t : kept_) b += static_cast<std::size_t>(t.capacity()) * sizeof(T);
    for (const auto& s : scratch_) b += s.capacity;
    return b;
  }

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
  Tensor<T> input_;                  // a copy of the input (unless the caller lends it)
  TensorView<const T> in_;           // the input the layers saw
  std::vector<TensorView<T>> act_;   // act_[i]: output of layer i, in kept_ or shared_
  std::vector<Tensor<T>> kept_;      // kept_[i]: the buffer of the kept chain layer i starts
  std::vector<Shape> shapes_;        // the plan: output shapes,
  std::vector<char> alias_, keep_;   // outputs sharing their input's buffer, kept chain heads
  Tensor<T> shared_[2];              // unkept chains in forward, gradients in backward
  std::vector<Bytes> scratch_;       // scratch_[i]: layer i's bytes from forward to backward
  std::vector<Rng> layer_rng_;       // the stream layer i drew from in the last forward
  Mode mode_ = Mode::eval;
  bool has_forward_ = false;
  bool poison_ = false;
  bool check_finite_ = false;
  std::uint64_t step_ = 0, next_step_ = 1;
  Rng rng_;
  Context* exec_ = nullptr;             // set_context(); else own_exec_
  std::unique_ptr<Context> own_exec_;   // made on first use when no context is set
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
    ws.input_.resize(x.shape());
    std::copy(x.begin(), x.end(), ws.input_.begin());
    return run_forward(ws.input_.view(), ws, mode);
  }
  // As forward(), but the workspace keeps a view of x instead of a copy: x must stay alive
  // and unchanged until the matching backward. Saves one input-sized buffer and its copy.
  TensorView<const T> forward_borrowing_input(TensorView<const T> x, Workspace<T>& ws, Mode mode) const {
    return run_forward(x, ws, mode);
  }

  // Back-propagates dy (the gradient of the loss with respect to the last forward's output)
  // through all layers, ACCUMULATING parameter gradients into grads(). Returns the gradient
  // with respect to the input when need_input_grad, else an empty view. The returned view
  // (and every activation but the output) is overwritten by the next forward or backward.
  TensorView<const T> backward(TensorView<const T> dy, Workspace<T>& ws, bool need_input_grad = false) const {
    if (!ws.has_forward_ || ws.act_.size() != layers_.size())
      throw error("Sequential::backward: no matching forward in this workspace");
    require_shape(dy.shape(), ws.act_.back().shape(), "Sequential::backward: dy");
    if (ws.check_finite_) guard(ws, dy.span(), layers_.size(), "output gradient (dy from the loss)");
    Context& exec = ws.context();
    TensorView<const T> g = dy;
    int g_slot = -1;  // the shared buffer g lives in; -1: the caller's dy
    for (std::size_t i = layers_.size(); i-- > 0;) {
      const TensorView<const T> x_full = i == 0 ? ws.in_ : TensorView<const T>(ws.act_[i - 1]);
      const BackwardReads reads = layers_[i]->backward_reads();
      const TensorView<const T> x(reads.input ? x_full.data() : nullptr, x_full.shape());
      const TensorView<const T> y(reads.output ? ws.act_[i].data() : nullptr, ws.act_[i].shape());
      TensorView<T> dx;
      int dx_slot = -1;
      if (i > 0 || need_input_grad) {
        if (layers_[i]->aliasing() != Aliasing::none && g_slot >= 0) {
          // dx over dy: both have x's size (an element-wise layer or a reshape).
          dx_slot = g_slot;
          dx = TensorView<T>(ws.shared_[g_slot].data(), x_full.shape());
        } else {
          dx_slot = g_slot == 0 ? 1 : 0;
          ws.shared_[dx_slot].resize(x_full.shape());
          dx = ws.shared_[dx_slot].view();
          if (ws.poison_) ws.shared_[dx_slot].fill(std::numeric_limits<T>::quiet_NaN());
        }
      }
      Rng r = ws.layer_rng_[i];
      layers_[i]->backward(x, y, g, dx, {ws.mode_, ws.scratch_[i].span(), &r, &exec});
      if (ws.check_finite_) {
        if (dx.data()) guard(ws, dx.span(), i, "input gradient");
        guard(ws, grads_.span().subspan(static_cast<std::size_t>(param_begin_[i]),
                                        static_cast<std::size_t>(param_begin_[i + 1] - param_begin_[i])),
              i, "parameter gradients");
      }
      g = dx;
      g_slot = dx_slot;
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
  TensorView<const T> run_forward(TensorView<const T> x, Workspace<T>& ws, Mode mode) const {
    if (!initialised_) throw error("Sequential::forward: call init(seed) (or load parameters) first");
    if (layers_.empty()) throw error("Sequential::forward: no layers");
    const std::size_t L = layers_.size();
    ws.act_.resize(L);
    ws.kept_.resize(L);
    ws.scratch_.resize(L);
    ws.layer_rng_.resize(L);
    ws.in_ = x;
    ws.mode_ = mode;
    ws.step_ = ws.next_step_++;
    ws.has_forward_ = false;
    if (ws.check_finite_) guard(ws, x.span(), L, "input");

    // Plan: which layers write over (or reshape) their input's buffer, and which chains are
    // kept. `alias[i]`: layer i's output shares layer i - 1's buffer.
    std::vector<Shape>& shapes = ws.shapes_;  // in the workspace: a step allocates nothing
    std::vector<char>& alias = ws.alias_;
    std::vector<char>& kept = ws.keep_;
    shapes.resize(L);
    alias.assign(L, 0);
    kept.assign(L, 0);
    {
      Shape s = x.shape();
      bool value_read = false;  // does some backward read the current value of the chain's buffer?
      std::size_t head = 0;     // the first layer of the chain layer i belongs to
      for (std::size_t i = 0; i < L; ++i) {
        shapes[i] = s = layer_output_shape(i, s);
        const Aliasing a = layers_[i]->aliasing();
        const BackwardReads reads = layers_[i]->backward_reads();
        alias[i] = i > 0 && (a == Aliasing::view || (a == Aliasing::in_place && !value_read && !reads.input));
        if (!alias[i] || a == Aliasing::in_place) value_read = false;  // a new value in the buffer
        value_read = value_read || reads.output || (i + 1 < L && layers_[i + 1]->backward_reads().input);
        if (!alias[i]) head = i;
        if (value_read || i + 1 == L) kept[head] = 1;
      }
    }

    Context& exec = ws.context();
    const std::uint64_t step_seed = ws.rng_.next();
    TensorView<const T> in = x;
    int in_slot = -1;  // the shared buffer `in` lives in; -1: the input or a kept buffer
    for (std::size_t i = 0; i < L; ++i) {
      if (alias[i]) {
        ws.act_[i] = TensorView<T>(ws.act_[i - 1].data(), shapes[i]);  // same buffer, same slot
      } else if (kept[i]) {  // i heads its chain here
        ws.kept_[i].resize(shapes[i]);
        ws.act_[i] = ws.kept_[i].view();
        in_slot = -1;
      } else {
        in_slot = in_slot == 0 ? 1 : 0;
        ws.shared_[in_slot].resize(shapes[i]);
        ws.act_[i] = ws.shared_[in_slot].view();
      }
      ws.scratch_[i].resize(layers_[i]->scratch_bytes(in.shape(), mode));
      ws.layer_rng_[i] = Rng(step_seed).fork(i);
      Rng r = ws.layer_rng_[i];
      layers_[i]->forward(in, ws.act_[i], {mode, ws.scratch_[i].span(), &r, &exec});
      if (ws.check_finite_) guard(ws, ws.act_[i].span(), i, "forward output");
      in = ws.act_[i];
    }
    ws.has_forward_ = true;
    return in;
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
      // Layers without parameters (activations, pooling) change nothing: no new block, so
      // building a model does not leave freed parameter-sized blocks in the heap.
      if (n == t.size()) return;
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

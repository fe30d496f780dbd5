#pragma once
// Graph: a network of layers built at run time, where a node may read several tensors
// (Add, Concat) and a tensor may feed several nodes (residual shortcuts, parallel branches).
// Sequential (sequential.hpp) is the chain case of the same class.
//
//   twin::Graph<float> g;
//   auto x = g.input("x", twin::Shape{64, 28, 28});          // per-sample shape: checked as you build
//   auto h = g.add("conv1", twin::Conv2D{.in = 64, .out = 64, .kernel = 3, .pad = 1}, x);
//   h = g.add("relu1", twin::ReLU{}, h);
//   h = g.add("conv2", twin::Conv2D{.in = 64, .out = 64, .kernel = 3, .pad = 1}, h);
//   auto s = g.add("add", twin::Add{}, {h, x});              // the residual sum
//   g.output(g.add("relu2", twin::ReLU{}, s));
//   g.init(/*seed=*/42);
//
// Nodes are added in an order where every input already exists, so a graph cannot hold a
// cycle; a node reading an unknown name, shapes that do not fit (at Add, Concat, any
// layer), a duplicate name and a node nobody reads throw shape_error when the graph is
// built, naming the node, its inputs and their shapes.
//
// One ParameterStore (param_store.hpp) holds every tensor, named "<node>.<tensor>"
// ("layer1.0.conv1.weight"). Per-call state lives in a Workspace: activations and gradients
// share one arena laid out by the memory planner (memory_plan.hpp), planned once per input
// shape and mode and reused, so a training loop with a fixed batch allocates nothing after
// its first step. forward(x, ws, mode) is const: several threads may run inference on one
// trained model, each with its own Workspace.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "twin/check_finite.hpp"
#include "twin/context.hpp"
#include "twin/layer.hpp"
#include "twin/memory_plan.hpp"
#include "twin/param_store.hpp"

namespace twin {

template <class T>
class Graph;

// A tensor of a graph under construction: a graph input or a node's output.
struct Value {
  int id = -1;
};

// A reference to a value by handle or by name, for Graph::add's inputs.
struct ValueRef {
  ValueRef(Value v) : id(v.id) {}  // NOLINT: implicit on purpose
  ValueRef(const char* n) : name(n) {}  // NOLINT
  ValueRef(std::string n) : name(std::move(n)) {}  // NOLINT
  int id = -1;
  std::string name;
};

template <class T>
class Workspace {
 public:
  explicit Workspace(std::uint64_t seed = 0) : rng_(seed) {}
  // The seed of the stream that stochastic layers (Dropout) draw from.
  void seed(std::uint64_t s) { rng_.reseed(s); }
  Rng& rng() { return rng_; }
  // The execution context (twin/context.hpp: threads and kernel work buffers) the nodes run
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
  // Numeric guard: after every node's forward and backward, check its output, its input
  // gradients and its parameter gradients for NaN/Inf and throw numeric_error naming the
  // step and the node. Costs one pass over each buffer.
  void set_check_finite(bool on) { check_finite_ = on; }
  // Training-mode forward checks the model's inputs for NaN/Inf by default (one pass over
  // the input; a NaN image otherwise poisons the weights and the BatchNorm statistics).
  void set_check_input(bool on) { check_input_ = on; }
  // Inference only: Mode::eval forwards in this workspace plan no backward, so activations
  // share memory as soon as their last reader has run (a deep tower needs two or three
  // live buffers, not one per layer). backward() after such a forward throws. By default
  // an eval-mode forward keeps what backward needs, as a train-mode one does (gradients in
  // eval mode: BatchNorm with running statistics, gradient checks, input attributions).
  void set_forward_only(bool on) { forward_only_ = on; }
  // Forward-only Mode::eval plans fuse by default, as ONNX Runtime does: a convolution takes
  // the per-channel affine after it (BatchNorm on its running statistics, ChannelAffine)
  // into a folded copy of its weights and bias, and the ReLU, or the residual Add and the
  // ReLU, that follow into its output store (layer.hpp, INFERENCE FUSION); every convolution
  // keeps its weights pre-packed. The folded copy lives in this workspace, is made when the
  // plan is, and is remade when the model's ParameterStore::version() moves (an optimiser
  // step, loading, a training forward). Results differ from the unfused forward by rounding
  // (~1e-6 relative). Training and backward never use it. Off: every node runs on its own.
  void set_fusion(bool on) { fusion_ = on; }
  // Called during backward after each node that has parameters, with the range
  // [offset, offset + count) of the parameter store's flat gradient buffer (grads()) that
  // the node's gradients occupy, as soon as this backward has finished writing them: data-
  // parallel training sends them while earlier nodes still compute (twin/mpi/
  // data_parallel.hpp). Nodes are reported last to first, each once per backward. Empty
  // (the default): no calls. Set it once; the calls allocate nothing.
  using GradientsReady = std::function<void(std::size_t offset, std::size_t count)>;
  void on_gradients_ready(GradientsReady f) { grads_ready_ = std::move(f); }
  // Forward passes are numbered 1, 2, ... per workspace (one per training step in the
  // usual loop); set_step(s) makes the next forward step s, e.g. to follow an optimiser.
  void set_step(std::uint64_t s) { next_step_ = s; }
  std::uint64_t step() const { return step_; }
  // Bytes of activations, gradients and node scratch this workspace holds (its capacity).
  std::size_t bytes() const {
    std::size_t b = static_cast<std::size_t>(arena_.capacity()) * sizeof(T);
    for (const auto& t : input_) b += static_cast<std::size_t>(t.capacity()) * sizeof(T);
    for (const auto& s : scratch_) b += s.capacity;
    b += static_cast<std::size_t>(folded_.capacity()) * sizeof(T);
    return b;
  }

 private:
  template <class>
  friend class Graph;
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
  // The plan and what it was made for.
  const void* planned_for_ = nullptr;
  std::size_t planned_version_ = 0;
  std::vector<Shape> planned_inputs_;
  Mode planned_mode_ = Mode::eval;
  MemoryPlan plan_;
  std::vector<Shape> shapes_;  // shape of every value
  // A fused (forward-only eval) plan runs steps, not nodes: node `node` writes value `value`
  // (its own, or the last node fused into it), adding `residual`'s value and/or applying the
  // ReLU, with its folded state at folded_[folded] when it is a producer (-1: forward_n).
  struct Step {
    int node = -1, value = -1, residual = -1, affine = -1;  // affine: the folded node, or -1
    bool relu = false;
    Index folded = -1, folded_size = 0;
  };
  bool fused_ = false;                    // the plan is fused: run steps_
  std::vector<Step> steps_;
  Tensor<T> folded_{Shape{0}};            // every producer's folded state
  const void* folded_for_ = nullptr;      // the store and version folded_ was made from
  std::uint64_t folded_version_ = 0;
  bool folded_valid_ = false;
  std::vector<T> affine_scale_, affine_shift_;  // fold()'s arguments, reused

  std::vector<Tensor<T>> input_;          // copies of the inputs (unless the caller lends them)
  std::vector<TensorView<const T>> in_;   // the inputs the nodes saw
  Tensor<T> arena_{Shape{0}};             // every planned activation and gradient
  std::vector<Bytes> scratch_;            // scratch_[k]: node k's bytes from forward to backward
  std::vector<Rng> node_rng_;             // the stream node k drew from in the last forward
  std::vector<TensorView<const T>> xs_;   // argument lists, reused
  std::vector<TensorView<T>> dxs_;
  std::vector<Shape> in_shapes_;
  Mode mode_ = Mode::eval;
  bool has_forward_ = false;
  bool poison_ = false;
  bool check_finite_ = false;
  bool check_input_ = true;
  GradientsReady grads_ready_;
  bool forward_only_ = false;
  bool fusion_ = true;
  bool planned_backward_ = false;
  bool planned_fusion_ = false;
  std::uint64_t step_ = 0, next_step_ = 1;
  Rng rng_;
  Context* exec_ = nullptr;            // set_context(); else own_exec_
  std::unique_ptr<Context> own_exec_;  // made on first use when no context is set
};

template <class T>
class Graph {
 public:
  using value_type = T;
  Graph() = default;
  Graph(Graph&&) noexcept = default;
  Graph& operator=(Graph&&) noexcept = default;

  // ---- building ----

  // Declares an input. With its per-sample shape (no batch axis) every node's shape is
  // checked as it is added; without, at the first forward.
  Value input(const std::string& name, const Shape& sample_shape = Shape{}) {
    claim_name(name);
    if (!nodes_.empty()) throw shape_error("Graph::input \"" + name + "\": declare every input before the first node");
    Shape s;
    if (sample_shape.rank() > 0) {
      s.push_back(1);
      for (int d = 0; d < sample_shape.rank(); ++d) s.push_back(sample_shape[d]);
    } else {
      known_shapes_ = false;
    }
    names_.push_back(name);
    build_shapes_.push_back(s);
    ++inputs_;
    ++version_;
    return Value{inputs_ - 1};
  }

  // Adds a node made from its options struct (Conv2D{...}, Add{}, ...) reading `inputs`.
  template <class Options>
    requires requires { typename Options::template layer<T>; }
  Value add(const std::string& name, const Options& options, std::initializer_list<ValueRef> inputs) {
    return add(name, std::make_unique<typename Options::template layer<T>>(options), inputs);
  }
  template <class Options>
    requires requires { typename Options::template layer<T>; }
  Value add(const std::string& name, const Options& options, ValueRef input) {
    return add(name, std::make_unique<typename Options::template layer<T>>(options), {input});
  }
  Value add(const std::string& name, std::unique_ptr<Layer<T>> layer, ValueRef input) {
    return add(name, std::move(layer), {input});
  }
  Value add(const std::string& name, std::unique_ptr<Layer<T>> layer, std::initializer_list<ValueRef> inputs) {
    return add_node(name, std::move(layer), std::vector<ValueRef>(inputs));
  }
  Value add_node(const std::string& name, std::unique_ptr<Layer<T>> layer, const std::vector<ValueRef>& inputs) {
    if (!layer) throw error("Graph::add \"" + name + "\": null layer");
    if (inputs_ == 0) throw shape_error("Graph::add \"" + name + "\": declare an input first (Graph::input)");
    std::vector<int> ids;
    for (const ValueRef& r : inputs) ids.push_back(resolve(r, name));
    const int want = layer->inputs();
    if ((want > 0 && static_cast<int>(ids.size()) != want) || (want == 0 && ids.size() < 2))
      throw shape_error(detail::concat("Graph::add \"", name, "\" (", layer->describe(), "): takes ",
                                       want > 0 ? std::to_string(want) : std::string("two or more"), " input(s), got ",
                                       ids.size()));
    claim_name(name);
    Shape out;
    if (known_shapes_) {
      std::vector<Shape> in;
      for (int id : ids) in.push_back(build_shapes_[static_cast<std::size_t>(id)]);
      out = node_output_shape(name, *layer, ids, in);
    }
    Node n{name, std::move(layer), std::move(ids)};
    store_->add(store_prefix_ + name, *n.layer);
    nodes_.push_back(std::move(n));
    names_.push_back(name);
    build_shapes_.push_back(out);
    initialised_ = false;
    ++version_;
    output_ = -1;
    return Value{inputs_ + static_cast<int>(nodes_.size()) - 1};
  }

  // Names the graph's output. Every other node must be read by some node.
  void output(ValueRef r) {
    const int id = resolve(r, "output");
    if (id < inputs_) throw shape_error("Graph::output: \"" + names_[static_cast<std::size_t>(id)] + "\" is an input, not a node");
    std::vector<int> readers(names_.size(), 0);
    for (const Node& n : nodes_)
      for (int u : n.inputs) ++readers[static_cast<std::size_t>(u)];
    if (readers[static_cast<std::size_t>(id)] > 0)
      throw shape_error("Graph::output: \"" + names_[static_cast<std::size_t>(id)] +
                        "\" is also read by another node; add an Identity node for the output");
    for (std::size_t v = 0; v < names_.size(); ++v)
      if (static_cast<int>(v) != id && readers[v] == 0) {
        const std::string what = static_cast<int>(v) < inputs_ ? std::string("an input") : layer_of(static_cast<int>(v)).describe();
        throw shape_error(detail::concat("Graph::output: \"", names_[v], "\" (", what, ") is read by no node and is not the output"));
      }
    output_ = id;
    ++version_;
  }

  // ---- parameters ----

  // Draws initial parameters from `seed`; node k uses its own stream Rng(seed).fork(k), so
  // adding a node at the end does not change the others' weights.
  void init(std::uint64_t seed) {
    store_->compact();
    store_->touch();
    Rng base(seed);
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      Rng r = base.fork(k);
      nodes_[k].layer->init(r);
    }
    store_->zero_grad();
    initialised_ = true;
  }
  bool initialised() const { return initialised_; }
  // For a graph in a shared store whose values were set through another graph's assign().
  void mark_initialised() {
    store_->touch();
    initialised_ = true;
  }
  // Sets all parameters and buffers at once (e.g. from a model file) instead of init().
  void assign(std::span<const T> params, std::span<const T> buffers) {
    store_->assign(params, buffers);
    initialised_ = true;
  }
  // The blocks of the graph's store. A graph that joined a shared store (join_store) reports
  // the whole store: every model sharing it.
  std::span<T> params() { return store_->params(); }
  std::span<const T> params() const { return store_->params(); }
  std::span<T> grads() { return store_->grads(); }
  std::span<const T> grads() const { return store_->grads(); }
  std::span<T> buffers() { return store_->buffers(); }
  std::span<const T> buffers() const { return store_->buffers(); }
  Index num_params() const { return store_->num_params(); }
  void zero_grad() { store_->zero_grad(); }
  std::vector<NamedTensor> named_tensors() const { return store_->named_tensors(); }
  ParameterStore<T>& store() { return *store_; }
  const ParameterStore<T>& store() const { return *store_; }

  // Moves this graph's tensors, with their values, into `shared` under `prefix` + node name,
  // so that several graphs (a tower and a head) form one model: one block each of
  // parameters, gradients and buffers, one optimiser. Nodes added later join it too.
  void join_store(const std::shared_ptr<ParameterStore<T>>& shared, const std::string& prefix) {
    if (shared == store_) return;
    std::vector<std::vector<T>> p(nodes_.size()), b(nodes_.size());
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      const auto lp = store_->layer_params(store_base_ + k), lb = store_->layer_buffers(store_base_ + k);
      p[k].assign(lp.begin(), lp.end());
      b[k].assign(lb.begin(), lb.end());
    }
    const std::size_t base = shared->layers();
    for (const Node& n : nodes_) shared->add(prefix + n.name, *n.layer);
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      std::copy(p[k].begin(), p[k].end(), shared->layer_params(base + k).begin());
      std::copy(b[k].begin(), b[k].end(), shared->layer_buffers(base + k).begin());
    }
    store_ = shared;
    store_base_ = base;
    store_prefix_ = prefix;
  }

  // One line per node, "<name>: <describe()>", with its inputs when the graph is not a
  // chain: the "architecture" metadata of model files.
  std::string architecture() const {
    std::string s;
    const bool chain = is_chain();
    for (const Node& n : nodes_) {
      s += store_prefix_ + n.name + ": " + n.layer->describe();
      if (!chain) {
        s += " <-";
        for (int u : n.inputs) s += " " + names_[static_cast<std::size_t>(u)];
      }
      s += "\n";
    }
    return s;
  }

  // ---- inspection ----

  Index size() const { return static_cast<Index>(nodes_.size()); }
  int num_inputs() const { return inputs_; }
  Layer<T>& operator[](Index k) { return *nodes_.at(static_cast<std::size_t>(k)).layer; }
  const Layer<T>& operator[](Index k) const { return *nodes_.at(static_cast<std::size_t>(k)).layer; }
  const std::string& node_name(Index k) const { return nodes_.at(static_cast<std::size_t>(k)).name; }
  // The node's input value ids (0..num_inputs()-1: graph inputs; num_inputs() + j: node j).
  const std::vector<int>& node_inputs(Index k) const { return nodes_.at(static_cast<std::size_t>(k)).inputs; }
  const std::string& value_name(int v) const { return names_.at(static_cast<std::size_t>(v)); }
  int output_value() const { return output_; }

  // Output shape for inputs of these shapes (batch first).
  Shape output_shape(const Shape& in) const { return output_shape(std::vector<Shape>{in}); }
  Shape output_shape(const std::vector<Shape>& in) const {
    require_ready();
    std::vector<Shape> s;
    value_shapes(in, s);
    return s[static_cast<std::size_t>(output_)];
  }

  // One line per node: name, description, inputs, output shape, parameter count.
  std::string summary(const Shape& in) const { return summary(std::vector<Shape>{in}); }
  std::string summary(const std::vector<Shape>& in) const {
    require_ready();
    std::vector<Shape> s;
    value_shapes(in, s);
    std::ostringstream os;
    for (int i = 0; i < inputs_; ++i) os << "input " << names_[static_cast<std::size_t>(i)] << " " << in[static_cast<std::size_t>(i)].str() << "\n";
    const bool chain = is_chain();
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      os << "  " << nodes_[k].name << "  " << nodes_[k].layer->describe();
      if (!chain) {
        os << " (";
        for (std::size_t j = 0; j < nodes_[k].inputs.size(); ++j)
          os << (j ? ", " : "") << names_[static_cast<std::size_t>(nodes_[k].inputs[j])];
        os << ")";
      }
      os << "  -> " << s[static_cast<std::size_t>(inputs_) + k].str() << "  " << total_size(nodes_[k].layer->params())
         << " params\n";
    }
    os << "total " << num_params() << " params\n";
    return os.str();
  }

  // ---- running ----

  // Runs the graph on x (one input); the result stays valid in `ws` until its next forward.
  TensorView<const T> forward(TensorView<const T> x, Workspace<T>& ws, Mode mode) const {
    return forward(std::span<const TensorView<const T>>(&x, 1), ws, mode);
  }
  TensorView<const T> forward(std::span<const TensorView<const T>> xs, Workspace<T>& ws, Mode mode) const {
    ws.input_.resize(xs.size());
    ws.in_.resize(xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) {
      ws.input_[i].resize(xs[i].shape());
      std::copy(xs[i].begin(), xs[i].end(), ws.input_[i].begin());
      ws.in_[i] = ws.input_[i].view();
    }
    return run_forward(ws, mode);
  }
  // As forward(), but the workspace keeps a view of x instead of a copy: x must stay alive
  // and unchanged until the matching backward. Saves one input-sized buffer and its copy.
  TensorView<const T> forward_borrowing_input(TensorView<const T> x, Workspace<T>& ws, Mode mode) const {
    ws.in_.assign(1, x);
    return run_forward(ws, mode);
  }

  // Back-propagates dy (dLoss/dOutput of the last forward) through the graph, ACCUMULATING
  // parameter gradients into grads(). Returns the gradient with respect to the first input
  // when need_input_grad (input_grad(ws, i) gives the others), else an empty view. The
  // returned views and every activation but the output are overwritten by the next
  // forward or backward.
  TensorView<const T> backward(TensorView<const T> dy, Workspace<T>& ws, bool need_input_grad = false) const {
    if (!ws.has_forward_ || ws.planned_for_ != this || ws.planned_version_ != version_)
      throw error("Graph::backward: no matching forward in this workspace");
    if (!ws.planned_backward_)
      throw error("Graph::backward: the forward ran in a forward-only workspace (Workspace::set_forward_only)");
    const MemoryPlan& plan = ws.plan_;
    require_shape(dy.shape(), ws.shapes_[static_cast<std::size_t>(output_)], "Graph::backward: dy");
    if (ws.check_finite_) guard(ws, dy.span(), -1, "output gradient (dy from the loss)");
    T* arena = ws.arena_.data();
    Context& exec = ws.context();
    auto gview = [&](int v) { return TensorView<T>(arena + plan.grad[static_cast<std::size_t>(v)], ws.shapes_[static_cast<std::size_t>(v)]); };
    for (std::size_t k = nodes_.size(); k-- > 0;) {
      const Node& n = nodes_[k];
      const int v = inputs_ + static_cast<int>(k);
      const TensorView<const T> g = v == output_ ? dy : TensorView<const T>(gview(v));
      const BackwardReads reads = n.layer->backward_reads();
      const std::size_t J = n.inputs.size();
      ws.xs_.resize(J);
      ws.dxs_.resize(J);
      bool any_dx = false;
      for (std::size_t j = 0; j < J; ++j) {
        const int u = n.inputs[j];
        const Shape& us = ws.shapes_[static_cast<std::size_t>(u)];
        ws.xs_[j] = TensorView<const T>(reads.input ? value_ptr(ws, u) : nullptr, us);
        const bool need = u >= inputs_ || need_input_grad;
        ws.dxs_[j] = TensorView<T>(need ? arena + plan.dx[k][j] : nullptr, us);
        if (need) {
          any_dx = true;
          if (ws.poison_ && ws.dxs_[j].data() != g.data()) std::fill(ws.dxs_[j].begin(), ws.dxs_[j].end(), std::numeric_limits<T>::quiet_NaN());
        }
      }
      // nothing to compute: no input gradient wanted and no parameters (asked of the store:
      // Layer::params() builds a vector)
      if (!any_dx && store_->layer_grads(store_base_ + k).empty()) continue;
      const TensorView<const T> y(reads.output ? value_ptr(ws, v) : nullptr, ws.shapes_[static_cast<std::size_t>(v)]);
      Rng r = ws.node_rng_[k];
      n.layer->backward_n(ws.xs_, y, g, ws.dxs_, {ws.mode_, ws.scratch_[k].span(), &r, &exec});
      for (std::size_t j = 0; j < J; ++j) {
        if (!ws.dxs_[j].data()) continue;
        if (plan.add[k][j]) {  // a later consumer of a fan-out: add into the gradient
          T* dst = arena + plan.grad[static_cast<std::size_t>(n.inputs[j])];
          const T* src = ws.dxs_[j].data();
          for (Index i = 0, e = ws.dxs_[j].size(); i < e; ++i) dst[i] += src[i];
        }
        if (ws.check_finite_) guard(ws, ws.dxs_[j].span(), static_cast<int>(k), "input gradient");
      }
      if (ws.check_finite_) guard(ws, store_->layer_grads(store_base_ + k), static_cast<int>(k), "parameter gradients");
      if (ws.grads_ready_) {
        const std::span<const T> mine = store_->layer_grads(store_base_ + k);
        if (!mine.empty()) ws.grads_ready_(static_cast<std::size_t>(mine.data() - store_->grads().data()), mine.size());
      }
    }
    return need_input_grad ? input_grad(ws, 0) : TensorView<const T>();
  }
  // The gradient with respect to input i of the last backward(..., need_input_grad = true).
  TensorView<const T> input_grad(Workspace<T>& ws, int i) const {
    return TensorView<const T>(ws.arena_.data() + ws.plan_.grad[static_cast<std::size_t>(i)], ws.shapes_[static_cast<std::size_t>(i)]);
  }

  // Conveniences that use a workspace owned by the model (not thread-safe).
  TensorView<const T> forward(TensorView<const T> x, Mode mode = Mode::eval) { return forward(x, own_ws_, mode); }
  TensorView<const T> backward(TensorView<const T> dy, bool need_input_grad = false) {
    return backward(dy, own_ws_, need_input_grad);
  }
  Workspace<T>& workspace() { return own_ws_; }

 protected:
  struct Node {
    std::string name;
    std::unique_ptr<Layer<T>> layer;
    std::vector<int> inputs;
  };
  bool is_chain() const {
    if (inputs_ != 1) return false;
    for (std::size_t k = 0; k < nodes_.size(); ++k)
      if (nodes_[k].inputs.size() != 1 || nodes_[k].inputs[0] != static_cast<int>(k)) return false;
    return true;
  }
  void set_output_unchecked(int v) {
    output_ = v;
    ++version_;
  }
  int last_value() const { return inputs_ + static_cast<int>(nodes_.size()) - 1; }
  bool chain_names_ = false;  // Sequential: messages say "layer 3 (...)"

 private:
  const Layer<T>& layer_of(int v) const { return *nodes_[static_cast<std::size_t>(v - inputs_)].layer; }
  void claim_name(const std::string& name) {
    if (name.empty()) throw shape_error("Graph: a node or input needs a name");
    for (const auto& n : names_)
      if (n == name) throw shape_error("Graph: the name \"" + name + "\" is taken");
  }
  int resolve(const ValueRef& r, const std::string& reader) const {
    if (r.name.empty()) {
      if (r.id < 0 || r.id >= static_cast<int>(names_.size()))
        throw shape_error(detail::concat("Graph::add \"", reader, "\": reads value ", r.id, ", which this graph does not hold"));
      return r.id;
    }
    for (std::size_t v = 0; v < names_.size(); ++v)
      if (names_[v] == r.name) return static_cast<int>(v);
    throw shape_error("Graph::add \"" + reader + "\": reads \"" + r.name + "\", which is no input or node added before it");
  }
  Shape node_output_shape(const std::string& name, const Layer<T>& layer, const std::vector<int>& ids,
                          const std::vector<Shape>& in) const {
    try {
      return layer.output_shape_n(in);
    } catch (const shape_error& e) {
      std::string args;
      for (std::size_t j = 0; j < ids.size(); ++j)
        args += (j ? ", " : "") + names_[static_cast<std::size_t>(ids[j])] + " " + in[j].str();
      if (chain_names_) throw shape_error("layer " + name + " (" + layer.describe() + "): " + e.what());
      throw shape_error("node \"" + name + "\" (" + layer.describe() + ") reading " + args + ": " + e.what());
    }
  }
  void require_ready() const {
    if (nodes_.empty()) throw error("Graph: no nodes");
    if (output_ < 0) throw error("Graph: no output (call output(node) after the last add)");
  }
  void value_shapes(const std::vector<Shape>& in, std::vector<Shape>& s) const {
    if (static_cast<int>(in.size()) != inputs_)
      throw shape_error(detail::concat("Graph: expected ", inputs_, " input(s), got ", in.size()));
    s.resize(names_.size());
    for (int i = 0; i < inputs_; ++i) s[static_cast<std::size_t>(i)] = in[static_cast<std::size_t>(i)];
    std::vector<Shape> args;
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      args.clear();
      for (int u : nodes_[k].inputs) args.push_back(s[static_cast<std::size_t>(u)]);
      s[static_cast<std::size_t>(inputs_) + k] = node_output_shape(nodes_[k].name, *nodes_[k].layer, nodes_[k].inputs, args);
    }
  }
  T* value_ptr(const Workspace<T>& ws, int v) const {
    const Index off = ws.plan_.value[static_cast<std::size_t>(v)];
    if (off == MemoryPlan::external) return const_cast<T*>(ws.in_[static_cast<std::size_t>(ws.plan_.value_source[static_cast<std::size_t>(v)])].data());
    return const_cast<T*>(ws.arena_.data()) + off;
  }
  void plan(Workspace<T>& ws, Mode mode) const {
    const bool with_backward = mode == Mode::train || !ws.forward_only_;
    const bool fuse = !with_backward && ws.fusion_;
    bool same = ws.planned_for_ == this && ws.planned_version_ == version_ && ws.planned_mode_ == mode &&
                ws.planned_backward_ == with_backward && ws.planned_fusion_ == fuse &&
                ws.planned_inputs_.size() == ws.in_.size();
    for (std::size_t i = 0; same && i < ws.in_.size(); ++i) same = ws.planned_inputs_[i] == ws.in_[i].shape();
    if (same) return;
    ws.in_shapes_.resize(ws.in_.size());
    for (std::size_t i = 0; i < ws.in_.size(); ++i) ws.in_shapes_[i] = ws.in_[i].shape();
    value_shapes(ws.in_shapes_, ws.shapes_);
    ws.planned_for_ = this;
    ws.planned_version_ = version_;
    ws.planned_mode_ = mode;
    ws.planned_backward_ = with_backward;
    ws.planned_fusion_ = fuse;
    ws.planned_inputs_ = ws.in_shapes_;
    ws.fused_ = fuse;
    if (fuse) {
      plan_fused(ws);
      return;
    }
    std::vector<PlanNode> pn(nodes_.size());
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      pn[k].inputs = nodes_[k].inputs;
      pn[k].size = ws.shapes_[static_cast<std::size_t>(inputs_) + k].numel();
      pn[k].aliasing = nodes_[k].layer->aliasing();
      pn[k].reads = nodes_[k].layer->backward_reads();
    }
    std::vector<Index> in_sizes;
    for (const auto& s : ws.in_shapes_) in_sizes.push_back(s.numel());
    ws.plan_ = plan_memory(in_sizes, pn, output_, with_backward,
                           static_cast<Index>(std::max<std::size_t>(1, tensor_alignment / sizeof(T))));
  }
  // The fused schedule of a forward-only eval plan (Workspace::set_fusion) and its memory.
  // From each producer (Layer::folds()), a chain of nodes each of which is the only reader
  // of the value before it: an optional channel_affine, then an optional two-input sum
  // (the other input is the residual), then an optional ReLU. The group runs as one step,
  // at the place of its last node (the residual may be computed after the producer), so
  // nothing between reads the values it skips. The memory planner sees the steps as nodes.
  void plan_fused(Workspace<T>& ws) const {
    const int K = static_cast<int>(nodes_.size()), V = inputs_ + K;
    std::vector<int> readers(static_cast<std::size_t>(V), 0), reader(static_cast<std::size_t>(V), -1);
    for (int k = 0; k < K; ++k)
      for (int u : nodes_[static_cast<std::size_t>(k)].inputs) {
        ++readers[static_cast<std::size_t>(u)];
        reader[static_cast<std::size_t>(u)] = k;
      }
    // The node that alone reads v, has kind `f` (and `arity` inputs) and is in no group yet,
    // else -1. A sum's other input is then never a value inside a group (its only reader
    // would be this sum, already taken): it is a graph input or the last value of a step.
    std::vector<char> absorbed(static_cast<std::size_t>(K), 0);
    auto follower = [&](int v, Fusion f, std::size_t arity) {
      if (v == output_ || readers[static_cast<std::size_t>(v)] != 1) return -1;
      const int j = reader[static_cast<std::size_t>(v)];
      const Node& n = nodes_[static_cast<std::size_t>(j)];
      return !absorbed[static_cast<std::size_t>(j)] && n.layer->fusion() == f && n.inputs.size() == arity ? j : -1;
    };
    std::vector<std::pair<int, typename Workspace<T>::Step>> at;  // (place, step)
    Index folded = 0;
    for (int k = 0; k < K; ++k) {
      if (absorbed[static_cast<std::size_t>(k)]) continue;
      const Node& n = nodes_[static_cast<std::size_t>(k)];
      typename Workspace<T>::Step st;
      st.node = k;
      st.value = inputs_ + k;
      int last = k;
      if (n.layer->folds() && n.inputs.size() == 1) {
        const Shape& out = ws.shapes_[static_cast<std::size_t>(st.value)];
        int j = follower(st.value, Fusion::channel_affine, 1);
        if (j >= 0 && out.rank() >= 2) {
          st.affine = j;
          absorbed[static_cast<std::size_t>(j)] = 1;
          st.value = inputs_ + (last = j);
        }
        j = follower(st.value, Fusion::sum, 2);
        if (j >= 0) {
          const auto& in = nodes_[static_cast<std::size_t>(j)].inputs;
          const int other = in[0] == st.value ? in[1] : in[0];
          if (other != st.value && ws.shapes_[static_cast<std::size_t>(other)] == out) {
            st.residual = other;
            absorbed[static_cast<std::size_t>(j)] = 1;
            st.value = inputs_ + (last = j);
          }
        }
        j = follower(st.value, Fusion::relu, 1);
        if (j >= 0) {
          st.relu = true;
          absorbed[static_cast<std::size_t>(j)] = 1;
          st.value = inputs_ + (last = j);
        }
        st.folded = folded;
        st.folded_size = n.layer->folded_size(ws.shapes_[static_cast<std::size_t>(n.inputs[0])]);
        folded += (st.folded_size + 15) / 16 * 16;  // 64-byte aligned starts
      }
      at.push_back({last, st});
    }
    std::stable_sort(at.begin(), at.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    ws.steps_.clear();
    for (const auto& [place, st] : at) ws.steps_.push_back(st);

    // The steps as plan nodes: step s makes reduced value inputs_ + s.
    const int S = static_cast<int>(ws.steps_.size());
    std::vector<int> reduced(static_cast<std::size_t>(V), -1);
    for (int i = 0; i < inputs_; ++i) reduced[static_cast<std::size_t>(i)] = i;
    std::vector<PlanNode> pn(static_cast<std::size_t>(S));
    for (int s = 0; s < S; ++s) {
      const auto& st = ws.steps_[static_cast<std::size_t>(s)];
      const Node& n = nodes_[static_cast<std::size_t>(st.node)];
      for (int u : n.inputs) pn[static_cast<std::size_t>(s)].inputs.push_back(reduced[static_cast<std::size_t>(u)]);
      if (st.residual >= 0) pn[static_cast<std::size_t>(s)].inputs.push_back(reduced[static_cast<std::size_t>(st.residual)]);
      pn[static_cast<std::size_t>(s)].size = ws.shapes_[static_cast<std::size_t>(st.value)].numel();
      pn[static_cast<std::size_t>(s)].aliasing = st.folded >= 0 ? Aliasing::none : n.layer->aliasing();
      reduced[static_cast<std::size_t>(st.value)] = inputs_ + s;
    }
    std::vector<Index> in_sizes;
    for (const auto& sh : ws.in_shapes_) in_sizes.push_back(sh.numel());
    const MemoryPlan rp = plan_memory(in_sizes, pn, reduced[static_cast<std::size_t>(output_)], false,
                                      static_cast<Index>(std::max<std::size_t>(1, tensor_alignment / sizeof(T))));
    ws.plan_ = MemoryPlan{};
    ws.plan_.arena = rp.arena;
    ws.plan_.value.assign(static_cast<std::size_t>(V), MemoryPlan::external);
    ws.plan_.value_source.assign(static_cast<std::size_t>(V), 0);  // values no step makes are never read
    for (int v = 0; v < V; ++v) {
      const int r = reduced[static_cast<std::size_t>(v)];
      if (r < 0) continue;
      ws.plan_.value[static_cast<std::size_t>(v)] = rp.value[static_cast<std::size_t>(r)];
      ws.plan_.value_source[static_cast<std::size_t>(v)] = rp.value_source[static_cast<std::size_t>(r)];
    }
    if (ws.folded_.size() != folded) ws.folded_.resize(Shape{folded});
    ws.folded_valid_ = false;
  }
  // Makes the producers' folded state from the current parameters, unless it is current.
  void fold(Workspace<T>& ws) const {
    if (ws.folded_valid_ && ws.folded_for_ == store_.get() && ws.folded_version_ == store_->version()) return;
    for (const auto& st : ws.steps_) {
      if (st.folded < 0) continue;
      const Node& n = nodes_[static_cast<std::size_t>(st.node)];
      std::span<const T> scale, shift;
      if (st.affine >= 0) {
        const auto c = static_cast<std::size_t>(ws.shapes_[static_cast<std::size_t>(inputs_ + st.affine)][1]);
        ws.affine_scale_.resize(c);
        ws.affine_shift_.resize(c);
        nodes_[static_cast<std::size_t>(st.affine)].layer->eval_affine(ws.affine_scale_, ws.affine_shift_);
        scale = ws.affine_scale_;
        shift = ws.affine_shift_;
      }
      n.layer->fold(ws.shapes_[static_cast<std::size_t>(n.inputs[0])], scale, shift,
                    std::span<T>(ws.folded_.data() + st.folded, static_cast<std::size_t>(st.folded_size)));
    }
    ws.folded_for_ = store_.get();
    ws.folded_version_ = store_->version();
    ws.folded_valid_ = true;
  }
  TensorView<const T> run_forward(Workspace<T>& ws, Mode mode) const {
    if (!initialised_) throw error("Graph::forward: call init(seed) (or load parameters) first");
    require_ready();
    if (static_cast<int>(ws.in_.size()) != inputs_)
      throw shape_error(detail::concat("Graph::forward: expected ", inputs_, " input(s), got ", ws.in_.size()));
    ws.has_forward_ = false;
    ws.mode_ = mode;
    ws.step_ = ws.next_step_++;
    if (ws.check_finite_ || (mode == Mode::train && ws.check_input_))
      for (int i = 0; i < inputs_; ++i) {
        const std::span<const T> in = ws.in_[static_cast<std::size_t>(i)].span();
        if (first_non_finite(in) >= 0)  // the message is built only for a bad input
          guard(ws, in, -1, ("input \"" + names_[static_cast<std::size_t>(i)] + "\"").c_str());
      }
    if (mode == Mode::train) store_->touch();  // BatchNorm's running statistics move
    plan(ws, mode);
    ws.arena_.resize(Shape{std::max<Index>(ws.plan_.arena, 1)});
    const std::size_t K = nodes_.size();
    ws.scratch_.resize(K);
    ws.node_rng_.resize(K);
    const std::uint64_t step_seed = ws.rng_.next();
    Context& exec = ws.context();
    if (ws.fused_) {
      fold(ws);
      run_steps(ws, mode, step_seed, exec);
      ws.has_forward_ = true;
      return TensorView<const T>(value_ptr(ws, output_), ws.shapes_[static_cast<std::size_t>(output_)]);
    }
    for (std::size_t k = 0; k < K; ++k) {
      const Node& n = nodes_[k];
      const int v = inputs_ + static_cast<int>(k);
      ws.xs_.resize(n.inputs.size());
      ws.in_shapes_.resize(n.inputs.size());
      for (std::size_t j = 0; j < n.inputs.size(); ++j) {
        const int u = n.inputs[j];
        ws.xs_[j] = TensorView<const T>(value_ptr(ws, u), ws.shapes_[static_cast<std::size_t>(u)]);
        ws.in_shapes_[j] = ws.shapes_[static_cast<std::size_t>(u)];
      }
      const TensorView<T> y(value_ptr(ws, v), ws.shapes_[static_cast<std::size_t>(v)]);
      ws.scratch_[k].resize(n.layer->scratch_bytes_n(ws.in_shapes_, mode));
      ws.node_rng_[k] = Rng(step_seed).fork(k);
      Rng r = ws.node_rng_[k];
      n.layer->forward_n(ws.xs_, y, {mode, ws.scratch_[k].span(), &r, &exec});
      if (ws.check_finite_) guard(ws, y.span(), static_cast<int>(k), "forward output");
    }
    ws.has_forward_ = true;
    return TensorView<const T>(value_ptr(ws, output_), ws.shapes_[static_cast<std::size_t>(output_)]);
  }
  void run_steps(Workspace<T>& ws, Mode mode, std::uint64_t step_seed, Context& exec) const {
    for (const auto& st : ws.steps_) {
      const auto k = static_cast<std::size_t>(st.node);
      const Node& n = nodes_[k];
      ws.xs_.resize(n.inputs.size());
      ws.in_shapes_.resize(n.inputs.size());
      for (std::size_t j = 0; j < n.inputs.size(); ++j) {
        const int u = n.inputs[j];
        ws.xs_[j] = TensorView<const T>(value_ptr(ws, u), ws.shapes_[static_cast<std::size_t>(u)]);
        ws.in_shapes_[j] = ws.shapes_[static_cast<std::size_t>(u)];
      }
      const TensorView<T> y(value_ptr(ws, st.value), ws.shapes_[static_cast<std::size_t>(st.value)]);
      ws.scratch_[k].resize(n.layer->scratch_bytes_n(ws.in_shapes_, mode));
      ws.node_rng_[k] = Rng(step_seed).fork(k);
      Rng r = ws.node_rng_[k];
      const LayerContext ctx{mode, ws.scratch_[k].span(), &r, &exec};
      if (st.folded >= 0) {
        const Epilogue<T> e{.residual = st.residual >= 0 ? value_ptr(ws, st.residual) : nullptr, .relu = st.relu};
        n.layer->forward_folded(ws.xs_[0], y, std::span<const T>(ws.folded_.data() + st.folded, static_cast<std::size_t>(st.folded_size)), e, ctx);
      } else {
        n.layer->forward_n(ws.xs_, y, ctx);
      }
      if (ws.check_finite_) guard(ws, y.span(), static_cast<int>(k), "forward output");
    }
  }
  // Throws numeric_error naming the step and node k (-1: the whole model) when `v` holds a
  // NaN/Inf. The message is only built on failure.
  void guard(const Workspace<T>& ws, std::span<const T> v, int k, const char* what) const {
    if (first_non_finite(v) < 0) return;
    const std::string where =
        k >= 0 ? detail::concat(chain_names_ ? "layer " : "node ", nodes_[static_cast<std::size_t>(k)].name, " (",
                                nodes_[static_cast<std::size_t>(k)].layer->describe(), ")")
               : std::string("model");
    check_finite(v, detail::concat("step ", ws.step_, ", ", where, ": ", what));
  }

  std::vector<Node> nodes_;
  std::vector<std::string> names_;   // of every value: inputs, then nodes
  std::vector<Shape> build_shapes_;  // batch-1 shapes while building (when inputs declare theirs)
  bool known_shapes_ = true;
  int inputs_ = 0;
  int output_ = -1;
  std::size_t version_ = 0;
  std::shared_ptr<ParameterStore<T>> store_ = std::make_shared<ParameterStore<T>>();
  std::size_t store_base_ = 0;  // this graph's first layer in *store_
  std::string store_prefix_;    // before its node names there
  bool initialised_ = false;
  Workspace<T> own_ws_;
};

}  // namespace twin

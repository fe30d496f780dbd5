#pragma once
// The Layer interface, and the one contract every forward/backward pair follows.
//
// THE BACKWARD CONTRACT
//  * forward(x, y, ctx) writes every element of y. It may keep what backward needs in
//    ctx.scratch (sized by scratch_bytes()); nothing else is remembered between calls, so a
//    layer object never changes during a call and inference (Mode::eval) is const and
//    thread-safe given one Workspace per thread.
//  * backward(x, y, dy, dx, ctx) gets the same x, y and ctx.scratch as the matching forward.
//      - dx (the gradient with respect to the input) is ASSIGNED: every element written.
//        dx may be empty (data() == nullptr) when no one needs it; then skip it.
//      - FAN-OUT: where one tensor feeds several nodes of a graph, its gradient is the sum
//        of what each consumer assigns. The graph does the sum, not the layer: the first
//        consumer to run backward writes the tensor's gradient buffer, every later one
//        writes a buffer of its own that the graph then adds in. So layers never read dx,
//        and an in-place layer may write dx over dy.
//      - parameter gradients are ACCUMULATED (+=) into the gradient buffer the layer was
//        bound to. The owner zeroes that buffer once per optimiser step. A tower run for
//        several Siamese branches therefore adds all branches' contributions with no
//        special code.
//  * A node with several inputs (Add, Concat) derives from MultiInputLayer and implements
//    the *_n forms below, with xs and dxs in the order the node was given its inputs; the
//    same rules hold for every dxs[i].
//  * Training-mode forward may update non-trainable buffers (BatchNorm running statistics)
//    through the span given to bind(); that is the only mutation, and only in Mode::train.
//
// Parameters and buffers are owned by the model (one flat block each, see Sequential);
// a layer holds spans into them, set by bind().
//
// MEMORY PLANNING (optional; the defaults are always safe)
//  * backward_reads() says which of x and y backward reads. Sequential lets activations that
//    no backward reads share memory with each other and with the gradients, and passes the
//    unread views to backward with data() == nullptr (shape kept), so an undeclared read
//    fails loudly instead of reading a reused buffer.
//  * aliasing() == Aliasing::in_place: forward and backward are element-wise, so they are
//    correct when y.data() == x.data() and when dx.data() == dy.data(); backward must not
//    read x. Sequential then writes y over x (when no one reads the old x in backward) and
//    dx over dy.
//  * aliasing() == Aliasing::view: y holds exactly x's values in the same order (a reshape);
//    forward and backward skip their copy when y.data() == x.data() / dx.data() == dy.data().
//
// INFERENCE FUSION (optional; used only by forward-only Mode::eval plans)
//  * fusion() says how a node may be merged into the producer (a convolution) before it:
//    Fusion::channel_affine, its eval forward is y[n,c,...] = scale[c] x[n,c,...] + shift[c]
//    (BatchNorm on its running statistics, ChannelAffine), given by eval_affine();
//    Fusion::relu, y = x > 0 ? x : 0; Fusion::sum, y = x0 + x1 (two inputs, no scales).
//  * A producer (folds() true) takes such an affine into its weights and bias once, when the
//    plan is made or its parameters change (fold(), into a buffer of folded_size() scalars the
//    workspace owns), and then runs forward_folded(): its forward with those weights and an
//    Epilogue applied to every output, + residual (a tensor shaped like y) then the ReLU.
//    Training and backward never see the folded copy: they read the layer's own parameters.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "twin/context.hpp"
#include "twin/rng.hpp"
#include "twin/tensor.hpp"

namespace twin {

enum class Mode { train, eval };

// Which of x and y a layer's backward reads (see MEMORY PLANNING above).
struct BackwardReads {
  bool input = true;
  bool output = true;
};
enum class Aliasing { none, in_place, view };

// A named parameter or buffer tensor of a layer: "weight" (out, in), "running_mean" (C)...
struct ParamSpec {
  std::string name;
  Shape shape;
};

// What a fused forward does to each output after its own sum (see INFERENCE FUSION).
template <class T>
struct Epilogue {
  const T* residual = nullptr;  // added when set, laid out as y
  bool relu = false;            // then y = y > 0 ? y : 0
};
enum class Fusion { none, channel_affine, relu, sum };

// Per-call state handed to a layer. `exec` is the execution context (twin/context.hpp) its
// kernels run on: threads and per-worker work buffers, which, unlike `scratch`, hold nothing
// from forward to backward. Sequential passes its Workspace's context.
struct LayerContext {
  Mode mode = Mode::eval;
  std::span<std::byte> scratch;  // this layer's bytes, alive from forward to its backward
  Rng* rng = nullptr;            // for stochastic layers (Dropout) in Mode::train
  Context* exec = nullptr;       // threads and work buffers; required by every layer that computes

  // *exec; throws when no context was given.
  Context& context() const {
    if (!exec) throw error("LayerContext: no execution context (set LayerContext::exec, e.g. to a twin::Context)");
    return *exec;
  }
};

// Carves 64-byte-aligned typed arrays out of a layer's scratch bytes. A layer computes its
// scratch_bytes() with scratch_bytes_for<U>(n) terms in the same order it take<U>(n)s them.
template <class U>
constexpr std::size_t scratch_bytes_for(Index n) {
  const std::size_t b = static_cast<std::size_t>(n) * sizeof(U);
  return (b + tensor_alignment - 1) / tensor_alignment * tensor_alignment;
}
class ScratchCarver {
 public:
  explicit ScratchCarver(std::span<std::byte> s) : rest_(s) {}
  template <class U>
  U* take(Index n) {
    const std::size_t b = scratch_bytes_for<U>(n);
    if (b > rest_.size()) throw error("ScratchCarver: layer scratch smaller than its scratch_bytes()");
    U* p = reinterpret_cast<U*>(rest_.data());
    rest_ = rest_.subspan(b);
    return p;
  }

 private:
  std::span<std::byte> rest_;
};

template <class T>
class Layer {
 public:
  using value_type = T;
  virtual ~Layer() = default;

  // Short type name ("Conv2D") and a one-line description with its options.
  virtual std::string name() const = 0;
  virtual std::string describe() const { return name(); }

  // Shape of the output for an input of shape `in` (batch first); throws shape_error
  // naming the layer when `in` is not acceptable.
  virtual Shape output_shape(const Shape& in) const = 0;

  // Trainable tensors and non-trainable buffers, in the order they are laid out in the
  // spans given to bind().
  virtual std::vector<ParamSpec> params() const { return {}; }
  virtual std::vector<ParamSpec> buffers() const { return {}; }
  virtual void bind(std::span<T> /*params*/, std::span<T> /*grads*/, std::span<T> /*buffers*/) {}
  // Sets initial values of the bound parameters and buffers.
  virtual void init(Rng& /*rng*/) {}

  virtual std::size_t scratch_bytes(const Shape& /*in*/, Mode /*mode*/) const { return 0; }
  virtual BackwardReads backward_reads() const { return {}; }
  virtual Aliasing aliasing() const { return Aliasing::none; }

  // Inference fusion (see INFERENCE FUSION above). A follower declares fusion() and, for
  // Fusion::channel_affine, fills scale and shift (one per channel) with eval_affine().
  virtual Fusion fusion() const { return Fusion::none; }
  virtual void eval_affine(std::span<T> /*scale*/, std::span<T> /*shift*/) const {}
  // A producer: folded_size(in) scalars of folded state for inputs shaped like `in`; fold()
  // writes them (scale, shift: the affine to fold, empty for none); forward_folded() is
  // forward() with them and the epilogue. The three must agree for a given `in`.
  virtual bool folds() const { return false; }
  virtual Index folded_size(const Shape& /*in*/) const { return 0; }
  virtual void fold(const Shape& /*in*/, std::span<const T> /*scale*/, std::span<const T> /*shift*/,
                    std::span<T> /*out*/) const {}
  virtual void forward_folded(TensorView<const T> x, TensorView<T> y, std::span<const T> /*folded*/,
                              const Epilogue<T>& /*e*/, const LayerContext& ctx) const {
    forward(x, y, ctx);
  }

  virtual void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const = 0;
  virtual void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx,
                        const LayerContext& ctx) const = 0;

  // The graph calls these; a one-input layer keeps the defaults, which forward to the forms
  // above. `inputs()` is the number of inputs the layer takes (0: two or more).
  virtual int inputs() const { return 1; }
  virtual Shape output_shape_n(std::span<const Shape> in) const { return output_shape(in[0]); }
  virtual std::size_t scratch_bytes_n(std::span<const Shape> in, Mode mode) const { return scratch_bytes(in[0], mode); }
  virtual void forward_n(std::span<const TensorView<const T>> xs, TensorView<T> y, const LayerContext& ctx) const {
    forward(xs[0], y, ctx);
  }
  virtual void backward_n(std::span<const TensorView<const T>> xs, TensorView<const T> y, TensorView<const T> dy,
                          std::span<const TensorView<T>> dxs, const LayerContext& ctx) const {
    backward(xs[0], y, dy, dxs[0], ctx);
  }
};

// Base of nodes with several inputs: the one-input forms throw, the *_n forms are theirs.
template <class T>
class MultiInputLayer : public Layer<T> {
 public:
  int inputs() const override { return 0; }
  Shape output_shape(const Shape& in) const override {
    throw shape_error(this->name() + ": takes two or more inputs (use it in a Graph), got one of shape " + in.str());
  }
  void forward(TensorView<const T>, TensorView<T>, const LayerContext&) const override {
    throw error(this->name() + ": takes two or more inputs");
  }
  void backward(TensorView<const T>, TensorView<const T>, TensorView<const T>, TensorView<T>,
                const LayerContext&) const override {
    throw error(this->name() + ": takes two or more inputs");
  }
  std::size_t scratch_bytes_n(std::span<const Shape>, Mode) const override { return 0; }
};

// Total number of scalars in a list of ParamSpecs.
inline Index total_size(const std::vector<ParamSpec>& specs) {
  Index n = 0;
  for (const auto& s : specs) n += s.shape.numel();
  return n;
}

// Throws shape_error "<layer>: <message>, got input <shape>" when `ok` is false. `message`
// is text or a callable returning it, built only on failure: output_shape runs on every
// forward and backward, which must not allocate.
template <class Message>
void require(bool ok, std::string_view layer, const Message& message, const Shape& got) {
  if (ok) [[likely]]
    return;
  std::string text(layer);
  text += ": ";
  if constexpr (std::is_invocable_v<const Message&>) text += message();
  else text += message;
  throw shape_error(text + ", got input " + got.str());
}

}  // namespace twin

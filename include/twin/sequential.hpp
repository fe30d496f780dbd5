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
//
// Sequential is the chain case of Graph (graph.hpp): the same parameter store, memory
// planner and workspace. Its memory plan keeps, for the D2 signature tower, only the pooled
// outputs and conv3's ReLU output; the conv outputs and most gradients share memory.
#include <memory>
#include <string>

#include "twin/graph.hpp"

namespace twin {

template <class T>
class Sequential : public Graph<T> {
 public:
  Sequential() { this->input("input"); }
  Sequential(Sequential&&) noexcept = default;
  Sequential& operator=(Sequential&&) noexcept = default;

  // Appends a layer made from its options struct (Dense{...}, ReLU{}, ...), named by its
  // index ("3": its tensors are "3.weight", "3.bias").
  template <class Options>
    requires requires { typename Options::template layer<T>; }
  Sequential& add(const Options& options) {
    return add(std::make_unique<typename Options::template layer<T>>(options));
  }
  Sequential& add(std::unique_ptr<Layer<T>> layer) {
    if (!layer) throw error("Sequential::add: null layer");
    const int last = this->last_value();
    this->add_node(std::to_string(this->size()), std::move(layer), {Value{last}});
    this->set_output_unchecked(this->last_value());
    return *this;
  }
};

}  // namespace twin

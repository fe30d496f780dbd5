#pragma once
// WeightAverage: an exponential moving average of a model's parameters and buffers
// (Polyak averaging; TensorFlow's ExponentialMovingAverage with num_updates, timm's
// ModelEmaV2, which averages the BatchNorm statistics too). After each optimiser step,
//   decay_t = min(decay, (1 + t) / (10 + t)),  avg = decay_t * avg + (1 - decay_t) * live
// (t counts the updates, so the first updates forget the initial weights fast). Evaluate or
// save the average by swapping it into the model:
//
//   twin::WeightAverage<float> avg;
//   avg.decay = 0.99;
//   avg.reset(net.params(), net.buffers());                // once, after init or resume
//   ... opt.step(net.params(), net.grads()); avg.update(net.params(), net.buffers());
//   avg.swap(net);  /* validate, save */  avg.swap(net);  // the live weights are back
//
// The state (the averages and the update count) is plain data.
#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "twin/error.hpp"

namespace twin {

template <class T>
struct WeightAverage {
  double decay = 0.99;
  std::vector<T> params{}, buffers{};  // the averages
  std::int64_t updates = 0;

  void reset(std::span<const T> p, std::span<const T> b) {
    params.assign(p.begin(), p.end());
    buffers.assign(b.begin(), b.end());
    updates = 0;
  }
  void update(std::span<const T> p, std::span<const T> b) {
    if (p.size() != params.size() || b.size() != buffers.size())
      throw shape_error("WeightAverage::update: the model's size changed since reset");
    const double t = static_cast<double>(updates);
    const T d = static_cast<T>(std::min(decay, (1.0 + t) / (10.0 + t))), e = T(1) - d;
    for (std::size_t i = 0; i < p.size(); ++i) params[i] = d * params[i] + e * p[i];
    for (std::size_t i = 0; i < b.size(); ++i) buffers[i] = d * buffers[i] + e * b[i];
    ++updates;
  }
  // Exchanges the averages with the model's live weights (twice: back where it was).
  template <class Model>
  void swap(Model& model) {
    std::vector<T> p(model.params().begin(), model.params().end()), b(model.buffers().begin(), model.buffers().end());
    model.assign(params, buffers);
    params = std::move(p), buffers = std::move(b);
  }
};

}  // namespace twin

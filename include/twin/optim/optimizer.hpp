#pragma once
// The optimiser interface. An optimiser updates a flat parameter span from the matching flat
// gradient span (Sequential::params()/grads()); its own state (momentum, moments) is a list
// of named flat tensors of the same length, exposed for checkpoints.
//
// PyTorch's update rules and defaults are followed exactly (torch.optim, 1.13); each class
// documents its formula.
#include <cmath>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "twin/context.hpp"
#include "twin/tensor.hpp"

namespace twin {

template <class T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update. params and grads must have the same length on every call. With `exec` the
  // element-wise update is spread over its threads (the same bits for any thread count);
  // without, it runs on the calling thread.
  void step(std::span<T> params, std::span<const T> grads, Context* exec = nullptr) {
    if (params.size() != grads.size())
      throw shape_error(detail::concat(name(), "::step: ", params.size(), " parameters but ", grads.size(), " gradients"));
    if (n_ != static_cast<Index>(params.size())) {
      resize_state(static_cast<Index>(params.size()));
      t_ = 0;
    }
    ++t_;
    exec_ = exec;
    update(params, grads);
    exec_ = nullptr;
  }
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  long long steps() const { return t_; }
  void set_steps(long long t) { t_ = t; }
  virtual std::string name() const = 0;

  // Named state tensors (e.g. "exp_avg", "exp_avg_sq"), empty before the first step.
  // Sized by resize_state() before a checkpoint is loaded into them.
  std::vector<std::pair<std::string, Tensor<T>>>& state() { return slots_; }
  void resize_state(Index n) {
    n_ = n;
    slots_.clear();
    for (const auto& s : slot_names()) slots_.emplace_back(s, Tensor<T>(Shape{n}, T(0)));
  }

 protected:
  explicit Optimizer(double lr) : lr_(lr) {}
  virtual std::vector<std::string> slot_names() const = 0;
  virtual void update(std::span<T> p, std::span<const T> g) = 0;
  T* slot(std::size_t i) { return slots_[i].second.data(); }
  // Runs body(i) over all indices, in parallel on step()'s context if it got one; each
  // element is independent.
  template <class F>
  void each(std::size_t n, F&& body) {
    auto range = [&](Index lo, Index hi) {
      for (Index i = lo; i < hi; ++i) body(static_cast<std::size_t>(i));
    };
    if (exec_) exec_->parallel_for(0, static_cast<Index>(n), 1 << 14, range);
    else range(0, static_cast<Index>(n));
  }
  double lr_;
  long long t_ = 0;
  Index n_ = -1;  // parameter count the state is sized for
  Context* exec_ = nullptr;  // step()'s context during its update
  std::vector<std::pair<std::string, Tensor<T>>> slots_;
};

}  // namespace twin

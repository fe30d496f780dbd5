#pragma once
// Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay,
// exactly as torch.optim.SGD:
//   g = grad + weight_decay * p
//   b = g on the first step, else momentum * b + (1 - dampening) * g
//   g = g + momentum * b  (Nesterov)   or   g = b  (classic momentum)
//   p = p - lr * g
#include "twin/optim/optimizer.hpp"

namespace twin {

template <class T>
class SGD final : public Optimizer<T> {
 public:
  struct Options {
    double lr = 0.01;
    double momentum = 0.0;
    double dampening = 0.0;
    double weight_decay = 0.0;
    bool nesterov = false;
  };
  explicit SGD(const Options& o) : Optimizer<T>(o.lr), o_(o) {
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      throw error("SGD: Nesterov momentum requires momentum > 0 and dampening 0");
  }
  std::string name() const override { return "SGD"; }

 private:
  std::vector<std::string> slot_names() const override {
    if (o_.momentum != 0.0) return {"momentum_buffer"};
    return {};
  }
  void update(std::span<T> p, std::span<const T> g) override {
    const T lr = static_cast<T>(this->lr_), wd = static_cast<T>(o_.weight_decay), mu = static_cast<T>(o_.momentum),
            damp = static_cast<T>(1.0 - o_.dampening);
    const bool first = this->t_ == 1, has_mom = o_.momentum != 0.0, nesterov = o_.nesterov;
    T* buf = has_mom ? this->slot(0) : nullptr;
    this->each(p.size(), [&](std::size_t i) {
      T d = g[i] + wd * p[i];
      if (has_mom) {
        buf[i] = first ? d : mu * buf[i] + damp * d;
        d = nesterov ? d + mu * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    });
  }
  Options o_;
};

}  // namespace twin

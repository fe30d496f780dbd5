#pragma once
// RMSprop, exactly as torch.optim.RMSprop:
//   g = grad + weight_decay * p
//   s = alpha s + (1 - alpha) g^2
//   centered: a = alpha a + (1 - alpha) g,  r = sqrt(s - a^2) + eps;  else r = sqrt(s) + eps
//   momentum > 0: b = momentum b + g / r,  p = p - lr b;   else p = p - lr g / r
// Defaults: lr 0.01, alpha 0.99, eps 1e-8. (Keras differs: rho 0.9, lr 0.001, and eps inside
// the square root; set alpha = 0.9, lr = 0.001 to come close.)
#include <cmath>

#include "twin/optim/optimizer.hpp"

namespace twin {

template <class T>
class RMSprop final : public Optimizer<T> {
 public:
  struct Options {
    double lr = 0.01;
    double alpha = 0.99;
    double eps = 1e-8;
    double weight_decay = 0.0;
    double momentum = 0.0;
    bool centered = false;
  };
  explicit RMSprop(const Options& o) : Optimizer<T>(o.lr), o_(o) {}
  std::string name() const override { return "RMSprop"; }

 private:
  std::vector<std::string> slot_names() const override {
    std::vector<std::string> s{"square_avg"};
    if (o_.centered) s.push_back("grad_avg");
    if (o_.momentum > 0) s.push_back("momentum_buffer");
    return s;
  }
  void update(std::span<T> p, std::span<const T> g) override {
    const T lr = static_cast<T>(this->lr_), alpha = static_cast<T>(o_.alpha), eps = static_cast<T>(o_.eps),
            wd = static_cast<T>(o_.weight_decay), mu = static_cast<T>(o_.momentum);
    T* sq = this->slot(0);
    T* ga = o_.centered ? this->slot(1) : nullptr;
    T* buf = o_.momentum > 0 ? this->slot(o_.centered ? 2 : 1) : nullptr;
    this->each(p.size(), [&](std::size_t i) {
      const T d = g[i] + wd * p[i];
      sq[i] = alpha * sq[i] + (T(1) - alpha) * d * d;
      T r;
      if (ga) {
        ga[i] = alpha * ga[i] + (T(1) - alpha) * d;
        r = std::sqrt(sq[i] - ga[i] * ga[i]) + eps;
      } else {
        r = std::sqrt(sq[i]) + eps;
      }
      if (buf) {
        buf[i] = mu * buf[i] + d / r;
        p[i] -= lr * buf[i];
      } else {
        p[i] -= lr * d / r;
      }
    });
  }
  Options o_;
};

}  // namespace twin

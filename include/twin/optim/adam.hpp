#pragma once
// Adam and AdamW, exactly as torch.optim.Adam / AdamW (amsgrad not provided):
//   Adam:  g = grad + weight_decay * p            (L2 penalty through the gradient)
//   AdamW: p = p * (1 - lr * weight_decay)        (decoupled decay), g = grad
//   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8; weight_decay 0 (Adam), 0.01 (AdamW).
#include <cmath>

#include "twin/optim/optimizer.hpp"

namespace twin {

template <class T>
class Adam : public Optimizer<T> {
 public:
  struct Options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
    bool decoupled_weight_decay = false;  // true: AdamW
  };
  explicit Adam(const Options& o) : Optimizer<T>(o.lr), o_(o) {}
  std::string name() const override { return o_.decoupled_weight_decay ? "AdamW" : "Adam"; }

 private:
  std::vector<std::string> slot_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  void update(std::span<T> p, std::span<const T> g) override {
    const double t = static_cast<double>(this->t_);
    const T lr = static_cast<T>(this->lr_), b1 = static_cast<T>(o_.beta1), b2 = static_cast<T>(o_.beta2),
            eps = static_cast<T>(o_.eps), wd = static_cast<T>(o_.weight_decay);
    const T step = static_cast<T>(this->lr_ / (1.0 - std::pow(o_.beta1, t)));
    const T sqrt_bc2 = static_cast<T>(std::sqrt(1.0 - std::pow(o_.beta2, t)));
    const bool decoupled = o_.decoupled_weight_decay;
    T* m = this->slot(0);
    T* v = this->slot(1);
    this->each(p.size(), [&](std::size_t i) {
      T d = g[i];
      if (decoupled) p[i] *= T(1) - lr * wd;
      else d += wd * p[i];
      m[i] = b1 * m[i] + (T(1) - b1) * d;
      v[i] = b2 * v[i] + (T(1) - b2) * d * d;
      p[i] -= step * m[i] / (std::sqrt(v[i]) / sqrt_bc2 + eps);
    });
  }
  Options o_;
};

template <class T>
class AdamW final : public Adam<T> {
 public:
  struct Options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.01;
  };
  explicit AdamW(const Options& o)
      : Adam<T>(typename Adam<T>::Options{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, true}) {}
};

}  // namespace twin

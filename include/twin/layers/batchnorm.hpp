#pragma once
// BatchNorm1d and BatchNorm2d, PyTorch's nn.BatchNorm1d / nn.BatchNorm2d
// (track_running_stats = true, momentum a number).
//   x (N, C) or (N, C, L) for BatchNorm1d, (N, C, H, W) for BatchNorm2d; y has x's shape.
//   Statistics are per channel c over the M = N * (positions) values x[:, c, ...].
//   train:  mu = mean, var = biased variance (divide by M) of the batch
//           xhat = (x - mu) / sqrt(var + eps),  y = gamma xhat + beta
//           running_mean = (1 - momentum) running_mean + momentum mu
//           running_var  = (1 - momentum) running_var  + momentum var M / (M - 1)  (unbiased)
//   eval:   the same y with mu, var = running_mean, running_var (no update).
//   backward, train:  dgamma += sum dy xhat,  dbeta += sum dy,
//                     dx = gamma / (M sqrt(var + eps)) (M dy - sum dy - xhat sum dy xhat)
//   backward, eval:   dgamma, dbeta as above,  dx = gamma dy / sqrt(running_var + eps)
// Parameters: weight (gamma, init 1) and bias (beta, init 0) when affine. Buffers:
// running_mean (init 0) and running_var (init 1). PyTorch's num_batches_tracked is not
// kept (it only matters for momentum=None). Training on M == 1 throws numeric_error, as
// PyTorch does: the variance of one value is undefined.
// Sums run in double; each channel is one task, so results do not depend on the thread count.
#include <cmath>
#include <string>

#include "twin/layer.hpp"
#include "twin/context.hpp"

namespace twin {

template <class T>
class BatchNormLayer;

struct BatchNorm1d {
  Index features = 0;  // C
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  template <class T>
  using layer = BatchNormLayer<T>;
};

struct BatchNorm2d {
  Index features = 0;  // C
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  template <class T>
  using layer = BatchNormLayer<T>;
};

template <class T>
class BatchNormLayer final : public Layer<T> {
 public:
  explicit BatchNormLayer(const BatchNorm1d& o) : BatchNormLayer("BatchNorm1d", o.features, o.eps, o.momentum, o.affine) {}
  explicit BatchNormLayer(const BatchNorm2d& o) : BatchNormLayer("BatchNorm2d", o.features, o.eps, o.momentum, o.affine) {}

  std::string name() const override { return name_; }
  BackwardReads backward_reads() const override { return {.input = true, .output = false}; }
  std::string describe() const override {
    return detail::concat(name_, "(", c_, ", eps ", eps_, ", momentum ", momentum_, affine_ ? "" : ", no affine", ")");
  }
  Shape output_shape(const Shape& in) const override {
    if (name_ == "BatchNorm2d")
      require(in.rank() == 4 && in[1] == c_, name_, [&] { return detail::concat("expected (N, ", c_, ", H, W)"); }, in);
    else
      require((in.rank() == 2 || in.rank() == 3) && in[1] == c_, name_,
              [&] { return detail::concat("expected (N, ", c_, ") or (N, ", c_, ", L)"); }, in);
    return in;
  }
  std::vector<ParamSpec> params() const override {
    if (!affine_) return {};
    return {{"weight", Shape{c_}}, {"bias", Shape{c_}}};
  }
  std::vector<ParamSpec> buffers() const override { return {{"running_mean", Shape{c_}}, {"running_var", Shape{c_}}}; }
  void bind(std::span<T> p, std::span<T> g, std::span<T> b) override {
    if (affine_) {
      gamma_ = p.first(std::size_t(c_));
      beta_ = p.subspan(std::size_t(c_));
      dgamma_ = g.first(std::size_t(c_));
      dbeta_ = g.subspan(std::size_t(c_));
    }
    running_mean_ = b.first(std::size_t(c_));
    running_var_ = b.subspan(std::size_t(c_));
  }
  void init(Rng&) override {
    std::fill(gamma_.begin(), gamma_.end(), T(1));
    std::fill(beta_.begin(), beta_.end(), T(0));
    std::fill(running_mean_.begin(), running_mean_.end(), T(0));
    std::fill(running_var_.begin(), running_var_.end(), T(1));
  }

  // Eval mode is y = x scale + shift per channel (the same values forward computes), which a
  // forward-only plan folds into the convolution before it.
  Fusion fusion() const override { return Fusion::channel_affine; }
  void eval_affine(std::span<T> scale, std::span<T> shift) const override {
    for (Index c = 0; c < c_; ++c) {
      const double mu = double(running_mean_[std::size_t(c)]), invstd = 1.0 / std::sqrt(double(running_var_[std::size_t(c)]) + eps_);
      scale[std::size_t(c)] = T(gamma(c) * invstd);
      shift[std::size_t(c)] = T(beta(c) - mu * gamma(c) * invstd);
    }
  }

  // Per channel: the mean and 1 / sqrt(var + eps) that forward normalised with.
  std::size_t scratch_bytes(const Shape&, Mode) const override { return 2 * scratch_bytes_for<T>(c_); }

  void forward(TensorView<const T> x, TensorView<T> y, const LayerContext& ctx) const override {
    const Index n = x.dim(0), s = x.size() / std::max<Index>(1, n * c_), m = n * s;
    const bool train = ctx.mode == Mode::train;
    if (train && m <= 1)
      throw numeric_error(detail::concat(name_, ": expected more than 1 value per channel when training, got input ",
                                         x.shape().str()));
    ScratchCarver carve(ctx.scratch);
    T* mean_out = carve.take<T>(c_);
    T* invstd_out = carve.take<T>(c_);
    ctx.context().parallel_for(0, c_, 1, [&](Index lo, Index hi) {
      for (Index c = lo; c < hi; ++c) {
        double mu, var;
        if (train) {
          double sum = 0;
          for_channel(x.data(), n, s, c, [&](const T& v) { sum += double(v); });
          mu = sum / double(m);
          double sq = 0;
          for_channel(x.data(), n, s, c, [&](const T& v) { sq += (double(v) - mu) * (double(v) - mu); });
          var = sq / double(m);
          const double mom = momentum_;
          running_mean_[std::size_t(c)] = T((1 - mom) * double(running_mean_[std::size_t(c)]) + mom * mu);
          running_var_[std::size_t(c)] =
              T((1 - mom) * double(running_var_[std::size_t(c)]) + mom * var * double(m) / double(m - 1));
        } else {
          mu = double(running_mean_[std::size_t(c)]);
          var = double(running_var_[std::size_t(c)]);
        }
        const double invstd = 1.0 / std::sqrt(var + eps_);
        mean_out[c] = T(mu);
        invstd_out[c] = T(invstd);
        // y = x * scale + shift, with scale = gamma invstd, shift = beta - mu scale.
        const T scale = T(gamma(c) * invstd), shift = T(beta(c) - mu * gamma(c) * invstd);
        for (Index i = 0; i < n; ++i) {
          const T* xp = x.data() + (i * c_ + c) * s;
          T* yp = y.data() + (i * c_ + c) * s;
          for (Index j = 0; j < s; ++j) yp[j] = xp[j] * scale + shift;
        }
      }
    });
  }

  void backward(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx,
                const LayerContext& ctx) const override {
    const Index n = x.dim(0), s = x.size() / std::max<Index>(1, n * c_), m = n * s;
    ScratchCarver carve(ctx.scratch);
    const T* mean_in = carve.take<T>(c_);
    const T* invstd_in = carve.take<T>(c_);
    const bool train = ctx.mode == Mode::train;
    ctx.context().parallel_for(0, c_, 1, [&](Index lo, Index hi) {
      for (Index c = lo; c < hi; ++c) {
        const double mu = double(mean_in[c]), invstd = double(invstd_in[c]);
        double sum_dy = 0, sum_dy_xhat = 0;
        for (Index i = 0; i < n; ++i) {
          const T* xp = x.data() + (i * c_ + c) * s;
          const T* gp = dy.data() + (i * c_ + c) * s;
          for (Index j = 0; j < s; ++j) {
            sum_dy += double(gp[j]);
            sum_dy_xhat += double(gp[j]) * (double(xp[j]) - mu) * invstd;
          }
        }
        if (affine_) {
          dgamma_[std::size_t(c)] += T(sum_dy_xhat);
          dbeta_[std::size_t(c)] += T(sum_dy);
        }
        if (!dx.data()) continue;
        const double k = gamma(c) * invstd;
        // train: dx = k (dy - mean(dy) - xhat mean(dy xhat)); eval: dx = k dy.
        const double a = train ? sum_dy / double(m) : 0.0, b = train ? sum_dy_xhat / double(m) : 0.0;
        for (Index i = 0; i < n; ++i) {
          const T* xp = x.data() + (i * c_ + c) * s;
          const T* gp = dy.data() + (i * c_ + c) * s;
          T* dp = dx.data() + (i * c_ + c) * s;
          for (Index j = 0; j < s; ++j) dp[j] = T(k * (double(gp[j]) - a - (double(xp[j]) - mu) * invstd * b));
        }
      }
    });
  }

 private:
  BatchNormLayer(const char* name, Index features, double eps, double momentum, bool affine)
      : name_(name), c_(features), eps_(eps), momentum_(momentum), affine_(affine) {
    if (features <= 0 || !(eps > 0) || !(momentum >= 0 && momentum <= 1))
      throw shape_error(detail::concat(name, ": need features > 0, eps > 0 and 0 <= momentum <= 1, got features=",
                                       features, " eps=", eps, " momentum=", momentum));
  }
  double gamma(Index c) const { return affine_ ? double(gamma_[std::size_t(c)]) : 1.0; }
  double beta(Index c) const { return affine_ ? double(beta_[std::size_t(c)]) : 0.0; }
  // Calls f on every x[i, c, j], i over the batch, j over the positions.
  template <class F>
  void for_channel(const T* x, Index n, Index s, Index c, F&& f) const {
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < s; ++j) f(x[(i * c_ + c) * s + j]);
  }

  std::string name_;
  Index c_;
  double eps_, momentum_;
  bool affine_;
  std::span<T> gamma_, beta_, dgamma_, dbeta_, running_mean_, running_var_;
};

}  // namespace twin

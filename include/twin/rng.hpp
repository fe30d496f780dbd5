#pragma once
// twin's own random number generator: xoshiro256** seeded through SplitMix64.
// std::uniform_real_distribution and friends are implemented differently by each standard
// library, so twin draws every random number itself: the same seed gives the same bits with
// GCC, Clang and MSVC alike.
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <utility>

#include "twin/error.hpp"

namespace twin {

class Rng {
 public:
  using result_type = std::uint64_t;
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  void reseed(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix64(seed);
    has_spare_ = false;
  }
  // An independent stream derived from this seed and a label (e.g. a layer or worker id),
  // without advancing this generator.
  Rng fork(std::uint64_t label) const {
    std::uint64_t x = s_[0] ^ (label * 0x9E3779B97F4A7C15ull);
    return Rng(splitmix64(x) ^ s_[3]);
  }

  static constexpr std::uint64_t min() { return 0; }
  static constexpr std::uint64_t max() { return ~std::uint64_t{0}; }
  std::uint64_t operator()() { return next(); }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Uniform integer in [0, n), unbiased: values below 2^64 mod n are rejected.
  std::uint64_t below(std::uint64_t n) {
    if (n == 0) throw error("Rng::below(0)");
    const std::uint64_t threshold = (0 - n) % n;
    std::uint64_t r = next();
    while (r < threshold) r = next();
    return r % n;
  }

  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 2.0 * std::numbers::pi * u2;
    spare_ = r * std::sin(a);
    has_spare_ = true;
    return r * std::cos(a);
  }
  double normal(double mean, double stddev) { return mean + stddev * normal(); }

  bool bernoulli(double p) { return uniform() < p; }

  // Fisher-Yates shuffle.
  template <class T>
  void shuffle(std::span<T> v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

  // The full state, for checkpoints.
  struct State {
    std::array<std::uint64_t, 4> s;
    double spare;
    bool has_spare;
  };
  State state() const { return {s_, spare_, has_spare_}; }
  void set_state(const State& st) {
    s_ = st.s;
    spare_ = st.spare;
    has_spare_ = st.has_spare;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::array<std::uint64_t, 4> s_{};
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace twin

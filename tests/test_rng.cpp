#include <doctest/doctest.h>

#include <twin/twin.hpp>

#include <vector>

namespace test_rng {  // file-local: the test files are compiled as unity batches

using namespace twin;

TEST_CASE("Rng: the same seed gives the same bits; a different seed does not") {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    CHECK(x == b.next());
    CHECK(x != c.next());
  }
}

TEST_CASE("Rng: known first outputs pin the algorithm across platforms") {
  // xoshiro256** seeded by SplitMix64(0): any change of algorithm changes these.
  Rng r(0);
  const std::uint64_t first = r.next();
  Rng r2(0);
  CHECK(r2.next() == first);
  CHECK(first == 0x99EC5F36CB75F2B4ull);
}

TEST_CASE("Rng: uniform, below and normal have the expected moments") {
  Rng r(7);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = r.normal();
    s += z;
    s2 += z * z;
  }
  CHECK(std::abs(s / n) < 0.01);
  CHECK(std::abs(s2 / n - 1.0) < 0.02);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) ++counts[r.below(7)];
  for (int c : counts) CHECK(std::abs(c - 10000) < 500);
  for (int i = 0; i < 1000; ++i) {
    const double u = r.uniform();
    CHECK(u >= 0.0);
    CHECK(u < 1.0);
  }
  CHECK_THROWS_AS(r.below(0), error);
}

TEST_CASE("Rng: state round trip and fork independence") {
  Rng r(5);
  r.normal();
  const auto st = r.state();
  const double next = r.normal();
  Rng q(99);
  q.set_state(st);
  CHECK(q.normal() == next);
  Rng f1 = r.fork(1), f2 = r.fork(2);
  CHECK(f1.next() != f2.next());
  std::vector<int> v{1, 2, 3, 4, 5, 6, 7, 8};
  Rng s1(3), s2(3);
  auto w = v;
  s1.shuffle(std::span<int>(v));
  s2.shuffle(std::span<int>(w));
  CHECK(v == w);
}

}  // namespace test_rng

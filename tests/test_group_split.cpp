#include <doctest/doctest.h>

#include <numeric>
#include <set>

#include <twin/data/group_split.hpp>

namespace test_group_split {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace twin::data;

TEST_CASE("split_groups: train, validation and test never share a group (property, many seeds)") {
  std::vector<int> writers(55);
  std::iota(writers.begin(), writers.end(), 1);
  std::set<std::vector<int>> distinct_tests;
  for (std::uint64_t seed = 0; seed < 500; ++seed) {
    const Index n_val = static_cast<Index>(seed % 7), n_test = static_cast<Index>(1 + seed % 13);
    auto s = split_groups(writers, n_val, n_test, seed);
    CHECK(static_cast<Index>(s.val.size()) == n_val);
    CHECK(static_cast<Index>(s.test.size()) == n_test);
    CHECK(s.train.size() + s.val.size() + s.test.size() == writers.size());
    std::set<int> all;
    for (auto* part : {&s.train, &s.val, &s.test}) {
      CHECK(std::is_sorted(part->begin(), part->end()));
      for (int w : *part) CHECK(all.insert(w).second);  // a writer in two sets fails here
    }
    CHECK(all.size() == writers.size());
    distinct_tests.insert(split_groups(writers, 5, 10, seed).test);
  }
  CHECK(distinct_tests.size() > 400);  // the seed matters
}

TEST_CASE("split_groups: same seed, same split, whatever the input order") {
  std::vector<int> a{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, b{10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  auto x = split_groups(a, 2, 3, 42), y = split_groups(b, 2, 3, 42);
  CHECK(x.train == y.train);
  CHECK(x.val == y.val);
  CHECK(x.test == y.test);
  CHECK_THROWS_AS(split_groups(a, 5, 5, 1), error);
  CHECK_THROWS_AS(split_groups(std::vector<int>{1, 1, 2}, 0, 1, 1), error);
}

TEST_CASE("split_groups_explicit: the given writers, checked") {
  std::vector<int> w(55);
  std::iota(w.begin(), w.end(), 1);
  auto s = split_groups_explicit(w, {7, 13, 24, 25, 43}, {1, 4, 10, 20, 22, 37, 40, 45, 48, 52});
  CHECK(s.train.size() == 40);
  CHECK(s.val == std::vector<int>{7, 13, 24, 25, 43});
  CHECK(std::find(s.train.begin(), s.train.end(), 7) == s.train.end());
  CHECK_THROWS_WITH_AS(split_groups_explicit(w, {7}, {7}), "group 7 is both a validation and a test group", error);
  CHECK_THROWS_WITH_AS(split_groups_explicit(w, {99}, {1}), "validation group 99 is not in the data set", error);
  CHECK_THROWS_AS(split_groups_explicit(w, {1, 1}, {2}), error);
}

}  // namespace test_group_split

#pragma once
// Splitting a data set by group (writer, person, alphabet) into train / validation / test
// sets that never share a group: the only honest way to measure verification of people the
// model has never seen.
//
//   auto s = twin::data::split_groups(writers, /*n_val=*/5, /*n_test=*/10, /*seed=*/1);
//   auto e = twin::data::split_groups_explicit(writers, {7, 13}, {1, 4, 10});
//
// Each set comes back sorted; the seeded split draws from twin::Rng, so a seed gives the
// same split on every platform.
#include <algorithm>
#include <cstdint>
#include <set>
#include <span>
#include <vector>

#include "twin/error.hpp"
#include "twin/rng.hpp"
#include "twin/tensor.hpp"

namespace twin::data {

template <class G>
struct GroupSplit {
  std::vector<G> train, val, test;
};

namespace detail {
template <class G>
void require_unique(const std::vector<G>& groups, const char* what) {
  std::set<G> seen;
  for (const G& g : groups)
    if (!seen.insert(g).second) throw error(twin::detail::concat(what, ": group ", g, " listed twice"));
}
}  // namespace detail

// n_val and n_test groups drawn at random (seeded); the rest train. At least one group
// must be left to train on.
template <class G>
GroupSplit<G> split_groups(std::vector<G> groups, Index n_val, Index n_test, std::uint64_t seed) {
  detail::require_unique(groups, "split_groups");
  const Index n = static_cast<Index>(groups.size());
  if (n_val < 0 || n_test < 0 || n_val + n_test >= n)
    throw error(twin::detail::concat("split_groups: cannot take ", n_val, " validation and ", n_test,
                                     " test groups out of ", n, " and keep one to train on"));
  std::sort(groups.begin(), groups.end());  // the result depends on the set, not its order
  Rng rng(seed);
  rng.shuffle(std::span<G>(groups));
  GroupSplit<G> s;
  s.val.assign(groups.begin(), groups.begin() + n_val);
  s.test.assign(groups.begin() + n_val, groups.begin() + n_val + n_test);
  s.train.assign(groups.begin() + n_val + n_test, groups.end());
  for (auto* v : {&s.train, &s.val, &s.test}) std::sort(v->begin(), v->end());
  return s;
}

// The given validation and test groups; every other group trains. Throws when a listed
// group does not exist, is listed twice, or is in both lists.
template <class G>
GroupSplit<G> split_groups_explicit(std::vector<G> groups, std::vector<G> val, std::vector<G> test) {
  detail::require_unique(groups, "split_groups_explicit");
  detail::require_unique(val, "validation groups");
  detail::require_unique(test, "test groups");
  const std::set<G> all(groups.begin(), groups.end());
  for (const G& g : val)
    if (!all.count(g)) throw error(twin::detail::concat("validation group ", g, " is not in the data set"));
  for (const G& g : test) {
    if (!all.count(g)) throw error(twin::detail::concat("test group ", g, " is not in the data set"));
    if (std::find(val.begin(), val.end(), g) != val.end())
      throw error(twin::detail::concat("group ", g, " is both a validation and a test group"));
  }
  GroupSplit<G> s;
  std::sort(groups.begin(), groups.end());
  for (const G& g : groups)
    if (std::find(val.begin(), val.end(), g) == val.end() && std::find(test.begin(), test.end(), g) == test.end())
      s.train.push_back(g);
  if (s.train.empty()) throw error("split_groups_explicit: no group left to train on");
  s.val = std::move(val);
  s.test = std::move(test);
  std::sort(s.val.begin(), s.val.end());
  std::sort(s.test.begin(), s.test.end());
  return s;
}

}  // namespace twin::data

#pragma once
// Natural order of names: runs of digits compare by value ("2" before "10", "original_2_1"
// before "original_10_1"), other characters by code; leading zeros do not count, ties are
// broken by plain text order so the order is strict.
//
//   std::sort(names.begin(), names.end(), twin::data::natural_less);
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace twin::data {

// < 0, 0 or > 0 as a comes before, with or after b.
inline int natural_compare(const std::string& a, const std::string& b) {
  auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && digit(a[i2])) ++i2;
      while (j2 < b.size() && digit(b[j2])) ++j2;
      std::string x = a.substr(i, i2 - i), y = b.substr(j, j2 - j);
      x.erase(0, std::min(x.find_first_not_of('0'), x.size()));
      y.erase(0, std::min(y.find_first_not_of('0'), y.size()));
      if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
      if (x != y) return x < y ? -1 : 1;
      i = i2, j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j] ? -1 : 1;
      ++i, ++j;
    }
  }
  if (a.size() - i != b.size() - j) return (a.size() - i) < (b.size() - j) ? -1 : 1;
  return a < b ? -1 : (a == b ? 0 : 1);
}

inline bool natural_less(const std::string& a, const std::string& b) { return natural_compare(a, b) < 0; }

inline void sort_natural(std::vector<std::string>& v) { std::sort(v.begin(), v.end(), natural_less); }

}  // namespace twin::data

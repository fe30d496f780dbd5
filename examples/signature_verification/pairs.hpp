#pragma once
// Pairs of signatures: the fixed evaluation lists, the training sampler, and pair files.
//
// Kinds: genuine (two genuine signatures of one writer: label same), skilled (a genuine
// signature and a skilled forgery of it: different), random (genuine signatures of two
// writers: different; "random forgery" in the literature).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <twin/rng.hpp>

#include "dataset.hpp"

namespace sigver {

enum class PairKind { genuine, skilled, random };
const char* kind_name(PairKind k);

struct PairRef {
  int a = 0, b = 0;  // indices into Dataset::files
  PairKind kind = PairKind::genuine;
  bool same() const { return kind == PairKind::genuine; }
};

// All genuine-genuine pairs of each writer, all genuine x skilled-forgery pairs, and
// `random_per_writer` genuine pairs with other writers' genuine signatures (seeded).
std::vector<PairRef> evaluation_pairs(const Dataset& d, int random_per_writer, std::uint64_t seed);

// Draws training pairs: half genuine pairs, a quarter skilled forgeries and a quarter random
// forgeries (writers without forgeries give random forgeries instead).
class PairSampler {
 public:
  PairSampler(const Dataset& d, double skilled_fraction = 0.5);
  PairRef draw(twin::Rng& rng) const;

  // Hard random forgeries: with probability `share`, a random-forgery pair takes its other
  // writer from `nearest[w]` (indices into the sampler's writers, e.g. the writers whose
  // mean embedding is closest to writer w's) instead of from all writers.
  void set_nearest(std::vector<std::vector<int>> nearest, double share);
  const std::vector<std::string>& writers() const { return writers_; }

 private:
  const Dataset* d_;
  std::vector<std::string> writers_;
  double skilled_fraction_;
  std::vector<std::vector<int>> nearest_;
  double hard_share_ = 0;
};

// A line of a pairs file: path1,path2,label (label 1 = same writer, genuine; 0 = forgery or
// another writer), read as CSV (csv.hpp: BOM, quotes, CRLF). Relative paths are relative to
// the pairs file's folder. A header line "path1,path2,label" and blank lines or lines
// starting with '#' are skipped.
struct PairLine {
  fs::path a, b;
  bool same = false;
  int line = 0;
};
// Throws twin::io_error "FILE:LINE: reason" for a malformed line, a bad label or (with
// `check_files`) a path that does not exist; "FILE: ..." for a file without pairs.
std::vector<PairLine> parse_pairs(std::string_view text, const fs::path& file, bool check_files);
std::vector<PairLine> read_pairs_file(const fs::path& file);

}  // namespace sigver

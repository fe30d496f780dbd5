#include "pairs.hpp"

#include <algorithm>
#include <fstream>

#include <twin/error.hpp>

#include "csv.hpp"

namespace sigver {

const char* kind_name(PairKind k) {
  switch (k) {
    case PairKind::genuine: return "genuine";
    case PairKind::skilled: return "skilled forgery";
    case PairKind::random: return "random forgery";
  }
  return "?";
}

std::vector<PairRef> evaluation_pairs(const Dataset& d, int random_per_writer, std::uint64_t seed) {
  std::vector<PairRef> out;
  twin::Rng rng(seed);
  for (const auto& w : d.writers) {
    const auto& g = d.genuine.at(w);
    for (std::size_t i = 0; i < g.size(); ++i)
      for (std::size_t j = i + 1; j < g.size(); ++j) out.push_back({g[i], g[j], PairKind::genuine});
    if (auto f = d.forged.find(w); f != d.forged.end())
      for (int a : g)
        for (int b : f->second) out.push_back({a, b, PairKind::skilled});
    if (d.writers.size() < 2) continue;
    for (int k = 0; k < random_per_writer; ++k) {
      std::string other;
      do other = d.writers[rng.below(d.writers.size())];
      while (other == w);
      const auto& og = d.genuine.at(other);
      out.push_back({g[rng.below(g.size())], og[rng.below(og.size())], PairKind::random});
    }
  }
  return out;
}

PairSampler::PairSampler(const Dataset& d, double skilled_fraction)
    : d_(&d), writers_(d.writers), skilled_fraction_(skilled_fraction) {
  if (writers_.size() < 2) throw twin::error("training needs at least 2 writers, got " + std::to_string(writers_.size()));
  for (const auto& w : writers_)
    if (d.genuine.at(w).size() < 2)
      throw twin::error("writer '" + w + "' has fewer than 2 genuine signatures: no genuine pair can be made");
}

void PairSampler::set_nearest(std::vector<std::vector<int>> nearest, double share) {
  if (nearest.size() != writers_.size())
    throw twin::error("PairSampler::set_nearest: " + std::to_string(nearest.size()) + " lists for " +
                      std::to_string(writers_.size()) + " writers");
  nearest_ = std::move(nearest);
  hard_share_ = share;
}

PairRef PairSampler::draw(twin::Rng& rng) const {
  const std::size_t wi = rng.below(writers_.size());
  const std::string& w = writers_[wi];
  const auto& g = d_->genuine.at(w);
  const int a = g[rng.below(g.size())];
  if (rng.bernoulli(0.5)) {
    int b = a;
    while (b == a) b = g[rng.below(g.size())];
    return {a, b, PairKind::genuine};
  }
  const auto f = d_->forged.find(w);
  if (f != d_->forged.end() && !f->second.empty() && rng.bernoulli(skilled_fraction_))
    return {a, f->second[rng.below(f->second.size())], PairKind::skilled};
  std::string other = w;
  // (No draw at all when hard negatives are off: runs without them stay bit-identical.)
  if (hard_share_ > 0 && !nearest_[wi].empty() && rng.bernoulli(hard_share_))
    other = writers_[static_cast<std::size_t>(nearest_[wi][rng.below(nearest_[wi].size())])];
  while (other == w) other = writers_[rng.below(writers_.size())];
  const auto& og = d_->genuine.at(other);
  return {a, og[rng.below(og.size())], PairKind::random};
}

std::vector<PairLine> parse_pairs(std::string_view text, const fs::path& file, bool check_files) {
  const std::string name = file.string();
  auto fail = [&](int line, const std::string& why) { throw twin::io_error(name + ":" + std::to_string(line) + ": " + why); };
  std::vector<PairLine> out;
  bool first = true;
  for (auto& row : parse_csv(text, name)) {
    auto& cols = row.fields;
    const bool header = first && cols.size() == 3 && cols[2] == "label";
    first = false;
    if (header) continue;
    if (cols.size() != 3)
      fail(row.line, "expected 3 comma-separated fields path1,path2,label, got " + std::to_string(cols.size()));
    if (cols[2] != "0" && cols[2] != "1")
      fail(row.line, "label must be 1 (same writer, genuine) or 0 (different), got " + excerpt(cols[2]));
    PairLine p;
    p.line = row.line;
    p.same = cols[2] == "1";
    for (std::size_t k = 0; k < 2; ++k) {
      if (cols[k].empty()) fail(row.line, "empty path" + std::to_string(k + 1));
      fs::path path = cols[k];
      if (path.is_relative()) path = file.parent_path() / path;
      std::error_code ec;  // a name too long for the file system is "does not exist" too
      if (check_files && !fs::is_regular_file(path, ec)) fail(row.line, "image " + excerpt(path.string(), 200) + " does not exist");
      (k == 0 ? p.a : p.b) = path;
    }
    out.push_back(std::move(p));
  }
  if (out.empty()) throw twin::io_error("pairs file '" + name + "' holds no pairs");
  return out;
}

std::vector<PairLine> read_pairs_file(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec || !fs::is_regular_file(file)) throw twin::io_error("cannot open pairs file '" + file.string() + "'");
  if (size > (std::uintmax_t{256} << 20)) throw twin::io_error("pairs file '" + file.string() + "' is larger than 256 MB");
  std::ifstream in(file, std::ios::binary);
  if (!in) throw twin::io_error("cannot open pairs file '" + file.string() + "'");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return parse_pairs(text, file, true);
}

}  // namespace sigver

#include "dataset.hpp"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include <twin/data/image_dataset.hpp>
#include <twin/error.hpp>

namespace sigver {

namespace {
std::vector<fs::path> images_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && twin::data::ImageDataset::is_image_name(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    return writer_less(a.stem().string(), b.stem().string());
  });
  return out;
}
void index_files(Dataset& d) {
  std::stable_sort(d.files.begin(), d.files.end(), [](const SignatureFile& a, const SignatureFile& b) {
    if (a.writer != b.writer) return writer_less(a.writer, b.writer);
    return a.genuine > b.genuine;
  });
  d.genuine.clear();
  d.forged.clear();
  std::set<std::string> ws;
  for (int i = 0; i < static_cast<int>(d.files.size()); ++i) {
    const auto& f = d.files[static_cast<std::size_t>(i)];
    ws.insert(f.writer);
    (f.genuine ? d.genuine : d.forged)[f.writer].push_back(i);
  }
  d.writers.assign(ws.begin(), ws.end());
  sort_writers(d.writers);
}
// Natural compare of "original_10_2" style stems: split into digit and non-digit runs.
int natural_cmp(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])), db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit(static_cast<unsigned char>(a[i2]))) ++i2;
      while (j2 < b.size() && std::isdigit(static_cast<unsigned char>(b[j2]))) ++j2;
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
}  // namespace

bool writer_less(const std::string& a, const std::string& b) { return natural_cmp(a, b) < 0; }
void sort_writers(std::vector<std::string>& w) { std::sort(w.begin(), w.end(), writer_less); }

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

Dataset discover(const fs::path& root) {
  using twin::io_error;
  if (!fs::is_directory(root)) throw io_error("data folder '" + root.string() + "' does not exist");
  Dataset d;
  d.root = root;
  if (fs::is_directory(root / "full_org")) {
    d.layout = "cedar";
    const std::regex org(R"(original_(\d+)_(\d+)\.png)"), forg(R"(forgeries_(\d+)_(\d+)\.png)");
    for (const auto& [sub, re, genuine] :
         {std::tuple{"full_org", &org, true}, std::tuple{"full_forg", &forg, false}}) {
      const fs::path dir = root / sub;
      if (!fs::is_directory(dir)) {
        if (genuine) throw io_error("CEDAR folder '" + dir.string() + "' does not exist");
        continue;
      }
      for (const auto& p : images_in(dir)) {
        std::smatch m;
        const std::string name = p.filename().string();
        if (!std::regex_match(name, m, *re))
          throw io_error("'" + p.string() + "': not a CEDAR name (expected " +
                         (genuine ? "original_W_N.png" : "forgeries_W_N.png") + ")");
        d.files.push_back({m[1].str(), genuine, p});
      }
    }
    if (d.files.empty()) throw io_error("CEDAR folder '" + (root / "full_org").string() + "' holds no images");
  } else {
    d.layout = "generic";
    std::vector<fs::path> writer_dirs;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory()) writer_dirs.push_back(e.path());
    if (writer_dirs.empty())
      throw io_error("data folder '" + root.string() +
                     "' holds neither the CEDAR layout (full_org/, full_forg/) nor writer folders "
                     "(<writer>/genuine/*.png, <writer>/forged/*.png)");
    for (const auto& w : writer_dirs) {
      const std::string writer = w.filename().string();
      if (!fs::is_directory(w / "genuine"))
        throw io_error("writer folder '" + w.string() + "' has no 'genuine' folder (expected " + writer +
                       "/genuine/*.png and optionally " + writer + "/forged/*.png)");
      const auto gen = images_in(w / "genuine");
      if (gen.empty()) throw io_error("writer folder '" + (w / "genuine").string() + "' holds no images");
      for (const auto& p : gen) d.files.push_back({writer, true, p});
      if (fs::is_directory(w / "forged"))
        for (const auto& p : images_in(w / "forged")) d.files.push_back({writer, false, p});
    }
  }
  index_files(d);
  for (const auto& w : d.writers)
    if (d.genuine[w].empty())
      throw io_error("writer '" + w + "' in '" + root.string() + "' has forgeries but no genuine signature");
  return d;
}

Dataset subset(const Dataset& d, const std::vector<std::string>& writers) {
  const std::set<std::string> keep(writers.begin(), writers.end());
  Dataset s;
  s.root = d.root;
  s.layout = d.layout;
  for (const auto& f : d.files)
    if (keep.count(f.writer)) s.files.push_back(f);
  index_files(s);
  return s;
}

Split make_split(const Dataset& d, const std::vector<std::string>& val, const std::vector<std::string>& test,
                 int n_val, int n_test, std::uint64_t seed) {
  Split s = (val.empty() && test.empty()) ? twin::data::split_groups(d.writers, n_val, n_test, seed)
                                          : twin::data::split_groups_explicit(d.writers, val, test);
  for (auto* v : {&s.train, &s.val, &s.test}) sort_writers(*v);
  if (s.test.empty()) throw twin::error("the split has no test writer");
  if (s.val.empty()) throw twin::error("the split has no validation writer");
  return s;
}

}  // namespace sigver

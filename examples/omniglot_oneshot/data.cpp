// The background set, the held-out alphabets and Lake's one-shot run format.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>

#include <twin/data/group_split.hpp>
#include <twin/data/transform.hpp>
#include <data_dir.hpp>
#include <twin/io/image.hpp>

#include "omniglot.hpp"

namespace omniglot {

namespace {
std::vector<fs::path> sorted_dirs(const fs::path& p) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(p))
    if (e.is_directory()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}
bool is_png(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".png";
}
}  // namespace

fs::path find_background(const std::string& data) {
  try {
    return twin_examples::find_data_dir(data, "omniglot/images_background");
  } catch (const twin::io_error& e) {
    throw DataMissing(e.what());
  }
}

std::vector<Alphabet> scan_background(const fs::path& root) {
  std::vector<Alphabet> out;
  for (const auto& a : sorted_dirs(root)) {
    Alphabet al{a.filename().string(), {}};
    for (const auto& c : sorted_dirs(a)) {
      Character ch{al.name + "/" + c.filename().string(), {}, {}};
      for (const auto& e : fs::directory_iterator(c))
        if (e.is_regular_file() && is_png(e.path())) ch.files.push_back(e.path());
      std::sort(ch.files.begin(), ch.files.end());
      if (ch.files.size() >= 2) al.characters.push_back(std::move(ch));
    }
    if (!al.characters.empty()) out.push_back(std::move(al));
  }
  if (out.empty()) throw twin::io_error("no <alphabet>/<character>/*.png under '" + root.string() + "'");
  return out;
}

Image prepare_image(const fs::path& file, Index size) {
  // 105 x 105 1-bit scans, black ink on white: invert so ink = 1 and the zero padding of
  // the convolutions and the fill of the augmentation are background. Area averaging keeps
  // thin strokes when shrinking (transform.hpp).
  Image img = twin::data::invert(twin::data::to_float(twin::io::load_image(file)));
  if (img.dim(0) != size || img.dim(1) != size) img = twin::data::resize(img, size, size);
  return img;
}

void load_images(std::vector<Alphabet>& alphabets, Index size) {
  std::vector<Character*> all;
  for (auto& a : alphabets)
    for (auto& c : a.characters) all.push_back(&c);
  twin::Context().parallel_for(0, static_cast<Index>(all.size()), 8, [&](Index lo, Index hi) {
    for (Index i = lo; i < hi; ++i) {
      Character& c = *all[static_cast<std::size_t>(i)];
      c.images.clear();
      for (const auto& f : c.files) c.images.push_back(prepare_image(f, size));
    }
  });
}

std::vector<std::string> pick_validation_alphabets(const std::vector<Alphabet>& alphabets,
                                                   const std::vector<std::string>& names, Index count,
                                                   std::uint64_t seed) {
  std::vector<std::string> all;
  for (const auto& a : alphabets) all.push_back(a.name);
  if (!names.empty()) {
    for (const auto& n : names)
      if (std::find(all.begin(), all.end(), n) == all.end())
        throw twin::error("validation alphabet '" + n + "' is not among the " + std::to_string(all.size()) +
                          " background alphabets");
    std::vector<std::string> v = names;
    std::sort(v.begin(), v.end());
    return v;
  }
  if (count < 1 || count >= static_cast<Index>(all.size()))
    throw twin::error("--n-val must be between 1 and " + std::to_string(all.size() - 1) + ", got " +
                      std::to_string(count));
  std::vector<int> ids(all.size());
  std::iota(ids.begin(), ids.end(), 0);
  const auto split = twin::data::split_groups(ids, 0, count, seed);
  std::vector<std::string> v;
  for (int i : split.test) v.push_back(all[static_cast<std::size_t>(i)]);
  std::sort(v.begin(), v.end());
  return v;
}

// ---- reading runs ----------------------------------------------------------------------

namespace {
[[noreturn]] void fail(const fs::path& file, Index line, const std::string& what) {
  throw twin::io_error(file.string() + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " + what);
}
// The number in "classYY.png" / "itemXX.png", or -1.
long numbered(const std::string& name, const std::string& stem) {
  const std::regex re(stem + "([0-9]+)\\.png", std::regex::icase);
  std::smatch m;
  return std::regex_match(name, m, re) ? std::stol(m[1].str()) : -1;
}
}  // namespace

Run read_run(const fs::path& dir, const std::string& name) {
  Run r;
  r.name = name;
  const fs::path rd = dir / name, training = rd / "training", test = rd / "test", labels = rd / "class_labels.txt";
  if (!fs::is_directory(training)) fail(training, 0, "missing folder (a run holds training/, test/, class_labels.txt)");
  if (!fs::is_directory(test)) fail(test, 0, "missing folder (a run holds training/, test/, class_labels.txt)");
  std::map<long, fs::path> classes;
  for (const auto& e : fs::directory_iterator(training)) {
    const long k = numbered(e.path().filename().string(), "class");
    if (k < 0) fail(e.path(), 0, "unexpected file in training/ (expected classYY.png)");
    classes[k] = e.path();
  }
  if (classes.size() < 2)
    fail(training, 0, "holds " + std::to_string(classes.size()) +
                          " class image(s); a one-shot run needs at least 2 classes");
  long expect = 1;
  for (const auto& kv : classes) {
    if (kv.first != expect) {
      char want[32];
      std::snprintf(want, sizeof want, "class%02ld.png", expect);
      fail(training, 0, std::string("missing class image ") + want + " (the classes must be numbered 1.." +
                            std::to_string(classes.rbegin()->first) + " without gaps)");
    }
    ++expect;
  }
  for (const auto& kv : classes) r.candidates.push_back(kv.second);

  std::ifstream in(labels);
  if (!in) fail(labels, 0, "cannot open the label file (one line per query: runNN/test/itemXX.png runNN/training/classYY.png)");
  std::set<std::string> seen;
  std::string line;
  Index n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream ls(line);
    std::string q, c, extra;
    if (!(ls >> q)) continue;  // blank line
    if (!(ls >> c) || (ls >> extra))
      fail(labels, n, "expected two paths 'runNN/test/itemXX.png runNN/training/classYY.png', got '" + line + "'");
    const fs::path qp = dir / q, cp = dir / c;
    if (fs::path(q).parent_path() != fs::path(name) / "test" || numbered(fs::path(q).filename().string(), "item") < 0)
      fail(labels, n, "'" + q + "' is not " + name + "/test/itemXX.png");
    if (fs::path(c).parent_path() != fs::path(name) / "training" || numbered(fs::path(c).filename().string(), "class") < 0)
      fail(labels, n, "'" + c + "' is not " + name + "/training/classYY.png");
    if (!fs::is_regular_file(qp)) fail(labels, n, "names '" + q + "', which is not there (" + qp.string() + ")");
    if (!fs::is_regular_file(cp)) fail(labels, n, "names '" + c + "', which is not there (" + cp.string() + ")");
    if (!seen.insert(q).second) fail(labels, n, "'" + q + "' is labelled twice");
    r.queries.push_back(qp);
    r.lines.push_back(n);
    const long k = numbered(fs::path(c).filename().string(), "class");
    r.truth.push_back(static_cast<Index>(std::distance(classes.begin(), classes.find(k))));
  }
  if (r.queries.empty()) fail(labels, 0, "no label lines");
  for (const auto& e : fs::directory_iterator(test))
    if (!seen.count((fs::path(name) / "test" / e.path().filename()).string()))
      fail(labels, 0, "has no line for " + (fs::path(name) / "test" / e.path().filename()).string());
  return r;
}

std::vector<Run> read_runs(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw twin::io_error("runs folder '" + dir.string() + "' does not exist");
  std::vector<std::pair<long, std::string>> names;
  const std::regex re("run([0-9]+)");
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && std::regex_match(n, re)) names.emplace_back(std::stol(n.substr(3)), n);
  }
  if (names.empty()) throw twin::io_error("no runNN/ folder in '" + dir.string() + "'");
  std::sort(names.begin(), names.end());
  std::vector<Run> runs;
  for (const auto& kv : names) runs.push_back(read_run(dir, kv.second));
  return runs;
}

// ---- writing runs ----------------------------------------------------------------------

Index write_runs(const std::vector<Alphabet>& alphabets, const fs::path& out, Index runs, Index ways,
                 std::uint64_t seed) {
  std::vector<const Alphabet*> usable;
  for (const auto& a : alphabets)
    if (static_cast<Index>(a.characters.size()) >= ways) usable.push_back(&a);
  if (usable.empty()) throw twin::error("no alphabet has " + std::to_string(ways) + " characters for a " +
                                        std::to_string(ways) + "-way run");
  fs::create_directories(out);
  twin::Rng rng(seed);
  const int width = runs >= 100 ? 3 : 2;
  for (Index r = 0; r < runs; ++r) {
    const Alphabet& a = *usable[rng.below(usable.size())];
    std::vector<Index> chars(a.characters.size());
    std::iota(chars.begin(), chars.end(), 0);
    rng.shuffle(std::span<Index>(chars));
    chars.resize(static_cast<std::size_t>(ways));
    // Two different drawers, as in Lake's runs: the candidates are one person's drawings,
    // the queries another's. Drawer indices are taken within the shortest character.
    std::size_t drawers = a.characters[static_cast<std::size_t>(chars[0])].files.size();
    for (Index c : chars) drawers = std::min(drawers, a.characters[static_cast<std::size_t>(c)].files.size());
    const std::size_t d_train = rng.below(drawers);
    std::size_t d_test = rng.below(drawers - 1);
    if (d_test >= d_train) ++d_test;
    std::vector<Index> order(static_cast<std::size_t>(ways));
    std::iota(order.begin(), order.end(), 0);
    rng.shuffle(std::span<Index>(order));  // query q shows class order[q]

    char name[32];
    std::snprintf(name, sizeof name, "run%0*td", width, r + 1);
    const fs::path rd = out / name;
    fs::create_directories(rd / "training");
    fs::create_directories(rd / "test");
    std::ofstream labels(rd / "class_labels.txt");
    for (Index c = 0; c < ways; ++c) {
      char f[40];
      std::snprintf(f, sizeof f, "class%02td.png", c + 1);
      fs::copy_file(a.characters[static_cast<std::size_t>(chars[static_cast<std::size_t>(c)])].files[d_train],
                    rd / "training" / f, fs::copy_options::overwrite_existing);
    }
    for (Index q = 0; q < ways; ++q) {
      const Index c = order[static_cast<std::size_t>(q)];
      char f[40], g[40];
      std::snprintf(f, sizeof f, "item%02td.png", q + 1);
      std::snprintf(g, sizeof g, "class%02td.png", c + 1);
      fs::copy_file(a.characters[static_cast<std::size_t>(chars[static_cast<std::size_t>(c)])].files[d_test],
                    rd / "test" / f, fs::copy_options::overwrite_existing);
      labels << name << "/test/" << f << " " << name << "/training/" << g << "\n";
    }
    if (!labels) throw twin::io_error("cannot write " + (rd / "class_labels.txt").string());
  }
  return runs;
}

int run_make_runs(const MakeRunsOptions& o) {
  const fs::path root = find_background(o.data);
  const auto all = scan_background(root);
  const auto val = pick_validation_alphabets(all, o.val_alphabets, o.n_val, o.split_seed);
  std::vector<Alphabet> held;
  for (const auto& a : all)
    if (std::find(val.begin(), val.end(), a.name) != val.end()) held.push_back(a);
  const Index n = write_runs(held, o.out, o.runs, o.ways, o.seed);
  std::ofstream note(fs::path(o.out) / "alphabets.txt");
  note << "# held-out background alphabets these runs were drawn from (split seed " << o.split_seed << ", run seed "
       << o.seed << ")\n";
  for (const auto& v : val) note << v << "\n";
  std::printf("wrote %td %td-way within-alphabet runs to %s from the held-out alphabets:", n, o.ways, o.out.c_str());
  for (const auto& v : val) std::printf(" %s", v.c_str());
  std::printf("\n");
  return 0;
}

}  // namespace omniglot

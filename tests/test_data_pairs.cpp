// Pair / triplet generation, the P x K sampler and ImageDataset: balance, determinism under
// a seed, no self-pairs, clear errors for empty or one-class data.
#include <doctest/doctest.h>

#include <twin/data/image_dataset.hpp>
#include <twin/data/pairs.hpp>
#include <twin/data/pk_sampler.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unistd.h>
#include <vector>

namespace test_data_pairs {  // file-local: the test files are compiled as unity batches

using namespace twin;
using namespace twin::data;

namespace {
std::vector<int> make_labels() {
  // 5 classes of uneven size, one singleton (class 4).
  std::vector<int> y;
  for (int c = 0; c < 4; ++c)
    for (int k = 0; k < 3 + c; ++k) y.push_back(c);
  y.push_back(4);
  return y;
}
bool same_pairs(const std::vector<IndexPair>& a, const std::vector<IndexPair>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || a[i].second != b[i].second || a[i].label != b[i].label) return false;
  return true;
}
}  // namespace

TEST_CASE("anchor_pairs: one same and one different pair per item, never an item with itself") {
  const auto y = make_labels();
  Rng r1(5), r2(5), r3(6);
  const auto p = anchor_pairs(y, r1);
  CHECK(same_pairs(p, anchor_pairs(y, r2)));
  CHECK_FALSE(same_pairs(p, anchor_pairs(y, r3)));
  CHECK(p.size() == 2 * (y.size() - 1));  // the singleton is skipped
  Index n_same = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    CHECK(p[i].first != p[i].second);
    CHECK(p[i].first == p[i & ~std::size_t{1}].first);  // both pairs of an anchor share it
    const bool same = y[p[i].first] == y[p[i].second];
    CHECK(same == is_same(p[i].label));
    n_same += same;
  }
  CHECK(n_same * 2 == static_cast<Index>(p.size()));
}

TEST_CASE("balanced_pairs and random_triplets: balance, labels, no self-pairs, determinism") {
  const auto y = make_labels();
  Rng r1(7), r2(7);
  const auto p = balanced_pairs(y, 1001, r1);
  CHECK(same_pairs(p, balanced_pairs(y, 1001, r2)));
  Index n_same = 0;
  std::set<Index> used;
  for (const auto& q : p) {
    CHECK(q.first != q.second);
    CHECK((y[q.first] == y[q.second]) == is_same(q.label));
    n_same += is_same(q.label);
    used.insert(q.first);
  }
  CHECK(n_same == 501);
  CHECK(used.size() > 10);  // spread over the collection
  Rng r3(8), r4(8);
  const auto t = random_triplets(y, 200, r3);
  const auto t2 = random_triplets(y, 200, r4);
  CHECK(t == t2);
  for (const auto& tr : t) {
    CHECK(tr.anchor != tr.positive);
    CHECK(y[tr.anchor] == y[tr.positive]);
    CHECK(y[tr.anchor] != y[tr.negative]);
  }
}

TEST_CASE("pair generation: empty, one-class and all-singleton data are clear errors") {
  Rng r(1);
  const std::vector<int> empty, one{2, 2, 2}, singles{0, 1, 2};
  CHECK_THROWS_WITH_AS(anchor_pairs(empty, r), doctest::Contains("empty"), error);
  CHECK_THROWS_WITH_AS(balanced_pairs(one, 4, r), doctest::Contains("only one class"), error);
  CHECK_THROWS_WITH_AS(random_triplets(singles, 4, r), doctest::Contains("single item"), error);
}

TEST_CASE("PKSampler: P classes x K samples, distinct items when possible, seeded") {
  std::vector<int> y;
  for (int c = 0; c < 10; ++c)
    for (int k = 0; k < (c == 9 ? 2 : 6); ++k) y.push_back(c);
  PKSampler s(y, {.p = 3, .k = 4, .seed = 11});
  const auto e0 = s.epoch(0);
  CHECK(e0.size() == 3);  // floor(10 / 3)
  CHECK(e0 == s.epoch(0));
  CHECK(e0 != s.epoch(1));
  CHECK(e0 == PKSampler(y, {.p = 3, .k = 4, .seed = 11}).epoch(0));
  for (const auto& b : e0) {
    REQUIRE(b.size() == 12);
    std::map<int, std::vector<Index>> per;
    for (Index i : b) per[y[static_cast<std::size_t>(i)]].push_back(i);
    CHECK(per.size() == 3);
    for (auto& [c, items] : per) {
      CHECK(items.size() == 4);
      if (c != 9) CHECK(std::set<Index>(items.begin(), items.end()).size() == 4);
    }
  }
  CHECK_THROWS_AS(PKSampler(y, {.p = 11, .k = 2}), error);
  CHECK_THROWS_AS(PKSampler(y, {.p = 2, .k = 1}), error);
  const std::vector<int> one(8, 0);
  CHECK_THROWS_AS(PKSampler(one, {.p = 2, .k = 2}), error);
}

TEST_CASE("ImageDataset: folder-per-class layout, explicit list, loader callback, errors") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("twin_test_ds_" + std::to_string(::getpid()));
  fs::remove_all(root);
  for (const char* cls : {"bob", "alice", "empty"}) fs::create_directories(root / cls);
  for (const char* f : {"alice/2.png", "alice/1.PGM", "bob/a.jpg", "bob/notes.txt"}) std::ofstream(root / f) << "x";
  // A fake loader: a 4 x 6 ramp whose brightness encodes the file name's length.
  auto loader = [](const std::string& path) {
    Tensor<std::uint8_t, 2> t(Shape{4, 6});
    for (Index i = 0; i < t.size(); ++i) t[i] = static_cast<std::uint8_t>(path.size() % 200 + i);
    return t;
  };
  const auto ds = ImageDataset::from_folders(root, loader, {.height = 2, .width = 3, .invert = true});
  CHECK(ds.size() == 3);
  CHECK(ds.num_classes() == 2);
  CHECK(ds.class_names() == std::vector<std::string>{"alice", "bob"});
  CHECK(ds.labels() == std::vector<int>{0, 0, 1});
  CHECK(fs::path(ds.path(0)).filename() == "1.PGM");  // sorted, extension in any case
  const Image img = ds.load(0);
  CHECK(img.dim(0) == 2);
  CHECK(img.dim(1) == 3);
  for (float v : img) CHECK((v >= 0.0f && v <= 1.0f));

  Tensor<float> batch(Shape{3, 1, 2, 3});
  copy_to_batch(img, batch.view(), 1);
  CHECK(batch(1, 0, 1, 2) == img(1, 2));
  CHECK_THROWS_AS(copy_to_batch(img, batch.view().reshape(Shape{3, 1, 3, 2}), 0), shape_error);

  const auto list = ImageDataset::from_list({{"a.png", 3}, {"b.png", 7}, {"c.png", 3}}, loader);
  CHECK(list.num_classes() == 2);
  CHECK(list.label(1) == 7);
  CHECK_THROWS_WITH_AS(ImageDataset::from_list({{"a.png", 3}, {"b.png", 3}}, loader), doctest::Contains("one class"),
                       error);
  CHECK_THROWS_WITH_AS(ImageDataset::from_list({}, loader), doctest::Contains("empty"), error);
  CHECK_THROWS_WITH_AS(ImageDataset::from_folders(root / "empty", loader), doctest::Contains("empty"), error);
  fs::remove_all(root / "bob");
  CHECK_THROWS_WITH_AS(ImageDataset::from_folders(root, loader), doctest::Contains("one class"), error);
  CHECK_THROWS_AS(ImageDataset::from_folders(root / "missing", loader), io_error);
  fs::remove_all(root);
}

}  // namespace test_data_pairs

// twin/data/signature_dataset.hpp, natural_order.hpp and signature_pairs.hpp: the two data
// layouts, the writers' natural order, evaluation pairs and the training sampler, and errors
// that name the folder at fault.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <twin/data/document_loader.hpp>
#include <twin/data/natural_order.hpp>
#include <twin/data/signature_dataset.hpp>
#include <twin/data/signature_pairs.hpp>
#include <twin/report/png.hpp>
#include <twin/testing/error_message.hpp>
#include <twin/testing/temp_dir.hpp>

namespace test_signature_dataset {

namespace fs = std::filesystem;
using namespace twin::data;
using twin::testing::contains;
using twin::testing::error_message;
using twin::testing::TempDir;
using twin::testing::write_file;

// A small "signature": a slanted stroke whose slope depends on `kind`.
void write_signature(const fs::path& p, int kind) {
  twin::Tensor<float, 2> img(twin::Shape{30, 60}, 0.0f);
  for (twin::Index x = 5; x < 55; ++x) {
    const auto y = static_cast<twin::Index>(8 + (x * (kind + 1)) % 15);
    img(y, x) = 1.0f;
    img(y + 1, x) = 1.0f;
  }
  write_file(p, twin::report::encode_png(img.view(), {.ink = true}));
}


TEST_CASE("natural order: numbers by value, before other names; leading zeros do not count") {
  std::vector<std::string> v = {"alice", "10", "2", "original_10_1", "original_2_1", "02", "b"};
  sort_natural(v);
  CHECK(v == std::vector<std::string>{"02", "2", "10", "alice", "b", "original_2_1", "original_10_1"});
  CHECK(natural_less("2", "10"));
  CHECK(!natural_less("10", "10"));
}

TEST_CASE("generic layout: writers, genuine and forged files, natural writer order") {
  const TempDir d("sigdata_generic");
  for (const char* w : {"10", "2", "alice"}) {
    for (int i = 0; i < 3; ++i) write_signature(d.path / w / "genuine" / twin::detail::concat("g", i, ".png"), i);
    if (std::string(w) != "alice") write_signature(d.path / w / "forged" / "f0.png", 5);
  }
  write_file(d.path / "2" / "genuine" / "notes.txt", "not an image");
  const SignatureDataset ds = discover_signatures(d.path);
  CHECK(ds.layout == "generic");
  CHECK(ds.writers == std::vector<std::string>{"2", "10", "alice"});
  CHECK(ds.genuine.at("2").size() == 3);
  CHECK(ds.forged.at("10").size() == 1);
  CHECK(ds.forged.count("alice") == 0);
  // Evaluation pairs: 3 genuine pairs per writer, 3 skilled for writers with a forgery.
  const auto pairs = evaluation_pairs(ds, 4, 1);
  CHECK(std::count_if(pairs.begin(), pairs.end(), [](auto p) { return p.kind == PairKind::genuine; }) == 9);
  CHECK(std::count_if(pairs.begin(), pairs.end(), [](auto p) { return p.kind == PairKind::skilled; }) == 6);
  for (const auto& p : pairs)
    if (p.kind == PairKind::random)
      CHECK(ds.files[static_cast<std::size_t>(p.a)].writer != ds.files[static_cast<std::size_t>(p.b)].writer);
  const auto two = subset(ds, {"alice", "2"});
  CHECK(two.writers == std::vector<std::string>{"2", "alice"});
  CHECK(two.files.size() == 7);
  const auto split = split_writers(ds, {"2"}, {"10"}, 1, 1, 1);
  CHECK(split.train == std::vector<std::string>{"alice"});
}

TEST_CASE("hard negatives: random forgeries come from the nearest writers at the share asked") {
  const TempDir d("sigdata_hard");
  for (const char* w : {"1", "2", "3", "4"})
    for (int i = 0; i < 3; ++i) write_signature(d.path / w / "genuine" / twin::detail::concat("g", i, ".png"), i);
  const SignatureDataset ds = discover_signatures(d.path);
  SignaturePairSampler sampler(ds, 0.5);
  // Every writer's only "nearest" writer is writer "4" (index 3); writer 4's is writer 1.
  sampler.set_nearest({{3}, {3}, {3}, {0}}, 1.0);
  twin::Rng rng(3);
  int random = 0;
  for (int i = 0; i < 400; ++i) {
    const SignaturePair p = sampler.draw(rng);
    if (p.kind != PairKind::random) continue;
    ++random;
    const std::string& a = ds.files[static_cast<std::size_t>(p.a)].writer;
    const std::string& b = ds.files[static_cast<std::size_t>(p.b)].writer;
    CHECK(b == (a == "4" ? "1" : "4"));
  }
  CHECK(random > 100);  // no forged folders: every negative is a random forgery
  CHECK_THROWS(sampler.set_nearest({{1}}, 0.5));  // one list per writer
}

TEST_CASE("data-set errors name the folder or file at fault") {
  const TempDir d("sigdata_errors");
  CHECK(contains(error_message([&] { discover_signatures(d.path / "nowhere"); }), "nowhere' does not exist"));
  CHECK(contains(error_message([&] { discover_signatures(d.path); }), "holds neither the CEDAR layout"));
  fs::create_directories(d.path / "w1" / "genuine");
  CHECK(contains(error_message([&] { discover_signatures(d.path); }), (d.path / "w1" / "genuine").string() + "' holds no images"));
  fs::create_directories(d.path / "w2");
  write_signature(d.path / "w1" / "genuine" / "a.png", 0);
  CHECK(contains(error_message([&] { discover_signatures(d.path); }), "w2' has no 'genuine' folder"));
  fs::remove_all(d.path / "w2");
  const TempDir c("sigdata_cedar");
  write_signature(c.path / "full_org" / "original_1_1.png", 0);
  write_signature(c.path / "full_org" / "scan.png", 0);
  CHECK(contains(error_message([&] { discover_signatures(c.path); }), "not a CEDAR name"));
  // A single writer: no pairs of two writers can be drawn.
  CHECK(contains(error_message([&] { SignaturePairSampler(discover_signatures(d.path)); }), "at least 2 writers"));
}

}  // namespace test_signature_dataset

namespace test_writer_batch {
using namespace twin::data;
using test_signature_dataset::write_signature;
using twin::testing::TempDir;

TEST_CASE("writer batches: distinct writers, distinct signatures, forgeries never positives, seeded") {
  const TempDir d("sigdata_writer_batch");
  for (const char* w : {"1", "2", "3", "4"}) {
    for (int i = 0; i < 5; ++i) write_signature(d.path / w / "genuine" / twin::detail::concat("g", i, ".png"), i);
    if (std::string(w) != "4")  // writer 4 has no forgeries
      for (int i = 0; i < 3; ++i) write_signature(d.path / w / "forged" / twin::detail::concat("f", i, ".png"), i);
  }
  const SignatureDataset ds = discover_signatures(d.path);
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    twin::Rng rng(seed);
    const WriterBatch b = draw_writer_batch(ds, 3, 4, 2, rng);
    REQUIRE(b.files.size() == b.labels.size());
    std::set<int> files(b.files.begin(), b.files.end());
    CHECK(files.size() == b.files.size());  // no signature twice
    std::map<int, std::set<std::string>> writer_of;  // batch label -> dataset writer
    std::set<int> forgery_labels;
    int genuine = 0;
    for (std::size_t i = 0; i < b.files.size(); ++i) {
      const auto& f = ds.files[static_cast<std::size_t>(b.files[i])];
      if (f.genuine) {
        ++genuine;
        CHECK(b.labels[i] >= 0);
        CHECK(b.labels[i] < 3);
        writer_of[b.labels[i]].insert(f.writer);
      } else {
        CHECK(b.labels[i] < 0);
        CHECK(forgery_labels.insert(b.labels[i]).second);  // every forgery its own label
        // A forgery follows its writer's genuine signatures.
        CHECK(ds.files[static_cast<std::size_t>(b.files[i - 1])].writer == f.writer);
      }
    }
    CHECK(genuine == 12);  // 3 writers x 4
    CHECK(writer_of.size() == 3);
    std::set<std::string> writers;
    for (const auto& [l, ws] : writer_of) {
      CHECK(ws.size() == 1);  // one label, one writer
      writers.insert(*ws.begin());
    }
    CHECK(writers.size() == 3);  // three distinct writers
    // 2 forgeries per writer with forgeries (writer 4 has none).
    CHECK(forgery_labels.size() == 2 * (3 - writers.count("4")));
    twin::Rng again(seed);
    const WriterBatch c = draw_writer_batch(ds, 3, 4, 2, again);
    CHECK(c.files == b.files);
  }
  // More genuine asked than a writer has: all of them.
  twin::Rng rng(1);
  CHECK(draw_writer_batch(ds, 2, 9, 0, rng).files.size() == 10);
  CHECK(twin::testing::contains(twin::testing::error_message([&] { draw_writer_batch(ds, 5, 2, 0, rng); }), "hold 4"));
  CHECK_THROWS(draw_writer_batch(ds, 1, 2, 0, rng));
  CHECK_THROWS(draw_writer_batch(ds, 2, 1, 0, rng));
}
}  // namespace test_writer_batch

// Model files and checkpoints: bit-exact round trips, determinism, atomic saves, and one
// clear io_error per way a file can be malformed.
#include "twin/io/safetensors.hpp"
#include "twin/testing/error_message.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "twin/io/checkpoint.hpp"
#include "twin/twin.hpp"

namespace test_safetensors {  // file-local: the test files are compiled as unity batches

namespace fs = std::filesystem;
using namespace twin;
using io::SafeTensors;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / ("twin_st_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<std::uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

template <class T>
Sequential<T> small_net(Index hidden = 4, std::uint64_t seed = 1) {
  Sequential<T> net;
  net.add(Dense{.in = 3, .out = hidden}).add(ReLU{}).add(Dense{.in = hidden, .out = 2});
  net.init(seed);
  return net;
}

// A file: 8-byte little-endian length, `header`, then `data` bytes.
std::vector<std::uint8_t> make_file(const std::string& header, std::size_t data_bytes, std::uint64_t length_field = ~0ull) {
  const std::uint64_t n = length_field == ~0ull ? header.size() : length_field;
  std::vector<std::uint8_t> b;
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + data_bytes, 0);
  return b;
}

// The io_error message parsing `bytes` gives; fails the test when it parses.
std::string parse_error(const std::vector<std::uint8_t>& bytes) {
  try {
    (void)SafeTensors::parse(bytes, "bad.safetensors");
  } catch (const io_error& e) {
    return e.what();
  }
  FAIL("parsed without error");
  return {};
}

using twin::testing::contains;

const std::string ok_entry = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";

}  // namespace

TEST_CASE("a well-formed hand-made file parses") {
  const auto st = SafeTensors::parse(make_file("{" + ok_entry + R"(, "__metadata__": {"k": "v"}}  )", 8), "ok");
  CHECK(st.tensors().size() == 1);
  CHECK(st.info("a").shape == Shape{2});
  CHECK(st.meta("k") == "v");
}

TEST_CASE("save/load round trip is bit-exact (float and double)") {
  TempDir d;
  auto a = small_net<float>(4, 1);
  io::save_model(a, d.path / "m.safetensors", {{"dataset", "toy"}});
  auto b = small_net<float>(4, 99);
  const auto meta = io::load_model(b, d.path / "m.safetensors");
  REQUIRE(a.params().size() == b.params().size());
  CHECK(std::memcmp(a.params().data(), b.params().data(), a.params().size_bytes()) == 0);
  CHECK(meta.at("dataset") == "toy");
  CHECK(meta.at("format") == "twin-model");
  CHECK(contains(meta.at("architecture"), "0: Dense(3 -> 4)"));

  auto ad = small_net<double>(4, 5);
  io::save_model(ad, d.path / "d.safetensors");
  auto bd = small_net<double>(4, 6);
  io::load_model(bd, d.path / "d.safetensors");
  CHECK(std::memcmp(ad.params().data(), bd.params().data(), ad.params().size_bytes()) == 0);
  CHECK(SafeTensors::read(d.path / "d.safetensors").info("0.weight").dtype == io::DType::f64);
}

TEST_CASE("saving the same model twice gives byte-identical files") {
  TempDir d;
  auto a = small_net<float>();
  io::save_model(a, d.path / "1.safetensors", {{"z", "1"}, {"a", "2"}});
  io::save_model(a, d.path / "2.safetensors", {{"a", "2"}, {"z", "1"}});
  CHECK(read_file(d.path / "1.safetensors") == read_file(d.path / "2.safetensors"));
  CHECK(read_file(d.path / "1.safetensors").size() % 8 == 0);  // header padded to 8 bytes
}

TEST_CASE("reserved metadata keys are refused") {
  TempDir d;
  auto a = small_net<float>();
  CHECK_THROWS_AS(io::save_model(a, d.path / "m.safetensors", {{"architecture", "x"}}), io_error);
}

TEST_CASE("a file truncated at every byte offset is rejected cleanly") {
  TempDir d;
  auto a = small_net<float>(2);
  io::save_model(a, d.path / "m.safetensors");
  const auto full = read_file(d.path / "m.safetensors");
  REQUIRE(full.size() > 100);
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    const std::string m = parse_error(std::vector<std::uint8_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n)));
    CHECK(contains(m, "bad.safetensors: "));
  }
  CHECK_NOTHROW((void)SafeTensors::parse(full, "full"));
}

TEST_CASE("loading into another architecture names the first mismatching tensor and both shapes") {
  TempDir d;
  auto a = small_net<float>(4);
  io::save_model(a, d.path / "m.safetensors");
  auto b = small_net<float>(5);
  const std::vector<float> before(b.params().begin(), b.params().end());
  try {
    io::load_model(b, d.path / "m.safetensors");
    FAIL("loaded into another architecture");
  } catch (const io_error& e) {
    const std::string m = e.what();
    CHECK(contains(m, "\"0.weight\""));
    CHECK(contains(m, "(5, 3)"));
    CHECK(contains(m, "(4, 3)"));
  }
  CHECK(std::equal(before.begin(), before.end(), b.params().begin()));  // untouched

  Sequential<float> deeper;
  deeper.add(Dense{.in = 3, .out = 4}).add(ReLU{}).add(Dense{.in = 4, .out = 2}).add(ReLU{}).add(Dense{.in = 2, .out = 2});
  deeper.init(1);
  CHECK_THROWS_WITH_AS(io::load_model(deeper, d.path / "m.safetensors"), doctest::Contains("\"4.weight\""), io_error);
  Sequential<float> shallower;
  shallower.add(Dense{.in = 3, .out = 4});
  shallower.init(1);
  CHECK_THROWS_WITH_AS(io::load_model(shallower, d.path / "m.safetensors"), doctest::Contains("model lacks"), io_error);
}

TEST_CASE("a model or checkpoint holding NaN or Inf is refused, naming the tensor") {
  TempDir d;
  const fs::path file = d.path / "m.safetensors";
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    CAPTURE(bad);
    auto a = small_net<float>(4);
    a.params()[a.params().size() - 1] = bad;  // the last bias of "2.bias"
    io::save_model(a, file);
    auto b = small_net<float>(4, 2);
    const std::vector<float> before(b.params().begin(), b.params().end());
    CHECK_THROWS_WITH_AS(io::load_model(b, file), doctest::Contains("tensor \"2.bias\" holds a non-finite value"), io_error);
    CHECK_THROWS_WITH_AS(io::load_model(b, file), doctest::Contains(file.string().c_str()), io_error);
    CHECK(std::equal(before.begin(), before.end(), b.params().begin()));  // untouched
    // A checkpoint goes through the same check.
    Adam<float> opt({});
    io::save_checkpoint(d.path / "c.safetensors", a, opt, Rng(1), 1);
    Rng rng;
    CHECK_THROWS_WITH_AS(io::load_checkpoint(d.path / "c.safetensors", b, opt, rng),
                         doctest::Contains("tensor \"2.bias\" holds a non-finite value"), io_error);
  }
  // An F64 value beyond float's range becomes Inf when read as float: refused too.
  auto wide = small_net<double>(4);
  wide.params()[0] = 1e300;
  io::save_model(wide, file);
  auto narrow = small_net<float>(4);
  CHECK_THROWS_WITH_AS(io::load_model(narrow, file), doctest::Contains("tensor \"0.weight\" holds a non-finite value"),
                       io_error);
  auto finite = small_net<float>(4);
  io::save_model(finite, file);
  CHECK_NOTHROW(io::load_model(narrow, file));
}

TEST_CASE("a crash between write and rename leaves the old file loadable") {
  TempDir d;
  const fs::path p = d.path / "m.safetensors";
  auto a = small_net<float>(4, 1);
  io::save_model(a, p);
  const auto old_bytes = read_file(p);
  auto b = small_net<float>(4, 2);
  io::testing::before_rename = [](const fs::path&) { throw std::runtime_error("simulated crash"); };
  CHECK_THROWS_WITH(io::save_model(b, p), "simulated crash");
  io::testing::before_rename = nullptr;
  CHECK(read_file(p) == old_bytes);
  auto c = small_net<float>(4, 3);
  io::load_model(c, p);
  CHECK(std::memcmp(a.params().data(), c.params().data(), a.params().size_bytes()) == 0);
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(d.path)) ++files;
  CHECK(files == 1);  // no temporary file left behind
}

TEST_CASE("missing and unwritable paths give io_error") {
  CHECK_THROWS_WITH_AS((void)SafeTensors::read("/nonexistent/m.safetensors"), doctest::Contains("missing"), io_error);
  auto a = small_net<float>();
  CHECK_THROWS_AS(io::save_model(a, "/nonexistent/dir/m.safetensors"), io_error);
}

// ---- one test per malformed-header rule ---------------------------------------------------

TEST_CASE("malformed: shorter than the length field") {
  CHECK(contains(parse_error({1, 2, 3}), "shorter than the 8-byte header length"));
}
TEST_CASE("malformed: header length above 100 MB") {
  CHECK(contains(parse_error(make_file("{}", 0, 200'000'000)), "exceeds the 100 MB limit"));
}
TEST_CASE("malformed: header length beyond the end of the file") {
  CHECK(contains(parse_error(make_file("{}", 0, 50)), "header length 50 but only 2 bytes follow"));
}
TEST_CASE("malformed: header does not start with '{'") {
  CHECK(contains(parse_error(make_file(" {}", 0)), "does not start with '{'"));
  CHECK(contains(parse_error(make_file("[1, 2]", 0)), "does not start with '{'"));
}
TEST_CASE("malformed: invalid JSON") {
  CHECK(contains(parse_error(make_file("{\"a\": ", 0)), "not valid JSON"));
  CHECK(contains(parse_error(make_file("{} x", 0)), "not valid JSON"));
}
TEST_CASE("malformed: duplicate tensor name") {
  CHECK(contains(parse_error(make_file("{" + ok_entry + ", " + ok_entry + "}", 8)), "duplicate key \"a\""));
}
TEST_CASE("malformed: duplicate field inside an entry") {
  const std::string h = R"({"a": {"dtype": "F32", "dtype": "F64", "shape": [2], "data_offsets": [0, 8]}})";
  CHECK(contains(parse_error(make_file(h, 8)), "duplicate key \"dtype\""));
}
TEST_CASE("malformed: nesting deeper than the format") {
  CHECK(contains(parse_error(make_file(R"({"a": [[[[[[1]]]]]]})", 0)), "nested deeper"));
}
TEST_CASE("malformed: unsupported dtype") {
  const std::string h = R"({"a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}})";
  CHECK(contains(parse_error(make_file(h, 4)), "dtype F16 is not supported"));
}
TEST_CASE("malformed: unknown dtype") {
  const std::string h = R"({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 4]}})";
  CHECK(contains(parse_error(make_file(h, 4)), "unknown dtype \"Q7\""));
}
TEST_CASE("malformed: negative or fractional shape entry") {
  const std::string h = R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})";
  CHECK(contains(parse_error(make_file(h, 8)), "not a non-negative integer"));
  const std::string f = R"({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})";
  CHECK(contains(parse_error(make_file(f, 8)), "not a non-negative integer"));
}
TEST_CASE("malformed: shape is not a list") {
  const std::string h = R"({"a": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})";
  CHECK(contains(parse_error(make_file(h, 8)), "shape is not a list"));
}
TEST_CASE("malformed: shape whose byte size overflows") {
  const std::string h = R"({"a": {"dtype": "F64", "shape": [4611686018427387904, 8], "data_offsets": [0, 8]}})";
  CHECK(contains(parse_error(make_file(h, 8)), "overflows"));
}
TEST_CASE("malformed: data_offsets disagree with dtype and shape") {
  const std::string h = R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})";
  CHECK(contains(parse_error(make_file(h, 8)), "hold 8 bytes but F32 (3) needs 12"));
}
TEST_CASE("malformed: data_offsets reversed") {
  const std::string h = R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})";
  CHECK(contains(parse_error(make_file(h, 8)), "end before they begin"));
}
TEST_CASE("malformed: data_offsets beyond the file") {
  const std::string h = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})";
  CHECK(contains(parse_error(make_file(h, 4)), "truncated: tensor \"a\" ends at data byte 8"));
}
TEST_CASE("malformed: overlapping tensors") {
  const std::string h = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  CHECK(contains(parse_error(make_file(h, 12)), "overlaps"));
}
TEST_CASE("malformed: gap between tensors") {
  const std::string h = R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                            "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})";
  CHECK(contains(parse_error(make_file(h, 12)), "gap in the data section before tensor \"b\""));
}
TEST_CASE("malformed: trailing bytes after the last tensor") {
  CHECK(contains(parse_error(make_file("{" + ok_entry + "}", 9)), "1 trailing bytes"));
}
TEST_CASE("malformed: entry missing a field or with an extra one") {
  CHECK(contains(parse_error(make_file(R"({"a": {"dtype": "F32", "shape": [0]}})", 0)), "needs dtype, shape and data_offsets"));
  const std::string h = R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0], "x": 1}})";
  CHECK(contains(parse_error(make_file(h, 0)), "unexpected field \"x\""));
}
TEST_CASE("malformed: entry that is not an object") {
  CHECK(contains(parse_error(make_file(R"({"a": 3})", 0)), "entry is not an object"));
}
TEST_CASE("malformed: metadata that is not string to string") {
  CHECK(contains(parse_error(make_file(R"({"__metadata__": {"k": 1}})", 0)), "is not a string"));
  CHECK(contains(parse_error(make_file(R"({"__metadata__": [1]})", 0)), "__metadata__ is not an object"));
}
TEST_CASE("malformed: rank above twin's maximum") {
  const std::string h = R"({"a": {"dtype": "F32", "shape": [1,1,1,1,1,1,1], "data_offsets": [0, 4]}})";
  CHECK(contains(parse_error(make_file(h, 4)), "exceeds twin's maximum"));
}
TEST_CASE("malformed: model file of an unknown format version") {
  TempDir d;
  const float v[2] = {1, 2};
  io::write_safetensors(d.path / "v.safetensors", {{"a", io::DType::f32, Shape{2}, v}}, {{"twin_format_version", "99"}});
  auto net = small_net<float>();
  CHECK_THROWS_WITH_AS(io::load_model(net, d.path / "v.safetensors"), doctest::Contains("format version 99"), io_error);
}

// ---- checkpoints ------------------------------------------------------------------------

namespace {
void train_steps(Sequential<float>& net, Optimizer<float>& opt, Rng& rng, int steps) {
  Tensor<float> x(Shape{8, 3}), dy(Shape{8, 2});
  for (int s = 0; s < steps; ++s) {
    for (auto& v : x.span()) v = static_cast<float>(rng.normal());
    net.zero_grad();
    const auto y = net.forward(x.view(), Mode::train);
    for (Index i = 0; i < y.size(); ++i) dy[i] = y[i] - 0.5f;
    net.backward(dy.view());
    opt.step(net.params(), net.grads());
  }
}
}  // namespace

TEST_CASE("a checkpoint resumes training bit-identically") {
  TempDir d;
  const fs::path p = d.path / "ckpt.safetensors";
  auto net = small_net<float>(4, 1);
  Adam<float> opt({.lr = 0.01});
  Rng rng(42);
  rng.normal();  // leave a spare normal in the state
  train_steps(net, opt, rng, 3);
  io::save_checkpoint(p, net, opt, rng, 7, {{"note", "hello"}});
  train_steps(net, opt, rng, 2);

  auto net2 = small_net<float>(4, 9);
  Adam<float> opt2({.lr = 0.5});
  Rng rng2(0);
  const auto info = io::load_checkpoint(p, net2, opt2, rng2);
  CHECK(info.epoch == 7);
  CHECK(info.user.at("note") == "hello");
  CHECK(opt2.steps() == 3);
  CHECK(opt2.lr() == 0.01);
  train_steps(net2, opt2, rng2, 2);
  CHECK(std::memcmp(net.params().data(), net2.params().data(), net.params().size_bytes()) == 0);
}

TEST_CASE("a checkpoint refuses another optimiser or a model file") {
  TempDir d;
  auto net = small_net<float>();
  Adam<float> opt({});
  Rng rng(1);
  train_steps(net, opt, rng, 1);
  io::save_checkpoint(d.path / "c.safetensors", net, opt, rng, 1);
  SGD<float> sgd({.lr = 0.1});
  CHECK_THROWS_WITH_AS(io::load_checkpoint(d.path / "c.safetensors", net, sgd, rng), doctest::Contains("optimizer Adam"),
                       io_error);
  io::save_model(net, d.path / "m.safetensors");
  CHECK_THROWS_WITH_AS(io::load_checkpoint(d.path / "m.safetensors", net, opt, rng), doctest::Contains("not a twin checkpoint"),
                       io_error);
}

// ---- interoperability (driven by tests/python/safetensors_interop.py) ---------------------

// Reported as skipped in the main suite; the safetensors_python ctest sets TWIN_INTEROP_DIR.
TEST_CASE("safetensors interop with python" * doctest::skip(std::getenv("TWIN_INTEROP_DIR") == nullptr)) {
  const char* dir = std::getenv("TWIN_INTEROP_DIR");
  REQUIRE(dir != nullptr);
  // PyTorch's nn.Sequential(Linear(3, 4), ReLU(), Linear(4, 2)) state_dict, value i of
  // tensor k (in name order) = k + i / 100.
  auto net = small_net<float>(4, 123);
  io::load_model(net, fs::path(dir) / "torch_style.safetensors");
  auto named = net.named_tensors();
  std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (std::size_t k = 0; k < named.size(); ++k)
    for (Index i = 0; i < named[k].shape.numel(); ++i)
      CHECK(net.params()[static_cast<std::size_t>(named[k].offset + i)] ==
            static_cast<float>(static_cast<double>(k) + static_cast<double>(i) / 100.0));
  // The same values written by twin, for the python reader.
  io::save_model(net, fs::path(dir) / "twin.safetensors");
}

}  // namespace test_safetensors

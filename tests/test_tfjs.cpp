// The tfjs weights reader: float32, int32, uint8/uint16 quantisation, float16, a tensor
// spanning two shards, several groups; and every bad file gives an io_error naming the
// file and the tensor (missing shard, truncated shard, extra bytes, unknown dtype or
// quantisation, malformed JSON, duplicate names, negative shapes, wrong shapes asked for).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <twin/io/tfjs.hpp>
#include <twin/testing/error_message.hpp>

namespace test_tfjs {  // file-local: the test files are compiled as unity batches

namespace fs = std::filesystem;
using twin::io::load_tfjs;
using twin::testing::error_message;

// A fresh folder per use, removed at the end of the test case.
struct Folder {
  fs::path path;
  Folder() {
    static int counter = 0;
    path = fs::temp_directory_path() / ("twin_test_tfjs_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Folder() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return path / name;
  }
  template <class T>
  void write_bin(const std::string& name, const std::vector<T>& v) const {
    std::ofstream f(path / name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  }
};

// bytes of several typed arrays, back to back
struct Bytes {
  std::vector<unsigned char> b;
  template <class T>
  Bytes& add(std::vector<T> v) {
    const auto* p = reinterpret_cast<const unsigned char*>(v.data());
    b.insert(b.end(), p, p + v.size() * sizeof(T));
    return *this;
  }
};

TEST_CASE("tfjs: float32, int32, uint8, uint16 and float16 tensors decode") {
  Folder d;
  Bytes bytes;
  bytes.add(std::vector<float>{1.5f, -2.f, 0.25f, 3.f, 4.f, 5.f})  // conv/filters [1, 2, 1, 3]
      .add(std::vector<std::int32_t>{7, -3})                       // steps [2]
      .add(std::vector<std::uint8_t>{0, 1, 255})                   // q8 [3]
      .add(std::vector<std::uint16_t>{0, 2, 65535})                // q16 [3]
      .add(std::vector<std::uint16_t>{0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00, 0x8000});  // h [2, 3]
  d.write_bin("m.bin", bytes.b);
  const auto m = d.write("m-weights_manifest.json", R"([{"paths": ["m.bin"], "weights": [
    {"name": "conv/filters", "shape": [1, 2, 1, 3], "dtype": "float32"},
    {"name": "steps", "shape": [2], "dtype": "int32"},
    {"name": "q8", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
    {"name": "q16", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.25, "min": 2}},
    {"name": "h", "shape": [2, 3], "dtype": "float32", "quantization": {"dtype": "float16"}}]}])");
  const auto w = load_tfjs(m);
  REQUIRE(w.size() == 5);
  CHECK(w.num_values() == 6 + 2 + 3 + 3 + 6);
  CHECK(w.at("conv/filters").shape == std::vector<twin::Index>{1, 2, 1, 3});
  CHECK(w.at("conv/filters").values == std::vector<float>{1.5f, -2.f, 0.25f, 3.f, 4.f, 5.f});
  CHECK(w.at("steps").values == std::vector<float>{7.f, -3.f});
  CHECK(w.at("q8").values == std::vector<float>{-1.f, -0.5f, 126.5f});
  CHECK(w.at("q8").stored == "uint8");
  CHECK(w.at("q16").values == std::vector<float>{2.f, 2.5f, 2.f + 0.25f * 65535.f});
  const auto& h = w.at("h").values;
  CHECK(h[0] == 1.f);
  CHECK(h[1] == -2.f);
  CHECK(h[2] == doctest::Approx(0.33325195).epsilon(1e-7));
  CHECK(h[3] == doctest::Approx(5.9604645e-8).epsilon(1e-6));  // the smallest subnormal, 2^-24
  CHECK(std::isinf(h[4]));
  CHECK((h[5] == 0.f && std::signbit(h[5])));
  CHECK(w.tensors()[0].name == "conv/filters");  // manifest order kept
}

TEST_CASE("tfjs: a tensor spanning two shards; several groups; offset instead of min") {
  Folder d;
  d.write_bin("a1.bin", std::vector<float>{1, 2, 3});
  d.write_bin("a2.bin", std::vector<float>{4, 5});
  d.write_bin("b.bin", std::vector<std::uint8_t>{10, 20});
  const auto m = d.write("x.json", R"([
    {"paths": ["a1.bin", "a2.bin"], "weights": [{"name": "a", "shape": [2], "dtype": "float32"},
                                                {"name": "b", "shape": [3], "dtype": "float32"}]},
    {"paths": ["b.bin"], "weights": [{"name": "c", "shape": [2], "dtype": "float32",
                                      "quantization": {"dtype": "uint8", "scale": 2, "offset": -10}}]}])");
  const auto w = load_tfjs(m);
  CHECK(w.at("a").values == std::vector<float>{1, 2});
  CHECK(w.at("b").values == std::vector<float>{3, 4, 5});
  CHECK(w.at("c").values == std::vector<float>{0, 20});  // 2 (q - 10)
  CHECK(w.contains("c"));
  CHECK_FALSE(w.contains("d"));
}

TEST_CASE("tfjs: bad files name the file and the tensor") {
  Folder d;
  d.write_bin("w.bin", std::vector<float>{1, 2, 3, 4});
  auto msg = [&](const std::string& json) {
    const auto m = d.write("bad.json", json);
    return error_message([&] { (void)load_tfjs(m); });
  };
  auto group = [](const std::string& weights, const std::string& paths = R"(["w.bin"])") {
    return R"([{"paths": )" + paths + R"(, "weights": [)" + weights + "]}]";
  };
  const std::string ok4 = R"({"name": "t", "shape": [4], "dtype": "float32"})";
  CHECK(msg(group(ok4)) == "(no error)");

  std::string e = msg(group(ok4, R"(["w.bin", "gone.bin"])"));
  CHECK(e.find("bad.json") != std::string::npos);
  CHECK(e.find("gone.bin") != std::string::npos);
  CHECK(e.find("missing") != std::string::npos);

  e = msg(group(R"({"name": "big/filters", "shape": [5], "dtype": "float32"})"));  // needs 20 bytes of 16
  CHECK(e.find("\"big/filters\"") != std::string::npos);
  CHECK(e.find("truncated") != std::string::npos);
  CHECK(e.find("w.bin") != std::string::npos);

  e = msg(group(R"({"name": "t", "shape": [3], "dtype": "float32"})"));  // 4 bytes left over
  CHECK(e.find("size mismatch") != std::string::npos);
  CHECK(e.find("16 bytes") != std::string::npos);

  e = msg(group(R"({"name": "s", "shape": [4], "dtype": "complex64"})"));
  CHECK(e.find("\"s\"") != std::string::npos);
  CHECK(e.find("unknown dtype \"complex64\"") != std::string::npos);

  e = msg(group(R"({"name": "q", "shape": [4], "dtype": "float32", "quantization": {"dtype": "int4", "scale": 1, "min": 0}})"));
  CHECK(e.find("\"q\"") != std::string::npos);
  CHECK(e.find("unknown quantization dtype \"int4\"") != std::string::npos);

  e = msg(group(R"({"name": "q", "shape": [16], "dtype": "float32", "quantization": {"dtype": "uint8", "min": 0}})"));
  CHECK(e.find("without \"scale\"") != std::string::npos);

  e = msg(group(R"({"name": "t", "shape": [2], "dtype": "float32"}, {"name": "t", "shape": [2], "dtype": "float32"})"));
  CHECK(e.find("\"t\" is listed twice") != std::string::npos);

  e = msg(group(R"({"name": "n", "shape": [-4], "dtype": "float32"})"));
  CHECK(e.find("\"n\"") != std::string::npos);
  CHECK(e.find(">= 0") != std::string::npos);

  CHECK(msg("[{\"paths\": [\"w.bin\"], ").find("not valid JSON") != std::string::npos);
  CHECK(msg(R"({"paths": []})").find("expected a JSON array") != std::string::npos);
  CHECK(msg(R"([{"weights": []}])").find("group 0") != std::string::npos);
  CHECK(error_message([&] { (void)load_tfjs(d.path / "absent.json"); }).find("cannot open") != std::string::npos);

  const auto w = load_tfjs(d.write("good.json", group(ok4)));
  e = error_message([&] { (void)w.at("nope"); });
  CHECK(e.find("good.json") != std::string::npos);
  CHECK(e.find("no tensor \"nope\"") != std::string::npos);
  e = error_message([&] { (void)w.at("t", {2, 2}); });
  CHECK(e.find("has shape [4], expected [2, 2]") != std::string::npos);
  CHECK_THROWS_AS((void)w.at("nope"), twin::io_error);
}

}  // namespace test_tfjs

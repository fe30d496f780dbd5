// twin/io/gallery.hpp: the enrolment store is validated (errors name the file, the writer and
// the key), round-trips, and survives concurrent locked updates; twin/io/weights_hash.hpp
// tells two models apart.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <twin/io/gallery.hpp>
#include <twin/io/weights_hash.hpp>
#include <twin/layers/dense.hpp>
#include <twin/sequential.hpp>
#include <twin/testing/error_message.hpp>
#include <twin/testing/temp_dir.hpp>

namespace test_gallery {

using namespace twin::io;
using twin::testing::contains;
using twin::testing::error_message;


TEST_CASE("enrolment files of the signature layout are validated, errors name the file and the writer") {
  const std::string name = "enr.json";
  auto err = [&](const std::string& text) { return error_message([&] { (void)parse_gallery(text, name); }); };
  const std::string head = R"({"format": "twin-signature-enrollments", "version": 1, "writers": )";
  const std::string ok = R"({"model": "m", "model_hash": "fnv1a64:1", "files": ["a.png"], "embeddings": [[0.5, 1]]})";
  CHECK(parse_gallery(head + R"({"bob": )" + ok + "}}", name).people.at("bob").embeddings[0][1] == 1.0f);
  // Zero references answered GENUINE before.
  CHECK(contains(err(head + R"({"bob": {"model": "m", "model_hash": "h", "files": [], "embeddings": []}}})"),
            "enr.json: writer 'bob': has no references"));
  // A wrong JSON shape gave "[json.exception.type_error.305]" with no file named.
  CHECK(contains(err(R"([1, 2])"), "enr.json: not an enrolment file"));
  CHECK(contains(err(head + R"({"bob": [1, 2]}})"), "enr.json: writer 'bob': entry is not an object"));
  CHECK(contains(err(head + R"({"bob": {"model": "m", "model_hash": "h", "files": ["a"], "embeddings": [["x"]]}}})"),
            "writer 'bob': embedding 1 holds a non-number"));
  CHECK(contains(err(head + R"({"bob": {"model": "m", "model_hash": "h", "files": ["a", "b"], "embeddings": [[1], [1, 2]]}}})"),
            "writer 'bob': embedding 2 has 2 values, embedding 1 has 1"));
  CHECK(contains(err(head + R"({"bob": {"model": "m", "model_hash": "h", "files": ["a", "b"], "embeddings": [[1]]}}})"),
            "writer 'bob': 1 embeddings for 2 files"));
  CHECK(contains(err(head + R"({"bob": {"model": "m", "files": ["a"], "embeddings": [[1]]}}})"), "lacks \"model_hash\""));
  CHECK(contains(err(head + R"({"bob": )" + ok.substr(0, ok.size() - 1) + R"(, "x": 1}}})"), "unexpected key 'x'"));
  CHECK(contains(err(R"({"bob": {"model": "m", "files": ["a"], "embeddings": [[1]]}})"), "first layout"));
  CHECK(contains(err(R"({"format": "twin-signature-enrollments", "version": 7, "writers": {}})"), "version 7"));
  CHECK(contains(err("{\"format"), "enr.json: not valid JSON"));
  // Round trip.
  const auto s = parse_gallery(head + R"({"bob": )" + ok + "}}", name);
  CHECK(parse_gallery(dump_gallery(s), name).people.at("bob").files == s.people.at("bob").files);
  // It is written back in the current layout.
  CHECK(contains(dump_gallery(s), "\"twin-gallery\""));
}

TEST_CASE("the current layout: settings and people round-trip; bad settings are named") {
  const std::string name = "g.json";
  auto err = [&](const std::string& text) { return error_message([&] { (void)parse_gallery(text, name); }); };
  Gallery g;
  g.settings = {{"align", "true"}, {"detect", "false"}};
  g.people["ann"] = {"face-api", "fnv1a64:2", {"1.pgm", "2.pgm"}, {{0.25f, -1.0f}, {2.0f, 3.5f}}};
  const Gallery back = parse_gallery(dump_gallery(g), name);
  CHECK(back.settings == g.settings);
  CHECK(back.people.at("ann").files == g.people.at("ann").files);
  CHECK(back.people.at("ann").embeddings == g.people.at("ann").embeddings);
  const std::string head = R"({"format": "twin-gallery", "version": 1, )";
  const std::string ok = R"({"ann": {"model": "m", "model_hash": "h", "files": ["a"], "embeddings": [[1]]}})";
  CHECK(parse_gallery(head + R"("settings": {}, "people": )" + ok + "}", name).settings.empty());
  CHECK(contains(err(head + R"("settings": {"align": true}, "people": )" + ok + "}"), "g.json: setting 'align' is not a string"));
  CHECK(contains(err(head + R"("settings": [], "people": )" + ok + "}"), "\"settings\" is not an object"));
  CHECK(contains(err(head + R"("people": )" + ok + "}"), "lacks \"settings\""));
  CHECK(contains(err(head + R"("settings": {}, "writers": )" + ok + "}"), "unexpected key 'writers'"));
  CHECK(contains(err(head + R"("settings": {}, "people": {"ann": {"model": "m", "model_hash": "h", "files": [], "embeddings": []}}})"),
                 "g.json: person 'ann': has no references"));
}

TEST_CASE("update_gallery: concurrent updaters lose no writer; a missing file or folder is named") {
  const twin::testing::TempDir d("gallery");
  const auto file = d.path / "g.json";
  CHECK(contains(error_message([&] { (void)read_gallery(file); }), "run enroll first"));
  CHECK(contains(error_message([&] { update_gallery(d.path / "no" / "g.json", [](Gallery&) {}); }), "does not exist"));
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; ++k) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int rc = 0;
      try {
        for (int i = 0; i < 5; ++i)
          update_gallery(file, [&](Gallery& g) {
            g.people[twin::detail::concat("w", k, "_", i)] = {"m", "h", {"a.png"}, {{1.0f, 2.0f}}};
          });
      } catch (...) {
        rc = 1;
      }
      ::_exit(rc);
    }
    kids.push_back(pid);
  }
  for (const pid_t pid : kids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  CHECK(read_gallery(file).people.size() == 20);
}

TEST_CASE("weights_hash: the same weights give the same fingerprint, others another") {
  auto net = [](std::uint64_t seed) {
    twin::Sequential<float> s;
    s.add(twin::Dense{.in = 3, .out = 2});
    s.init(seed);
    return s;
  };
  const auto a = net(1), b = net(1), c = net(2);
  CHECK(weights_hash(a) == weights_hash(b));
  CHECK(weights_hash(a) != weights_hash(c));
  CHECK(weights_hash(a).rfind("fnv1a64:", 0) == 0);
  CHECK(weights_hash(a).size() == 8 + 16);
}

}  // namespace test_gallery

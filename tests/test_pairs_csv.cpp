// twin/io/csv.hpp and pairs_csv.hpp: BOM, quotes and CRLF are read; NUL bytes, long lines,
// bad labels and missing images give FILE:LINE errors of one short line.
#include <doctest/doctest.h>

#include <string>

#include <twin/io/pairs_csv.hpp>
#include <twin/testing/error_message.hpp>
#include <twin/testing/temp_dir.hpp>

namespace test_pairs_csv {

using namespace twin::io;
using twin::testing::contains;
using twin::testing::error_message;
using twin::testing::TempDir;
using twin::testing::write_file;


TEST_CASE("csv: quotes, doubled quotes, spaces, comments and blank lines") {
  CHECK(parse_csv("\"say \"\"hi\"\"\",x", "q.csv")[0].fields[0] == "say \"hi\"");
  const auto rows = parse_csv("# note\n\n a , \"b,c\" ,\n", "q.csv");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].line == 3);
  CHECK(rows[0].fields == std::vector<std::string>{"a", "b,c", ""});
  CHECK(quoted_excerpt(std::string("a\x01z")) == "'a\\x01z'");
  CHECK(quoted_excerpt(std::string(100, 'x'), 5) == "'xxxxx...'");
}

TEST_CASE("pairs CSV: BOM, quotes and CRLF are read; NUL bytes, long lines and bad images give FILE:LINE") {
  const TempDir d("pairs_csv");
  write_file(d.path / "a.png", "x");
  write_file(d.path / "b, c.png", "x");
  const auto f = d.path / "p.csv";
  // A byte-order mark (spreadsheets write one), a header, CRLF, a quoted path with a comma.
  const auto lines = parse_pairs_csv("\xEF\xBB\xBFpath1,path2,label\r\na.png,\"b, c.png\",0\r\n \"a.png\" , a.png , 1\r\n", f, true);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].a == d.path / "a.png");
  CHECK(lines[0].b == d.path / "b, c.png");
  CHECK(lines[1].line == 3);
  CHECK(lines[1].same);
  auto err = [&](const std::string& text) { return error_message([&] { (void)parse_pairs_csv(text, f, true); }); };
  CHECK(contains(err(std::string("a.png,b.png,1\na.p\0ng,a.png,1\n", 30)), "p.csv:2: holds a NUL byte at column 4"));
  const std::string e = err(std::string(5 << 20, 'x') + ",a.png,1\n");
  CHECK(contains(e, "p.csv:1: line is "));
  CHECK(e.size() < 400);
  CHECK(contains(err("a.png,\"b.png,1\n"), "p.csv:1: quoted field opened at column 7 is not closed"));
  CHECK(contains(err("a.png,\"b.png\"x,1\n"), "p.csv:1: text after the closing quote"));
  CHECK(contains(err("a.png,a.png,1\na.png,nothere.png,0\n"), "p.csv:2: image"));
  CHECK(contains(err(std::string(300, 'y') + ",a.png,1\n"), "..."));  // a long missing path is cut in the message
  CHECK(err(std::string(300, 'y') + ",a.png,1\n").size() < 400);
}

TEST_CASE("read_pairs_csv: files, comments, and errors naming the file and line") {
  const TempDir d("pairs_file");
  write_file(d.path / "a.png", "x");
  write_file(d.path / "b.png", "x");
  write_file(d.path / "ok.csv", "path1,path2,label\na.png,b.png,0\n\n# comment\na.png,a.png,1\n");
  const auto lines = read_pairs_csv(d.path / "ok.csv");
  REQUIRE(lines.size() == 2);
  CHECK(!lines[0].same);
  CHECK(lines[1].same);
  CHECK(lines[1].line == 5);
  write_file(d.path / "missing.csv", "a.png,b.png,1\na.png,nothere.png,0\n");
  CHECK(contains(error_message([&] { read_pairs_csv(d.path / "missing.csv"); }),
            "missing.csv:2: image '" + (d.path / "nothere.png").string() + "' does not exist"));
  write_file(d.path / "label.csv", "a.png,b.png,yes\n");
  CHECK(contains(error_message([&] { read_pairs_csv(d.path / "label.csv"); }), "label.csv:1: label must be 1"));
  write_file(d.path / "fields.csv", "a.png,b.png\n");
  CHECK(contains(error_message([&] { read_pairs_csv(d.path / "fields.csv"); }), "fields.csv:1: expected 3"));
  CHECK(contains(error_message([&] { read_pairs_csv(d.path / "none.csv"); }), "cannot open pairs file"));
  write_file(d.path / "empty.csv", "path1,path2,label\n# nothing\n");
  CHECK(contains(error_message([&] { read_pairs_csv(d.path / "empty.csv"); }), "holds no pairs"));
}

}  // namespace test_pairs_csv

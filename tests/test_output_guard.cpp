// twin/io/output_guard.hpp: a mistyped output option cannot destroy an input or a file of
// another kind; missing and unwritable folders are named before any work.
#include <doctest/doctest.h>

#include <string>

#include <twin/io/output_guard.hpp>
#include <twin/testing/error_message.hpp>
#include <twin/testing/temp_dir.hpp>

namespace test_output_guard {

using namespace twin::io;
using twin::testing::contains;
using twin::testing::error_message;
using twin::testing::TempDir;
using twin::testing::write_file;


TEST_CASE("check_output: inputs, other kinds of file and missing folders are refused") {
  const TempDir d("output_guard");
  const auto model = d.path / "m.safetensors", report = d.path / "r.html", json = d.path / "m.json";
  write_file(model, "binary");
  CHECK(contains(error_message([&] { check_output(model, OutputKind::html, {model}, "--report"); }),
            "is an input of this command"));
  // Another spelling of the same file is caught too.
  CHECK(contains(error_message([&] { check_output(d.path / "." / "m.safetensors", OutputKind::json, {model}, "--json"); }),
            "is an input"));
  CHECK(contains(error_message([&] { check_output(model, OutputKind::html, {}, "--report"); }), "is not an HTML report"));
  CHECK(contains(error_message([&] { check_output(model, OutputKind::json, {}, "--json"); }), "is not a JSON file"));
  CHECK(contains(error_message([&] { check_output(d.path / "no" / "r.html", OutputKind::html, {}, "--report"); }),
            "--report '" + (d.path / "no" / "r.html").string() + "': the folder"));
  CHECK(contains(error_message([&] { check_output(d.path, OutputKind::json, {}, "--json"); }), "is a folder"));
  // New files and files of the right kind may be written.
  check_output(report, OutputKind::html, {model}, "--report");
  write_file(report, "\xEF\xBB\xBF  <!DOCTYPE html><html></html>");
  check_output(report, OutputKind::html, {model}, "--report");
  write_text_atomic(json, "{\"a\": 1}\n");
  check_output(json, OutputKind::json, {model}, "--json");
  check_output_folder(d.path / "new.safetensors", "--model");
}

}  // namespace test_output_guard

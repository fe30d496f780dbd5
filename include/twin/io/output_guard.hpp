#pragma once
// Guards for the files a program writes. A mistyped option must not destroy anything: an
// `--report` naming the model just read would replace it with HTML, and a fresh training run
// over an existing model would silently replace an earlier run.
//
//   twin::io::check_output("metrics.json", twin::io::OutputKind::json, {model}, "--json");
//   ... the work ...
//   twin::io::write_text_atomic("metrics.json", text);
//
// Errors are twin::io_error naming the option and the path.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "twin/error.hpp"
#include "twin/io/safetensors.hpp"

namespace twin::io {

enum class OutputKind { html, json };

namespace detail {
inline bool same_file(const std::filesystem::path& a, const std::filesystem::path& b) {
  std::error_code ec;
  return std::filesystem::exists(a, ec) && std::filesystem::exists(b, ec) && std::filesystem::equivalent(a, b, ec);
}

inline bool looks_like_html(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string head(512, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  if (head.rfind("\xEF\xBB\xBF", 0) == 0) head.erase(0, 3);
  head.erase(0, std::min(head.size(), head.find_first_not_of(" \t\r\n")));
  std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return head.rfind("<!doctype html", 0) == 0 || head.rfind("<html", 0) == 0;
}

inline bool is_json(const std::filesystem::path& p) {
  std::error_code ec;
  if (std::filesystem::file_size(p, ec) > (std::uintmax_t{256} << 20) || ec) return false;
  std::ifstream in(p, std::ios::binary);
  return nlohmann::json::accept(in);
}
}  // namespace detail

// For any file to be written (a model, a checkpoint): its folder exists and is writable and
// it is not itself a folder, checked before any work is done.
inline void check_output_folder(const std::filesystem::path& out, const std::string& option) {
  namespace fs = std::filesystem;
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(dir))
    throw io_error(option + " '" + out.string() + "': the folder '" + dir.string() + "' does not exist");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw io_error(option + " '" + out.string() + "': the folder '" + dir.string() + "' is not writable");
  if (fs::is_directory(out)) throw io_error(option + " '" + out.string() + "' is a folder");
}

// `out` may be written: check_output_folder, it is none of `inputs` (compared as files, so
// another spelling or a link is caught too), and if it exists it already is a file of that
// kind (an HTML page for a report, parseable JSON for metrics).
inline void check_output(const std::filesystem::path& out, OutputKind kind, const std::vector<std::filesystem::path>& inputs,
                         const std::string& option) {
  check_output_folder(out, option);
  for (const auto& in : inputs)
    if (detail::same_file(out, in))
      throw io_error(option + " '" + out.string() + "' is an input of this command ('" + in.string() +
                     "'): refusing to overwrite it");
  if (!std::filesystem::exists(out)) return;
  const bool ok = kind == OutputKind::html ? detail::looks_like_html(out) : detail::is_json(out);
  if (!ok)
    throw io_error(option + " '" + out.string() + "' exists and is not " +
                   (kind == OutputKind::html ? "an HTML report" : "a JSON file") +
                   ": refusing to overwrite it (remove it or choose another name)");
}

// Writes `text` to `path` atomically (temporary file, fsync, rename): a reader sees the old
// content or the new, never a mix.
inline void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  detail::write_file_atomic(path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace twin::io

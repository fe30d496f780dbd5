#include "outputs.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include <nlohmann/json.hpp>

#include <twin/error.hpp>
#include <twin/io/safetensors.hpp>

namespace sigver {

namespace {
bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

bool looks_like_html(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string head(512, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  if (head.rfind("\xEF\xBB\xBF", 0) == 0) head.erase(0, 3);
  head.erase(0, std::min(head.size(), head.find_first_not_of(" \t\r\n")));
  std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return head.rfind("<!doctype html", 0) == 0 || head.rfind("<html", 0) == 0;
}

bool is_json(const fs::path& p) {
  std::error_code ec;
  if (fs::file_size(p, ec) > (std::uintmax_t{256} << 20) || ec) return false;
  std::ifstream in(p, std::ios::binary);
  return nlohmann::json::accept(in);
}
}  // namespace

void check_output_folder(const fs::path& out, const std::string& option) {
  const fs::path dir = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (!fs::is_directory(dir))
    throw twin::io_error(option + " '" + out.string() + "': the folder '" + dir.string() + "' does not exist");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw twin::io_error(option + " '" + out.string() + "': the folder '" + dir.string() + "' is not writable");
  if (fs::is_directory(out)) throw twin::io_error(option + " '" + out.string() + "' is a folder");
}

void check_output(const fs::path& out, OutputKind kind, const std::vector<fs::path>& inputs, const std::string& option) {
  check_output_folder(out, option);
  for (const auto& in : inputs)
    if (same_file(out, in))
      throw twin::io_error(option + " '" + out.string() + "' is an input of this command ('" + in.string() +
                           "'): refusing to overwrite it");
  if (!fs::exists(out)) return;
  const bool ok = kind == OutputKind::html ? looks_like_html(out) : is_json(out);
  if (!ok)
    throw twin::io_error(option + " '" + out.string() + "' exists and is not " +
                         (kind == OutputKind::html ? "an HTML report" : "a JSON file") +
                         ": refusing to overwrite it (remove it or choose another name)");
}

void write_text_atomic(const fs::path& path, const std::string& text) {
  twin::io::detail::write_file_atomic(path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace sigver

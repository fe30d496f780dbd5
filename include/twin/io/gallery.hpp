#pragma once
// The enrolment store (a gallery): reference embeddings of each enrolled person (a writer of
// signatures, a face), for verifying or identifying a questioned image against them.
//
//   {"format": "twin-gallery", "version": 1,
//    "settings": {"align": "true", ...},                  how the references were embedded
//    "people": {"alice": {"model": "signature_model.safetensors",
//                         "model_hash": "fnv1a64:...",     (twin/io/weights_hash.hpp)
//                         "files": ["a1.png", ...],
//                         "embeddings": [[0.12, ...], ...]}}}  (one per file, same length)
//
//   twin::io::update_gallery("enrollments.json", [&](twin::io::Gallery& g) { g.people["alice"] = entry; });
//   const auto g = twin::io::read_gallery("enrollments.json");
//
// Embeddings are only comparable with the model that made them and with a query prepared the
// same way, so each entry carries the weights' fingerprint and the store its `settings` (the
// preprocessing a query must share: detection, alignment, ...); a user refuses another model
// and describes the query as `settings` say. Stores of the first named layout
// ("twin-signature-enrollments": "writers" for "people", no settings) still read, and are
// written back in this one. The reader trusts nothing: every error is a twin::io_error naming
// the file and, where it applies, the person and key.
//
// Updates are safe when several processes update one file at once: each takes an exclusive
// lock (twin/io/file_lock.hpp) on "<file>.lock" for its read-modify-write, and writes the new
// content atomically (temporary file, fsync, rename). A reader needs no lock: it sees the old
// file or the new one, never a mix.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "twin/error.hpp"
#include "twin/io/csv.hpp"
#include "twin/io/file_lock.hpp"
#include "twin/io/output_guard.hpp"

namespace twin::io {

struct GalleryEntry {
  std::string model;       // the model file's path when enrolled (information only)
  std::string model_hash;  // weights_hash of that model
  std::vector<std::string> files;
  std::vector<std::vector<float>> embeddings;  // one per file
};

struct Gallery {
  std::map<std::string, std::string> settings;  // how the references were embedded
  std::map<std::string, GalleryEntry> people;
};

// The format's name; the earlier layout's name, still read.
inline constexpr const char* gallery_format = "twin-gallery";
inline constexpr const char* gallery_format_signatures = "twin-signature-enrollments";

namespace detail {
using gallery_json = nlohmann::json;

[[noreturn]] inline void gallery_fail(const std::string& name, const std::string& why) { throw io_error(name + ": " + why); }

inline void gallery_only_keys(const gallery_json& o, const std::set<std::string>& allowed, const std::string& name,
                              const std::string& where) {
  for (auto it = o.begin(); it != o.end(); ++it)
    if (!allowed.count(it.key())) gallery_fail(name, where + "unexpected key " + quoted_excerpt(it.key()));
  for (const auto& k : allowed)
    if (!o.contains(k)) gallery_fail(name, where + "lacks \"" + k + "\"");
}

inline GalleryEntry parse_gallery_entry(const gallery_json& e, const std::string& name, const std::string& who,
                                        const char* role) {
  const auto fail = [&](const std::string& why) { gallery_fail(name, why); };
  const std::string where = twin::detail::concat(role, " ", quoted_excerpt(who), ": ");
  if (!e.is_object()) fail(where + "entry is not an object");
  gallery_only_keys(e, {"model", "model_hash", "files", "embeddings"}, name, where);
  GalleryEntry out;
  if (!e["model"].is_string()) fail(where + "\"model\" is not a string");
  out.model = e["model"].get<std::string>();
  if (!e["model_hash"].is_string() || e["model_hash"].get_ref<const std::string&>().empty())
    fail(where + "\"model_hash\" is not a non-empty string");
  out.model_hash = e["model_hash"].get<std::string>();
  const gallery_json& files = e["files"];
  if (!files.is_array()) fail(where + "\"files\" is not a list");
  for (const auto& f : files) {
    if (!f.is_string()) fail(where + "\"files\" holds a non-string");
    out.files.push_back(f.get<std::string>());
  }
  const gallery_json& emb = e["embeddings"];
  if (!emb.is_array()) fail(where + "\"embeddings\" is not a list");
  if (emb.empty()) fail(where + "has no references (\"embeddings\" is empty)");
  if (emb.size() != out.files.size())
    fail(where + std::to_string(emb.size()) + " embeddings for " + std::to_string(out.files.size()) + " files");
  for (std::size_t i = 0; i < emb.size(); ++i) {
    const gallery_json& v = emb[i];
    const std::string which = where + "embedding " + std::to_string(i + 1) + " ";
    if (!v.is_array() || v.empty()) fail(which + "is not a non-empty list of numbers");
    std::vector<float> x;
    x.reserve(v.size());
    for (const auto& n : v) {
      if (!n.is_number()) fail(which + "holds a non-number");
      const double d = n.get<double>();
      if (!std::isfinite(d) || std::fabs(d) > 3e38) fail(which + "holds a non-finite value");
      x.push_back(static_cast<float>(d));
    }
    if (!out.embeddings.empty() && x.size() != out.embeddings[0].size())
      fail(which + "has " + std::to_string(x.size()) + " values, embedding 1 has " +
           std::to_string(out.embeddings[0].size()));
    out.embeddings.push_back(std::move(x));
  }
  return out;
}

inline std::string read_gallery_text(const std::filesystem::path& file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) gallery_fail(file.string(), "not a regular file");
  const auto size = fs::file_size(file, ec);
  if (ec) gallery_fail(file.string(), "unreadable: " + ec.message());
  if (size > (std::uintmax_t{1} << 30)) gallery_fail(file.string(), "larger than 1 GB: not an enrolment file");
  std::ifstream in(file, std::ios::binary);
  if (!in) gallery_fail(file.string(), "cannot open");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}
}  // namespace detail

// Parses and validates `text`; `name` (the file) starts every error message.
inline Gallery parse_gallery(std::string_view text, const std::string& name) {
  using json = detail::gallery_json;
  const auto fail = [&](const std::string& why) { detail::gallery_fail(name, why); };
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) fail("not an enrolment file (the top level is not a JSON object)");
  if (!j.contains("format")) {
    // The first enrolment files were {writer: {model, files, embeddings}} without the
    // model's fingerprint: their embeddings cannot be tied to a model.
    bool old = !j.empty();
    for (const auto& [k, v] : j.items()) old = old && v.is_object() && v.contains("embeddings");
    if (old) fail("an enrolment file of the first layout (no model fingerprints): enrol its writers again");
    fail("not an enrolment file (no \"format\" key)");
  }
  const bool signature_layout = j["format"] == gallery_format_signatures;
  if (j["format"] != gallery_format && !signature_layout)
    fail("not an enrolment file (\"format\" is " + quoted_excerpt(j["format"].dump()) + ")");
  const char* people = signature_layout ? "writers" : "people";
  const char* role = signature_layout ? "writer" : "person";
  if (signature_layout) detail::gallery_only_keys(j, {"format", "version", "writers"}, name, "");
  else detail::gallery_only_keys(j, {"format", "version", "settings", "people"}, name, "");
  if (j["version"] != 1) fail("enrolment file version " + j["version"].dump().substr(0, 20) + " is not supported (this reads 1)");
  Gallery g;
  if (!signature_layout) {
    if (!j["settings"].is_object()) fail("\"settings\" is not an object");
    for (const auto& [key, v] : j["settings"].items()) {
      if (key.empty()) fail("a setting has an empty name");
      if (!v.is_string()) fail("setting " + quoted_excerpt(key) + " is not a string");
      g.settings.emplace(key, v.get<std::string>());
    }
  }
  if (!j[people].is_object()) fail(std::string("\"") + people + "\" is not an object");
  for (const auto& [who, e] : j[people].items()) {
    if (who.empty()) fail(std::string("a ") + role + " has an empty name");
    g.people.emplace(who, detail::parse_gallery_entry(e, name, who, role));
  }
  return g;
}

inline std::string dump_gallery(const Gallery& g) {
  using json = detail::gallery_json;
  json p = json::object(), settings = json::object();
  for (const auto& [name, e] : g.people)
    p[name] = {{"model", e.model}, {"model_hash", e.model_hash}, {"files", e.files}, {"embeddings", e.embeddings}};
  for (const auto& [key, v] : g.settings) settings[key] = v;
  const json j = {{"format", gallery_format}, {"version", 1}, {"settings", settings}, {"people", p}};
  return j.dump(1) + "\n";
}

// Reads the store; a missing file is an io_error (enrol first).
inline Gallery read_gallery(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file))
    throw io_error("cannot open enrolment file '" + file.string() + "' (run enroll first)");
  return parse_gallery(detail::read_gallery_text(file), file.string());
}

// Locked read-modify-write: `change` gets the current store (empty when the file does not
// exist yet) and edits it; the result is written atomically. `wait_seconds` bounds the wait
// for another process's lock.
inline void update_gallery(const std::filesystem::path& file, const std::function<void(Gallery&)>& change,
                           double wait_seconds = 60) {
  namespace fs = std::filesystem;
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) detail::gallery_fail(file.string(), "its folder '" + dir.string() + "' does not exist");
  const FileLock lock(fs::path(file.string() + ".lock"), wait_seconds);
  Gallery g;
  if (fs::exists(file)) g = parse_gallery(detail::read_gallery_text(file), file.string());
  change(g);
  write_text_atomic(file, dump_gallery(g));
}

}  // namespace twin::io

#include "enrollments.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include <twin/error.hpp>
#include <twin/io/safetensors.hpp>

#include "csv.hpp"

namespace sigver {

namespace {
using json = nlohmann::json;

[[noreturn]] void fail(const std::string& name, const std::string& why) { throw twin::io_error(name + ": " + why); }

void only_keys(const json& o, const std::set<std::string>& allowed, const std::string& name, const std::string& where) {
  for (auto it = o.begin(); it != o.end(); ++it)
    if (!allowed.count(it.key())) fail(name, where + "unexpected key " + excerpt(it.key()));
  for (const auto& k : allowed)
    if (!o.contains(k)) fail(name, where + "lacks \"" + k + "\"");
}

Enrollment parse_writer(const json& e, const std::string& name, const std::string& writer) {
  const std::string where = "writer " + excerpt(writer) + ": ";
  if (!e.is_object()) fail(name, where + "entry is not an object");
  only_keys(e, {"model", "model_hash", "files", "embeddings"}, name, where);
  Enrollment out;
  if (!e["model"].is_string()) fail(name, where + "\"model\" is not a string");
  out.model = e["model"].get<std::string>();
  if (!e["model_hash"].is_string() || e["model_hash"].get_ref<const std::string&>().empty())
    fail(name, where + "\"model_hash\" is not a non-empty string");
  out.model_hash = e["model_hash"].get<std::string>();
  const json& files = e["files"];
  if (!files.is_array()) fail(name, where + "\"files\" is not a list");
  for (const auto& f : files) {
    if (!f.is_string()) fail(name, where + "\"files\" holds a non-string");
    out.files.push_back(f.get<std::string>());
  }
  const json& emb = e["embeddings"];
  if (!emb.is_array()) fail(name, where + "\"embeddings\" is not a list");
  if (emb.empty()) fail(name, where + "has no references (\"embeddings\" is empty)");
  if (emb.size() != out.files.size())
    fail(name, where + std::to_string(emb.size()) + " embeddings for " + std::to_string(out.files.size()) + " files");
  for (std::size_t i = 0; i < emb.size(); ++i) {
    const json& v = emb[i];
    const std::string which = where + "embedding " + std::to_string(i + 1) + " ";
    if (!v.is_array() || v.empty()) fail(name, which + "is not a non-empty list of numbers");
    std::vector<float> x;
    x.reserve(v.size());
    for (const auto& n : v) {
      if (!n.is_number()) fail(name, which + "holds a non-number");
      const double d = n.get<double>();
      if (!std::isfinite(d) || std::fabs(d) > 3e38) fail(name, which + "holds a non-finite value");
      x.push_back(static_cast<float>(d));
    }
    if (!out.embeddings.empty() && x.size() != out.embeddings[0].size())
      fail(name, which + "has " + std::to_string(x.size()) + " values, embedding 1 has " +
                     std::to_string(out.embeddings[0].size()));
    out.embeddings.push_back(std::move(x));
  }
  return out;
}
}  // namespace

EnrollmentStore parse_enrollments(std::string_view text, const std::string& name) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(name, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) fail(name, "not an enrolment file (the top level is not a JSON object)");
  if (!j.contains("format")) {
    // The first enrolment files were {writer: {model, files, embeddings}} without the
    // model's fingerprint: their embeddings cannot be tied to a model.
    bool old = !j.empty();
    for (const auto& [k, v] : j.items()) old = old && v.is_object() && v.contains("embeddings");
    if (old) fail(name, "an enrolment file of the first layout (no model fingerprints): enrol its writers again");
    fail(name, "not an enrolment file (no \"format\" key)");
  }
  if (j["format"] != enrollments_format) fail(name, "not an enrolment file (\"format\" is " + excerpt(j["format"].dump()) + ")");
  only_keys(j, {"format", "version", "writers"}, name, "");
  if (j["version"] != 1) fail(name, "enrolment file version " + j["version"].dump().substr(0, 20) + " is not supported (this reads 1)");
  if (!j["writers"].is_object()) fail(name, "\"writers\" is not an object");
  EnrollmentStore s;
  for (const auto& [writer, e] : j["writers"].items()) {
    if (writer.empty()) fail(name, "a writer has an empty name");
    s.writers.emplace(writer, parse_writer(e, name, writer));
  }
  return s;
}

std::string dump_enrollments(const EnrollmentStore& s) {
  json w = json::object();
  for (const auto& [name, e] : s.writers)
    w[name] = {{"model", e.model}, {"model_hash", e.model_hash}, {"files", e.files}, {"embeddings", e.embeddings}};
  const json j = {{"format", enrollments_format}, {"version", 1}, {"writers", w}};
  return j.dump(1) + "\n";
}

namespace {
std::string read_text(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) fail(file.string(), "not a regular file");
  const auto size = fs::file_size(file, ec);
  if (ec) fail(file.string(), "unreadable: " + ec.message());
  if (size > (std::uintmax_t{1} << 30)) fail(file.string(), "larger than 1 GB: not an enrolment file");
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file.string(), "cannot open");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

// An exclusive flock on `path`, held until destruction.
class FileLock {
 public:
  FileLock(const fs::path& path, double wait_seconds) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(path.string(), std::string("cannot open the lock file: ") + std::strerror(errno));
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        const int err = errno;
        ::close(fd_);
        fail(path.string(), std::string("cannot lock: ") + std::strerror(err));
      }
      if (std::chrono::steady_clock::now() > until) {
        ::close(fd_);
        fail(path.string(), twin::detail::concat("another process has held the lock for ", wait_seconds, " s"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};
}  // namespace

EnrollmentStore read_enrollments(const fs::path& file) {
  if (!fs::exists(file)) throw twin::io_error("cannot open enrolment file '" + file.string() + "' (run enroll first)");
  return parse_enrollments(read_text(file), file.string());
}

void update_enrollments(const fs::path& file, const std::function<void(EnrollmentStore&)>& change, double wait_seconds) {
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  if (!fs::is_directory(dir)) fail(file.string(), "its folder '" + dir.string() + "' does not exist");
  const FileLock lock(fs::path(file.string() + ".lock"), wait_seconds);
  EnrollmentStore s;
  if (fs::exists(file)) s = parse_enrollments(read_text(file), file.string());
  change(s);
  const std::string text = dump_enrollments(s);
  twin::io::detail::write_file_atomic(file, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace sigver

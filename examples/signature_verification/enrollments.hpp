#pragma once
// The enrolment store: reference embeddings of each writer, for `verify --against`.
//
//   {"format": "twin-signature-enrollments", "version": 1,
//    "writers": {"alice": {"model": "signature_model.safetensors",
//                          "model_hash": "fnv1a64:...",        (persist.hpp: weights_hash)
//                          "files": ["a1.png", ...],
//                          "embeddings": [[0.12, ...], ...]}}}  (one per file, same length)
//
// Embeddings are only comparable with the model that made them, so each writer carries the
// weights' fingerprint and verify refuses another model. The reader trusts nothing: every
// error names the file and, where it applies, the writer and the key.
//
// Updates are safe when several `enroll` run at once on one file: each takes an exclusive
// advisory lock (flock) on "<file>.lock" for its read-modify-write, and writes the new
// content to a temporary file that is fsynced and renamed over the old one. A reader (verify)
// needs no lock: it sees the old file or the new one, never a mix. The lock file stays (removing
// it would let two writers lock two different files of one name).
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sigver {

namespace fs = std::filesystem;

struct Enrollment {
  std::string model;       // the model file's path when enrolled (information only)
  std::string model_hash;  // weights_hash of that model
  std::vector<std::string> files;
  std::vector<std::vector<float>> embeddings;  // one per file
};

struct EnrollmentStore {
  std::map<std::string, Enrollment> writers;
};

inline constexpr const char* enrollments_format = "twin-signature-enrollments";

// Parses and validates `text`; `name` (the file) starts every error message.
EnrollmentStore parse_enrollments(std::string_view text, const std::string& name);
std::string dump_enrollments(const EnrollmentStore& s);

// Reads the store; a missing file is an io_error (run enroll first).
EnrollmentStore read_enrollments(const fs::path& file);

// Locked read-modify-write: `change` gets the current store (empty when the file does not
// exist yet) and edits it; the result is written atomically. `wait_seconds` bounds the wait
// for another writer's lock.
void update_enrollments(const fs::path& file, const std::function<void(EnrollmentStore&)>& change,
                        double wait_seconds = 60);

}  // namespace sigver

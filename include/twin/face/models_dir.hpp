#pragma once
// Where the pretrained face models live: the folder scripts/fetch-face-models.sh fills
// (face-api 1.7.15's tfjs weights; never part of the repository).
//   1. the folder given (a --models option), else
//   2. $TWIN_FACE_MODELS, else
//   3. ${TWIN_CACHE:-~/.cache/twin}/face-api/1.7.15/model
// A folder without the model asked for is an io_error naming the folder, the file and the
// command that fetches it.
#include <cstdlib>
#include <filesystem>
#include <string>

#include "twin/error.hpp"

namespace twin::face {

inline constexpr const char* face_api_version = "1.7.15";
inline constexpr const char* fetch_command = "scripts/fetch-face-models.sh";

inline std::filesystem::path default_models_dir() {
  if (const char* e = std::getenv("TWIN_FACE_MODELS"); e && *e) return e;
  std::filesystem::path cache;
  if (const char* c = std::getenv("TWIN_CACHE"); c && *c) cache = c;
  else if (const char* h = std::getenv("HOME"); h && *h) cache = std::filesystem::path(h) / ".cache" / "twin";
  else cache = ".cache/twin";
  return cache / "face-api" / face_api_version / "model";
}

// The manifest of `model` ("face_recognition_model") in `dir` (empty: default_models_dir()).
inline std::filesystem::path model_manifest(const std::string& model, const std::filesystem::path& dir = {}) {
  const auto d = dir.empty() ? default_models_dir() : dir;
  const auto m = d / (model + "-weights_manifest.json");
  if (!std::filesystem::is_regular_file(m))
    throw io_error("face models: " + m.string() + " not found; fetch the pretrained weights with " + fetch_command +
                   " (or point --models / $TWIN_FACE_MODELS at a folder holding them)");
  return m;
}

}  // namespace twin::face

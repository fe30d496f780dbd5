#pragma once
// The single source of twin's version: CMake reads these three lines.
#define TWIN_VERSION_MAJOR 0
#define TWIN_VERSION_MINOR 1
#define TWIN_VERSION_PATCH 0

namespace twin {
inline constexpr int version_major = TWIN_VERSION_MAJOR;
inline constexpr int version_minor = TWIN_VERSION_MINOR;
inline constexpr int version_patch = TWIN_VERSION_PATCH;
}  // namespace twin

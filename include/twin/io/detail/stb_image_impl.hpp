#pragma once
// stb_image compiled privately into every translation unit that includes twin/io/image.hpp.
//
// STB_IMAGE_STATIC makes every stb function `static`, so each TU gets its own copy with
// internal linkage: no ODR clash between TUs, none with another stb_image the program links
// (e.g. Debian's prebuilt libstb, which twin never links). Only the PNG and JPEG decoders
// are compiled; twin decodes PNM itself (stb 2.27 reads no ASCII P2/P3 and has a 16-bit PNM
// overflow), and everything else (GIF, BMP, HDR, stdio) stays out to keep the attack
// surface small.
//
// A project that already compiles stb_image itself builds with TWIN_STB_IMPLEMENTATION=0
// (CMake option TWIN_STB_IMPLEMENTATION=OFF); twin then only declares the functions and
// links against that implementation.
#ifndef TWIN_STB_IMPLEMENTATION
#define TWIN_STB_IMPLEMENTATION 1
#endif

namespace twin::io::detail {
// Set by a failed stb-internal assertion; image.hpp turns it into an image_error rather
// than letting assert() abort the process.
inline thread_local bool stb_assert_failed = false;
}  // namespace twin::io::detail

#if TWIN_STB_IMPLEMENTATION
#if defined(STBI_INCLUDE_STB_IMAGE_H)
#error "twin/io/image.hpp must be included before <stb_image.h> (or build with TWIN_STB_IMPLEMENTATION=0)"
#endif
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ASSERT(x) ((x) ? (void)0 : (void)(::twin::io::detail::stb_assert_failed = true))
#include <stb/stb_image.h>
#undef STBI_ASSERT
#undef STBI_NO_HDR
#undef STBI_NO_LINEAR
#undef STBI_NO_STDIO
#undef STBI_ONLY_JPEG
#undef STBI_ONLY_PNG
#undef STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic pop
#else
#include <stb/stb_image.h>
#endif

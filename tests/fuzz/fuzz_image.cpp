// libFuzzer target: twin::io::decode_image and decode_image_rgb on arbitrary bytes. Any
// image_error is a correct answer; anything else (a sanitizer report, another exception, a
// hang) is a bug.
#include "twin/io/image.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Small budgets keep each execution fast; the checks are the same at any budget.
  const twin::io::ImageLimits limits{.max_file_bytes = 1 << 20, .max_pixels = 1 << 20};
  try {
    const auto img = twin::io::decode_image(std::span(data, size), "fuzz-input", limits);
    volatile std::uint8_t sink = img.size() ? img[img.size() - 1] : 0;
    (void)sink;
  } catch (const twin::image_error&) {
  }
  try {
    const auto rgb = twin::io::decode_image_rgb(std::span(data, size), "fuzz-input", limits);
    volatile std::uint8_t sink = rgb.size() ? rgb[rgb.size() - 1] : 0;
    (void)sink;
  } catch (const twin::image_error&) {
  }
  return 0;
}

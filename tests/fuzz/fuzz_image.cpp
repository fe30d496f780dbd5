// libFuzzer target: twin::io::decode_image on arbitrary bytes. Any image_error is a correct
// answer; anything else (a sanitizer report, another exception, a hang) is a bug.
#include "twin/io/image.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    // Small budgets keep each execution fast; the checks are the same at any budget.
    const auto img = twin::io::decode_image(std::span(data, size), "fuzz-input",
                                            {.max_file_bytes = 1 << 20, .max_pixels = 1 << 20});
    volatile std::uint8_t sink = img.size() ? img[img.size() - 1] : 0;
    (void)sink;
  } catch (const twin::image_error&) {
  }
  return 0;
}

// libFuzzer target: the safetensors reader on arbitrary bytes, then every tensor read out
// as float. Any io_error is a correct answer; anything else is a bug.
#include "twin/io/safetensors.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto st = twin::io::SafeTensors::parse(std::vector<std::uint8_t>(data, data + size), "fuzz-input");
    for (const auto& [name, info] : st.tensors()) {
      const auto t = st.get<float>(name);
      volatile float sink = t.size() ? t[t.size() - 1] : 0.f;
      (void)sink;
    }
  } catch (const twin::io_error&) {
  }
  return 0;
}

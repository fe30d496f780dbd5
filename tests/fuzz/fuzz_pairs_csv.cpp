// libFuzzer target: the pairs-file reader (twin/io/pairs_csv.hpp: CSV with BOM and quotes,
// then path1,path2,label rows) on arbitrary bytes, without touching the file system. A
// twin::io_error is a correct answer; anything else is a bug, and so is an error message
// that grows with the input (a 5 MB line must not give a 5 MB message).
#include <twin/io/pairs_csv.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto lines = twin::io::parse_pairs_csv(text, "fuzz/pairs.csv", false);
    for (const auto& l : lines)
      if (l.line < 1 || l.a.empty() || l.b.empty()) std::abort();
  } catch (const twin::io_error& e) {
    if (std::string_view(e.what()).size() > 1000) std::abort();
  }
  return 0;
}

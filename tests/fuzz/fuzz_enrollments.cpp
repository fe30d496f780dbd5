// libFuzzer target: the enrolment store's parser (twin/io/gallery.hpp: parse_gallery) on
// arbitrary bytes, then a dump and re-parse of what it accepted. A twin::io_error is a
// correct answer; anything else (another exception, a sanitizer report, a hang, a store that
// does not survive its own round trip) is a bug.
#include <twin/io/gallery.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  twin::io::Gallery s;
  try {
    s = twin::io::parse_gallery(text, "fuzz-input");
  } catch (const twin::io_error&) {
    return 0;
  }
  const auto back = twin::io::parse_gallery(twin::io::dump_gallery(s), "round-trip");
  if (back.people.size() != s.people.size()) std::abort();
  for (const auto& [name, e] : s.people)
    if (back.people.at(name).embeddings != e.embeddings) std::abort();
  return 0;
}

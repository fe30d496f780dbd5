// libFuzzer target: the signature example's enrolment store parser (parse_enrollments) on
// arbitrary bytes, then a dump and re-parse of what it accepted. A twin::io_error is a
// correct answer; anything else (another exception, a sanitizer report, a hang, a store that
// does not survive its own round trip) is a bug.
#include "enrollments.cpp"
#include "csv.cpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sigver::EnrollmentStore s;
  try {
    s = sigver::parse_enrollments(text, "fuzz-input");
  } catch (const twin::io_error&) {
    return 0;
  }
  const auto back = sigver::parse_enrollments(sigver::dump_enrollments(s), "round-trip");
  if (back.writers.size() != s.writers.size()) std::abort();
  for (const auto& [name, e] : s.writers)
    if (back.writers.at(name).embeddings != e.embeddings) std::abort();
  return 0;
}

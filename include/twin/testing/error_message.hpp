#pragma once
// The message of the exception f() throws, or "(no error)", and a substring test for it:
// for tests that check what an error says rather than only that one is thrown.
#include <exception>
#include <functional>
#include <string>

namespace twin::testing {

inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// Whether `text` holds `part`, e.g. CHECK(contains(error_message(f), "line 3")).
inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace twin::testing

#pragma once
// The message of the exception f() throws, or "(no error)": for tests that check what an
// error says rather than only that one is thrown.
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

}  // namespace twin::testing

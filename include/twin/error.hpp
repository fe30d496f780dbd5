#pragma once
// Every exception twin throws derives from twin::error, so a caller can catch the whole
// library's failures in one place and still tell them apart.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace twin {

struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A tensor, layer or loss was given a shape it cannot take.
struct shape_error : error {
  using error::error;
};
// A value became NaN/Inf, or a statistic is undefined (e.g. BatchNorm over one value).
struct numeric_error : error {
  using error::error;
};
// A file (model, checkpoint, data) is missing, unreadable or malformed.
struct io_error : error {
  using error::error;
};
// An image could not be decoded; the message names the file and the reason.
struct image_error : io_error {
  using io_error::io_error;
};

namespace detail {
// Streams all arguments into one string: concat("got ", n, " channels").
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

}  // namespace twin

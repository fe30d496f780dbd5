#pragma once
// Reader for the idx format of MNIST and Fashion-MNIST, plain or gzip-compressed.
// Opt-in (not in twin.hpp): it needs zlib, so link the CMake target twin::idx (twin::twin
// plus ZLIB::ZLIB; find_package(twin COMPONENTS idx) for an installed twin).
//
//   auto images = twin::io::read_idx_images("train-images-idx3-ubyte.gz");  // (N, 1, 28, 28) in [0, 1]
//   auto labels = twin::io::read_idx_labels("train-labels-idx1-ubyte.gz");  // N ints
//   auto first = twin::io::read_idx_images(path, 1000);                     // the first 1000 only
//
// The format (yann.lecun.com/exdb/mnist): a big-endian 32-bit magic number, 2051 for
// images (then N, rows, cols) and 2049 for labels (then N), followed by one unsigned byte
// per pixel or label. Pixels are divided by 255. The whole file is read, so a file whose
// size disagrees with its header is refused even when `limit` would not reach the damage.
// Errors are io_error naming the file: cannot open, corrupt gzip data, wrong magic number,
// or a header that does not match the bytes that follow. Files above 2 GiB are refused.
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::io {

namespace detail {
// Whole file, decompressed when it is gzip (zlib reads plain files through the same call).
inline std::vector<unsigned char> read_maybe_gzip(const std::string& path, std::size_t limit = std::size_t{1} << 31) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw io_error("cannot open '" + path + "'");
  std::vector<unsigned char> out;
  unsigned char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      gzclose(f);
      throw io_error("'" + path + "': corrupt gzip data");
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
    if (out.size() > limit) {
      gzclose(f);
      throw io_error("'" + path + "': larger than " + std::to_string(limit) + " bytes");
    }
  }
  gzclose(f);
  return out;
}
// Not be32: twin/io/image.hpp has its own, and a program may include both.
inline std::uint32_t idx_be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
}  // namespace detail

// Images as (N, 1, rows, cols) floats in [0, 1]; at most `limit` images (0: all).
inline Tensor<float> read_idx_images(const std::string& path, Index limit = 0) {
  const auto b = detail::read_maybe_gzip(path);
  if (b.size() < 16 || detail::idx_be32(b.data()) != 2051)
    throw io_error("'" + path + "': not an idx3 image file (magic 2051)");
  const Index n = detail::idx_be32(&b[4]), rows = detail::idx_be32(&b[8]), cols = detail::idx_be32(&b[12]);
  if (rows <= 0 || cols <= 0 || rows > 4096 || cols > 4096 || static_cast<Index>(b.size()) - 16 != n * rows * cols)
    throw io_error("'" + path + "': header says " + std::to_string(n) + " x " + std::to_string(rows) + " x " +
                   std::to_string(cols) + " but the file holds " + std::to_string(b.size() - 16) + " pixel bytes");
  const Index take = limit > 0 ? std::min(limit, n) : n;
  Tensor<float> t(Shape{take, 1, rows, cols});
  for (Index i = 0; i < t.size(); ++i) t[i] = static_cast<float>(b[static_cast<std::size_t>(16 + i)]) / 255.0f;
  return t;
}

inline std::vector<int> read_idx_labels(const std::string& path, Index limit = 0) {
  const auto b = detail::read_maybe_gzip(path);
  if (b.size() < 8 || detail::idx_be32(b.data()) != 2049)
    throw io_error("'" + path + "': not an idx1 label file (magic 2049)");
  const Index n = detail::idx_be32(&b[4]);
  if (static_cast<Index>(b.size()) - 8 != n) throw io_error("'" + path + "': truncated label file");
  const Index take = limit > 0 ? std::min(limit, n) : n;
  return std::vector<int>(b.begin() + 8, b.begin() + 8 + take);
}

}  // namespace twin::io

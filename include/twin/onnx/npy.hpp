#pragma once
// NumPy .npy files of float32 (little-endian, C order): what the ONNX tools read and write,
// so that numpy.load / numpy.save on the other side is all a comparison needs. Format 1.0
// and 2.0 headers are read; 1.0 is written.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::onnx {

inline Tensor<float> read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("npy: cannot open " + path.string());
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw io_error("npy: " + path.string() + ": not a .npy file");
  std::uint32_t hlen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (std::uint32_t(b[3]) << 24);
  }
  if (!in || hlen > 65536) throw io_error("npy: " + path.string() + ": bad header");
  std::string h(hlen, '\0');
  in.read(h.data(), hlen);
  if (h.find("'descr': '<f4'") == std::string::npos)
    throw io_error("npy: " + path.string() + ": expected float32 data (descr '<f4'), header " + h);
  if (h.find("'fortran_order': False") == std::string::npos)
    throw io_error("npy: " + path.string() + ": Fortran-order arrays are not supported");
  const auto a = h.find("'shape': ("), b = h.find(')', a);
  if (a == std::string::npos || b == std::string::npos) throw io_error("npy: " + path.string() + ": no shape in header");
  Shape s;
  std::string dims = h.substr(a + 10, b - a - 10);
  for (std::size_t i = 0; i < dims.size();) {
    while (i < dims.size() && (dims[i] == ' ' || dims[i] == ',')) ++i;
    if (i >= dims.size()) break;
    std::size_t used = 0;
    s.push_back(static_cast<Index>(std::stoll(dims.substr(i), &used)));
    i += used;
  }
  if (s.rank() == 0) s.push_back(1);
  Tensor<float> t(s);
  in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(t.size() * Index(sizeof(float))));
  if (!in) throw io_error("npy: " + path.string() + ": file shorter than its shape " + s.str());
  return t;
}

inline void write_npy(const std::filesystem::path& path, TensorView<const float> t) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int d = 0; d < t.shape().rank(); ++d) h += std::to_string(t.shape()[d]) + (t.shape().rank() == 1 || d + 1 < t.shape().rank() ? ", " : "");
  h += "), }";
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw io_error("npy: cannot write " + path.string());
  const unsigned char len[2] = {static_cast<unsigned char>(h.size() & 0xff), static_cast<unsigned char>(h.size() >> 8)};
  out.write("\x93NUMPY\x01\x00", 8);
  out.write(reinterpret_cast<const char*>(len), 2);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.size() * Index(sizeof(float))));
  if (!out) throw io_error("npy: cannot write " + path.string());
}

}  // namespace twin::onnx

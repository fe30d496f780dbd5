#pragma once
// A greyscale image as PNG bytes, and base64 for embedding them in an HTML page
// (`<img src="data:image/png;base64,...">`), with no library behind it: reports must not
// make a program link zlib.
//
//   std::string png = twin::report::encode_png(img.view(), {.ink = true});   // img (H, W) in [0, 1]
//   std::string uri = "data:image/png;base64," + twin::report::base64(png);
//
// The pixels are compressed with deflate's fixed Huffman codes and runs only (every match is
// at distance 1), which suits what reports show: binarised signatures, mostly paper, shrink
// to a few percent, and any image at most grows by 1/8. A reader (libpng, stb_image, a
// browser) inflates it like any other PNG.
//
// Values are clamped to [0, 1] and drawn as grey 255 v, or 255 (1 - v) with `ink` (ink 1
// drawn black on white paper, the convention of twin/data/binarize.hpp). NaN is drawn as 0.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "twin/error.hpp"
#include "twin/tensor.hpp"

namespace twin::report {

struct PngOptions {
  bool ink = false;  // 1 is black (ink on paper) rather than white
};

namespace detail {
inline std::uint32_t crc32(std::string_view bytes) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xffffffffu;
  for (const char b : bytes) c = table[(c ^ static_cast<unsigned char>(b)) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

inline std::uint32_t adler32(std::string_view bytes) {
  std::uint32_t a = 1, b = 0;
  for (const char c : bytes) {
    a = (a + static_cast<unsigned char>(c)) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

inline void put32(std::string& s, std::uint32_t v) {
  for (int k = 24; k >= 0; k -= 8) s.push_back(static_cast<char>((v >> k) & 0xff));
}

// Deflate's bit stream: values least significant bit first, Huffman codes most significant
// bit first (RFC 1951, 3.1.1).
class BitWriter {
 public:
  void bits(std::uint32_t v, int n) {
    for (int i = 0; i < n; ++i) push((v >> i) & 1);
  }
  void code(std::uint32_t c, int n) {
    for (int i = n - 1; i >= 0; --i) push((c >> i) & 1);
  }
  std::string finish() {
    if (fill_) out_.push_back(static_cast<char>(acc_));
    acc_ = 0, fill_ = 0;
    return std::move(out_);
  }

 private:
  void push(std::uint32_t bit) {
    acc_ |= bit << fill_;
    if (++fill_ == 8) out_.push_back(static_cast<char>(acc_)), acc_ = 0, fill_ = 0;
  }
  std::string out_;
  std::uint32_t acc_ = 0;
  int fill_ = 0;
};

// The fixed literal/length code of symbol s (RFC 1951, 3.2.6).
inline void fixed_symbol(BitWriter& w, int s) {
  if (s < 144) w.code(static_cast<std::uint32_t>(0x30 + s), 8);
  else if (s < 256) w.code(static_cast<std::uint32_t>(0x190 + s - 144), 9);
  else if (s < 280) w.code(static_cast<std::uint32_t>(s - 256), 7);
  else w.code(static_cast<std::uint32_t>(0xc0 + s - 280), 8);
}

// A match of `len` (3..258) bytes at distance 1.
inline void fixed_run(BitWriter& w, int len) {
  static constexpr int base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                   31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  static constexpr int extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  int i = 28;
  while (base[i] > len) --i;
  fixed_symbol(w, 257 + i);
  w.bits(static_cast<std::uint32_t>(len - base[i]), extra[i]);
  w.code(0, 5);  // distance code 0: distance 1
}

// A zlib stream (RFC 1950) of `raw`: one final block with fixed codes.
inline std::string zlib_runs(std::string_view raw) {
  BitWriter w;
  w.bits(1, 1);  // final block
  w.bits(1, 2);  // fixed Huffman codes
  for (std::size_t i = 0; i < raw.size();) {
    std::size_t run = 0;
    if (i > 0)
      while (run < 258 && i + run < raw.size() && raw[i + run] == raw[i - 1]) ++run;
    if (run >= 3) {
      fixed_run(w, static_cast<int>(run));
      i += run;
    } else {
      fixed_symbol(w, static_cast<unsigned char>(raw[i]));
      ++i;
    }
  }
  fixed_symbol(w, 256);  // end of block
  std::string out = "\x78\x01";  // deflate, 32 KB window, no dictionary (0x7801 % 31 == 0)
  out += w.finish();
  put32(out, adler32(raw));
  return out;
}

inline void chunk(std::string& png, std::string_view type, std::string_view data) {
  put32(png, static_cast<std::uint32_t>(data.size()));
  std::string body(type);
  body += data;
  png += body;
  put32(png, crc32(body));
}
}  // namespace detail

// PNG (8-bit greyscale) of img (H, W).
inline std::string encode_png(TensorView<const float, 2> img, const PngOptions& o = {}) {
  const Index h = img.dim(0), w = img.dim(1);
  if (h < 1 || w < 1) throw shape_error(twin::detail::concat("encode_png: empty image ", img.shape().str()));
  if (h > (Index{1} << 24) || w > (Index{1} << 24))
    throw shape_error(twin::detail::concat("encode_png: image ", img.shape().str(), " is too large for a report"));
  std::string raw;
  raw.reserve(static_cast<std::size_t>(h * (w + 1)));
  for (Index y = 0; y < h; ++y) {
    raw.push_back(0);  // filter type: none
    for (Index x = 0; x < w; ++x) {
      float v = img(y, x);
      v = std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);
      if (o.ink) v = 1.0f - v;
      raw.push_back(static_cast<char>(static_cast<unsigned char>(std::lround(255.0f * v))));
    }
  }
  std::string png = "\x89PNG\r\n\x1a\n", ihdr;
  detail::put32(ihdr, static_cast<std::uint32_t>(w));
  detail::put32(ihdr, static_cast<std::uint32_t>(h));
  ihdr += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit greyscale, deflate, adaptive filters, no interlace
  detail::chunk(png, "IHDR", ihdr);
  detail::chunk(png, "IDAT", detail::zlib_runs(raw));
  detail::chunk(png, "IEND", "");
  return png;
}
inline std::string encode_png(const Tensor<float, 2>& img, const PngOptions& o = {}) { return encode_png(img.view(), o); }

// RFC 4648 base64 with padding.
inline std::string base64(std::string_view bytes) {
  static constexpr char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  o.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    o += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = at(i) << 16;
    o += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (at(i) << 16) | (at(i + 1) << 8);
    o += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return o;
}

}  // namespace twin::report

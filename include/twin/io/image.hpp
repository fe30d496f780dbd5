#pragma once
// Hardened image loading: PNG, JPEG and PGM/PPM (P2, P3, P5, P6) decoded as 8-bit greyscale
// (H, W), or as interleaved RGB (H, W, 3). Opt-in (not in twin.hpp) because it compiles
// stb_image into the including TU.
//
//   auto img = twin::io::load_image("signature.png");   // Tensor<std::uint8_t, 2>, (H, W)
//   auto rgb = twin::io::load_image_rgb("face.jpg");     // Tensor<std::uint8_t, 3>, (H, W, 3)
//
// An image file can come from anywhere, so nothing reaches a decoder unchecked:
//  * the file size is checked before it is read (ImageLimits::max_file_bytes);
//  * the pixel count is read from the header and checked before any pixel buffer exists
//    (ImageLimits::max_pixels);
//  * PNM is decoded here, not by stb (header, maxval <= 255, sample count, sample range);
//  * PNG chunk structure and JPEG marker structure are walked first: truncation is found
//    before stb sees the bytes, and every JPEG Huffman table (DHT) and quantisation table
//    (DQT) is validated, because stb_image 2.27 (Debian 12) indexes out of bounds on tables
//    with more than 256 codes;
//  * every failure is a twin::image_error "<name>: <reason>".
// RGB becomes grey as stb does it: (77 R + 150 G + 29 B) >> 8 (a colour JPEG gives its Y);
// read as RGB, a grey image has its grey in all three channels.
// A PNG with transparency (grey + alpha, RGBA, or a tRNS chunk) is composited over white
// paper first: grey' = (grey a + 255 (255 - a)) / 255, rounded (each channel alike in RGB).
// Dropping the alpha channel instead would read black-on-transparent ink, as signature apps
// export it, as a blank page.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "twin/error.hpp"
#include "twin/io/detail/stb_image_impl.hpp"
#include "twin/tensor.hpp"

namespace twin::io {

struct ImageLimits {
  std::uintmax_t max_file_bytes = 64 << 20;  // larger files are refused before reading
  Index max_pixels = 64 << 20;               // width * height, checked from the header
};

namespace detail {
using twin::detail::concat;

[[noreturn]] inline void image_fail(const std::string& name, const std::string& reason) {
  throw image_error(name + ": " + reason);
}

inline std::uint8_t grey_of(unsigned r, unsigned g, unsigned b) {
  return static_cast<std::uint8_t>((r * 77 + g * 150 + b * 29) >> 8);
}

inline void check_pixels(const std::string& name, Index w, Index h, const ImageLimits& lim) {
  if (w <= 0 || h <= 0) image_fail(name, concat("corrupt: image size ", w, " x ", h));
  if (w > lim.max_pixels || h > lim.max_pixels / w)
    image_fail(name, concat("too large: ", w, " x ", h, " pixels exceeds the limit of ", lim.max_pixels, " pixels"));
}

// The decoders' output: Rank 2 is grey (H, W), Rank 3 interleaved RGB (H, W, 3).
template <int Rank>
  requires(Rank == 2 || Rank == 3)
inline constexpr int channels_of = Rank == 2 ? 1 : 3;
template <int Rank>
Tensor<std::uint8_t, Rank> pixel_tensor(Index h, Index w) {
  if constexpr (Rank == 2)
    return Tensor<std::uint8_t, 2>(Shape{h, w});
  else
    return Tensor<std::uint8_t, 3>(Shape{h, w, 3});
}
// Stores the source pixel i (grey g, or r g b) as the output's pixel format.
template <int Rank>
inline void put_pixel(Tensor<std::uint8_t, Rank>& out, Index i, unsigned r, unsigned g, unsigned b) {
  if constexpr (Rank == 2) {
    out[i] = grey_of(r, g, b);
  } else {
    out[3 * i] = static_cast<std::uint8_t>(r);
    out[3 * i + 1] = static_cast<std::uint8_t>(g);
    out[3 * i + 2] = static_cast<std::uint8_t>(b);
  }
}
template <int Rank>
inline void put_grey(Tensor<std::uint8_t, Rank>& out, Index i, unsigned v) {
  if constexpr (Rank == 2)
    out[i] = static_cast<std::uint8_t>(v);
  else
    out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = static_cast<std::uint8_t>(v);
}

// Formats twin recognises but does not decode; empty when the bytes match none.
inline std::string unsupported_format(std::span<const std::uint8_t> b) {
  auto starts = [&](std::string_view s) {
    return b.size() >= s.size() && std::equal(s.begin(), s.end(), b.begin(), [](char c, std::uint8_t u) {
             return static_cast<std::uint8_t>(c) == u;
           });
  };
  if (starts("GIF87a") || starts("GIF89a")) return "GIF";
  if (starts("BM")) return "BMP";
  if (starts(std::string_view("II*\0", 4)) || starts(std::string_view("MM\0*", 4))) return "TIFF";
  if (starts("RIFF") && b.size() >= 12 && b[8] == 'W' && b[9] == 'E' && b[10] == 'B' && b[11] == 'P') return "WebP";
  if (starts("P1") || starts("P4")) return "PBM bitmap (P1/P4)";
  if (starts("P7")) return "PAM (P7)";
  if (starts("PF") || starts("Pf")) return "PFM (floating-point PNM)";
  if (starts("#?RADIANCE") || starts("#?RGBE")) return "Radiance HDR";
  if (starts("8BPS")) return "PSD";
  if (starts(std::string_view("\0\0\0\x0cjP  ", 8))) return "JPEG 2000";
  return {};
}

// ---- PNM (P2, P3, P5, P6) -------------------------------------------------------------
class PnmReader {
 public:
  PnmReader(std::span<const std::uint8_t> b, const std::string& name) : b_(b), name_(name) {}

  static bool is_space(std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

  // Skips whitespace and '#' comments (header only).
  void skip_space_and_comments() {
    for (;;) {
      while (pos_ < b_.size() && is_space(b_[pos_])) ++pos_;
      if (pos_ < b_.size() && b_[pos_] == '#') {
        while (pos_ < b_.size() && b_[pos_] != '\n' && b_[pos_] != '\r') ++pos_;
        continue;
      }
      return;
    }
  }
  // A decimal integer; at most 10 digits, so it cannot overflow.
  Index integer(const char* what, bool comments) {
    if (comments)
      skip_space_and_comments();
    else
      while (pos_ < b_.size() && is_space(b_[pos_])) ++pos_;
    if (pos_ >= b_.size()) image_fail(name_, concat("truncated: PNM ends before its ", what));
    if (b_[pos_] < '0' || b_[pos_] > '9')
      image_fail(name_, concat("corrupt: PNM ", what, " is not a number (byte ", pos_, ")"));
    Index v = 0;
    int digits = 0;
    while (pos_ < b_.size() && b_[pos_] >= '0' && b_[pos_] <= '9') {
      if (++digits > 10) image_fail(name_, concat("corrupt: PNM ", what, " has too many digits"));
      v = v * 10 + (b_[pos_++] - '0');
    }
    return v;
  }

  template <int Rank>
  Tensor<std::uint8_t, Rank> decode(const ImageLimits& lim) {
    const char kind = static_cast<char>(b_[1]);
    const bool ascii = kind == '2' || kind == '3';
    const int channels = (kind == '3' || kind == '6') ? 3 : 1;
    pos_ = 2;
    if (pos_ >= b_.size() || !(is_space(b_[pos_]) || b_[pos_] == '#'))
      image_fail(name_, "corrupt: PNM magic number not followed by whitespace");
    const Index w = integer("width", true), h = integer("height", true), maxval = integer("maxval", true);
    if (maxval < 1) image_fail(name_, "corrupt: PNM maxval is 0");
    if (maxval > 255) image_fail(name_, concat("unsupported format: 16-bit PNM (maxval ", maxval, " > 255)"));
    check_pixels(name_, w, h, lim);
    const Index samples = w * h * channels;
    auto out = pixel_tensor<Rank>(h, w);
    auto scale = [&](Index v) -> unsigned {
      if (v > maxval) image_fail(name_, concat("corrupt: PNM sample ", v, " exceeds maxval ", maxval));
      return static_cast<unsigned>(maxval == 255 ? v : (v * 255 + maxval / 2) / maxval);
    };
    std::vector<unsigned> px(static_cast<std::size_t>(channels));
    if (ascii) {
      for (Index i = 0; i < w * h; ++i) {
        for (int c = 0; c < channels; ++c) {
          skip_space_and_comments();
          if (pos_ >= b_.size())
            image_fail(name_, concat("truncated: PNM holds ", i * channels + c, " of ", samples, " samples"));
          px[static_cast<std::size_t>(c)] = scale(integer("sample", false));
        }
        if (channels == 1)
          put_grey(out, i, px[0]);
        else
          put_pixel(out, i, px[0], px[1], px[2]);
      }
    } else {
      // Exactly one whitespace byte separates maxval from the raster.
      if (pos_ >= b_.size() || !is_space(b_[pos_])) image_fail(name_, "truncated: PNM ends after its header");
      ++pos_;
      const std::size_t have = b_.size() - pos_;
      if (have < static_cast<std::size_t>(samples))
        image_fail(name_, concat("truncated: PNM needs ", samples, " pixel bytes, has ", have));
      const std::uint8_t* p = b_.data() + pos_;
      for (Index i = 0; i < w * h; ++i) {
        if (channels == 1) {
          put_grey(out, i, scale(p[i]));
        } else {
          put_pixel(out, i, scale(p[3 * i]), scale(p[3 * i + 1]), scale(p[3 * i + 2]));
        }
      }
    }
    return out;
  }

 private:
  std::span<const std::uint8_t> b_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

// ---- PNG structure ---------------------------------------------------------------------
inline std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

struct PngHeader {
  Index width = 0, height = 0;
  bool alpha = false;  // colour type 4 or 6, or a tRNS chunk
};

// Walks the chunks from the signature to IEND: a file cut anywhere is "truncated" here,
// before stb sees it. Returns IHDR's size and whether the image has transparency.
inline PngHeader check_png(std::span<const std::uint8_t> b, const std::string& name) {
  std::size_t pos = 8;
  bool first = true;
  PngHeader hdr;
  for (;;) {
    if (b.size() - pos < 12) image_fail(name, concat("truncated: PNG ends inside a chunk header at byte ", pos));
    const std::uint32_t len = be32(&b[pos]);
    const std::uint8_t* type = &b[pos + 4];
    if (len > 0x7fffffffu) image_fail(name, concat("corrupt: PNG chunk length ", len, " at byte ", pos));
    for (int i = 0; i < 4; ++i) {
      const std::uint8_t c = type[i];
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
        image_fail(name, concat("corrupt: PNG chunk type is not 4 letters at byte ", pos + 4));
    }
    if (b.size() - pos - 12 < len)
      image_fail(name, concat("truncated: PNG chunk at byte ", pos, " needs ", len, " data bytes, has ", b.size() - pos - 12));
    const std::string t(reinterpret_cast<const char*>(type), 4);
    if (first) {
      if (t != "IHDR" || len != 13) image_fail(name, "corrupt: PNG does not start with a 13-byte IHDR chunk");
      hdr.width = be32(&b[pos + 8]);
      hdr.height = be32(&b[pos + 12]);
      const std::uint8_t colour_type = b[pos + 8 + 9];
      hdr.alpha = colour_type == 4 || colour_type == 6;
      first = false;
    }
    if (t == "tRNS") hdr.alpha = true;
    pos += 12 + len;
    if (t == "IEND") return hdr;
  }
}

// ---- JPEG structure --------------------------------------------------------------------
// Validates one DHT segment's payload: table class and id, at most 256 codes, code counts
// that fit their lengths, and symbols within the ranges of 8-bit JPEG (DC categories
// 0..11, AC sizes 0..10).
// Which tables a JPEG has defined so far. stb_image 2.27 does not zero its decoder state,
// so a scan that uses a table no DHT/DQT defined would read uninitialised memory.
struct JpegTables {
  bool dc[4] = {}, ac[4] = {}, quant[4] = {};
};

inline void check_dht(std::span<const std::uint8_t> s, std::size_t at, const std::string& name, JpegTables& tables) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    if (s.size() - pos < 17) image_fail(name, concat("corrupt: JPEG Huffman table at byte ", at, " is cut short"));
    const int tc = s[pos] >> 4, th = s[pos] & 15;
    if (tc > 1 || th > 3)
      image_fail(name, concat("corrupt: JPEG Huffman table class ", tc, " id ", th, " at byte ", at));
    std::size_t n = 0;
    unsigned code = 0;  // canonical code space: at most 2^len codes of each length
    for (int len = 1; len <= 16; ++len) {
      const unsigned cnt = s[pos + static_cast<std::size_t>(len)];
      n += cnt;
      code = (code << 1) + cnt;
      if (code > (1u << len)) image_fail(name, concat("corrupt: JPEG Huffman table at byte ", at, " has invalid code lengths"));
    }
    if (n > 256) image_fail(name, concat("corrupt: JPEG Huffman table at byte ", at, " has ", n, " codes (at most 256)"));
    pos += 17;
    if (s.size() - pos < n) image_fail(name, concat("corrupt: JPEG Huffman table at byte ", at, " is cut short"));
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned v = s[pos + i];
      if (tc == 0 ? v > 11 : (v & 15) > 10)
        image_fail(name, concat("corrupt: JPEG Huffman ", tc == 0 ? "DC" : "AC", " symbol ", v, " out of range at byte ", at));
    }
    pos += n;
    (tc == 0 ? tables.dc : tables.ac)[th] = true;
  }
}

// Validates one DQT segment: 8-bit precision only (the standard requires it for 8-bit
// samples) and whole tables.
inline void check_dqt(std::span<const std::uint8_t> s, std::size_t at, const std::string& name, JpegTables& tables) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    const int pq = s[pos] >> 4, tq = s[pos] & 15;
    if (pq != 0 || tq > 3)
      image_fail(name, concat("corrupt: JPEG quantisation table precision ", pq, " id ", tq, " at byte ", at));
    if (s.size() - pos < 65) image_fail(name, concat("corrupt: JPEG quantisation table at byte ", at, " is cut short"));
    tables.quant[tq] = true;
    pos += 65;
  }
}

// Walks the markers from SOI to EOI, skipping entropy-coded data, and validates the
// tables. A file cut anywhere is "truncated" here.
inline void check_jpeg(std::span<const std::uint8_t> b, const std::string& name) {
  std::size_t pos = 2;
  bool frame = false, progressive = false, scanned = false;
  JpegTables tables;
  std::vector<std::pair<int, int>> components;  // (id, quantisation table) of the frame
  for (;;) {
    if (pos >= b.size()) image_fail(name, "truncated: JPEG ends before its end-of-image marker");
    if (b[pos] != 0xFF) image_fail(name, concat("corrupt: JPEG expected a marker at byte ", pos));
    while (pos < b.size() && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= b.size()) image_fail(name, "truncated: JPEG ends before its end-of-image marker");
    const std::uint8_t m = b[pos++];
    const std::size_t at = pos - 2;
    if (m == 0xD9) {
      if (!scanned) image_fail(name, "corrupt: JPEG has no scan");
      return;
    }
    if (m == 0xD8 || m == 0x00) image_fail(name, concat("corrupt: JPEG unexpected marker at byte ", at));
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // standalone markers
    if (b.size() - pos < 2) image_fail(name, "truncated: JPEG ends inside a segment header");
    const std::size_t len = (std::size_t{b[pos]} << 8) | b[pos + 1];
    if (len < 2) image_fail(name, concat("corrupt: JPEG segment length ", len, " at byte ", at));
    if (b.size() - pos < len) image_fail(name, concat("truncated: JPEG segment at byte ", at, " needs ", len, " bytes"));
    const auto payload = b.subspan(pos + 2, len - 2);
    if (m == 0xC4) check_dht(payload, at, name, tables);
    if (m == 0xDB) check_dqt(payload, at, name, tables);
    if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
      if (frame) image_fail(name, "corrupt: JPEG has two frame headers");
      if (payload.empty() || payload[0] != 8)
        image_fail(name, concat("unsupported format: ", payload.empty() ? 0 : int(payload[0]), "-bit JPEG (only 8-bit)"));
      if (payload.size() < 6 || payload.size() != 6 + 3 * std::size_t{payload[5]})
        image_fail(name, concat("corrupt: JPEG frame header at byte ", at));
      for (std::size_t c = 0; c < payload[5]; ++c) components.emplace_back(payload[6 + 3 * c], payload[8 + 3 * c] & 15);
      frame = true;
      progressive = m == 0xC2;
    } else if (m >= 0xC3 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
      image_fail(name, "unsupported format: lossless, hierarchical or arithmetic-coded JPEG");
    }
    pos += len;
    if (m == 0xDA) {
      if (!frame) image_fail(name, "corrupt: JPEG scan before the frame header");
      const std::size_t ns = payload.empty() ? 0 : payload[0];
      if (ns < 1 || payload.size() != 4 + 2 * ns) image_fail(name, concat("corrupt: JPEG scan header at byte ", at));
      const int ss = payload[1 + 2 * ns], ah = payload[3 + 2 * ns] >> 4;
      for (const auto& [id, tq] : components)
        if (tq > 3 || !tables.quant[tq])
          image_fail(name, concat("corrupt: JPEG component ", id, " uses quantisation table ", tq, ", never defined"));
      for (std::size_t c = 0; c < ns; ++c) {
        const int td = payload[2 + 2 * c] >> 4, ta = payload[2 + 2 * c] & 15;
        const bool need_dc = !progressive || (ss == 0 && ah == 0), need_ac = !progressive || ss > 0;
        if ((need_dc && (td > 3 || !tables.dc[td])) || (need_ac && (ta > 3 || !tables.ac[ta])))
          image_fail(name, concat("corrupt: JPEG scan at byte ", at, " uses a Huffman table that was never defined"));
      }
      scanned = true;
      // Entropy-coded data runs to the next marker other than a stuffed 0xFF00 or RSTn.
      for (;;) {
        while (pos < b.size() && b[pos] != 0xFF) ++pos;
        if (pos + 1 >= b.size()) image_fail(name, "truncated: JPEG ends inside scan data");
        const std::uint8_t n = b[pos + 1];
        if (n == 0x00 || (n >= 0xD0 && n <= 0xD7)) {
          pos += 2;
          continue;
        }
        if (n == 0xFF) {  // fill byte before a marker
          ++pos;
          continue;
        }
        break;
      }
    }
  }
}

// Decodes checked PNG/JPEG bytes with stb as grey or RGB; with `alpha`, as RGBA composited
// over white.
template <int Rank>
Tensor<std::uint8_t, Rank> stb_decode(std::span<const std::uint8_t> b, const std::string& name, const char* fmt,
                                      const ImageLimits& lim, bool alpha = false) {
  if (b.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    image_fail(name, "too large: more bytes than stb_image can address");
  const int n = static_cast<int>(b.size());
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(b.data(), n, &w, &h, &comp))
    image_fail(name, concat("corrupt: ", fmt, " header (", stbi_failure_reason(), ")"));
  check_pixels(name, w, h, lim);
  stb_assert_failed = false;
  const int want = alpha ? 4 : channels_of<Rank>;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(b.data(), n, &w, &h, &comp, want), stbi_image_free);
  if (stb_assert_failed) image_fail(name, concat("corrupt: ", fmt, " data (decoder consistency check failed)"));
  if (!px) image_fail(name, concat("corrupt: ", fmt, " data (", stbi_failure_reason(), ")"));
  check_pixels(name, w, h, lim);
  auto out = pixel_tensor<Rank>(h, w);
  const std::ptrdiff_t count = static_cast<std::ptrdiff_t>(w) * h;
  if (!alpha) {
    std::copy(px.get(), px.get() + count * channels_of<Rank>, out.begin());
    return out;
  }
  const stbi_uc* p = px.get();
  auto over_white = [](unsigned v, unsigned a) { return (v * a + 255u * (255u - a) + 127u) / 255u; };
  for (std::ptrdiff_t i = 0; i < count; ++i, p += 4) {
    const unsigned a = p[3];
    if constexpr (Rank == 2)
      out[i] = static_cast<std::uint8_t>(over_white(grey_of(p[0], p[1], p[2]), a));
    else
      put_pixel(out, i, over_white(p[0], a), over_white(p[1], a), over_white(p[2], a));
  }
  return out;
}

// Both pixel formats: the checks, then the decoder of the format the bytes are in.
template <int Rank>
Tensor<std::uint8_t, Rank> decode_as(std::span<const std::uint8_t> bytes, const std::string& name, const ImageLimits& limits) {
  if (bytes.empty()) image_fail(name, "empty file");
  if (bytes.size() > limits.max_file_bytes)
    image_fail(name, concat("too large: ", bytes.size(), " bytes exceeds the limit of ", limits.max_file_bytes, " bytes"));
  static constexpr std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (bytes.size() >= 8 && std::equal(png_sig, png_sig + 8, bytes.begin())) {
    const PngHeader hdr = check_png(bytes, name);
    check_pixels(name, hdr.width, hdr.height, limits);
    return stb_decode<Rank>(bytes, name, "PNG", limits, hdr.alpha);
  }
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    check_jpeg(bytes, name);
    return stb_decode<Rank>(bytes, name, "JPEG", limits);
  }
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '2' || bytes[1] == '3' || bytes[1] == '5' || bytes[1] == '6'))
    return PnmReader(bytes, name).decode<Rank>(limits);
  if (const std::string f = unsupported_format(bytes); !f.empty())
    image_fail(name, "unsupported format: " + f + " (twin reads PNG, JPEG and PGM/PPM)");
  // Prefixes of a known signature are short files cut inside the magic number.
  if (bytes.size() < 8 && (std::equal(bytes.begin(), bytes.end(), png_sig) ||
                           (bytes[0] == 0xFF && (bytes.size() == 1 || bytes[1] == 0xD8))))
    image_fail(name, "truncated: file ends inside the signature");
  image_fail(name, "not an image: no PNG, JPEG or PNM signature");
}

// The bytes of an image file; its size is checked before anything is read.
inline std::vector<std::uint8_t> read_image_file(const std::filesystem::path& path, const ImageLimits& limits) {
  namespace fs = std::filesystem;
  const std::string name = path.string();
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) image_fail(name, "missing: no such file");
  if (!fs::is_regular_file(st)) image_fail(name, "not a regular file");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) image_fail(name, "unreadable: " + ec.message());
  if (size == 0) image_fail(name, "empty file");
  if (size > limits.max_file_bytes)
    image_fail(name, concat("too large: ", size, " bytes exceeds the limit of ", limits.max_file_bytes, " bytes"));
  std::ifstream in(path, std::ios::binary);
  if (!in) image_fail(name, "unreadable: cannot open");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) image_fail(name, "unreadable: short read (file changed?)");
  return bytes;
}
}  // namespace detail

// Decodes an in-memory PNG, JPEG or PGM/PPM as 8-bit grey (H, W); `name` appears in errors.
inline Tensor<std::uint8_t, 2> decode_image(std::span<const std::uint8_t> bytes, const std::string& name,
                                            const ImageLimits& limits = {}) {
  return detail::decode_as<2>(bytes, name, limits);
}
// The same as interleaved 8-bit RGB (H, W, 3); a grey image fills all three channels.
inline Tensor<std::uint8_t, 3> decode_image_rgb(std::span<const std::uint8_t> bytes, const std::string& name,
                                                const ImageLimits& limits = {}) {
  return detail::decode_as<3>(bytes, name, limits);
}

// Reads and decodes an image file as grey (H, W); the file size is checked before anything
// is read.
inline Tensor<std::uint8_t, 2> load_image(const std::filesystem::path& path, const ImageLimits& limits = {}) {
  return decode_image(detail::read_image_file(path, limits), path.string(), limits);
}
// The same as RGB (H, W, 3).
inline Tensor<std::uint8_t, 3> load_image_rgb(const std::filesystem::path& path, const ImageLimits& limits = {}) {
  return decode_image_rgb(detail::read_image_file(path, limits), path.string(), limits);
}

}  // namespace twin::io

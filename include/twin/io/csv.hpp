#pragma once
// CSV as people write it (RFC 4180 plus what spreadsheets add): an optional UTF-8 byte-order
// mark, LF or CRLF line ends, fields separated by commas, a field in double quotes may hold
// commas and doubled quotes (""), spaces around a field are dropped. Blank lines and lines
// whose first character is '#' are skipped. A quoted field cannot span lines.
//
//   for (const auto& row : twin::io::parse_csv(text, "pairs.csv"))
//     use(row.line, row.fields);
//
// Every error is a twin::io_error "NAME:LINE: reason"; a quoted excerpt of the input is cut
// to a few dozen characters, with control bytes shown as \xNN, so a binary or 5 MB line
// gives a one-line message.
#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "twin/error.hpp"

namespace twin::io {

struct CsvRow {
  int line = 0;  // 1-based line number in the file
  std::vector<std::string> fields;
};

inline constexpr std::size_t csv_max_line_bytes = 64 * 1024;

// `s` quoted for a message: at most `max` characters, non-printable bytes as \xNN.
inline std::string quoted_excerpt(std::string_view s, std::size_t max = 60) {
  std::string out = "'";
  std::size_t shown = 0;
  for (const char c : s) {
    if (shown == max) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", u);
      out += b;
    } else {
      out += c;
    }
    ++shown;
  }
  return out + "'";
}

inline std::vector<CsvRow> parse_csv(std::string_view text, const std::string& name) {
  auto fail = [&](int line, const std::string& why) {
    throw io_error(name + ":" + std::to_string(line) + ": " + why);
  };
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<CsvRow> rows;
  int line = 0;
  while (!text.empty()) {
    ++line;
    const std::size_t nl = text.find('\n');
    std::string_view l = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.size() > csv_max_line_bytes)
      fail(line, "line is " + std::to_string(l.size()) + " bytes long (at most " + std::to_string(csv_max_line_bytes) +
                     "): " + quoted_excerpt(l));
    if (const auto z = l.find('\0'); z != std::string_view::npos)
      fail(line, "holds a NUL byte at column " + std::to_string(z + 1) + ": " + quoted_excerpt(l));
    const std::size_t first = l.find_first_not_of(" \t");
    if (first == std::string_view::npos || l[first] == '#') continue;

    CsvRow row;
    row.line = line;
    std::size_t i = 0;
    for (;;) {
      while (i < l.size() && (l[i] == ' ' || l[i] == '\t')) ++i;
      std::string field;
      if (i < l.size() && l[i] == '"') {
        const std::size_t open = i++;
        for (;;) {
          if (i >= l.size())
            fail(line, "quoted field opened at column " + std::to_string(open + 1) + " is not closed: " + quoted_excerpt(l));
          if (l[i] == '"') {
            if (i + 1 < l.size() && l[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          field += l[i++];
        }
        while (i < l.size() && (l[i] == ' ' || l[i] == '\t')) ++i;
        if (i < l.size() && l[i] != ',')
          fail(line, "text after the closing quote at column " + std::to_string(i + 1) + ": " + quoted_excerpt(l));
      } else {
        const std::size_t end = std::min(l.find(',', i), l.size());
        std::string_view f = l.substr(i, end - i);
        while (!f.empty() && (f.back() == ' ' || f.back() == '\t')) f.remove_suffix(1);
        if (f.find('"') != std::string_view::npos)
          fail(line, "a quote inside an unquoted field (quote the whole field and double the quote): " + quoted_excerpt(l));
        field = f;
        i = end;
      }
      row.fields.push_back(std::move(field));
      if (i >= l.size()) break;
      ++i;  // the comma
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace twin::io

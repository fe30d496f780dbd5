#pragma once
// CSV as people write it (RFC 4180 plus what spreadsheets add): an optional UTF-8 byte-order
// mark, LF or CRLF line ends, fields separated by commas, a field in double quotes may hold
// commas and doubled quotes (""), spaces around a field are dropped. Blank lines and lines
// whose first character is '#' are skipped. A quoted field cannot span lines.
//
// Every error is a twin::io_error "NAME:LINE: reason"; a quoted excerpt of the input is cut
// to a few dozen characters, with control bytes shown as \xNN, so a binary or 5 MB line
// gives a one-line message.
#include <string>
#include <string_view>
#include <vector>

namespace sigver {

struct CsvRow {
  int line = 0;  // 1-based line number in the file
  std::vector<std::string> fields;
};

inline constexpr std::size_t csv_max_line_bytes = 64 * 1024;

std::vector<CsvRow> parse_csv(std::string_view text, const std::string& name);

// `s` quoted for a message: at most `max` characters, non-printable bytes as \xNN.
std::string excerpt(std::string_view s, std::size_t max = 60);

}  // namespace sigver

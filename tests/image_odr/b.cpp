#include <twin/io/image.hpp>

int decode_in_b() {
  const unsigned char pgm[] = {'P', '5', ' ', '1', ' ', '1', ' ', '2', '5', '5', '\n', 9};
  return twin::io::decode_image(std::span(pgm, sizeof pgm), "b.pgm")[0];
}

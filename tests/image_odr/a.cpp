// Two translation units that both include twin/io/image.hpp (each compiles its own static
// copy of stb_image) and a third that compiles stb_image the ordinary, external-linkage way:
// the program must link without duplicate symbols.
#include <twin/io/image.hpp>

int decode_in_b();

int main() {
  const unsigned char pgm[] = {'P', '5', ' ', '1', ' ', '1', ' ', '2', '5', '5', '\n', 7};
  const auto img = twin::io::decode_image(std::span(pgm, sizeof pgm), "a.pgm");
  return img[0] == 7 && decode_in_b() == 9 ? 0 : 1;
}

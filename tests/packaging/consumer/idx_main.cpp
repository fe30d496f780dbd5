// A consumer of twin::idx: writes a two-image idx file and reads it back.
#include <twin/io/idx.hpp>

#include <cstdio>
#include <fstream>

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "two.idx3";
  const unsigned char bytes[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 255, 51, 102};
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes), sizeof bytes);
  const auto x = twin::io::read_idx_images(path);  // (2, 1, 1, 2)
  if (x.dim(0) != 2 || x[1] != 1.0f || x[2] != 0.2f) return 1;
  std::printf("idx ok, %td images of %tdx%td\n", x.dim(0), x.dim(2), x.dim(3));
  return 0;
}

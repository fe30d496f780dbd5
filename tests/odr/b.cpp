#include <twin/twin.hpp>

int twin_odr_b() {
  twin::Sequential<float> net;
  net.add(twin::Dense{.in = 2, .out = 1});
  net.init(1);
  return twin::version_major;
}

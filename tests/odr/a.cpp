// Two translation units include the umbrella header: a function defined in a header
// without `inline` makes the link fail.
#include <twin/twin.hpp>

int twin_odr_b();
int main() { return twin_odr_b() == twin::version_major ? 0 : 1; }

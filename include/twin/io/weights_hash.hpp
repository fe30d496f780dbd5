#pragma once
// A fingerprint of a network's weights: FNV-1a (64 bits) over every tensor's name, shape and
// values, as "fnv1a64:<16 hex digits>". Stored beside embeddings (twin/io/gallery.hpp), it
// keeps embeddings made with one model from being compared with another's (same
// architecture or not). It detects another model, not a forger: FNV is no cryptographic hash.
//
//   const std::string h = twin::io::weights_hash(net);
#include <cstdint>
#include <cstdio>
#include <string>

#include "twin/graph.hpp"

namespace twin::io {

inline std::string weights_hash(const Graph<float>& net) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  for (const auto& nt : net.named_tensors()) {
    mix(nt.name.data(), nt.name.size() + 1);
    for (Index d : nt.shape) mix(&d, sizeof d);
    const float* base = nt.trainable ? net.params().data() : net.buffers().data();
    mix(base + nt.offset, static_cast<std::size_t>(nt.shape.numel()) * sizeof(float));
  }
  char b[32];
  std::snprintf(b, sizeof b, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return b;
}

}  // namespace twin::io

#pragma once
// Forwards the old path of the examples' data-folder search, which is no longer part of the
// library, for an example that still includes it; new code includes <data_dir.hpp> and calls
// twin_examples::find_data_dir.
#include "../../../data_dir.hpp"

namespace twin::io {
using twin_examples::find_data_dir;
}  // namespace twin::io

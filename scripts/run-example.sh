#!/usr/bin/env bash
# The README's main job: installs what is missing, builds the examples (-O3 -march=native)
# and runs the default example on the shared data. Extra arguments go to the example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release -DTWIN_BUILD_EXAMPLES=ON -DTWIN_BUILD_TESTS=OFF -DTWIN_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build --preset release -j"$(nproc)" --target mnist_demo
exec build/release/examples/mnist_demo "$@"

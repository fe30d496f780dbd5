#!/usr/bin/env bash
# The README's test command: installs what is missing and fetches the pretrained face
# models, then builds and runs the whole test suite twice, as a Release build and under
# AddressSanitizer + UBSan, then the concurrency test (tests/test_concurrency.cpp) alone
# under ThreadSanitizer, then fuzzes the file readers briefly (scripts/fuzz.sh;
# TWIN_FUZZ_SECONDS per target, default 20).
#   scripts/test.sh            both builds
#   scripts/test.sh --quick    the Release build only
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --face
# The pretrained face models (npm registry, checked by SHA-256, cached outside the tree) and
# the reference runner; without them the face_api_* tests report SKIPPED.
scripts/fetch-face-models.sh --runner >/dev/null ||
  echo "test.sh: could not fetch the face models; their tests will be SKIPPED" >&2
jobs=$(nproc)

# Benchmarks are measuring tools, not tests, and CI does not compile them (docs/performance.md
# says how to build and run them); -O3 -march=native benchmark builds cost minutes on 2 cores.
cmake --preset release -DTWIN_BUILD_TESTS=ON -DTWIN_BUILD_EXAMPLES=ON -DTWIN_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build --preset release -j"$jobs"
ctest --preset release -j"$jobs"

if [[ "${1:-}" != "--quick" ]]; then
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset asan -j"$jobs"
  # The thread pool and execution contexts under ThreadSanitizer: one small executable (about
  # a minute to build and run on 2 cores); the test's deadlines and ctest's TIMEOUT bound it.
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j"$jobs"
  ctest --preset tsan
  # A short fuzz run of the file readers (image, safetensors) and the signature example's two
  # parsers (enrolment store, pairs CSV): scripts/fuzz.sh says how long each runs.
  if command -v clang++ >/dev/null || command -v clang++-14 >/dev/null; then
    scripts/fuzz.sh "${TWIN_FUZZ_SECONDS:-20}"
  else
    echo "test.sh: clang++ not found, skipping the fuzz run (apt-get install clang libclang-rt-14-dev)" >&2
  fi
fi

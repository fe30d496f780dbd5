#!/usr/bin/env bash
# Packaging test: installs twin into a scratch prefix and builds a consumer against it with
# find_package, then through add_subdirectory and FetchContent; each consumer must run.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:?usage: run.sh WORKDIR}
rm -rf "$work" && mkdir -p "$work"
cmake -S "$src" -B "$work/twin-build" -DTWIN_BUILD_TESTS=OFF -DTWIN_BUILD_EXAMPLES=OFF -DTWIN_BUILD_BENCHMARKS=OFF >/dev/null
cmake --install "$work/twin-build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/twin/twin.hpp"
for how in find_package add_subdirectory FetchContent; do
  cmake --no-warn-unused-cli -S "$src/tests/packaging/consumer" -B "$work/$how" -DTWIN_CONSUME=$how -DTWIN_SOURCE="$src" \
        -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null  # no build type: -O0 compiles fastest
  cmake --build "$work/$how" >/dev/null
  echo "$how: $("$work/$how/consumer")"
done
# Below 1.0 a different minor version is incompatible (SameMinorVersion): it must be refused.
if cmake --no-warn-unused-cli -S "$src/tests/packaging/consumer" -B "$work/wrong" -DTWIN_CONSUME=find_package \
     -DTWIN_WANT=0.2 -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null 2>&1; then
  echo "find_package(twin 0.2) accepted version $(grep -o 'VERSION_MAJOR [0-9]*' "$src/include/twin/version.hpp")" >&2
  exit 1
fi
echo "find_package(twin 0.2): refused, as it should be"

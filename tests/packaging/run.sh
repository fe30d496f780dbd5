#!/usr/bin/env bash
# Packaging test: installs twin into a scratch prefix and builds consumers against it with
# find_package (asking for the idx component), then through add_subdirectory and
# FetchContent; each consumer must run. The version comes from include/twin/version.hpp.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:?usage: run.sh WORKDIR}
version_part() { sed -n "s/^#define TWIN_VERSION_$1 \([0-9][0-9]*\).*/\1/p" "$src/include/twin/version.hpp"; }
major=$(version_part MAJOR) minor=$(version_part MINOR)
[[ -n "$major" && -n "$minor" ]] || { echo "cannot read the version from include/twin/version.hpp" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"
cmake -S "$src" -B "$work/twin-build" -DTWIN_BUILD_TESTS=OFF -DTWIN_BUILD_EXAMPLES=OFF -DTWIN_BUILD_BENCHMARKS=OFF >/dev/null
cmake --install "$work/twin-build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/twin/twin.hpp"
test ! -e "$work/prefix/include/twin/io/data_dir.hpp"  # the examples' data search is not installed
consume() {  # consume NAME CMAKE-ARGS...: configure must succeed
  cmake --no-warn-unused-cli -S "$src/tests/packaging/consumer" -B "$work/$1" -DTWIN_SOURCE="$src" \
        -DCMAKE_PREFIX_PATH="$work/prefix" "${@:2}" >/dev/null  # no build type: -O0 compiles fastest
}
for how in find_package add_subdirectory FetchContent; do
  consume "$how" -DTWIN_CONSUME=$how -DTWIN_WANT="$major.$minor" -DTWIN_COMPONENTS=idx
  cmake --build "$work/$how" >/dev/null
  echo "$how: $("$work/$how/consumer"); $("$work/$how/consumer_idx" "$work/$how/two.idx3")"
done
# Below 1.0 a different minor version is incompatible (SameMinorVersion): it must be refused,
# and so must a component twin does not have.
wrong="$major.$((minor + 1))"
if consume wrong -DTWIN_CONSUME=find_package -DTWIN_WANT="$wrong" 2>/dev/null; then
  echo "find_package(twin $wrong) accepted version $major.$minor" >&2
  exit 1
fi
echo "find_package(twin $wrong): refused, as it should be"
if consume bogus -DTWIN_CONSUME=find_package -DTWIN_WANT="$major.$minor" -DTWIN_COMPONENTS=bogus 2>/dev/null; then
  echo "find_package(twin COMPONENTS bogus) accepted" >&2
  exit 1
fi
echo "find_package(twin COMPONENTS bogus): refused, as it should be"

#!/usr/bin/env bash
# The optional component, installed: find_package(twin COMPONENTS mpi) gives twin::mpi, and a
# consumer built with it runs under mpirun; an unknown component is refused.
#   packaging.sh WORKDIR MPIRUN [MPIRUN ARGS...]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$1
shift
rm -rf "$work" && mkdir -p "$work"
cmake -S "$src" -B "$work/twin-build" -DTWIN_BUILD_TESTS=OFF -DTWIN_BUILD_EXAMPLES=OFF -DTWIN_BUILD_BENCHMARKS=OFF >/dev/null
cmake --install "$work/twin-build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/share/cmake/twin/twinMpiTargets.cmake"
cmake -S "$src/tests/mpi/consumer" -B "$work/consumer" -DTWIN_COMPONENTS=mpi -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$@" "$work/consumer/consumer"
if cmake -S "$src/tests/mpi/consumer" -B "$work/unknown" -DTWIN_COMPONENTS="mpi;nosuch" \
     -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/unknown.log" 2>&1; then
  echo "packaging: find_package(twin COMPONENTS nosuch) was accepted" >&2
  exit 1
fi
grep -q "no component 'nosuch'" "$work/unknown.log" || { cat "$work/unknown.log" >&2; exit 1; }
echo "packaging: find_package(twin COMPONENTS mpi) works; an unknown component is refused"

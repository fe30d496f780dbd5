#!/usr/bin/env bash
# The compile CPU of each translation unit and link of a build, for deciding where the test
# suite's time goes (docs/roadmap.md, "Test-suite time"). Configures a fresh build folder with
# a compiler launcher that logs user CPU seconds, wall seconds and the output file of every
# compiler call, builds it with one job, and prints the calls by CPU, then the total.
# TARGET=name builds that target only.
#   scripts/compile-cpu.sh DIR [cmake options...]
#   scripts/compile-cpu.sh build/cpu-release -DCMAKE_BUILD_TYPE=Release -DTWIN_BUILD_TESTS=ON \
#       -DTWIN_BUILD_EXAMPLES=ON -DTWIN_BUILD_BENCHMARKS=OFF
#   scripts/compile-cpu.sh build/cpu-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
#       "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O0 -g1 -DNDEBUG" -DTWIN_SANITIZE=ON \
#       -DTWIN_BUILD_EXAMPLES=OFF -DTWIN_BUILD_BENCHMARKS=OFF
set -euo pipefail
if [[ "${1:-}" == --log ]]; then  # the launcher: --log LOGFILE compiler args...
  log=$2
  shift 2
  out="" prev=""
  for a in "$@"; do
    [[ "$prev" == -o ]] && out=$a
    prev=$a
  done
  exec /usr/bin/time -f "%U %e $out" -a -o "$log" "$@"
fi
dir=${1:?usage: compile-cpu.sh DIR [cmake options...]}
shift
src=$(cd "$(dirname "$0")/.." && pwd)
[[ -x /usr/bin/time ]] || { echo "compile-cpu.sh: needs /usr/bin/time (Debian package time)" >&2; exit 2; }
rm -rf "$dir" && mkdir -p "$dir"
log="$dir/compile-cpu.log"
launcher="$src/scripts/compile-cpu.sh;--log;$log"
cmake -S "$src" -B "$dir" "$@" -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" -DCMAKE_CXX_LINKER_LAUNCHER="$launcher" >/dev/null
cmake --build "$dir" -j1 ${TARGET:+--target "$TARGET"} >/dev/null
touch "$log"  # a build with nothing to compile (the library alone is header-only)
sort -rn "$log" | sed "s|$dir/||"
awk '{s += $1} END {printf "total: %.1f s of user CPU in %d calls\n", s, NR}' "$log"

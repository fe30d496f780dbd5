#!/usr/bin/env bash
# Builds twin's libFuzzer targets with clang (ASan + UBSan) and runs them, as many at a time
# as there are cores (each on one): the library's file readers (image, safetensors) for
# DURATION seconds each, the two small text parsers (enrollments: the enrolment store, twin/io/gallery.hpp; pairs_csv:
# the pairs file, twin/io/pairs_csv.hpp) for a quarter of it each (their grammars are small and saturate fast).
#   scripts/fuzz.sh 300             image and safetensors 5 minutes each, the parsers 75 s each
#   scripts/fuzz.sh 20 image        only fuzz_image
# Seeds come from tests/fuzz/corpus/<target> (and the test fixtures); new interesting inputs
# go to build/fuzz/corpus-<target> (kept between runs, never committed). A crash leaves
# build/fuzz/artifacts/<target>/crash-*: fix it, then copy the file to
# tests/data/fuzz-regressions/<target>/ where tests/test_fuzz_regressions.cpp replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-60}"
only="${2:-}"
out="${FUZZ_BUILD_DIR:-build/fuzz}"
cxx="${FUZZ_CXX:-$(command -v clang++ || command -v clang++-14 || true)}"
if [[ -z "$cxx" ]]; then
  echo "fuzz.sh: clang++ not found; libFuzzer needs clang (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
mkdir -p "$out"
# Every UBSan check stops the run except two known arithmetic ones inside stb_image 2.27,
# which tests/fuzz/ubsan.supp silences there only.
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -fsanitize-recover=shift-exponent,signed-integer-overflow -fno-omit-frame-pointer -Iinclude -I/usr/include/eigen3)
targets=()
for target in image safetensors enrollments pairs_csv; do
  [[ -n "$only" && "$only" != "$target" ]] && continue
  [[ -f "tests/fuzz/fuzz_${target}.cpp" ]] && targets+=("$target")
done
# Build the stale fuzzers in parallel (one compiler per core), then run them one at a time.
stale=()
for target in "${targets[@]}"; do
  src="tests/fuzz/fuzz_${target}.cpp" bin="$out/fuzz_${target}"
  if [[ ! -x "$bin" || "$src" -nt "$bin" || scripts/fuzz.sh -nt "$bin" ||
        -n "$(find include -newer "$bin" \( -name '*.hpp' -o -name '*.cpp' \) -print -quit)" ]]; then
    stale+=("$target")
  fi
done
if ((${#stale[@]})); then
  echo "fuzz.sh: building ${stale[*]}"
  printf '%s\n' "${stale[@]}" |
    xargs -P "$(nproc)" -I{} "$cxx" "${flags[@]}" "tests/fuzz/fuzz_{}.cpp" -o "$out/fuzz_{}"
fi
run_one() {  # run_one TARGET: fuzz it, print its summary; fails when the fuzzer found something
  local target=$1
  local bin="$out/fuzz_${target}"
  local corpus="$out/corpus-$target"
  local artifacts="$out/artifacts/$target/"
  mkdir -p "$corpus" "$artifacts"
  local seeds=("tests/fuzz/corpus/$target")
  [[ "$target" == image ]] && seeds+=(tests/data/images)
  [[ -d "tests/data/fuzz-regressions/$target" ]] && seeds+=("tests/data/fuzz-regressions/$target")
  local dict=()
  [[ -f "tests/fuzz/$target.dict" ]] && dict=(-dict="tests/fuzz/$target.dict")
  local seconds="$duration"
  [[ "$target" == enrollments || "$target" == pairs_csv ]] && seconds=$(( (duration + 3) / 4 ))
  echo "fuzz.sh: running $target for ${seconds}s"
  local log="$out/fuzz_${target}.log"
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions="$PWD/tests/fuzz/ubsan.supp" \
     "$bin" "$corpus" "${seeds[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
     -max_len=65536 "${dict[@]}" -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1; then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs" "$log" | sed "s/^/  $target: /"
  else
    echo "fuzz.sh: $target FAILED; see $log and $artifacts" >&2
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5 >&2
    return 1
  fi
}
# Batches of nproc fuzzers side by side; the long ones (image, safetensors) come first, so on
# two cores the run takes DURATION + DURATION / 4 seconds.
status=0
cores=$(nproc)
for ((i = 0; i < ${#targets[@]}; i += cores)); do
  pids=()
  for target in "${targets[@]:i:cores}"; do
    run_one "$target" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
done
exit $status

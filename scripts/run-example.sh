#!/usr/bin/env bash
# The README's main job: installs what is missing, builds the examples (-O3 -march=native)
# and runs the signature-verification example on the shared data (../shared/data/cedar, or
# $TWIN_DATA/cedar): `train` on 40 writers (5 validation writers choose the threshold),
# then `eval` on 10 held-out writers, printing the metrics and writing an HTML report.
# Extra arguments go to `train` (e.g. --quick, --data DIR, --epochs N).
# Outputs: build/release/signature_run/{signature_model.safetensors,metrics.json,signature_report.html}
# (examples/mnist_demo is still built by the release preset: build/release/examples/mnist_demo.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release -DTWIN_BUILD_EXAMPLES=ON -DTWIN_BUILD_TESTS=OFF -DTWIN_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build --preset release -j"$(nproc)" --target signature_verification
exe="$PWD/build/release/examples/signature_verification/signature_verification"
mkdir -p build/release/signature_run
cd build/release/signature_run
data=()  # eval reads the same data folder as train
fresh=(--overwrite)  # each run of this script starts afresh, unless asked to --resume
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ "${args[i]}" == "--data" && $((i + 1)) -lt ${#args[@]} ]] && data=(--data "${args[i + 1]}")
  [[ "${args[i]}" == "--resume" || "${args[i]}" == "--overwrite" ]] && fresh=()
done
"$exe" train --model signature_model.safetensors "${fresh[@]}" "$@"
"$exe" eval --model signature_model.safetensors "${data[@]}" --json metrics.json --report signature_report.html
echo "report: $PWD/signature_report.html"

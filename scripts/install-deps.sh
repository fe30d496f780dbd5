#!/usr/bin/env bash
# Installs every Debian package twin's build, tests, examples and benchmarks need, and only
# the ones missing (a no-op on a machine that has them). Both README commands call it.
#   scripts/install-deps.sh           build + tests + examples
#   scripts/install-deps.sh --bench   also PyTorch (with OpenBLAS), ONNX, node and npm for bench/compare_pytorch.py
#   scripts/install-deps.sh --face    also node, npm and chromium for the pretrained face models
#                                     (scripts/fetch-face-models.sh) and their reference tests
set -euo pipefail
pkgs=(build-essential cmake pkg-config libeigen3-dev libstb-dev doctest-dev libbenchmark-dev libcli11-dev
      nlohmann-json3-dev zlib1g-dev clang libclang-rt-14-dev python3 python3-numpy
      libopenmpi-dev openmpi-bin libonnx-dev libprotobuf-dev)
if [[ "${1:-}" == "--bench" ]]; then pkgs+=(python3-torch python3-matplotlib libopenblas0-pthread python3-onnx nodejs npm); fi
optional=()  # wanted, but their tests skip without them: a failed install only warns
if [[ "${1:-}" == "--face" ]]; then optional+=(nodejs npm chromium); fi
absent() {  # the packages among "$@" that are not installed
  for p in "$@"; do
    # node and npm may come from elsewhere (NodeSource's nodejs bundles npm and conflicts with
    # Debian's npm package): a working command is enough.
    [[ ( "$p" == nodejs && -x "$(command -v node)" ) || ( "$p" == npm && -x "$(command -v npm)" ) ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing < <(absent "${pkgs[@]}")
mapfile -t missing_optional < <(absent "${optional[@]}")
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
if ((${#missing[@]} + ${#missing_optional[@]})); then $SUDO apt-get update -qq; fi
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ((${#missing_optional[@]})); then
  echo "install-deps: installing ${missing_optional[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_optional[@]}" >/dev/null ||
    echo "install-deps: could not install ${missing_optional[*]}; the tests that need them will be SKIPPED" >&2
fi

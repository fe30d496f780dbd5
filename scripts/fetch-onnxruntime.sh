#!/usr/bin/env bash
# Fetches ONNX Runtime for the benchmarks' ONNX Runtime column (bench/compare_pytorch.py):
# the npm package onnxruntime-node, which ships the native library for linux-x64, and its
# one runtime dependency onnxruntime-common, at a pinned version, checked by the SHA-256 of
# each package tarball, unpacked into a cache folder outside the repository:
#   scripts/fetch-onnxruntime.sh             -> ${TWIN_CACHE:-~/.cache/twin}/onnxruntime/<version>
#   scripts/fetch-onnxruntime.sh --print     prints that folder (for compare_pytorch.py)
# Needs node and npm (Debian: apt-get install nodejs npm). No install scripts run: the
# package's postinstall only fetches GPU providers, which the benchmarks do not use, and its
# build-time dependencies (tar) are not needed to load it.
set -euo pipefail
version=1.30.0
declare -A sha256=(
  [onnxruntime-node]=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
  [onnxruntime-common]=7906c439e0d3e0f4048caa23b64cdfadc0f455c377f579ce1ab2a4b778f07d5f
)
# One folder per version, so that moving the pin never replaces a library in use.
dir="${TWIN_CACHE:-$HOME/.cache/twin}/onnxruntime/$version"
if [[ "${1:-}" == "--print" ]]; then
  echo "$dir"
  exit 0
fi
for tool in node npm sha256sum tar; do
  command -v "$tool" > /dev/null || { echo "fetch-onnxruntime: $tool not found (Debian: apt-get install nodejs npm)" >&2; exit 2; }
done
mkdir -p "$dir/tarballs"
for pkg in onnxruntime-common onnxruntime-node; do
  tgz="$dir/tarballs/$pkg-$version.tgz"
  if [[ ! -f "$tgz" ]]; then
    echo "fetch-onnxruntime: downloading $pkg@$version"
    (cd "$dir/tarballs" && npm pack --silent "$pkg@$version" > /dev/null)
  fi
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [[ "$got" != "${sha256[$pkg]}" ]]; then
    echo "fetch-onnxruntime: $tgz has SHA-256 $got, expected ${sha256[$pkg]}; removed it" >&2
    rm -f "$tgz"
    exit 1
  fi
  dest="$dir/node_modules/$pkg"
  if [[ ! -f "$dest/.sha256" || "$(cat "$dest/.sha256")" != "$got" ]]; then
    rm -rf "$dest"
    mkdir -p "$dest"
    tar -xzf "$tgz" -C "$dest" --strip-components=1
    echo "$got" > "$dest/.sha256"
  fi
done
# Loading it is the test that the native library fits this machine.
(cd "$dir" && node -e "require('onnxruntime-node'); console.log('onnxruntime-node $version ready in $dir')")

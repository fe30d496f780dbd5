#!/usr/bin/env bash
# Fetches the pretrained face models of face-api (npm @vladmandic/face-api, MIT): tfjs
# weights (a *-weights_manifest.json and a .bin each) of dlib's face-recognition ResNet, the
# 68-point landmark net and the two face detectors. The package tarball and every weight file
# are checked by SHA-256; only the weight files are kept, in a cache folder outside the
# repository:
#   scripts/fetch-face-models.sh            -> ${TWIN_CACHE:-~/.cache/twin}/face-api/1.7.15/model
#   scripts/fetch-face-models.sh --print    prints that model folder
#   scripts/fetch-face-models.sh --runner   also installs what the reference runner
#                                           (tests/face_api/reference.mjs) needs: face-api's
#                                           browser bundle, the .wasm files of
#                                           @tensorflow/tfjs-backend-wasm (the tfjs version the
#                                           bundle holds) and puppeteer-core, into .../runner
# Needs node and npm (Debian: apt-get install nodejs npm). No install scripts run.
set -euo pipefail
version=1.7.15
wasm_version=4.22.0
puppeteer_version=24.43.1
package_sha256=0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031
wasm_package_sha256=5cd6f5e18657c12fb94f4ec3dcef485c8c1a9ca39f3ef1d261c1cb13c1a231c3
declare -A sha256=(
  [face_recognition_model-weights_manifest.json]=cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b
  [face_recognition_model.bin]=b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589
  [face_landmark_68_model-weights_manifest.json]=ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9
  [face_landmark_68_model.bin]=4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b
  [tiny_face_detector_model-weights_manifest.json]=5d1af4849ac48d5b985f4a9b16010c512353ddd6fcc63d50fd0bc9e9e64296e5
  [tiny_face_detector_model.bin]=b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871
  [ssd_mobilenetv1_model-weights_manifest.json]=888f744dffbc84f5f060d1f8427d9742341943a2dfaaf9205d10029b7e7a2955
  [ssd_mobilenetv1_model.bin]=2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8
)
declare -A wasm_sha256=(
  [tfjs-backend-wasm.wasm]=70a5d516060464e5269f01c74bac1772d6b8ab6cb612acf16b5cdaf61f78d892
  [tfjs-backend-wasm-simd.wasm]=77ebb28a6d34f371dbbf2086b7f2de8994acd8ea5a3cf1fa24d2c26c840cac7b
  [tfjs-backend-wasm-threaded-simd.wasm]=c052228d4bef185c27bbe59a9e029570c78bbb9f08b3cb46b597851650373de2
)
root="${TWIN_CACHE:-$HOME/.cache/twin}/face-api/$version"
dir="$root/model"
runner=0
case "${1:-}" in
  --print) echo "$dir"; exit 0 ;;
  --runner) runner=1 ;;
  "") ;;
  *) echo "usage: $0 [--print | --runner]" >&2; exit 2 ;;
esac
for tool in npm sha256sum tar; do
  command -v "$tool" > /dev/null || { echo "fetch-face-models: $tool not found (Debian: apt-get install nodejs npm)" >&2; exit 2; }
done

# Downloads one package tarball into $root/tarballs (once) and checks its SHA-256.
fetch_pack() {  # spec file expected_sha
  local tgz="$root/tarballs/$2"
  if [[ ! -f "$tgz" ]]; then
    echo "fetch-face-models: downloading $1"
    (cd "$root/tarballs" && npm pack --silent "$1" > /dev/null)
  fi
  local got
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [[ "$got" != "$3" ]]; then
    echo "fetch-face-models: $tgz has SHA-256 $got, expected $3; removed it" >&2
    rm -f "$tgz"
    exit 1
  fi
}
check_files() {  # folder, then name=sha pairs via the named array
  local folder=$1
  local -n sums=$2
  for f in "${!sums[@]}"; do
    local got
    got=$(sha256sum "$folder/$f" | cut -d' ' -f1)
    if [[ "$got" != "${sums[$f]}" ]]; then
      echo "fetch-face-models: $folder/$f has SHA-256 $got, expected ${sums[$f]}" >&2
      exit 1
    fi
  done
}

mkdir -p "$root/tarballs"
ok=1
for f in "${!sha256[@]}"; do [[ -f "$dir/$f" ]] || ok=0; done
if [[ $ok == 0 || $runner == 1 ]]; then
  fetch_pack "@vladmandic/face-api@$version" "vladmandic-face-api-$version.tgz" "$package_sha256"
fi
if [[ $ok == 0 ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tar -xzf "$root/tarballs/vladmandic-face-api-$version.tgz" -C "$tmp" package/model package/LICENSE
  check_files "$tmp/package/model" sha256
  mkdir -p "$dir"
  for f in "${!sha256[@]}"; do cp "$tmp/package/model/$f" "$dir/$f"; done
  cp "$tmp/package/LICENSE" "$dir/LICENSE"
fi
check_files "$dir" sha256
echo "fetch-face-models: face-api $version weights ready in $dir"

if [[ $runner == 1 ]]; then
  command -v node > /dev/null || { echo "fetch-face-models: node not found (Debian: apt-get install nodejs)" >&2; exit 2; }
  fetch_pack "@tensorflow/tfjs-backend-wasm@$wasm_version" "tensorflow-tfjs-backend-wasm-$wasm_version.tgz" "$wasm_package_sha256"
  r="$root/runner"
  mkdir -p "$r/wasm" "$r/dist"
  tar -xzf "$root/tarballs/vladmandic-face-api-$version.tgz" -C "$r/dist" --strip-components=2 package/dist/face-api.esm.js
  tar -xzf "$root/tarballs/tensorflow-tfjs-backend-wasm-$wasm_version.tgz" -C "$r/wasm" --strip-components=2 \
    package/dist/tfjs-backend-wasm.wasm package/dist/tfjs-backend-wasm-simd.wasm \
    package/dist/tfjs-backend-wasm-threaded-simd.wasm
  check_files "$r/wasm" wasm_sha256
  if [[ ! -f "$r/node_modules/puppeteer-core/package.json" ]]; then
    echo "fetch-face-models: installing puppeteer-core@$puppeteer_version into $r"
    (cd "$r" && [[ -f package.json ]] || echo '{"private": true}' > package.json
     cd "$r" && npm install --silent --ignore-scripts --no-audit --no-fund "puppeteer-core@$puppeteer_version" > /dev/null)
  fi
  echo "fetch-face-models: reference runner ready in $r"
fi

#!/bin/sh
# onnx_export writes the D2 signature tower, onnx_run runs it on a batch of 2 and must
# write a (2, 128) float32 .npy. The input is written here as .npy by hand (no numpy needed).
set -eu
export_tool=$1 run_tool=$2 dir=$3
mkdir -p "$dir"
"$export_tool" signature_tower --shape 1,40,60 --seed 3 --output "$dir/tower.onnx"
# A (2, 1, 40, 60) float32 .npy of zeros: 10-byte preamble + header padded to 64 bytes.
python3 - "$dir/x.npy" <<'PY' 2>/dev/null || {
import sys, struct
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 40, 60), }"
h += ' ' * ((64 - (10 + len(h) + 1) % 64) % 64) + '\n'
open(sys.argv[1], 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + bytes(4 * 2 * 40 * 60))
PY
  echo "tools_smoke: python3 is needed to write the input"; exit 77; }
"$run_tool" "$dir/tower.onnx" --input "$dir/x.npy" --output "$dir/y.npy" --threads 2 | tee "$dir/run.txt"
grep -q "(2, 1, 40, 60) -> (2, 128)" "$dir/run.txt"
head -c 128 "$dir/y.npy" | grep -q "'shape': (2, 128)"
echo "tools_smoke: ok"

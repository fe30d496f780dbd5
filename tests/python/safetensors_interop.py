#!/usr/bin/python3
"""twin <-> numpy/PyTorch safetensors interop, run by the safetensors_python ctest.

1. Writes torch_style.safetensors by hand in PyTorch's convention (the safetensors package is
   not a Debian package): the state_dict of nn.Sequential(Linear(3, 4), ReLU(), Linear(4, 2)),
   F32, header padded with spaces to 8 bytes, __metadata__ {"format": "pt"}, data ordered as
   safetensors.torch.save_file orders it (by dtype size, then name).
2. Runs the twin test binary, which loads that file and writes twin.safetensors.
3. Reads twin.safetensors with a ten-line numpy reader and checks every value.
Value i of tensor k (in name order) is k + i / 100.
usage: safetensors_interop.py TEST_BINARY WORK_DIR
"""
import json, os, struct, subprocess, sys
import numpy as np

SHAPES = {"0.weight": (4, 3), "0.bias": (4,), "2.weight": (2, 4), "2.bias": (2,)}

def expected(k, shape):
    return (k + np.arange(int(np.prod(shape))) / 100.0).astype(np.float32).reshape(shape)

def read_safetensors(path):  # the ten-line numpy reader
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    dt = {"F32": "<f4", "F64": "<f8"}
    return meta, {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=dt[v["dtype"]]).reshape(v["shape"])
                  for k, v in header.items()}

def write_torch_style(path):
    tensors = {name: expected(k, SHAPES[name]) for k, name in enumerate(sorted(SHAPES))}
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):  # all F32: the dtype-size key ties, so name order
        b = tensors[name].tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))

def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    write_torch_style(os.path.join(work, "torch_style.safetensors"))
    env = dict(os.environ, TWIN_INTEROP_DIR=work)
    r = subprocess.run([binary, "--test-case=safetensors interop with python"], env=env)
    if r.returncode != 0:
        sys.exit("twin failed to load the PyTorch-convention file")
    meta, tensors = read_safetensors(os.path.join(work, "twin.safetensors"))
    assert meta["format"] == "twin-model", meta
    assert sorted(tensors) == sorted(SHAPES), sorted(tensors)
    for k, name in enumerate(sorted(SHAPES)):
        np.testing.assert_array_equal(tensors[name], expected(k, SHAPES[name]))
    print("numpy read twin's file:", {k: v.shape for k, v in tensors.items()}, "arch:", meta["architecture"].strip().splitlines())

if __name__ == "__main__":
    main()

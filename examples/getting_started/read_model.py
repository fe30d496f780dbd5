#!/usr/bin/python3
"""Reads a twin model file with numpy alone: safetensors is an 8-byte header length, a JSON
header, then the raw little-endian tensors.   usage: read_model.py MODEL.safetensors"""
import json, struct, sys
import numpy as np

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    dtype = {"F32": "<f4", "F64": "<f8"}
    return meta, {name: np.frombuffer(data[t["data_offsets"][0]:t["data_offsets"][1]], dtype=dtype[t["dtype"]])
                  .reshape(t["shape"]) for name, t in header.items()}

meta, tensors = read_safetensors(sys.argv[1])
for name, t in sorted(tensors.items()):
    print(f"{name:12} {str(t.shape):16} mean {t.mean():+.4f}")
total = sum(t.size for t in tensors.values())
assert total == int(meta["params"]) and all(np.isfinite(t).all() for t in tensors.values())
print(f"{total} parameters, all finite, as the program saved them")

#!/usr/bin/env python3
"""twin against PyTorch and ONNX Runtime on the same networks with random weights.

Import: the D2 signature tower, ResNet-18 and Inception-ResNet-v1, written in PyTorch
(torch_models.py), are
exported with torch.onnx.export (opset 13, symbolic batch); twin imports each file
(onnx_run) and ONNX Runtime runs it (ort_run.js); both outputs are compared with PyTorch's.
Export: onnx_export writes twin's own towers (random weights) and runs them natively; ONNX
Runtime runs the exported files; the outputs are compared.
Error: max |a - b| / max |b| over the batch (relative to the output's scale), at most 1e-4.

Exit codes: 0 all compared and passed, 1 a comparison failed, 77 (SKIPPED) when torch is
missing, or when ONNX Runtime (node + onnxruntime-node) is missing after the PyTorch
comparisons passed; the message says which.
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def save_state_dict(net, path, strip=""):
    """The state_dict as a safetensors file (F32), without num_batches_tracked, keys without `strip`."""
    import json
    import struct
    header, blobs, off = {}, [], 0
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        b = v.detach().numpy().astype("<f4").tobytes()
        header[k[len(strip):] if k.startswith(strip) else k] = {"dtype": "F32", "shape": list(v.shape),
                                                               "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx-run", required=True)
    ap.add_argument("--onnx-export", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--ort-script", required=True, help="scripts/fetch-onnxruntime.sh (its --print gives the folder)")
    ap.add_argument("--threads", default="2")
    a = ap.parse_args()
    try:
        import torch
        sys.path.insert(0, HERE)
        import torch_models as tm
    except ImportError as e:
        print(f"SKIPPED: PyTorch not available ({e}); Debian: python3-torch")
        return 77
    torch.set_num_threads(int(a.threads))
    os.makedirs(a.work, exist_ok=True)
    ort_dir = subprocess.run(["bash", a.ort_script, "--print"], capture_output=True, text=True).stdout.strip()
    node = subprocess.run(["sh", "-c", "command -v node"], capture_output=True, text=True).stdout.strip()
    ort_ok = bool(node) and os.path.exists(os.path.join(ort_dir, "node_modules", "onnxruntime-node", "package.json"))
    why_no_ort = "" if ort_ok else f"ONNX Runtime not found (node: {node or 'missing'}; {ort_dir}: run scripts/fetch-onnxruntime.sh)"

    failures = []

    def report(what, err):
        ok = err <= TOL
        print(f"  {what:48s} max rel error {err:.2e} {'ok' if ok else 'FAIL'}", flush=True)
        if not ok:
            failures.append(what)

    def ort(model, x_path, y_path):
        subprocess.run([node, os.path.join(HERE, "ort_run.js"), ort_dir, model, x_path, y_path, a.threads], check=True)
        return np.load(y_path)

    rng = np.random.default_rng(7)
    cases = [("d2_tower", tm.D2Tower(96, 192), (3, 1, 96, 192)), ("resnet18", tm.ResNet((2, 2, 2, 2), 1000), (2, 3, 112, 112)),
             ("inception_resnet_v1", tm.InceptionResnetV1(), (2, 3, 160, 160))]
    print("import: PyTorch -> torch.onnx.export -> twin / ONNX Runtime")
    for name, net, shape in cases:
        torch.manual_seed(1)
        net = tm.randomise(net, 2)
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        path = os.path.join(a.work, f"{name}.onnx")
        torch.onnx.export(net, torch.from_numpy(x), path, opset_version=13, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
        with torch.no_grad():
            y_torch = net(torch.from_numpy(x)).numpy()
        x_path, y_path = os.path.join(a.work, f"{name}.x.npy"), os.path.join(a.work, f"{name}.twin.npy")
        np.save(x_path, x)
        subprocess.run([a.onnx_run, path, "--input", x_path, "--output", y_path, "--threads", a.threads], check=True)
        y_twin = np.load(y_path)
        report(f"{name} {shape}: twin vs PyTorch", rel_err(y_twin, y_torch))
        if ort_ok:
            y_ort = ort(path, x_path, os.path.join(a.work, f"{name}.ort.npy"))
            report(f"{name} {shape}: twin vs ONNX Runtime", rel_err(y_twin, y_ort))
            report(f"{name} {shape}: ONNX Runtime vs PyTorch", rel_err(y_ort, y_torch))

    print("builders: PyTorch state_dict loaded by name into twin's builder (onnx_export --weights --run)")
    for name, tower, net, shape, strip, extra in [
            ("d2_tower", "signature_tower", tm.D2Tower(96, 192), (2, 1, 96, 192), "features.", []),
            ("resnet18", "resnet18", tm.ResNet((2, 2, 2, 2), 1000), (2, 3, 112, 112), "", []),
            ("resnet34", "resnet34", tm.ResNet((3, 4, 6, 3), 0), (1, 3, 64, 64), "", ["--classes", "0"]),
            ("inception_resnet_v1", "inception_resnet_v1", tm.InceptionResnetV1(), (2, 3, 160, 160), "", [])]:
        torch.manual_seed(3)
        net = tm.randomise(net, 4)
        x = rng.uniform(-1, 1, size=shape).astype(np.float32)
        with torch.no_grad():
            y_torch = net(torch.from_numpy(x)).numpy()
        st, x_path, y_path = (os.path.join(a.work, f"builder_{name}.{e}") for e in ("safetensors", "x.npy", "twin.npy"))
        save_state_dict(net, st, strip)
        np.save(x_path, x)
        subprocess.run([a.onnx_export, tower, "--shape", ",".join(map(str, shape[1:])), "--weights", st, "--output",
                        os.path.join(a.work, f"builder_{name}.onnx"), "--run", x_path, "--run-output", y_path] + extra,
                       check=True)
        report(f"twin {tower} {shape}: twin vs PyTorch", rel_err(np.load(y_path), y_torch))

    if ort_ok:
        print("export: twin -> onnx_export -> ONNX Runtime")
        for tower, sample, extra in [("signature_tower", (1, 96, 192), []), ("resnet18", (3, 112, 112), ["--classes", "10"])]:
            x = rng.uniform(-1, 1, size=(2,) + sample).astype(np.float32)
            x_path = os.path.join(a.work, f"export_{tower}.x.npy")
            y_path = os.path.join(a.work, f"export_{tower}.twin.npy")
            path = os.path.join(a.work, f"export_{tower}.onnx")
            np.save(x_path, x)
            subprocess.run([a.onnx_export, tower, "--shape", ",".join(map(str, sample)), "--seed", "5", "--output", path,
                            "--run", x_path, "--run-output", y_path] + extra, check=True)
            y_ort = ort(path, x_path, os.path.join(a.work, f"export_{tower}.ort.npy"))
            report(f"twin {tower} {sample}: ONNX Runtime vs twin", rel_err(y_ort, np.load(y_path)))
    if failures:
        print("FAILED: " + ", ".join(failures))
        return 1
    if not ort_ok:
        print(f"SKIPPED (partly): the PyTorch comparisons passed; {why_no_ort}")
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Inference speed of imported ONNX towers, side by side in one run: twin (onnx_run, the
model imported by twin::onnx) vs ONNX Runtime (onnxruntime-node, bench/onnxruntime/
time_inference.js) vs PyTorch (the module the file was exported from, torch.no_grad).

    python3 bench/onnx_speed.py --onnx-run build/release/tools/onnx_run [--min-time 1]

Models (random weights; PyTorch definitions in tests/onnx/torch_models.py): the D2 signature
tower (1 x 96 x 192), ResNet-18 at 112 x 112 and Inception-ResNet-v1 at 160 x 160; batch 1
and 16; 1 and 2 threads. Prints
one Markdown table of ms per batch and images/s. Every runtime runs alone, one after the
other, with warm-up; on a shared machine the figures move with its load.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))
import torch_models as tm  # noqa: E402


def time_torch(net, x, threads, min_time):
    torch.set_num_threads(threads)
    with torch.no_grad():
        for _ in range(3):
            net(x)
        runs, t0 = 0, time.perf_counter()
        while True:
            net(x)
            runs += 1
            dt = time.perf_counter() - t0
            if dt >= min_time and runs >= 3:
                return 1000 * dt / runs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx-run", required=True)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--models", default="d2_tower,resnet18,inception_resnet_v1")
    a = ap.parse_args()
    ort_dir = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-onnxruntime.sh"), "--print"],
                             capture_output=True, text=True).stdout.strip()
    ort_js = os.path.join(ROOT, "bench", "onnxruntime", "time_inference.js")
    have_ort = os.path.exists(os.path.join(ort_dir, "node_modules", "onnxruntime-node", "package.json"))
    models = {"d2_tower": (lambda: tm.D2Tower(96, 192), (1, 96, 192)),
              "resnet18": (lambda: tm.ResNet((2, 2, 2, 2), 1000), (3, 112, 112)),
              "inception_resnet_v1": (lambda: tm.InceptionResnetV1(), (3, 160, 160))}
    work = tempfile.mkdtemp(prefix="twin-onnx-speed-")
    print(f"torch {torch.__version__}; ONNX Runtime {'from ' + ort_dir if have_ort else 'missing'}; min time {a.min_time} s")
    print("| model | batch | threads | twin ms | ONNX Runtime ms | PyTorch ms | twin img/s | ORT img/s | PyTorch img/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.models.split(","):
        make, sample = models[name]
        torch.manual_seed(0)
        net = tm.randomise(make(), 1)
        path = os.path.join(work, name + ".onnx")
        torch.onnx.export(net, torch.zeros((1,) + sample), path, opset_version=13, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
        for batch in (1, 16):
            x = np.random.default_rng(0).uniform(-1, 1, size=(batch,) + sample).astype(np.float32)
            xp = os.path.join(work, f"{name}_{batch}.npy")
            np.save(xp, x)
            for threads in (1, 2):
                out = subprocess.run([a.onnx_run, path, "--input", xp, "--threads", str(threads), "--time", str(a.min_time)],
                                     check=True, capture_output=True, text=True).stdout
                twin_ms = json.loads(out.strip().splitlines()[-1])["ms_per_run"]
                ort_ms = float("nan")
                if have_ort:
                    out = subprocess.run(["node", ort_js, "--ort", ort_dir, "--model", path, "--shape",
                                          ",".join(map(str, (batch,) + sample)), "--threads", str(threads), "--min-time",
                                          str(a.min_time)], check=True, capture_output=True, text=True).stdout
                    ort_ms = json.loads(out.strip().splitlines()[-1])["ms_per_run"]
                torch_ms = time_torch(net, torch.from_numpy(x), threads, a.min_time)
                ips = [1000 * batch / v for v in (twin_ms, ort_ms, torch_ms)]
                print(f"| {name} | {batch} | {threads} | {twin_ms:.1f} | {ort_ms:.1f} | {torch_ms:.1f} | "
                      f"{ips[0]:.0f} | {ips[1]:.0f} | {ips[2]:.0f} |", flush=True)


if __name__ == "__main__":
    main()

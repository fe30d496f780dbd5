#!/usr/bin/python3
"""Runs twin's benchmark workloads (kernels C1-C5, whole models D1-D4) in twin (the Google
Benchmark binaries in bench/), in PyTorch and, for the inference rows, in ONNX Runtime, in
one invocation, and prints one table: workload, threads, twin, PyTorch, ratio, ONNX Runtime,
ratio, % of peak.

    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
    cmake --build build/release -j2 --target bench_kernels bench_models
    scripts/fetch-onnxruntime.sh          # optional: the ONNX Runtime column
    /usr/bin/python3 bench/compare_pytorch.py --build build/release [--rounds 3] [--filter C1]

Method
  * For every workload and thread count, twin and PyTorch run back to back, `--rounds` times,
    alternating; each side reports its median over the rounds. On a shared, busy machine
    this keeps both sides under the same load, so read the ratio, not the absolute numbers.
  * twin: the benchmark binary with --benchmark_filter=<exact name> and JSON output;
    each run is Google Benchmark's own loop (--benchmark_min_time).
  * PyTorch: the same shapes, float32, warm-up then a timed loop of at least min_time,
    torch.set_num_threads(threads), run under a glibc malloc setting that keeps freed memory
    mapped (GLIBC_TUNABLES, set here by re-executing this script), PyTorch's best setting here.
    twin's benchmark processes get the caller's environment, without that setting.
  * ONNX Runtime (inference rows): the PyTorch network in eval mode, exported with
    torch.onnx.export (opset 17, fixed batch) to a temporary folder, run by
    bench/onnxruntime/time_inference.js under node with the onnxruntime-node package that
    scripts/fetch-onnxruntime.sh unpacks (--ort), intra-op threads = threads, every graph
    optimisation on (so BatchNorm is folded into the convolutions). Skipped, with the
    reason, when node, the package or the export is missing.
  * ratio = twin throughput / PyTorch (or ONNX Runtime) throughput (> 1: twin is faster),
    wall clock.
  * cpu ratio (1-thread rows): the same from CPU time of the working thread/process, which
    other load on a shared machine distorts much less than wall time (for ONNX Runtime: the
    node process's CPU time).
  * % peak: FLOP/s over the machine's fp32 FMA peak at that thread count, measured in the
    same invocation by twin's peak_fma benchmark; for pooling, B/s over the STREAM triad
    bandwidth (stream_triad benchmark).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

TUNABLES = ("glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967295:"
            "glibc.malloc.top_pad=268435456")

if os.environ.get("GLIBC_TUNABLES") != TUNABLES:
    # twin's benchmarks run with the caller's own malloc settings, kept here.
    os.environ["TWIN_COMPARE_CALLER_TUNABLES"] = os.environ.get("GLIBC_TUNABLES", "")
    os.environ["GLIBC_TUNABLES"] = TUNABLES
    os.execv(sys.executable, [sys.executable] + sys.argv)


def twin_env():
    """The environment for twin's benchmark processes: without PyTorch's malloc tuning (twin
    allocates nothing in its steps and needs none)."""
    env = dict(os.environ)
    caller = env.pop("TWIN_COMPARE_CALLER_TUNABLES", "")
    if caller:
        env["GLIBC_TUNABLES"] = caller
    else:
        env.pop("GLIBC_TUNABLES", None)
    return env

import torch  # noqa: E402  (after the re-exec, so the malloc setting applies to it)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


# ---------------------------------------------------------------------------------------
# PyTorch workloads: each returns (step function, units of work per step).
def layer_step(m, x, dy, backward):
    """The step a one-layer workload times: forward without autograd, or forward and
    backward to the input and the weights (zero_grad is a no-op for pooling)."""
    def step():
        if backward:
            m.zero_grad(set_to_none=False)
            x.grad = None
            m(x).backward(dy)
        else:
            with torch.no_grad():
                m(x)
    return step


def conv_case(n, cin, cout, k, s, p, h, w, backward):
    m = nn.Conv2d(cin, cout, k, stride=s, padding=p)
    x = torch.randn(n, cin, h, w, requires_grad=backward)
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    flops = (6.0 if backward else 2.0) * n * cout * ho * wo * cin * k * k
    dy = torch.randn(n, cout, ho, wo)
    return layer_step(m, x, dy, backward), flops


def dense_case(n, i, o, backward):
    m = nn.Linear(i, o)
    x = torch.randn(n, i, requires_grad=backward)
    dy = torch.randn(n, o)
    return layer_step(m, x, dy, backward), (6.0 if backward else 2.0) * n * i * o


def pool_case(kind, n, c, h, w, backward):
    if kind == "max":
        m = nn.MaxPool2d(3, stride=2)
    else:
        m = nn.AvgPool2d(2)
    x = torch.randn(n, c, h, w, requires_grad=backward)
    with torch.no_grad():
        y = m(x)
    dy = torch.randn_like(y)
    nbytes = 4.0 * (x.numel() + y.numel()) * (2 if backward else 1)
    return layer_step(m, x, dy, backward), nbytes


def tower(h, w):
    """The signature tower of D2/D3 (input 1 x h x w), without its L2 normalisation."""
    def out(n, k, s, p):
        return (n + 2 * p - k) // s + 1
    hh, ww = out(h, 7, 2, 3), out(w, 7, 2, 3)
    hh, ww = out(hh, 3, 2, 0), out(ww, 3, 2, 0)
    hh, ww = out(hh, 3, 2, 0), out(ww, 3, 2, 0)
    hh, ww = out(hh, 3, 2, 0), out(ww, 3, 2, 0)
    return nn.Sequential(
        nn.Conv2d(1, 32, 7, stride=2, padding=3), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, 2), nn.Flatten(), nn.Linear(128 * hh * ww, 256), nn.ReLU(), nn.Linear(256, 128))


def d2_case(pairs):
    net = tower(96, 192)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    a, b = torch.randn(pairs, 1, 96, 192), torch.randn(pairs, 1, 96, 192)
    same = (torch.arange(pairs) % 2 == 0).float()

    def step():
        opt.zero_grad()
        e = F.normalize(net(torch.cat([a, b])), dim=1)
        d = (e[:pairs] - e[pairs:]).pow(2).sum(1).clamp_min(1e-12).sqrt()
        loss = (same * d.pow(2) + (1 - same) * (1.0 - d).clamp_min(0).pow(2)).mean()
        loss.backward()
        opt.step()
    return step, 2.0 * pairs


def d3_case(triplets):
    net = tower(112, 96)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(3 * triplets, 1, 112, 96)
    loss_fn = nn.TripletMarginLoss(margin=0.2)

    def step():
        opt.zero_grad()
        e = F.normalize(net(x), dim=1)
        loss_fn(e[:triplets], e[triplets:2 * triplets], e[2 * triplets:]).backward()
        opt.step()
    return step, 3.0 * triplets


class Normalized(nn.Module):
    """A tower followed by L2 normalisation of its embeddings (twin's L2Normalize)."""
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return F.normalize(self.net(x), dim=1)


def infer_case(net, shape):
    net = net.eval()
    x = torch.randn(*shape)

    def step():
        with torch.no_grad():
            net(x)
    return step, float(shape[0])


def d2_infer_net():
    return Normalized(tower(96, 192))


class FaceBlock(nn.Module):
    """A residual block of dlib's face ResNet: conv 3x3 + BN + ReLU, conv 3x3 + BN, + x, ReLU."""
    def __init__(self, c):
        super().__init__()
        self.conv0, self.bn0 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        h = F.relu(self.bn0(self.conv0(x)))
        return F.relu(self.bn1(self.conv1(h)) + x)


class FaceDown(nn.Module):
    """A down block: conv 3x3/2 valid + BN + ReLU, conv 3x3 + BN, zero-padded at the bottom
    and right to the shortcut's size; shortcut avg-pool 2x2/2 with zero channels appended."""
    def __init__(self, cin, cout, side):
        super().__init__()
        self.conv0, self.bn0 = nn.Conv2d(cin, cout, 3, stride=2), nn.BatchNorm2d(cout)
        self.conv1, self.bn1 = nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout)
        self.pool = nn.AvgPool2d(2)
        self.pad = side // 2 - ((side - 3) // 2 + 1)
        self.extra = cout - cin

    def forward(self, x):
        h = F.relu(self.bn0(self.conv0(x)))
        h = self.bn1(self.conv1(h))
        if self.pad:
            h = F.pad(h, (0, self.pad, 0, self.pad))
        s = self.pool(x)
        if self.extra:
            s = F.pad(s, (0, 0, 0, 0, 0, self.extra))
        return F.relu(h + s)


def face_resnet():
    """dlib's face-recognition ResNet (twin/models/dlib_resnet.hpp), 3 x 150 x 150 in, 128 out."""
    side = ((150 - 7) // 2 + 1 - 3) // 2 + 1  # 35 after the stem
    layers = [nn.Conv2d(3, 32, 7, stride=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(3, 2)]
    layers += [FaceBlock(32) for _ in range(3)]
    for cin, cout, blocks in ((32, 64, 3), (64, 128, 2), (128, 256, 2), (256, 256, 0)):
        layers.append(FaceDown(cin, cout, side))
        side //= 2
        layers += [FaceBlock(cout) for _ in range(blocks)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 128, bias=False)]
    return nn.Sequential(*layers)


def d4_case(pairs):
    """One contrastive step on `pairs` pairs through the face ResNet (all 2 x pairs faces as one
    batch, BatchNorm on its statistics), squared hinge margin 1, SGD momentum 0.9, weight
    decay 1e-4."""
    net = face_resnet()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    a, b = torch.randn(pairs, 3, 150, 150), torch.randn(pairs, 3, 150, 150)
    same = (torch.arange(pairs) % 2 == 0).float()

    def step():
        opt.zero_grad()
        e = net(torch.cat([a, b]))
        d = (e[:pairs] - e[pairs:]).pow(2).sum(1).clamp_min(1e-12).sqrt()
        loss = (same * d.pow(2) + (1 - same) * (1.0 - d).clamp_min(0).pow(2)).mean()
        loss.backward()
        opt.step()
    return step, 2.0 * pairs


def d1_case(pairs):
    """The Keras MNIST Siamese tutorial's tower, one RMSprop step on `pairs` pairs, with the
    contrastive loss (squared, margin 1) on the embeddings' Euclidean distance. The tutorial's
    tiny head (BatchNorm(1), Dense(1), sigmoid) is left out on both sides."""
    tower1 = nn.Sequential(
        nn.BatchNorm2d(1), nn.Conv2d(1, 4, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(4, 16, 5), nn.Tanh(),
        nn.AvgPool2d(2), nn.Flatten(), nn.BatchNorm1d(256), nn.Linear(256, 10), nn.Tanh())
    opt = torch.optim.RMSprop(tower1.parameters(), lr=0.001)
    a, b = torch.randn(pairs, 1, 28, 28), torch.randn(pairs, 1, 28, 28)
    same = (torch.arange(pairs) % 2 == 0).float()

    def step():
        opt.zero_grad()
        e = tower1(torch.cat([a, b]))
        d = (e[:pairs] - e[pairs:]).pow(2).sum(1).clamp_min(1e-12).sqrt()
        loss = (same * d.pow(2) + (1 - same) * (1.0 - d).clamp_min(0).pow(2)).mean()
        loss.backward()
        opt.step()
    return step, 2.0 * pairs


# name, twin benchmark (binary, name prefix), metric, PyTorch factory
WORKLOADS = [
    ("C1 conv3x3 fwd", "bench_kernels", "C1_conv3x3_fwd", "FLOP/s", lambda: conv_case(32, 32, 64, 3, 1, 1, 56, 56, False)),
    ("C1 conv3x3 fwd+bwd", "bench_kernels", "C1_conv3x3_fwdbwd", "FLOP/s",
     lambda: conv_case(32, 32, 64, 3, 1, 1, 56, 56, True)),
    ("C2 conv5x5 fwd", "bench_kernels", "C2_conv5x5_fwd", "FLOP/s", lambda: conv_case(64, 1, 4, 5, 1, 0, 28, 28, False)),
    ("C2 conv5x5 fwd+bwd", "bench_kernels", "C2_conv5x5_fwdbwd", "FLOP/s",
     lambda: conv_case(64, 1, 4, 5, 1, 0, 28, 28, True)),
    ("C3 conv7x7s2 fwd", "bench_kernels", "C3_conv7x7s2_fwd", "FLOP/s",
     lambda: conv_case(32, 1, 32, 7, 2, 3, 96, 192, False)),
    ("C3 conv7x7s2 fwd+bwd", "bench_kernels", "C3_conv7x7s2_fwdbwd", "FLOP/s",
     lambda: conv_case(32, 1, 32, 7, 2, 3, 96, 192, True)),
    ("C4a dense 4096-256 fwd", "bench_kernels", "C4a_dense_4096_256_fwd", "FLOP/s",
     lambda: dense_case(64, 4096, 256, False)),
    ("C4a dense 4096-256 fwd+bwd", "bench_kernels", "C4a_dense_4096_256_fwdbwd", "FLOP/s",
     lambda: dense_case(64, 4096, 256, True)),
    ("C4b dense 256-128 fwd", "bench_kernels", "C4b_dense_256_128_fwd", "FLOP/s",
     lambda: dense_case(64, 256, 128, False)),
    ("C4b dense 256-128 fwd+bwd", "bench_kernels", "C4b_dense_256_128_fwdbwd", "FLOP/s",
     lambda: dense_case(64, 256, 128, True)),
    ("C5a maxpool3s2 fwd", "bench_kernels", "C5a_maxpool3s2_fwd", "B/s", lambda: pool_case("max", 32, 64, 48, 96, False)),
    ("C5a maxpool3s2 fwd+bwd", "bench_kernels", "C5a_maxpool3s2_fwdbwd", "B/s",
     lambda: pool_case("max", 32, 64, 48, 96, True)),
    ("C5b avgpool2 fwd", "bench_kernels", "C5b_avgpool2_fwd", "B/s", lambda: pool_case("avg", 64, 4, 24, 24, False)),
    ("C5b avgpool2 fwd+bwd", "bench_kernels", "C5b_avgpool2_fwdbwd", "B/s", lambda: pool_case("avg", 64, 4, 24, 24, True)),
    ("D1 MNIST siamese b16", "bench_models", "D1_mnist_train_b16", "img/s", lambda: d1_case(16)),
    ("D1 MNIST siamese b128", "bench_models", "D1_mnist_train_b128", "img/s", lambda: d1_case(128)),
    ("D2 train 32 pairs", "bench_models", "D2_train_pairs32", "img/s", lambda: d2_case(32)),
    ("D3 train 32 triplets", "bench_models", "D3_train_triplets32", "img/s", lambda: d3_case(32)),
    ("D2 infer batch 1", "bench_models", "D2_infer_b1", "img/s", lambda: infer_case(d2_infer_net(), (1, 1, 96, 192))),
    ("D2 infer batch 64", "bench_models", "D2_infer_b64", "img/s",
     lambda: infer_case(d2_infer_net(), (64, 1, 96, 192))),
    ("D4 face ResNet train 8 pairs", "bench_models", "D4_train_pairs8", "img/s", lambda: d4_case(8)),
    ("D4 face ResNet infer b1", "bench_models", "D4_infer_b1", "img/s",
     lambda: infer_case(face_resnet(), (1, 3, 150, 150))),
    ("D4 face ResNet infer b16", "bench_models", "D4_infer_b16", "img/s",
     lambda: infer_case(face_resnet(), (16, 3, 150, 150))),
]

# The inference rows that also run in ONNX Runtime: twin benchmark name -> (PyTorch
# network, input shape).
ONNX = {
    "D2_infer_b1": (d2_infer_net, (1, 1, 96, 192)),
    "D2_infer_b64": (d2_infer_net, (64, 1, 96, 192)),
    "D4_infer_b1": (face_resnet, (1, 3, 150, 150)),
    "D4_infer_b16": (face_resnet, (16, 3, 150, 150)),
}


# Training workloads whose peak RSS is compared: name -> (twin benchmark, PyTorch factory).
RSS = {"D2": ("D2_train_pairs32", lambda: d2_case(32)), "D4": ("D4_train_pairs8", lambda: d4_case(8))}


def torch_rss(which):
    """Peak RSS (MiB) of this process after a few training steps of workload `which` (RSS),
    and its RSS before the model was built (what importing PyTorch costs). Run in a fresh
    process (--rss)."""
    def vm_hwm():  # not ru_maxrss, which a child inherits from its parent across fork + exec
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    torch.set_num_threads(1)
    before = vm_hwm()
    step, _ = RSS[which][1]()
    for _ in range(3):
        step()
    return vm_hwm(), before


def run_torch(factory, threads, min_time):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    step, work = factory()
    for _ in range(3):  # warm-up: first touches, oneDNN primitive creation
        step()
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_time and n >= 3:
            return work * n / dt, work * n / (time.process_time() - c0)


def run_twin(binary, name, threads, min_time):
    out = subprocess.run([binary, f"--benchmark_filter=^{name}/threads:{threads}/", "--benchmark_format=json",
                          f"--benchmark_min_time={min_time}"], check=True, capture_output=True, text=True,
                         env=twin_env()).stdout
    runs = json.loads(out)["benchmarks"]
    if not runs:
        raise RuntimeError(f"{binary}: no benchmark {name}/threads:{threads}")
    r = runs[0]
    out = {k: v for k, v in r.items() if k in ("FLOP/s", "B/s", "img/s", "peak_rss_MiB")}
    out["wall_over_cpu"] = r["real_time"] / r["cpu_time"]  # the rates are per wall-clock second
    return out


class OnnxRuntime:
    """The ONNX Runtime column: exports each network once per invocation, times it with
    bench/onnxruntime/time_inference.js. `reason` says why the column is off (None: on)."""
    def __init__(self, ort_dir, onnx_dir=None):
        self.ort_dir = ort_dir
        self.script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnxruntime", "time_inference.js")
        self.node = shutil.which("node")
        self.tmp = tempfile.TemporaryDirectory(prefix="twin-onnx-")
        self.onnx_dir = onnx_dir or self.tmp.name
        os.makedirs(self.onnx_dir, exist_ok=True)
        self.models = {}
        self.version = None
        pkg = os.path.join(ort_dir, "node_modules", "onnxruntime-node", "package.json")
        if not self.node:
            self.reason = "node not found (Debian: apt-get install nodejs npm)"
        elif not os.path.exists(pkg):
            self.reason = f"onnxruntime-node not in {ort_dir} (run scripts/fetch-onnxruntime.sh)"
        else:
            self.reason = None
            with open(pkg) as f:
                self.version = json.load(f)["version"]

    def model(self, name):
        if name not in self.models:
            factory, shape = ONNX[name]
            torch.manual_seed(0)
            net = factory().eval()
            path = os.path.join(self.onnx_dir, name + ".onnx")
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's notes on constant folding
                torch.onnx.export(net, torch.randn(*shape), path, input_names=["x"], output_names=["embedding"],
                                  opset_version=17, do_constant_folding=True)
            self.models[name] = path
        return self.models[name]

    def run(self, name, threads, min_time):
        """(images/s wall clock, images/s of process CPU time)."""
        shape = ONNX[name][1]
        out = subprocess.run([self.node, self.script, "--ort", self.ort_dir, "--model", self.model(name), "--shape",
                              ",".join(map(str, shape)), "--threads", str(threads), "--min-time", str(min_time)],
                             check=True, capture_output=True, text=True, env=twin_env()).stdout
        r = json.loads(out.strip().splitlines()[-1])
        return shape[0] * r["runs"] / r["seconds"], shape[0] * r["runs"] / r["cpu_seconds"]


def default_ort_dir():
    """The folder scripts/fetch-onnxruntime.sh unpacks its pinned version into."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "fetch-onnxruntime.sh")
    return subprocess.run(["bash", script, "--print"], check=True, capture_output=True, text=True).stdout.strip()


def wanted(filters, *names):
    """True when no filter is given or one of the comma-separated filters is in one of names."""
    return not filters or any(f and f in n for f in filters.split(",") for n in names)


def fmt(v, metric):
    if metric == "FLOP/s":
        return f"{v / 1e9:7.1f} GFLOP/s"
    if metric == "B/s":
        return f"{v / 1e9:7.2f} GB/s"
    return f"{v:7.1f} img/s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build/release", help="CMake build folder with bench/bench_* (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating twin/PyTorch runs per cell (median)")
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per timed run")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--filter", default="",
                    help="only workloads whose name contains one of these comma-separated strings")
    ap.add_argument("--ort", default=default_ort_dir(),
                    help="folder of onnxruntime-node (scripts/fetch-onnxruntime.sh; default %(default)s)")
    ap.add_argument("--no-ort", action="store_true", help="leave out the ONNX Runtime column")
    ap.add_argument("--onnx-dir", help="keep the exported .onnx models in this folder (for "
                    "bench/onnxruntime/profile_nodes.js) instead of a temporary one")
    ap.add_argument("--rss", choices=sorted(RSS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss:
        print("%.1f %.1f" % torch_rss(args.rss))
        return
    bench_dir = os.path.join(args.build, "bench")
    threads = [int(t) for t in args.threads.split(",")]

    print(f"PyTorch {torch.__version__}, GLIBC_TUNABLES={os.environ['GLIBC_TUNABLES']}")
    info = json.loads(subprocess.run([os.path.join(bench_dir, "bench_kernels"), "--benchmark_filter=^peak_fma/threads:1/",
                                      "--benchmark_min_time=0.01", "--benchmark_format=json"], check=True,
                                     capture_output=True, text=True, env=twin_env()).stdout)["context"]
    print(f"{info.get('twin', '')}; {info.get('num_cpus')} CPUs; load average {info.get('load_avg')}")
    peak, stream = {}, {}
    for t in threads:
        peak[t] = statistics.median(run_twin(os.path.join(bench_dir, "bench_kernels"), "peak_fma", t, 0.2)["FLOP/s"]
                                    for _ in range(args.rounds))
        stream[t] = statistics.median(
            run_twin(os.path.join(bench_dir, "bench_kernels"), "stream_triad", t, 0.2)["B/s"] for _ in range(args.rounds))
        print(f"measured peak, {t} thread(s): {peak[t] / 1e9:.1f} GFLOP/s fp32 FMA, STREAM triad {stream[t] / 1e9:.1f} GB/s")

    ort = OnnxRuntime(args.ort, args.onnx_dir)
    if args.no_ort:
        ort.reason = "--no-ort"
    if ort.reason:
        print(f"ONNX Runtime column skipped: {ort.reason}")
    else:
        print(f"ONNX Runtime {ort.version} (onnxruntime-node, {args.ort}) for the inference rows")
    header = (f"{'workload':28} {'thr':>3} {'twin':>17} {'PyTorch':>17} {'ratio':>6} {'ONNX Runtime':>17} {'ratio':>6}"
              f" {'twin %pk':>8} {'torch %pk':>9} {'cpu ratio':>9} {'cpu/ORT':>7}")
    print(header)
    print("-" * len(header))
    for label, binary, name, metric, factory in WORKLOADS:
        if not wanted(args.filter, label, name):
            continue
        exe = os.path.join(bench_dir, binary)
        if not os.path.exists(exe):
            print(f"{label:28} (no {binary} in {bench_dir})")
            continue
        with_ort = name in ONNX and not ort.reason
        for t in threads:
            tw, pt, tw_cpu, pt_cpu, ox, ox_cpu, extra = [], [], [], [], [], [], {}
            try:
                for _ in range(args.rounds):
                    r = run_twin(exe, name, t, args.min_time)
                    tw.append(r[metric])
                    tw_cpu.append(r[metric] * r["wall_over_cpu"])
                    extra.update({k: v for k, v in r.items() if k not in (metric, "wall_over_cpu")})
                    wall, cpu = run_torch(factory, t, args.min_time)
                    pt.append(wall)
                    pt_cpu.append(cpu)
                    if with_ort:
                        wall, cpu = ort.run(name, t, args.min_time)
                        ox.append(wall)
                        ox_cpu.append(cpu)
            except (RuntimeError, subprocess.CalledProcessError) as e:
                print(f"{label:28} {t:>3} failed: {e} {getattr(e, 'stderr', '') or ''}".rstrip())
                continue
            a, b = statistics.median(tw), statistics.median(pt)
            ref = peak[t] if metric == "FLOP/s" else stream[t] if metric == "B/s" else None
            pk = (f"{100 * a / ref:7.0f}% {100 * b / ref:8.0f}%") if ref else f"{'':8} {'':9}"
            o = statistics.median(ox) if ox else None
            ort_cols = f"{fmt(o, metric):>17} {a / o:6.2f}" if o else f"{'':17} {'':6}"
            # With one thread all work is on the timed thread, so CPU time is comparable on
            # both sides and much less sensitive to other load on the machine than wall time.
            cpu_ratio = f"{statistics.median(tw_cpu) / statistics.median(pt_cpu):9.2f}" if t == 1 else f"{'':9}"
            cpu_ort = f"{statistics.median(tw_cpu) / statistics.median(ox_cpu):7.2f}" if t == 1 and ox else f"{'':7}"
            more = "".join(f"  {k}={v:.0f}" for k, v in extra.items())
            print(f"{label:28} {t:>3} {fmt(a, metric):>17} {fmt(b, metric):>17} {a / b:6.2f} {ort_cols} {pk} {cpu_ratio}"
                  f" {cpu_ort}{more}", flush=True)

    models = os.path.join(bench_dir, "bench_models")
    for which, (name, _) in RSS.items():
        if not wanted(args.filter, f"{which} peak RSS", name) or not os.path.exists(models):
            continue
        twin_rss = run_twin(models, name, 1, 0.01)["peak_rss_MiB"]
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--rss", which], check=True,
                             capture_output=True, text=True).stdout.split()
        print(f"{which} training peak RSS (1 thread): twin {twin_rss:.0f} MiB, PyTorch {float(out[0]):.0f} MiB "
              f"({float(out[1]):.0f} MiB of it before the model was built)")


if __name__ == "__main__":
    main()

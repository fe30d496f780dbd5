#!/usr/bin/env node
// ONNX Runtime's own time per node of one .onnx model on the CPU execution provider: what
// its fused kernels (convolution + BatchNorm + ReLU, NCHWc reorders, ...) cost, to set
// beside twin's per-layer profile (bench/profile_face_resnet.cpp).
//
//   /usr/bin/python3 bench/compare_pytorch.py --filter D4 --onnx-dir /tmp/onnx   # exports D4_infer_b16.onnx
//   node bench/onnxruntime/profile_nodes.js --ort <folder with node_modules/onnxruntime-node>
//        --model /tmp/onnx/D4_infer_b16.onnx --shape 16,3,150,150 [--threads 1] [--reps 10]
//
// Same session options as time_inference.js, with ONNX Runtime's profiler on. Three
// warm-up runs, then --reps profiled runs; prints each node's median kernel time (wall
// clock, ms), its operator, and the sum. The profile file is written under the system's
// temporary folder and removed.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

function parseArgs(argv) {
  const a = { threads: 1, reps: 10 };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) throw new Error(`profile_nodes: ${k} needs a value`);
    if (k === '--ort') a.ort = v;
    else if (k === '--model') a.model = v;
    else if (k === '--shape') a.shape = v.split(',').map(Number);
    else if (k === '--threads') a.threads = Number(v);
    else if (k === '--reps') a.reps = Number(v);
    else throw new Error(`profile_nodes: unknown argument ${k}`);
  }
  if (!a.ort || !a.model || !a.shape) throw new Error('profile_nodes: --ort, --model and --shape are required');
  if (!(a.reps >= 1)) throw new Error('profile_nodes: --reps must be >= 1');
  return a;
}

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};

async function main() {
  const a = parseArgs(process.argv);
  const ort = require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twin-ort-profile-'));
  try {
    const model = await ort.InferenceSession.create(a.model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: a.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableProfiling: true,
      profileFilePrefix: path.join(dir, 'profile'),
    });
    const n = a.shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    let s = 12345;  // the same deterministic input as time_inference.js
    for (let i = 0; i < n; ++i) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      data[i] = s / 2147483648 - 1;
    }
    const feeds = { [model.inputNames[0]]: new ort.Tensor('float32', data, a.shape) };
    for (let i = 0; i < 3 + a.reps; ++i) await model.run(feeds);
    model.endProfiling();
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error(`profile_nodes: ONNX Runtime wrote no profile into ${dir}`);
    const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    // Per node, in first-seen order: its kernel times (microseconds) over all runs.
    const nodes = new Map();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const name = e.name.slice(0, -'_kernel_time'.length);
      if (!nodes.has(name)) nodes.set(name, { op: (e.args && e.args.op_name) || '?', us: [] });
      nodes.get(name).us.push(e.dur);
    }
    let total = 0;
    for (const [name, v] of nodes) {
      const ms = median(v.us.slice(-a.reps)) / 1000;  // the profiled runs after the warm-up
      total += ms;
      console.log(`${name.padEnd(48)} ${v.op.padEnd(20)} ${ms.toFixed(3).padStart(8)} ms`);
    }
    console.log(`sum of node medians ${total.toFixed(2)} ms (${nodes.size} nodes, ${a.threads} thread(s), ` +
                `median of ${a.reps} runs)`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});

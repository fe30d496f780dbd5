#!/usr/bin/env node
// ONNX Runtime's own time per node of one .onnx model on the CPU execution provider: what
// its fused kernels (convolution + BatchNorm + ReLU, NCHWc reorders, ...) cost, to set
// beside twin's per-layer profile (bench/profile_face_resnet.cpp).
//
//   /usr/bin/python3 bench/compare_pytorch.py --filter D4 --onnx-dir build/onnx   # exports D4_infer_b16.onnx
//   node bench/onnxruntime/profile_nodes.js --ort <folder with node_modules/onnxruntime-node>
//        --model build/onnx/D4_infer_b16.onnx --shape 16,3,150,150 [--threads 1] [--reps 10]
//
// The model loaded as ort_model.js loads it, with ONNX Runtime's profiler on. Three
// warm-up runs, then --reps profiled runs; prints each node's median kernel time (wall
// clock, ms), its operator, and the sum. The profile file is written under the system's
// temporary folder and removed.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { parseArgs, openModel, deterministicFeeds, run } = require('./ort_model');

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};

run(async () => {
  const a = parseArgs(process.argv, 'profile_nodes', { reps: 10 });
  if (!(a.reps >= 1)) throw new Error('profile_nodes: --reps must be >= 1');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twin-ort-profile-'));
  try {
    const { ort, model } = await openModel(a, { enableProfiling: true, profileFilePrefix: path.join(dir, 'profile') });
    const feeds = deterministicFeeds(ort, model, a.shape);
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
});

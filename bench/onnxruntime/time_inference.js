#!/usr/bin/env node
// Times ONNX Runtime inference of one .onnx model on the CPU execution provider and prints
// one JSON line: {"runs", "seconds", "cpu_seconds", "ms_per_run", "ort_version"}.
//
//   node bench/onnxruntime/time_inference.js --ort <folder with node_modules/onnxruntime-node>
//        --model tower.onnx --shape 1,3,150,150 [--threads 1] [--min-time 0.5]
//
// The model runs with intra-op threads = --threads, one inter-op thread, sequential
// execution and every graph optimisation (ONNX Runtime's defaults otherwise, spinning
// worker threads included). Three warm-up runs, then run() in a loop until at least
// --min-time seconds and 3 runs have passed. cpu_seconds is the whole process's user +
// system time over the timed loop (every ONNX Runtime thread), for a CPU-time ratio.
'use strict';
const path = require('path');

function parseArgs(argv) {
  const a = { threads: 1, minTime: 0.5 };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) throw new Error(`time_inference: ${k} needs a value`);
    if (k === '--ort') a.ort = v;
    else if (k === '--model') a.model = v;
    else if (k === '--shape') a.shape = v.split(',').map(Number);
    else if (k === '--threads') a.threads = Number(v);
    else if (k === '--min-time') a.minTime = Number(v);
    else throw new Error(`time_inference: unknown argument ${k}`);
  }
  if (!a.ort || !a.model || !a.shape) throw new Error('time_inference: --ort, --model and --shape are required');
  return a;
}

async function main() {
  const a = parseArgs(process.argv);
  const ort = require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node'));
  const model = await ort.InferenceSession.create(a.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const n = a.shape.reduce((x, y) => x * y, 1);
  const data = new Float32Array(n);
  let s = 12345;  // a fixed linear congruential stream in [-1, 1): deterministic input
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = s / 2147483648 - 1;
  }
  const feeds = { [model.inputNames[0]]: new ort.Tensor('float32', data, a.shape) };
  for (let i = 0; i < 3; ++i) await model.run(feeds);
  let runs = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let dt = 0;
  do {
    await model.run(feeds);
    ++runs;
    dt = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (dt < a.minTime || runs < 3);
  const c = process.cpuUsage(c0);
  const version = require(path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node', 'package.json')).version;
  console.log(JSON.stringify({
    runs, seconds: dt, cpu_seconds: (c.user + c.system) / 1e6, ms_per_run: 1000 * dt / runs, ort_version: version,
  }));
}

main().catch((e) => {
  console.error(e.message || String(e));
  process.exit(1);
});

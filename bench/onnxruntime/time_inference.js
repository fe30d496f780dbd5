#!/usr/bin/env node
// Times ONNX Runtime inference of one .onnx model on the CPU execution provider and prints
// one JSON line: {"runs", "seconds", "cpu_seconds", "ms_per_run", "ort_version"}.
//
//   node bench/onnxruntime/time_inference.js --ort <folder with node_modules/onnxruntime-node>
//        --model tower.onnx --shape 1,3,150,150 [--threads 1] [--min-time 0.5]
//
// The model loaded as ort_model.js loads it (--threads intra-op threads). Three warm-up
// runs, then run() in a loop until at least --min-time seconds and 3 runs have passed.
// cpu_seconds is the whole process's user + system time over the timed loop (every ONNX
// Runtime thread), for a CPU-time ratio.
'use strict';
const { parseArgs, openModel, deterministicFeeds, run } = require('./ort_model');

run(async () => {
  const a = parseArgs(process.argv, 'time_inference', { minTime: 0.5 });
  const { ort, model, version } = await openModel(a);
  const feeds = deterministicFeeds(ort, model, a.shape);
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
  console.log(JSON.stringify({
    runs, seconds: dt, cpu_seconds: (c.user + c.system) / 1e6, ms_per_run: 1000 * dt / runs, ort_version: version,
  }));
});

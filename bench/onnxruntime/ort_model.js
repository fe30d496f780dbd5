// What time_inference.js and profile_nodes.js share: their command line (--ort, --model,
// --shape, --threads and each one's own options), how the model is loaded (the CPU
// execution provider, --threads intra-op threads, one inter-op thread, sequential
// execution, every graph optimisation; ONNX Runtime's defaults otherwise, spinning worker
// threads included) and a deterministic input.
'use strict';
const path = require('path');

// argv -> {ort, model, shape, threads, ...extra}; `extra` maps each further option
// (without the dashes, camel-cased) to its default number.
function parseArgs(argv, script, extra = {}) {
  const a = { threads: 1, ...extra };
  const camel = (k) => k.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) throw new Error(`${script}: ${k} needs a value`);
    const key = camel(k.replace(/^--/, ''));
    if (key === 'ort' || key === 'model') a[key] = v;
    else if (key === 'shape') a.shape = v.split(',').map(Number);
    else if (key === 'threads' || key in extra) a[key] = Number(v);
    else throw new Error(`${script}: unknown argument ${k}`);
  }
  if (!a.ort || !a.model || !a.shape) throw new Error(`${script}: --ort, --model and --shape are required`);
  return a;
}

// The onnxruntime-node package under a.ort, its version, and a.model loaded for inference;
// `more` adds options.
async function openModel(a, more = {}) {
  const pkg = path.join(path.resolve(a.ort), 'node_modules', 'onnxruntime-node');
  const ort = require(pkg);
  const model = await ort.InferenceSession.create(a.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...more,
  });
  return { ort, model, version: require(path.join(pkg, 'package.json')).version };
}

// The feeds of a one-input model: a fixed linear congruential stream in [-1, 1).
function deterministicFeeds(ort, model, shape) {
  const n = shape.reduce((x, y) => x * y, 1);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = s / 2147483648 - 1;
  }
  return { [model.inputNames[0]]: new ort.Tensor('float32', data, shape) };
}

// Runs main(); an error ends the process with its message and exit code 1.
function run(main) {
  main().catch((e) => {
    console.error(e.message || String(e));
    process.exit(1);
  });
}

module.exports = { parseArgs, openModel, deterministicFeeds, run };

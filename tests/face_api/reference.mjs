// The reference for twin's face models: face-api itself (its browser bundle with the tfjs it
// bundles, wasm backend) run in headless Chromium, on the images listed in a file.
//
//   node reference.mjs --runner DIR --models DIR --list images.txt --out result.json
//                      [--chromium /usr/bin/chromium] [--backend wasm|cpu] [--task recognition|landmarks|detect]
//                      [--input-size 416] [--score-threshold 0.5]   (detect)
//
// DIR (--runner) is what `scripts/fetch-face-models.sh --runner` installs: dist/face-api.esm.js,
// wasm/*.wasm and node_modules/puppeteer-core. Images are binary PGM (P5) or PPM (P6); each is
// given to face-api as an (H, W, 3) tensor (grey replicated), which face-api pads to a square
// and resizes to 150 x 150 (landmarks: 112 x 112) itself. result.json: {"backend", "tfjs",
// "descriptors": [[128 values] per image]} or {..., "landmarks": [[68 x [x, y]] per image]},
// the landmarks in the image's pixel coordinates, or {..., "detections": [[[x, y, w, h, score] per face]
// per image]} from the tiny face detector (its default pad-to-square at the bottom/right).
// Node 20 cannot run the ESM bundle ("this.util.TextEncoder is not a constructor"), hence the
// browser; a local HTTP server hands it the bundle, the weights and the pixels.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['runner', 'models', 'list', 'out']) {
  if (!args[k]) {
    console.error(`reference.mjs: --${k} is required`);
    process.exit(2);
  }
}
const backend = args.backend || 'wasm';
const task = args.task || 'recognition';
const chromium = args.chromium || '/usr/bin/chromium';

// Binary PGM/PPM -> {w, h, rgb: Uint8Array(h * w * 3)}.
function readNetpbm(path) {
  const b = readFileSync(path);
  const fields = [];
  let i = 0;
  while (fields.length < 4) {
    while (i < b.length && /\s/.test(String.fromCharCode(b[i]))) i++;
    if (b[i] === 0x23) { while (i < b.length && b[i] !== 0x0a) i++; continue; }
    let s = '';
    while (i < b.length && !/\s/.test(String.fromCharCode(b[i]))) s += String.fromCharCode(b[i++]);
    fields.push(s);
  }
  i++;  // the one whitespace byte before the pixels
  const [magic, w, h, max] = [fields[0], +fields[1], +fields[2], +fields[3]];
  if ((magic !== 'P5' && magic !== 'P6') || max !== 255) throw new Error(`${path}: not an 8-bit binary PGM/PPM`);
  const c = magic === 'P5' ? 1 : 3;
  if (b.length < i + w * h * c) throw new Error(`${path}: truncated`);
  const rgb = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) for (let k = 0; k < 3; k++) rgb[p * 3 + k] = b[i + p * c + (c === 3 ? k : 0)];
  return { w, h, rgb };
}

const images = readFileSync(args.list, 'utf8').split('\n').filter((s) => s.trim()).map(readNetpbm);
const types = { '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.html': 'text/html' };
const server = createServer((req, res) => {
  const url = decodeURIComponent(req.url.split('?')[0]);
  let file = null;
  let body = null;
  if (url === '/favicon.ico') { res.writeHead(204); res.end(); return; }
  if (url === '/' || url === '/index.html') body = '<!doctype html><meta charset="utf-8"><title>face-api reference</title>';
  else if (url === '/face-api.esm.js') file = join(args.runner, 'dist', 'face-api.esm.js');
  else if (url.startsWith('/wasm/')) file = join(args.runner, 'wasm', url.slice(6));
  else if (url.startsWith('/model/')) file = join(args.models, url.slice(7));
  else if (url.startsWith('/img/')) body = Buffer.from(images[+url.slice(5)].rgb);
  try {
    if (file) body = readFileSync(file);
    if (body === null) throw new Error('not found');
    res.writeHead(200, { 'Content-Type': types[extname(file || url)] || 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const require = createRequire(join(args.runner, 'package.json'));
const puppeteer = require('puppeteer-core');
const profile = mkdtempSync(join(tmpdir(), 'twin-face-api-'));
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`],
});
let code = 0;
try {
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('[chromium]', m.text()); });
  await page.goto(`${base}/index.html`);
  const t0 = Date.now();
  const detectOptions = { inputSize: +(args['input-size'] || 416), scoreThreshold: +(args['score-threshold'] || 0.5) };
  const result = await page.evaluate(async (dims, backendName, taskName, detectOptions) => {
    const faceapi = await import('/face-api.esm.js');
    const tf = faceapi.tf;
    if (backendName === 'wasm') tf.setWasmPaths('/wasm/');
    await tf.setBackend(backendName);
    await tf.ready();
    const nets = { landmarks: faceapi.nets.faceLandmark68Net, recognition: faceapi.nets.faceRecognitionNet,
      detect: faceapi.nets.tinyFaceDetector };
    const net = nets[taskName];
    await net.loadFromUri('/model');
    const out = [];
    for (let i = 0; i < dims.length; i++) {
      const rgb = new Uint8Array(await (await fetch(`/img/${i}`)).arrayBuffer());
      const t = tf.tensor3d(Float32Array.from(rgb), [dims[i].h, dims[i].w, 3], 'float32');
      if (taskName === 'landmarks') out.push((await net.detectLandmarks(t)).positions.map((p) => [p.x, p.y]));
      else if (taskName === 'detect') {
        const faces = await net.locateFaces(t, new faceapi.TinyFaceDetectorOptions(detectOptions));
        out.push(faces.map((f) => [f.box.x, f.box.y, f.box.width, f.box.height, f.score]));
      }
      else out.push(Array.from(await net.computeFaceDescriptor(t)));
      t.dispose();
    }
    const r = { backend: tf.getBackend(), tfjs: tf.version_core };
    r[{ landmarks: 'landmarks', recognition: 'descriptors', detect: 'detections' }[taskName]] = out;
    return r;
  }, images.map(({ w, h }) => ({ w, h })), backend, task, detectOptions);
  result.seconds = (Date.now() - t0) / 1000;
  writeFileSync(args.out, JSON.stringify(result));
  console.log(`reference.mjs: ${task} of ${images.length} images from face-api (tfjs ${result.tfjs}, ` +
    `${result.backend} backend) in ${result.seconds.toFixed(1)} s`);
} catch (e) {
  console.error(`reference.mjs: ${e.message}`);
  code = 1;
} finally {
  await browser.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);

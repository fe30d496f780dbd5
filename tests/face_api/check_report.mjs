// Opens face_verification's HTML report (--report) in headless Chromium and checks that it
// renders: the metrics table, the ROC curve, the histograms, and a gallery whose every image
// decodes to 150 x 150 pixels.
//   node check_report.mjs --runner DIR --report FILE [--chromium /usr/bin/chromium]
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
// ctest's skip code when what the check needs is absent
const chromium = args.chromium || '/usr/bin/chromium';
for (const [what, path] of [['the reference runner (scripts/fetch-face-models.sh --runner)', join(args.runner || '', 'node_modules', 'puppeteer-core')],
  ['the report', args.report || ''], ['chromium', chromium]]) {
  if (!existsSync(path)) {
    console.log(`SKIPPED: ${what} not found at ${path}`);
    process.exit(77);
  }
}
const require = createRequire(join(args.runner, 'package.json'));
const puppeteer = require('puppeteer-core');
const profile = mkdtempSync(join(tmpdir(), 'twin-report-'));
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`],
});
let code = 1;
try {
  const page = await browser.newPage();
  await page.goto(pathToFileURL(resolve(args.report)).href, { waitUntil: 'load' });
  const r = await page.evaluate(() => {
    const imgs = [...document.querySelectorAll('#gallery img')];
    return {
      rows: document.querySelectorAll('#metrics tr').length,
      roc: (document.querySelector('#roc polyline')?.getAttribute('points') || '').trim().split(/\s+/).length,
      bars: document.querySelectorAll('#hist rect').length,
      images: imgs.length,
      decoded: imgs.filter((i) => i.complete && i.naturalWidth === 150 && i.naturalHeight === 150).length,
      captions: document.querySelectorAll('#gallery figcaption').length,
    };
  });
  const ok = r.rows >= 3 && r.roc > 10 && r.bars > 0 && r.images > 0 && r.decoded === r.images && r.captions * 2 === r.images;
  console.log(`check_report.mjs: ${JSON.stringify(r)}: ${ok ? 'ok' : 'FAILED'}`);
  code = ok ? 0 : 1;
} catch (e) {
  console.error(`check_report.mjs: ${e.message}`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(code);

// A consumer's install of the packed tarball: the two examples under examples/ are copied to a
// temporary folder and `npm install`ed with the tarball in place of the registry version (their
// other dependencies — typescript, @types/node, vite — from npm's cache, which `npm ci` filled,
// else the registry). The Node example type-checks against the shipped .d.ts with skipLibCheck off,
// trains a tiny detector, saves it, and scores image files with it; the Vite example type-checks,
// builds (the backbone imported as an asset) and, where Chromium is installed, runs in it.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageHeader } from '../../src/io/image-node.js';
import { startServer, type RunningServer } from '../../src/cli/commands/serve.js';
import { diskUsage, mib, pack, packageJson, ROOT, run } from './helpers.js';

const CHROMIUM = process.env.HLGFA_CHROMIUM ?? '/usr/bin/chromium';
const NPM_INSTALL = ['install', '--prefer-offline', '--no-audit', '--no-fund'];
const BACKBONE = join(ROOT, 'weights/mobilenet_v2_imagenet.safetensors');
const VERSION = packageJson().version as string;

let work: string;
let tarball: string;

/** Copies examples/<name> (without anything a local run left there) and installs the tarball into it. */
function installExample(name: string): string {
  const dir = join(work, name);
  cpSync(join(ROOT, 'examples', name), dir, { recursive: true, filter: (src) => !/[\\/](node_modules|dist|out)$/.test(src) });
  run('npm', [...NPM_INSTALL, tarball], dir, 300_000);
  const deps = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies;
  expect(deps['hlgfa-webgpu']).toBe(`file:../hlgfa-webgpu-${VERSION}.tgz`);
  return dir;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hlgfa-consumer-'));
  tarball = pack(work).tarball!;
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('Node consumer (examples/node)', () => {
  let dir: string;
  beforeAll(() => {
    dir = installExample('node');
    const all = diskUsage(join(dir, 'node_modules'));
    const own = diskUsage(join(dir, 'node_modules/hlgfa-webgpu'));
    const dawn = diskUsage(join(dir, 'node_modules/webgpu'));
    console.log(`installed: node_modules ${mib(all.bytes)} (${all.files} files) with the example's typescript and @types/node; ` +
      `hlgfa-webgpu ${mib(own.bytes)} (${own.files} files), webgpu ${mib(dawn.bytes)}`);
  }, 300_000);

  it('type-checks score.mjs against the shipped declarations with skipLibCheck off', () => {
    expect(run('npx', ['tsc', '-p', '.'], dir)).toBe('');
  }, 120_000);

  it('type-checks every entry with an empty `types` list: the declarations bring their own references', () => {
    writeFileSync(join(dir, 'entries.ts'), [
      "import { loadDetector, type AnomalyResult, type Detector, type HlgfaConfig } from 'hlgfa-webgpu';",
      "import { readImage, DEFAULT_BACKBONE_PATH, type ImageReadOptions } from 'hlgfa-webgpu/node';",
      "import { conv2dRef, applyTuning, type TuningRecord } from 'hlgfa-webgpu/kernels';",
      "import { generateDataset, type SyntheticDataset } from 'hlgfa-webgpu/synthetic';",
      "import { auroc, type VerdictMetrics } from 'hlgfa-webgpu/metrics';",
      'export const used = [loadDetector, readImage, DEFAULT_BACKBONE_PATH, conv2dRef, applyTuning, generateDataset, auroc];',
      'export type Used = [AnomalyResult, Detector, HlgfaConfig, ImageReadOptions, TuningRecord, SyntheticDataset, VerdictMetrics];',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'tsconfig.entries.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: [] },
      files: ['entries.ts'],
    }));
    expect(run('npx', ['tsc', '-p', 'tsconfig.entries.json'], dir)).toBe('');
  }, 120_000);

  it('trains a tiny detector, saves it, and scores the saved image files with it', () => {
    const out = run('node', ['score.mjs', '--demo', 'out'], dir, 300_000);
    console.log(out);
    expect(out).toMatch(/^trained\t1 epoch\(s\)\t\d+\.\d s\tout\/model\.safetensors$/m);
    const lines = [...out.matchAll(/^(\w+\.png)\t(\d+\.\d{4})\t(normal|anomalous)$/gm)];
    expect(lines.map((m) => m[1])).toEqual(['good_000.png', 'good_001.png', 'scratch_000.png', 'spot_000.png']);
    const threshold = Number(/^threshold\t(\d+\.\d{4})$/m.exec(out)?.[1]);
    expect(threshold).toBeGreaterThan(0);
    for (const m of lines) expect(m[3]).toBe(Number(m[2]) > threshold ? 'anomalous' : 'normal');
    expect(out).toMatch(/^image AUROC\t[01]\.\d{3}$/m);
    for (const m of lines) {
      const header = readImageHeader(join(dir, 'out', m[1].replace('.png', '_overlay.png')));
      expect([header.format, header.width, header.height]).toEqual(['png', 64, 64]);
    }
    // The saved model, loaded anew, scores a saved image as the demo did.
    const again = run('node', ['score.mjs', 'out/model.safetensors', 'out/spot_000.png'], dir, 120_000);
    expect(again.split('\n')[0]).toBe(lines[3][0]);
  }, 300_000);

  it('runs the CLI from the install: `npx hlgfa`', () => {
    expect(run('npx', ['hlgfa', '--version'], dir).trim()).toBe(VERSION);
    const info = JSON.parse(run('npx', ['hlgfa', 'info', '--json'], dir)) as { description: string; limits: Record<string, number> };
    expect(info.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    // The developer commands load the compiled benchmark suite from the package.
    expect(run('npx', ['hlgfa', 'bench', '--help'], dir)).toMatch(/^Usage: hlgfa bench/);
    expect(run('npx', ['hlgfa', 'tune', '--help'], dir)).toMatch(/^Usage: hlgfa tune/);
  }, 120_000);
});

describe('Vite consumer (examples/vite)', () => {
  let dir: string;
  beforeAll(() => {
    dir = installExample('vite');
  }, 300_000);

  it('type-checks and builds, with the backbone as an emitted asset and no Node module in the bundle', () => {
    const out = run('npm', ['run', 'build'], dir, 300_000);
    expect(out).toMatch(/✓ built in/);
    const assets = readdirSync(join(dir, 'dist/assets'));
    const weights = assets.filter((f) => /^mobilenet_v2_imagenet-[\w-]+\.safetensors$/.test(f));
    expect(weights.length).toBe(1);
    expect(statSync(join(dir, 'dist/assets', weights[0])).size).toBe(statSync(BACKBONE).size);
    const js = assets.filter((f) => f.endsWith('.js'));
    expect(js.length).toBe(1);
    const bundle = readFileSync(join(dir, 'dist/assets', js[0]), 'utf8');
    expect(bundle).toContain(`/assets/${weights[0]}`);
    expect(bundle).not.toMatch(/["']node:\w+["']/);
    console.log(`vite build: ${js[0]} ${(bundle.length / 1024).toFixed(0)} KiB, ${weights[0]}`);
  }, 300_000);

  it('a browser bundler cannot take hlgfa-webgpu/node: it is exported for Node only', async () => {
    const failure = await build({
      stdin: { contents: "import { readImage } from 'hlgfa-webgpu/node'; console.log(readImage);", resolveDir: dir },
      bundle: true, platform: 'browser', write: false, logLevel: 'silent',
    }).then(() => null, (e: { errors: Array<{ text: string; notes: Array<{ text: string }> }> }) => e.errors[0]);
    expect(failure?.text).toBe('Could not resolve "hlgfa-webgpu/node"');
    expect(failure?.notes[1].text).toMatch(/^None of the conditions in the package definition \("types", "node"\) match/);
  });

  describe.skipIf(!existsSync(CHROMIUM))('in headless Chromium (WebGPU)', () => {
    let server: RunningServer;
    let context: BrowserContext;
    afterAll(async () => {
      await context?.close();
      await server?.close();
    });

    it('trains the demo model and scores its test images', async () => {
      expect(existsSync(join(dir, 'dist/index.html')), 'the build test runs first').toBe(true);
      server = await startServer({ port: 0, webRoot: join(dir, 'dist'), weightsRoot: join(dir, 'dist') });
      const { chromium } = await import('playwright-core');
      context = await chromium.launchPersistentContext(join(work, 'profile'), {
        executablePath: CHROMIUM, headless: true,
        args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--no-first-run'],
      });
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${server.url}?demo`);
      await page.waitForSelector('body[data-state]', { timeout: 240_000 });
      const status = await page.textContent('#status');
      console.log(`page:\n${status}`);
      expect(await page.getAttribute('body', 'data-state')).toBe('done');
      expect(status).toMatch(/^model: demo, trained in \d+\.\d s, threshold \d+\.\d{4}$/m);
      const scored = [...(status ?? '').matchAll(/^(\w+)\t(\d+\.\d{4})\t(normal|anomalous)$/gm)].map((m) => m[1]);
      expect(scored).toEqual(['good_000', 'good_001', 'scratch_000', 'spot_000']);
      expect(await page.locator('#results canvas').count()).toBe(4);
    }, 300_000);
  });
});

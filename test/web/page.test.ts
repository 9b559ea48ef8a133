// The browser page in headless Chromium (WebGPU on SwiftShader) against Node (dawn.node): the same
// engine must give the same numbers. Forward parity (backbone features, refined features, anomaly
// map), 10 training steps, checkpoints crossing both ways. And the page as a user meets it: the S
// proposed for this adapter, the training-time estimate against the real run, progress and ETA in
// every phase, cancelling, per-image scoring, adding/removing/clearing images, keyboard access,
// messages beside their section, a 375 px viewport. Each state is a screenshot in
// test-artifacts/web-*.png. Sizes are small: SwiftShader runs matmuls at ~2-3 GFLOP/s.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { destroyRuntime, initRuntime } from '../../src/gpu/runtime.js';
import { loadBackbone, type Backbone } from '../../src/models/backbone.js';
import { sha256Hex, type BackboneIdentity } from '../../src/models/detector.js';
import { detectorFromCheckpoint, parseCheckpoint } from '../../src/models/checkpoint.js';
import { resolveConfig } from '../../src/models/hlgfa-config.js';
import { trainHlgfa } from '../../src/models/hlgfa-train.js';
import { noiseAugmenter } from '../../src/data/augment.js';
import { writePng } from '../../src/io/png-node.js';
import { readImage } from '../../src/io/image-node.js';
import { startServer, type RunningServer } from '../../src/cli/commands/serve.js';
import { forwardProbe, pixelHash, probeImage, relL2, trainProbe } from '../../src/web/probe.js';
import { costFrom, estimateTraining, proposedSize } from '../../src/web/ui/estimate.js';
import { RunClock, clock } from '../../src/web/ui/run-clock.js';
import '../../src/ops/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = process.env.HLGFA_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = Boolean(process.env.CI) && process.env.CI !== 'false';
const ARTIFACTS = join(ROOT, 'test-artifacts');
const ARGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Parity tolerance: relative L2 (features, maps) and relative difference (losses, scores). */
const TOL = 1e-3;
/** For DOM state that follows quickly but may lag on a loaded 2-core CI machine. */
const WAIT = { timeout: 30_000 };
if (!HAVE_CHROMIUM && !IN_CI) console.warn(`page.test: skipping the browser tests, ${CHROMIUM} is missing (apt-get install chromium)`);

const relDiff = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

describe.skipIf(!HAVE_CHROMIUM)('browser page (headless Chromium, WebGPU)', () => {
  let tmp: string;
  let server: RunningServer;
  let context: BrowserContext;
  let page: Page;
  let backbone: Backbone;
  let backboneId: BackboneIdentity;
  let adapter: { vendor: string; architecture: string; description: string };
  const pageErrors: string[] = [];
  const testPng = () => join(tmp, 'scratch_000.png');
  const goodPng = () => join(tmp, 'good_000.png');
  /** A full-page screenshot of the current state: test-artifacts/web-NAME.png. */
  const shot = (name: string, p: Page = page) => p.screenshot({ path: join(ARTIFACTS, `web-${name}.png`), fullPage: true });
  const state = (sel: string, p: Page = page) => p.locator(sel).getAttribute('data-state');
  const text = async (sel: string, p: Page = page) => (await p.locator(sel).textContent()) ?? '';
  /** The newest message in a section's message box. */
  const latest = (section: string) => page.locator(`#${section}-notices .notice .text`).first().textContent();
  /** Records every text (and data-stage) `sel` shows from now on; `read()` returns them. */
  async function recorder(sel: string) {
    const key = `rec${Math.random().toString(36).slice(2)}`;
    await page.evaluate(([s, k]) => {
      const node = document.querySelector(s) as HTMLElement;
      const seen: string[] = [];
      (window as unknown as Record<string, string[]>)[k] = seen;
      new MutationObserver(() => {
        const line = `${node.dataset.stage ?? ''}|${node.dataset.state}|${node.textContent}`;
        if (seen[seen.length - 1] !== line) seen.push(line);
      }).observe(node, { childList: true, characterData: true, subtree: true, attributes: true });
    }, [sel, key] as const);
    return { read: () => page.evaluate((k) => (window as unknown as Record<string, string[]>)[k], key) };
  }
  /** Waits until the estimate is shown for exactly this configuration; returns its seconds and text. */
  async function estimateFor(cfg: string) {
    await page.locator(`#estimate[data-for="${cfg}"]`).waitFor({ timeout: 120_000 });
    return { seconds: Number(await page.locator('#estimate').getAttribute('data-seconds')), text: await text('#estimate') };
  }
  const trainPngs = (n: number, size: number, prefix = 'good') =>
    Array.from({ length: n }, (_, i) => {
      const p = join(tmp, `${prefix}_${i}.png`);
      writePng(p, probeImage({ split: 'train', index: i, category: 'fabric', size }));
      return p;
    });

  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, 'tools/build-web.mjs')], { cwd: ROOT, stdio: 'pipe' });
    tmp = mkdtempSync(join(tmpdir(), 'hlgfa-web-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    writePng(testPng(), probeImage({ defect: 'scratch', size: 80 }));
    writePng(goodPng(), probeImage({ defect: 'good', index: 3, size: 80 }));
    await initRuntime();
    const bytes = new Uint8Array(readFileSync(join(ROOT, 'weights/mobilenet_v2_imagenet.safetensors')));
    backbone = loadBackbone(bytes, 'weights/mobilenet_v2_imagenet.safetensors');
    backboneId = { architecture: backbone.architecture, source: backbone.metadata.source ?? 'mobilenet_v2_imagenet.safetensors', sha256: await sha256Hex(bytes) };
    // Roots given explicitly: the defaults are relative to the compiled CLI in dist/.
    server = await startServer({ port: 0, webRoot: join(ROOT, 'dist/web'), weightsRoot: join(ROOT, 'weights') });
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(join(tmp, 'profile'), { executablePath: CHROMIUM, headless: true, args: ARGS, acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // Keeps file-chooser interception on for good: enabled per waitForEvent, it can lag behind the
    // key press, and Chromium then cancels the real (headless) dialog at once ('cancel' event).
    page.on('filechooser', () => undefined);
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    await page.goto(server.url);
    adapter = await page.evaluate(() => window.hlgfaTest!.ready());
    console.log(`page adapter: ${JSON.stringify(adapter)}`);
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    backbone?.dispose();
    destroyRuntime();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (pageErrors.length) console.log(`page console errors (the message tests cause some on purpose):\n  ${pageErrors.join('\n  ')}`);
  });

  it('shows the adapter, loads the shipped backbone and proposes the S that fits the adapter', async () => {
    await expect.poll(() => state('#adapter'), WAIT).toBe('ok');
    expect(await text('#adapter')).toMatch(/^WebGPU adapter: \S/);
    expect(await state('#backbone-status')).toBe('ok');
    expect(await text('#backbone-status')).toContain(backboneId.sha256.slice(0, 12));
    // SwiftShader is a software adapter: S=128, not the method's 256 (a default run would take most of an hour).
    const proposed = proposedSize({ ...adapter, isFallbackAdapter: false });
    if (adapter.architecture === 'swiftshader') expect(proposed).toBe(128);
    expect(await page.inputValue('#cfg-size')).toBe(String(proposed));
    expect(await page.locator('#cfg-size option:checked').textContent()).toBe(`${proposed} (proposed)`);
    if (proposed === 128) expect(await text('#size-hint')).toMatch(/^This is a software \(CPU\) adapter: S=128 proposed\. S=256, the method's size, costs about 4× as much/);
    expect([await state('#estimate'), await text('#estimate')]).toEqual(['none', 'Add training images for an estimate of the training time.']);
    expect(await page.locator('#train-btn').isDisabled()).toBe(true);
    await shot('01-ready');
    // Meanwhile the page compiles the kernels of a run at the form's configuration (src/web/ui/warm-up.ts).
    expect(await text('#warm-status')).toMatch(new RegExp(`^(Preparing this adapter's kernels for S=${proposed} while you pick images \\([1-4]/4: |Kernels ready)`));
    await expect.poll(() => state('#warm-status'), { timeout: 300_000 }).toBe('ok');
    expect(await text('#warm-status')).toMatch(new RegExp(`^Kernels ready for S=${proposed} \\(\\d+ pipelines in \\d+\\.\\d s\\): the estimate, training and detection start without compiling\\.$`));
    expect(Number(await page.locator('#warm-status').getAttribute('data-pipelines'))).toBeGreaterThan(30);
    console.log(`page warm-up: ${await text('#warm-status')}`);
  }, 330_000);

  it('forward parity: backbone features, refined features and anomaly map match Node', async () => {
    const opts = { size: 64, moduleSeed: 7, image: { category: 'fabric' as const, defect: 'crack' as const, size: 64 } };
    const web = await page.evaluate((o) => window.hlgfaTest!.forward(o), opts);
    const node = await forwardProbe(backbone, opts);
    expect(web.pixels).toBe(node.pixels);
    const errs: Record<string, number> = {};
    for (const k of ['fh', 'fl', 'fhat'] as const) node[k].forEach((x, l) => (errs[`${k}[${l}]`] = relL2(web[k][l], x)));
    errs.map = relL2(web.map, node.map);
    console.log(`forward parity (relative L2), page ${web.ms.toFixed(0)} ms: ${Object.entries(errs).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
    for (const [k, v] of Object.entries(errs)) expect(v, k).toBeLessThanOrEqual(TOL);
  }, 180_000);

  it('training parity: 10 steps from the same seed give the same losses', async () => {
    const web = await page.evaluate(() => window.hlgfaTest!.train({}));
    const node = await trainProbe(backbone, backboneId, {});
    expect(web.pixels).toEqual(node.pixels);
    expect(node.losses).toHaveLength(10);
    expect(web.losses).toHaveLength(10);
    const diffs = web.losses.map((l, i) => relDiff(l, node.losses[i]));
    console.log(`training parity, page ${(web.ms / 1000).toFixed(1)} s: losses ${node.losses.map((l) => l.toFixed(4)).join(' ')}; max relative diff ${Math.max(...diffs).toExponential(2)}; thresholds ${web.threshold} / ${node.threshold}`);
    for (const [i, d] of diffs.entries()) expect(d, `step ${i + 1}`).toBeLessThanOrEqual(TOL);
    expect(relDiff(web.threshold, node.threshold)).toBeLessThanOrEqual(TOL);
  }, 180_000);

  it('reaches every control with Tab, shows where the focus is, and opens the file choosers from the keyboard', async () => {
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const order: string[] = [];
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName || ''));
    }
    const want = ['backbone-file', 'train-files', 'cfg-size', 'cfg-epochs', 'cfg-batch', 'cfg-seed', 'ckpt-file', 'detect-files'];
    const at = want.map((id) => order.indexOf(id));
    expect(at.every((i) => i >= 0), `Tab order: ${order.join(' ')}`).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // The focused (visually hidden) input shows its focus on the label that stands for it.
    await page.focus('#train-files');
    const ring = await page.$eval('#train-files', (i) => {
      const s = getComputedStyle(i.closest('label')!);
      return `${s.outlineStyle} ${s.outlineWidth}`;
    });
    expect(ring).toBe('solid 3px');
    await shot('02-keyboard-focus');
    for (const [id, key, multiple] of [['train-files', 'Space', true], ['ckpt-file', 'Enter', false], ['detect-files', 'Enter', true], ['backbone-file', 'Space', false]] as const) {
      await page.focus(`#${id}`);
      const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 10_000 }), page.keyboard.press(key)]);
      expect([await chooser.element().getAttribute('id'), chooser.isMultiple()], id).toEqual([id, multiple]);
      await chooser.setFiles([]); // closes it as Cancel would: an input opens one chooser at a time
    }
  });

  /** Waits until the page scored `name` with model generation `gen`; returns its score and verdict. */
  async function cardFor(name: string, gen: string) {
    const card = page.locator(`#results .card[data-name="${name}"][data-model="${gen}"]`);
    await card.waitFor({ timeout: 120_000 });
    return { score: Number(await card.getAttribute('data-score')), verdict: await card.getAttribute('data-verdict') };
  }
  const generation = async () => (await page.locator('#model-status').getAttribute('data-generation')) ?? '0';
  const nextGeneration = async (before: string) => {
    await expect.poll(generation, { timeout: 120_000 }).not.toBe(before);
    return generation();
  };

  it('a checkpoint trained in Node loads in the page and scores the same', async () => {
    const config = resolveConfig({ size: 64, epochs: 1, batchSize: 2, holdout: 0, seed: 5 });
    const images = [0, 1, 2, 3].map((i) => probeImage({ split: 'train', index: i }));
    const { detector } = await trainHlgfa({ backbone, backboneId, config, images, augment: noiseAugmenter() });
    const ckPath = join(tmp, 'node-model.safetensors');
    writeFileSync(ckPath, await detector.toCheckpoint());
    const expected = await detector.score([await readImage(testPng()), await readImage(goodPng())]);
    detector.dispose();

    const before = await generation();
    await page.focus('#ckpt-file'); // as a keyboard user: Enter opens the chooser
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.keyboard.press('Enter')]);
    await chooser.setFiles(ckPath);
    const gen = await nextGeneration(before);
    const scoring = await recorder('#detect-status');
    await page.setInputFiles('#detect-files', [testPng(), goodPng()]);
    await page.locator('#detect-status[data-state="running"]').waitFor(WAIT);
    await shot('03-scoring');
    for (const [i, name] of ['scratch_000.png', 'good_000.png'].entries()) {
      const got = await cardFor(name, gen);
      const hashes = await page.evaluate(() => window.hlgfaTest!.decoded());
      expect(hashes[`test/${name}`]).toBe(pixelHash(await readImage(join(tmp, name))));
      console.log(`Node checkpoint in the page, ${name}: score ${got.score} (Node ${expected[i].score}), relative diff ${relDiff(got.score, expected[i].score).toExponential(2)}`);
      expect(relDiff(got.score, expected[i].score)).toBeLessThanOrEqual(TOL);
      expect(got.verdict).toBe(expected[i].anomalous ? 'ANOMALOUS' : 'normal');
    }
    await expect.poll(() => state('#detect-status'), WAIT).toBe('done');
    // One progress line per image, then the summary.
    const lines = (await scoring.read()).map((l) => l.split('|').slice(1).join('|'));
    expect(lines.filter((l) => l.startsWith('running|'))).toEqual([
      'running|scoring 1/2 · scratch_000.png · ETA --:--',
      expect.stringMatching(/^running\|scoring 2\/2 · good_000\.png · ETA \d+:\d\d$/),
    ]);
    const anomalous = expected.filter((r) => r.anomalous).length;
    expect(await text('#detect-status')).toMatch(new RegExp(`^${anomalous}/2 anomalous \\(threshold \\d\\.\\d{5}\\) — scored 2 images in \\d+\\.\\d s$`));
    expect(await page.locator('#detect-bar').isHidden()).toBe(true);
    await shot('04-scored-node-checkpoint');
  }, 180_000);

  it('scores only the images added, and removes or clears test images', async () => {
    const gen = await generation();
    const cards = page.locator('#results .card');
    const before = await cards.evaluateAll((cs) => cs.map((c) => { (c as HTMLElement).dataset.marker = 'kept'; return (c as HTMLElement).dataset.score; }));
    const crack = join(tmp, 'crack_000.png');
    writePng(crack, probeImage({ defect: 'crack', size: 80 }));
    await page.setInputFiles('#detect-files', crack);
    await cardFor('crack_000.png', gen);
    await expect.poll(() => state('#detect-status'), WAIT).toBe('done');
    expect(await page.locator('#detect-status').getAttribute('data-scored')).toBe('1');
    expect(await text('#detect-status')).toMatch(/^\d\/3 anomalous \(threshold \d\.\d{5}\) — scored 1 image in \d+\.\d s$/);
    // The first two cards are the same elements, with the same scores: not scored again.
    expect(await cards.evaluateAll((cs) => cs.slice(0, 2).map((c) => [(c as HTMLElement).dataset.marker, (c as HTMLElement).dataset.score]))).toEqual(before.map((sc) => ['kept', sc]));

    await page.click('#results .card[data-name="good_000.png"] button.remove');
    expect(await cards.evaluateAll((cs) => cs.map((c) => (c as HTMLElement).dataset.name))).toEqual(['scratch_000.png', 'crack_000.png']);
    // The focus moves to the next image's remove button: Enter removes that one as well.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Remove crack_000.png');
    await shot('05-test-image-removed');
    await page.keyboard.press('Enter');
    expect(await cards.evaluateAll((cs) => cs.map((c) => (c as HTMLElement).dataset.name))).toEqual(['scratch_000.png']);
    expect(await text('#detect-status')).toMatch(/^\d\/1 anomalous/);
    await page.click('#detect-clear');
    expect([await cards.count(), await state('#detect-status'), await page.locator('#detect-clear').isDisabled()]).toEqual([0, 'idle', true]);
    const hashes = await page.evaluate(() => window.hlgfaTest!.decoded());
    expect(Object.keys(hashes).filter((k) => k.startsWith('test/'))).toEqual([]);
    // Back for the tests below. From the detector's third call on its work is replayed
    // (Detector.replay): the same images score exactly as when they were first run.
    await page.setInputFiles('#detect-files', [testPng(), goodPng()]);
    await cardFor('good_000.png', gen);
    expect(await cards.evaluateAll((cs) => cs.map((c) => (c as HTMLElement).dataset.score))).toEqual(before);
  }, 180_000);

  it('removes and clears training images, and the estimate follows the list and the settings', async () => {
    const estimates = await recorder('#estimate');
    await page.setInputFiles('#train-files', trainPngs(6, 72, 'extra'));
    await expect.poll(() => page.locator('#train-count').getAttribute('data-count'), WAIT).toBe('6');
    const S = await page.inputValue('#cfg-size');
    const six = await estimateFor(`S=${S} epochs=10 batch=8 images=6`);
    // The warm-up measured this S and batch already: no "Measuring this adapter…" in between.
    expect((await estimates.read()).map((l) => l.split('|')[1])).not.toContain('measuring');
    expect(six.text).toMatch(new RegExp(`^Estimated training time ≈ \\d+:\\d\\d \\(caching features \\d+:\\d\\d, training \\d+:\\d\\d, calibrating \\d+:\\d\\d; measured here at S=${S}: backbone \\d+ ms and a training step \\d+ ms per image\\)`));
    await page.click('#train-list li[data-name="extra_1.png"] button.remove');
    expect(await page.locator('#train-list li').evaluateAll((ls) => ls.map((l) => (l as HTMLElement).dataset.name))).toEqual(['extra_0.png', 'extra_2.png', 'extra_3.png', 'extra_4.png', 'extra_5.png']);
    expect(await text('#train-count')).toBe('5 training images:');
    // (6 images: 5 trained on, 1 held out; 5 images: 4 and 1.)
    const five = await estimateFor(`S=${S} epochs=10 batch=8 images=5`);
    expect(five.seconds).toBeLessThan(six.seconds);
    await page.fill('#cfg-epochs', '20');
    const twenty = await estimateFor(`S=${S} epochs=20 batch=8 images=5`);
    expect(twenty.seconds).toBeGreaterThan(five.seconds);
    await page.fill('#cfg-epochs', '');
    await expect.poll(() => text('#estimate'), WAIT).toBe('No estimate: epochs must be a whole number, got ""');
    await page.fill('#cfg-epochs', '10');
    await shot('06-training-images');
    await page.click('#train-clear');
    expect([await page.locator('#train-count').getAttribute('data-count'), await page.locator('#train-list li').count(), await page.locator('#train-btn').isDisabled()]).toEqual(['0', 0, true]);
    await expect.poll(() => state('#estimate'), WAIT).toBe('none');
  }, 180_000);

  it('shows the estimate before training, progress with an ETA in every phase, and "cancelling…" at once on Cancel', async () => {
    const files = trainPngs(4, 72);
    await page.setInputFiles('#train-files', files);
    await expect.poll(() => page.locator('#train-count').getAttribute('data-count'), WAIT).toBe('4');
    await page.selectOption('#cfg-size', '64');
    await page.fill('#cfg-epochs', '200');
    await page.fill('#cfg-batch', '2');
    await page.fill('#cfg-seed', '1');
    const est = await estimateFor('S=64 epochs=200 batch=2 images=4');
    expect(est.seconds).toBeGreaterThan(0);
    await shot('07-estimate');
    const progress = await recorder('#progress');
    const before = await generation();
    await page.click('#train-btn');
    await page.locator('#progress', { hasText: /loss \d/ }).waitFor({ timeout: 120_000 });
    expect(await text('#progress')).toMatch(/^epoch \d+\/200 · step [12]\/2 · loss \d+\.\d{4} · \d+\.\d img\/s · \d+:\d\d elapsed · ETA \d+:\d\d$/);
    expect(Number(await page.locator('#train-bar').getAttribute('value'))).toBeGreaterThan(0);
    await shot('08-training');
    // The feedback is immediate: set by the click itself, before the current step ends.
    const clicked = await page.evaluate(() => {
      (document.querySelector('#cancel-btn') as HTMLButtonElement).click();
      const p = document.querySelector('#progress') as HTMLElement;
      const b = document.querySelector('#cancel-btn') as HTMLButtonElement;
      return [p.dataset.state, p.textContent, b.disabled, b.textContent];
    });
    expect(clicked).toEqual(['cancelling', 'cancelling… waiting for the current step to finish (0:00)', true, 'Cancelling…']);
    await expect.poll(() => state('#progress'), { timeout: 60_000 }).toBe('cancelled');
    expect(await text('#progress')).toMatch(/^Training cancelled \d+\.\d s after the request; the previous model \(if any\) is kept\.$/);
    await shot('09-cancelled');
    expect(await generation()).toBe(before);
    expect([await page.locator('#train-btn').isEnabled(), await page.locator('#cancel-btn').textContent(), await page.locator('#train-bar').isHidden()]).toEqual([true, 'Cancel', true]);
    // Every running line of both phases seen had its counts, the elapsed time and an ETA.
    const running = (await progress.read()).filter((l) => l.split('|')[1] === 'running' && l.split('|')[0] !== 'measuring');
    expect(running.some((l) => /^features\|running\|caching backbone features [0-4]\/4 · \d+:\d\d elapsed · ETA \d+:\d\d$/.test(l)), running.join('\n')).toBe(true);
    for (const l of running) expect(l).toMatch(/^(features|train)\|running\|.* · (\d+:)?\d+:\d\d elapsed · ETA (\d+:)?\d+:\d\d$/);
  }, 180_000);

  it('a checkpoint trained in the page downloads and scores the same in Node', async () => {
    await page.fill('#cfg-epochs', '2');
    const before = await generation();
    const progress = await recorder('#progress');
    await page.click('#train-btn');
    await expect.poll(() => state('#progress'), { timeout: 150_000 }).toBe('done');
    const gen = await nextGeneration(before);
    const got = await cardFor('scratch_000.png', gen);
    await cardFor('good_000.png', gen);
    await expect.poll(() => state('#detect-status'), WAIT).toBe('done');
    await shot('10-trained');
    // Each phase showed its progress and an ETA: feature caching, training, both parts of calibration.
    const lines = await progress.read();
    for (const stage of ['features', 'train', 'statistics', 'threshold']) {
      expect(lines.some((l) => l.startsWith(`${stage}|running|`) && / · \d+:\d\d elapsed · ETA \d+:\d\d$/.test(l)), `${stage}:\n${lines.join('\n')}`).toBe(true);
    }
    expect(Number(await page.locator('#train-bar').getAttribute('value'))).toBe(1);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-btn')]);
    const ckPath = join(tmp, 'browser-model.safetensors');
    await download.saveAs(ckPath);

    // Profiling the model: the tables on the page, the Chrome trace as a download.
    const [traceDownload] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#profile-btn')]);
    expect(traceDownload.suggestedFilename()).toBe('hlgfa-profile.trace.json');
    const tracePath = join(tmp, 'profile.trace.json');
    await traceDownload.saveAs(tracePath);
    const trace = JSON.parse(readFileSync(tracePath, 'utf8')) as { traceEvents: Array<{ ph: string; tid: number; dur?: number }> };
    const gpuEvents = trace.traceEvents.filter((e) => e.ph === 'X' && e.tid === 1);
    expect(gpuEvents.length).toBeGreaterThan(50);
    expect(gpuEvents.every((e) => typeof e.dur === 'number' && e.dur >= 0)).toBe(true);
    expect(await page.locator('#profile-out').isVisible()).toBe(true);
    expect(await text('#profile-out')).toMatch(/dispatches: GPU [\d.]+ ms, CPU encode [\d.]+ ms/);
    expect(await text('#profile-out')).toMatch(/^layer +count/m);
    expect(await text('#profile-out')).toContain('more (the downloaded trace has every dispatch)');
    await shot('10b-profiled');
    const ck = parseCheckpoint(new Uint8Array(readFileSync(ckPath)), ckPath);
    expect(ck.config.size).toBe(64);
    const det = detectorFromCheckpoint(ck, backbone, backboneId.sha256);
    const [r] = await det.score([await readImage(testPng())]);

    // The same UI run, replayed in Node on the same PNGs: same losses.
    const webLosses = JSON.parse((await page.locator('#progress').getAttribute('data-losses')) ?? '[]') as number[];
    const images = await Promise.all([0, 1, 2, 3].map((i) => readImage(join(tmp, `good_${i}.png`))));
    const hashes = await page.evaluate(() => window.hlgfaTest!.decoded());
    images.forEach((img, i) => expect(hashes[`train/good_${i}.png`]).toBe(pixelHash(img)));
    const node = await trainHlgfa({ backbone, backboneId, config: resolveConfig({ size: 64, epochs: 2, batchSize: 2, seed: 1 }), images, augment: noiseAugmenter() });
    // The run's warnings (4 images: a threshold from training images) stay on screen.
    expect(node.warnings.length).toBeGreaterThan(0);
    expect(await text('#progress')).toMatch(/^trained in \d+\.\d s \(estimated \d+:\d\d\); final loss \d+\.\d{4}; threshold \d+\.\d{5} — warning: /);
    expect(await text('#progress')).toContain(` — warning: ${node.warnings.join('; ')}`);
    const lossDiff = Math.max(...node.losses.map((l, i) => relDiff(webLosses[i], l)));
    console.log(`page checkpoint in Node: score ${r.score} (page ${got.score}), relative diff ${relDiff(r.score, got.score).toExponential(2)}; threshold ${det.threshold}; UI-run losses max relative diff ${lossDiff.toExponential(2)}`);
    expect(relDiff(r.score, got.score)).toBeLessThanOrEqual(TOL);
    expect(webLosses).toHaveLength(node.losses.length);
    expect(lossDiff).toBeLessThanOrEqual(TOL);
    expect(relDiff(node.detector.threshold, det.threshold)).toBeLessThanOrEqual(TOL);
    // And the CLI itself takes the page's checkpoint: `hlgfa detect` prints the same score.
    const cli = execFileSync(process.execPath, [join(ROOT, 'bin', 'hlgfa.js'), 'detect', '--model', ckPath, '--out', join(tmp, 'cli-out'), testPng()], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const cliScore = Number(/score (\d+\.\d+)/.exec(cli)?.[1]);
    expect(relDiff(cliScore, got.score)).toBeLessThanOrEqual(TOL);
    det.dispose();
    node.detector.dispose();
  }, 240_000);

  it('says clearly, beside the section concerned, when a file is not an image or not a checkpoint; messages can be dismissed', async () => {
    const txt = join(tmp, 'notes.txt');
    writeFileSync(txt, 'hello');
    await page.setInputFiles('#detect-files', txt);
    await expect.poll(() => latest('detect'), WAIT).toBe('notes.txt: not a PNG or JPEG image (the browser could not decode it)');
    await page.setInputFiles('#train-files', txt);
    await expect.poll(() => latest('train'), WAIT).toBe('notes.txt: not a PNG or JPEG image (the browser could not decode it)');
    const junk = join(tmp, 'junk.safetensors');
    writeFileSync(junk, Buffer.from([1, 2, 3]));
    await page.setInputFiles('#ckpt-file', junk);
    await expect.poll(() => latest('model'), WAIT).toMatch(/^Could not load the checkpoint: .*junk\.safetensors/);
    await page.setInputFiles('#ckpt-file', join(ROOT, 'weights/mobilenet_v2_imagenet.safetensors'));
    await expect.poll(() => latest('model'), WAIT).toMatch(/^Could not load the checkpoint: .*not an HLGFA checkpoint/);
    const count = (section: string) => page.locator(`#${section}-notices .notice`).count();
    expect([await count('backbone'), await count('train'), await count('model'), await count('detect')]).toEqual([0, 1, 2, 1]);
    expect(await page.locator('#model-notices .notice').first().getAttribute('role')).toBe('alert');
    expect(await page.locator('#download-btn').isEnabled()).toBe(true); // the model is kept
    await shot('11-messages');
    await page.click('#detect-notices .notice button.dismiss');
    expect(await count('detect')).toBe(0);
    // From the keyboard: Enter on the dismiss button; the focus goes to the next message.
    await page.focus('#model-notices .notice button.dismiss');
    await page.keyboard.press('Enter');
    expect(await count('model')).toBe(1);
    expect(await page.evaluate(() => document.activeElement?.closest('#model-notices') !== null && document.activeElement?.className)).toBe('dismiss');
    await page.keyboard.press('Enter');
    expect(await count('model')).toBe(0);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('model-section');
    await page.click('#train-notices .notice button.dismiss');
  });

  it('trains at the proposed S in about the time it estimated, and Cancel answers at once during feature caching', async () => {
    const proposed = String(proposedSize({ ...adapter, isFallbackAdapter: false }));
    await page.selectOption('#cfg-size', proposed);
    await page.fill('#cfg-epochs', '3');
    await page.fill('#cfg-batch', '8');
    await page.click('#train-clear');
    await page.setInputFiles('#train-files', trainPngs(8, 96, 'default'));
    const est = await estimateFor(`S=${proposed} epochs=3 batch=8 images=8`);
    const before = await generation();
    await page.click('#train-btn');
    await expect.poll(() => state('#progress'), { timeout: 300_000 }).toBe('done');
    await nextGeneration(before);
    const actual = Number(await page.locator('#progress').getAttribute('data-seconds'));
    expect(Number(await page.locator('#progress').getAttribute('data-estimate'))).toBeCloseTo(est.seconds, 1);
    console.log(`estimate at the proposed S=${proposed} (8 images, 3 epochs, batch 8): ${est.seconds.toFixed(1)} s, run ${actual.toFixed(1)} s (ratio ${(actual / est.seconds).toFixed(2)}); ${est.text}`);
    // Within a factor of two either way, on a shared and busy machine.
    expect(actual / est.seconds).toBeGreaterThan(0.5);
    expect(actual / est.seconds).toBeLessThan(2);

    // Feature caching runs a batch of 8 images in one step: Cancel says so at once and ends after that step.
    await page.fill('#cfg-epochs', '10');
    await page.click('#train-btn');
    await page.locator('#progress[data-stage="features"]').waitFor({ timeout: 60_000 });
    // 8 images: 7 trained on (one held out), all in the first batch.
    expect(await text('#progress')).toMatch(/^caching backbone features 0\/7 · \d+:\d\d elapsed · ETA \d+:\d\d$/);
    await page.waitForTimeout(1500); // into the batch, past the fit check
    const t0 = Date.now();
    const clicked = await page.evaluate(() => {
      (document.querySelector('#cancel-btn') as HTMLButtonElement).click();
      return (document.querySelector('#progress') as HTMLElement).dataset.state;
    });
    expect(clicked).toBe('cancelling');
    await shot('12-cancelling');
    await expect.poll(() => state('#progress'), { timeout: 120_000 }).toBe('cancelled');
    console.log(`cancel during feature caching at S=${proposed}: ${await text('#progress')} (${((Date.now() - t0) / 1000).toFixed(1)} s seen by the test)`);
  }, 420_000);

  it('fits a 375 px wide viewport without horizontal scrolling', async () => {
    await page.setInputFiles('#detect-files', testPng()); // also a message-free, populated page
    await page.setViewportSize({ width: 375, height: 812 });
    try {
      const overflow = await page.evaluate(() => {
        const wide = Array.from(document.querySelectorAll<HTMLElement>('body *')).filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5 && e.getClientRects().length > 0);
        return { scroll: document.documentElement.scrollWidth, width: innerWidth, wide: wide.map((e) => e.id || `${e.tagName}.${e.className}`) };
      });
      expect(overflow).toEqual({ scroll: 375, width: 375, wide: [] });
      await shot('13-375px');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  }, 120_000);

  it('says clearly when the browser has no WebGPU', async () => {
    const p = await context.newPage();
    await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
    await p.goto(server.url);
    await expect.poll(() => p.locator('#adapter').getAttribute('data-state'), WAIT).toBe('error');
    expect(await p.locator('#adapter').textContent()).toMatch(/^WebGPU is not available in this browser/);
    expect(await p.locator('#train-btn').isDisabled()).toBe(true);
    await shot('14-no-webgpu', p);
    await expect(p.evaluate(() => window.hlgfaTest!.ready())).rejects.toThrow(/WebGPU is not available/);
    await p.close();
  });
});

describe('the page\'s estimate and ETA (no browser)', () => {
  it('runs the pure parts of the estimate and the ETA as specified', () => {
    const fit = costFrom(0.3, 0.9, 4);
    expect([fit.fixed, fit.perImage].map((x) => x.toFixed(6))).toEqual(['0.100000', '0.200000']);
    expect(costFrom(0.3, 0.2, 4)).toEqual({ fixed: 0.3, perImage: 0 }); // noise: never negative
    expect(costFrom(0.3, 2, 4)).toEqual({ fixed: 0, perImage: 0.3 }); // nor worse than separate images
    expect(costFrom(0.3, 0.3, 1)).toEqual({ fixed: 0, perImage: 0.3 });
    const c = { size: 64, features: { fixed: 1, perImage: 1 }, map: { fixed: 0, perImage: 1 }, step: { fixed: 0, perImage: 2 }, seconds: 0 };
    // 4 images: no hold-out (fewer than 5), batch 2, 3 epochs, noise on half the images.
    const e = estimateTraining(c, 4, resolveConfig({ size: 64, epochs: 3, batchSize: 2 }));
    expect(e).toEqual({ features: 6, train: 3 * 2 * (1 + 1 + 4), calibrate: 4 + 6 + 4, statistics: 4, threshold: 10, total: 6 + 36 + 14, fit: 4, calibration: 4 });
    const rc = new RunClock(e, 0);
    expect(rc.view(2000)).toMatchObject({ stage: 'features', eta: 54, text: 'caching backbone features 0/4 · 0:02 elapsed · ETA 0:54' });
    rc.report({ phase: 'features', epoch: 0, epochs: 3, step: 2, steps: 4, loss: NaN, imagesPerSecond: 0, etaSeconds: NaN }, 6000);
    // Half the features in 6 s against 3 estimated: 6 s more for them, the rest at twice its estimate.
    expect(rc.view(6000)).toMatchObject({ eta: 6 + 2 * 50, text: 'caching backbone features 2/4 · 0:06 elapsed · ETA 1:46' });
    rc.report({ phase: 'train', epoch: 1, epochs: 3, step: 1, steps: 2, loss: 0.5, imagesPerSecond: 1, etaSeconds: 30 }, 20_000);
    // 25 s left in training (its own ETA), calibration at this run's pace so far: 20 s for 12 estimated.
    expect(rc.view(25_000).text).toBe('epoch 1/3 · step 1/2 · loss 0.5000 · 1.0 img/s · 0:25 elapsed · ETA 0:48');
    rc.report({ phase: 'calibrate', epoch: 3, epochs: 3, step: 4, steps: 4, loss: NaN, imagesPerSecond: 0, etaSeconds: NaN }, 60_000);
    expect(rc.view(60_000)).toMatchObject({ stage: 'threshold', text: 'calibrating: the threshold on 4 images · 1:00 elapsed · ETA 0:13' });
    expect([clock(59.6), clock(3725), clock(NaN)]).toEqual(['1:00', '1:02:05', '--:--']);
  });
});

// In CI a missing browser is a failure, never a silent pass.
describe.runIf(!HAVE_CHROMIUM && IN_CI)('browser page', () => {
  it('needs Chromium in CI', () => {
    throw new Error(`Chromium not found at ${CHROMIUM}: the browser tests need it (.ci/run installs it with apt-get install chromium; HLGFA_CHROMIUM names another binary)`);
  });
});

// The kernel tuner in the browser page (window.hlgfaTune, headless Chromium, WebGPU on SwiftShader):
// a quick run on two cheap knobs returns the same record + measurements as the Node tuner, the
// record round-trips through applyTuning, the page keeps it in localStorage under the adapter key
// and applies it at start-up, and `hlgfa tune --browser` prints the per-adapter winner table.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, openPage, pageStatus, tuneInPage, type BrowserPage } from '../../src/cli/tune-browser.js';
import { KNOBS, knobLabel } from '../../src/tune/tuner.js';
import { columnFromEntry, comparisonTable } from '../../src/tune/table.js';
import { adapterKey, applyTuning, checkTuning, currentTuning, defaultTuning, resetTuning, type TuningCache } from '../../src/ops/tuning.js';
import { TUNING_STORAGE_KEY, type PageTuneResult } from '../../src/web/tune-hook.js';
import '../../src/ops/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = chromiumPath();
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = Boolean(process.env.CI) && process.env.CI !== 'false';
/** Cheap knobs: one small case each on SwiftShader. */
const TUNED = ['cosine.vec4', 'blur.span'];
if (!HAVE_CHROMIUM && !IN_CI) console.warn(`tune.test: skipping the browser tuner tests, ${CHROMIUM} is missing (apt-get install chromium)`);

describe('winner table', () => {
  it('shows each adapter\'s winner and its speed-up over the default', () => {
    const lavapipe = columnFromEntry('mesa/software (cache)', { blur: { span: 2 }, matmul: { variant: 'auto' } }, {
      blur: { span: { '1': { ms: 2, cases: {} }, '2': { ms: 1, cases: {} } } },
    });
    expect(lavapipe.winners).toEqual({ 'blur.span': '2' }); // only the measured knobs
    const swiftshader = { name: 'google/swiftshader (Chromium)', winners: { 'blur.span': '1', 'matmul.variant': '"tiled"' }, measurements: {
      blur: { span: { '1': { ms: 1, cases: {} }, '2': { ms: 1.5, cases: {} } } },
      matmul: { variant: { '"auto"': { ms: 3, cases: {} }, '"scalar"': null, '"tiled"': { ms: 2, cases: {} } } },
    } };
    const lines = comparisonTable([lavapipe, swiftshader]).split('\n');
    expect(lines[0]).toMatch(/^knob\s+default\s+mesa\/software \(cache\)\s+google\/swiftshader \(Chromium\)$/);
    expect(lines[2]).toMatch(/^matmul\.variant\s+auto\s+—\s+tiled \(×1\.50\)$/);
    expect(lines[3]).toMatch(/^blur\.span\s+2\s+2\s+1 \(×1\.50\)$/);
  });

  it('hlgfa tune: --compare needs --browser', () => {
    const r = spawnSync(process.execPath, ['bin/hlgfa.js', 'tune', '--compare'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--compare goes with --browser');
  });
});

describe.skipIf(!HAVE_CHROMIUM)('the tuner in the browser page (headless Chromium, WebGPU)', () => {
  let tmp: string;
  let bp: BrowserPage;
  let r: PageTuneResult;
  const log: string[] = [];

  beforeAll(async () => {
    execFileSync(process.execPath, [join(ROOT, 'tools/build-web.mjs')], { cwd: ROOT, stdio: 'pipe' });
    tmp = mkdtempSync(join(tmpdir(), 'hlgfa-tune-web-'));
    // Roots given explicitly: the defaults are relative to the compiled CLI in dist/.
    bp = await openPage({ webRoot: join(ROOT, 'dist/web'), weightsRoot: join(ROOT, 'weights'), log: (l) => log.push(l) });
  }, 120_000);

  afterAll(async () => {
    await bp?.close();
    resetTuning();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('returns a record and per-candidate measurements, as the Node tuner does', async () => {
    r = await tuneInPage(bp.page, { quick: true, knobs: TUNED });
    console.log(`page tuner on ${r.key} (${r.clock.kind}), ${r.seconds.toFixed(1)} s: ${log.join('; ')}`);
    expect(r.key).toBe(adapterKey(r.adapter)); // the Node cache's key function
    expect(r.adapter.vendor || r.adapter.description).toBeTruthy();
    expect(r.families).toEqual(['cosine', 'blur']);
    expect(Object.keys(r.winners)).toEqual(TUNED);
    for (const name of TUNED) {
      const [family, knob] = name.split('.') as ['cosine' | 'blur', string];
      const spec = KNOBS[family].find((k) => k.name === knob)!;
      const scores = r.measurements[family][knob];
      expect(Object.keys(scores).sort()).toEqual(spec.candidates.map((c) => knobLabel(c, family, knob)).sort());
      for (const [cand, s] of Object.entries(scores)) {
        expect(s, `${name}=${cand}`).not.toBeNull();
        expect(s!.ms).toBeGreaterThan(0);
        expect(Number.isFinite(s!.ms)).toBe(true);
        expect(Object.keys(s!.cases)).toEqual(spec.cases);
        for (const ms of Object.values(s!.cases)) expect(ms).toBeGreaterThan(0);
      }
      expect(Object.keys(scores)).toContain(r.winners[name]);
      expect(knobLabel(r.record, family, knob)).toBe(r.winners[name]);
      expect(knobLabel(r.tuned, family, knob)).toBe(r.winners[name]);
      expect(log.some((l) => l.startsWith(`${name} → ${r.winners[name]}`))).toBe(true);
    }
    // Valid for applyTuning, and applying it reproduces the page's knobs.
    expect(checkTuning(r.record)).toEqual([]);
    applyTuning(r.tuned);
    expect(currentTuning()).toEqual(r.tuned);
    resetTuning();
    applyTuning(r.record);
    expect(currentTuning()).toEqual({ ...defaultTuning(), ...r.record });
    resetTuning();
    expect(bp.errors).toEqual([]);
  }, 120_000);

  it('keeps the winners in localStorage under the adapter key and applies them at start-up', async () => {
    expect(r.stored).toBe(true);
    const raw = JSON.parse((await bp.page.evaluate((k) => localStorage.getItem(k), TUNING_STORAGE_KEY))!) as TuningCache;
    expect(Object.keys(raw.adapters)).toEqual([r.key]);
    expect(raw.adapters[r.key].record).toEqual(r.record);
    // A non-default record stored for this adapter is in force after a reload.
    const record = { blur: { span: 1 as const }, cosine: { vec4: false, wg: 32 } };
    const store = (c: unknown) => bp.page.evaluate(([k, v]) => localStorage.setItem(k, v), [TUNING_STORAGE_KEY, JSON.stringify(c)] as const);
    await store({ version: 1, adapters: { [r.key]: { adapter: r.adapter, createdAt: 'now', record } } });
    await bp.page.reload();
    let s = await pageStatus(bp.page);
    expect(s.source).toBe('stored');
    expect(s.stored).toEqual(record);
    expect(s.current).toEqual({ ...defaultTuning(), blur: { span: 1 }, cosine: { vec4: false, wg: 32 } });
    // An invalid stored record is dropped, never fatal: the page starts with the defaults.
    await store({ version: 1, adapters: { [r.key]: { adapter: r.adapter, createdAt: 'now', record: { blur: { span: 3 } } } } });
    await bp.page.reload();
    s = await pageStatus(bp.page);
    expect([s.source, s.stored]).toEqual(['defaults', null]);
    expect(s.current).toEqual(defaultTuning());
    await expect(tuneInPage(bp.page, { knobs: ['blur.nope'] })).rejects.toThrow(/unknown knob "blur\.nope"/);
  }, 120_000);

  it('hlgfa tune --browser prints the winners per adapter and writes JSON', () => {
    // A cached lavapipe entry (as `hlgfa tune` writes it) becomes the table's other column.
    const cacheFile = join(tmp, 'tuning.json');
    const lavapipe = { vendor: 'mesa', architecture: 'software', device: '', description: 'llvmpipe' };
    const measurements = { blur: { span: { '1': { ms: 2, cases: {} }, '2': { ms: 1, cases: {} } } } };
    writeFileSync(cacheFile, JSON.stringify({ version: 1, adapters: { [adapterKey(lavapipe)]: { adapter: lavapipe, createdAt: '2025-01-01T00:00:00Z', record: { blur: { span: 2 } }, measurements } } }));
    const json = join(tmp, 'tune.json');
    const out = execFileSync(process.execPath, ['bin/hlgfa.js', 'tune', '--browser', '--quick', '--family', 'blur', '--json', json], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, HLGFA_TUNING_FILE: cacheFile, HLGFA_CHROMIUM: CHROMIUM },
      timeout: 100_000,
    });
    console.log(out);
    expect(out).toMatch(/^blur\.span → [12] /m);
    expect(out).toMatch(/^knob\s+default\s+mesa\/software \(cache 2025-01-01\)\s+\S+\/\S+ \(Chromium\)$/m);
    expect(out).toMatch(/^blur\.span\s+2\s+2\s+[12]( \(×\d+\.\d\d\))?$/m);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.schema).toBe('hlgfa-tune/1');
    expect(report.runs).toHaveLength(1);
    expect(report.runs[0].runtime).toBe('browser');
    expect(Object.keys(report.runs[0].measurements.blur.span).sort()).toEqual(['1', '2']);
    // The browser adapter's record is cached under its own key, beside lavapipe's.
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as TuningCache;
    expect(Object.keys(cache.adapters).sort()).toEqual([adapterKey(lavapipe), report.runs[0].key].sort());
    expect(checkTuning(cache.adapters[report.runs[0].key].record)).toEqual([]);
  }, 120_000);
});

// In CI a missing browser is a failure, never a silent pass.
describe.runIf(!HAVE_CHROMIUM && IN_CI)('the tuner in the browser page', () => {
  it('needs Chromium in CI', () => {
    throw new Error(`Chromium not found at ${CHROMIUM}: the browser tuner tests need it (apt-get install chromium; HLGFA_CHROMIUM names another binary)`);
  });
});

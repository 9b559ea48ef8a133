// The microbenchmark harness in its quick mode on a few small cases: the report carries the
// documented schema fields, and validation flags a result that disagrees with its reference.
// No timing assertions (this runs on a shared 2-core software adapter).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { useGpu } from '../helpers.js';
import { DEFAULT_BACKBONE } from '../../src/cli/paths.js';
import { compare, percentile, type BenchCase } from '../../src/tune/harness.js';
import { allCases, runBench } from '../../src/tune/suite.js';
import { SCHEMA, type BenchReport, type CaseResult } from '../../src/tune/schema.js';

useGpu();

const byId = (id: string): BenchCase => {
  const c = allCases().find((x) => x.id === id);
  if (!c) throw new Error(`no case ${id}`);
  return c;
};

/** The gate case with its reference deliberately off by 1 %: the kernel is right, the check must fail. */
function wrongReference(): BenchCase {
  const c = byId('gate/24ch @64²');
  return {
    ...c,
    id: 'gate/injected wrong reference',
    setup: () => {
      const inst = c.setup();
      return { ...inst, expected: () => inst.expected().map((e) => ({ ...e, values: Float64Array.from(e.values, (v) => v * 1.01) })) };
    },
  };
}

function expectCaseFields(r: CaseResult): void {
  for (const k of ['id', 'family', 'op', 'shape', 'variant', 'status', 'validation', 'time', 'wall', 'model', 'throughput', 'roofline']) {
    expect(r, `case field ${k}`).toHaveProperty(k);
  }
  expect(r.model.flops).toBeGreaterThan(0);
  expect(r.model.bytes).toBeGreaterThan(0);
  expect(r.model.formula).toMatch(/flops/);
}

describe('bench harness (quick)', () => {
  let report: BenchReport;

  it('runs forward, backward and a wrong-reference case and reports the schema', async () => {
    const cases = [byId('matmul/256x256x256'), byId('gate/24ch @64²'), byId('gate/backward 24ch @64²'), wrongReference()];
    report = await runBench(runtime(), { quick: true, cases, filter: cases.map((c) => c.id), peer: false });
    const json = JSON.parse(JSON.stringify(report)) as BenchReport;
    expect(json.schema).toBe(SCHEMA);
    expect(json.mode).toBe('quick');
    expect(json.adapter.vendor).toBeTypeOf('string');
    expect(['gpu-timestamp', 'wall']).toContain(json.clock.kind);
    expect(json.roofline.peakGflops).toBeGreaterThan(0);
    expect(json.roofline.copyGBps).toBe(Math.max(json.roofline.copyBufferGBps, json.roofline.copyKernelGBps));
    expect(json.peer.available).toBe(false);
    expect(json.tuning.record).toHaveProperty('matmul');
    expect(json.cases.map((c) => c.id)).toEqual(cases.map((c) => c.id));
    for (const r of json.cases) expectCaseFields(r);

    const ok = json.cases.slice(0, 3);
    for (const r of ok) {
      expect(r.status, `${r.id}: ${r.error ?? ''}`).toBe('ok');
      expect(r.validation!.ok).toBe(true);
      expect(r.time!.median).toBeGreaterThan(0);
      expect(r.time!.p10).toBeLessThanOrEqual(r.time!.p90);
      expect(r.roofline!.pct).toBeGreaterThan(0);
      expect(['compute', 'memory']).toContain(r.roofline!.bound);
    }
    const wrong = json.cases[3];
    expect(wrong.status).toBe('WRONG');
    expect(wrong.validation!.ok).toBe(false);
    expect(wrong.validation!.relErr).toBeGreaterThan(wrong.validation!.tol);
    expect(wrong.time).toBeNull();
    expect(json.failures).toBe(1);
  });

  it('falls back to the wall clock when told to', async () => {
    const r = await runBench(runtime(), {
      quick: true,
      cases: [byId('gate/24ch @64²')],
      filter: ['gate/24ch'],
      peer: false,
      timestamps: false,
      roofline: report.roofline,
    });
    expect(r.clock.kind).toBe('wall');
    expect(r.cases[0].status).toBe('ok');
    expect(r.cases[0].time).toEqual(r.cases[0].wall);
  });
});

describe('harness helpers', () => {
  it('compares against full and sampled references and catches NaN', () => {
    const a = [Float32Array.from([1, 2, 3, 4])];
    expect(compare(a, [{ values: [1, 2, 3, 4] }], 1e-3)).toMatchObject({ ok: true, method: 'full', checked: 4 });
    expect(compare(a, [{ values: [2, 4], indices: [1, 3] }], 1e-3)).toMatchObject({ ok: true, method: 'sampled', checked: 2 });
    expect(compare(a, [{ values: [1, 2, 3, 5] }], 1e-3).ok).toBe(false);
    expect(compare([Float32Array.from([1, NaN])], [{ values: [1, 2] }], 1e-3).ok).toBe(false);
    expect(compare(a, [{ values: [1, 2, 3] }], 1e-3).ok).toBe(false);
    expect(percentile([1, 2, 3, 4, 5], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5], 10)).toBeCloseTo(1.4);
  });

  it('has unique case ids covering every kernel family', () => {
    const cases = allCases();
    expect(new Set(cases.map((c) => c.id)).size).toBe(cases.length);
    const families = new Set(cases.map((c) => c.family));
    for (const f of ['matmul', 'conv2d', 'depthwise', 'modulate', 'gate', 'resize', 'cosine', 'blur', 'reduce', 'adam']) expect(families).toContain(f);
    expect(cases.some((c) => c.id.includes('multiscale'))).toBe(true);
    expect(cases.filter((c) => c.op.endsWith('backward')).length).toBeGreaterThan(8);
  });
});

// Needs the compiled CLI (`npm test` builds dist/ first).
const cli = join(process.cwd(), 'bin', 'hlgfa.js');
// The compiled CLI (npm test builds it first).
describe('hlgfa bench', () => {
  it('writes the JSON report and lists cases', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'hlgfa-bench-')), 'bench.json');
    const env = { ...process.env, HLGFA_TUNING_FILE: join(tmpdir(), 'hlgfa-bench-no-tuning.json') };
    const r = spawnSync(process.execPath, [cli, 'bench', '--quick', '--filter', 'cosine/24ch', '--no-peer', '--json', out], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/roofline: peak/);
    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;
    expect(report.schema).toBe(SCHEMA);
    expect(report.cases.map((c) => c.id)).toEqual(['cosine/24ch @64²']);
    expect(report.tuning.source).toMatch(/^defaults/);
    const list = spawnSync(process.execPath, [cli, 'bench', '--list', '--filter', 'adam'], { encoding: 'utf8' });
    expect(list.stdout.trim().split('\n').every((l) => l.startsWith('adam/'))).toBe(true);
  });

  it('bench and tune refuse a --json path that is an input or a file of another kind, before any work', () => {
    const backbone = spawnSync(process.execPath, [cli, 'bench', '--json', DEFAULT_BACKBONE], { encoding: 'utf8' });
    expect([backbone.status, backbone.stderr.split('\n')[0]]).toEqual([2, expect.stringContaining('is an input of this command')]);
    const notes = join(mkdtempSync(join(tmpdir(), 'hlgfa-bench-')), 'notes.txt');
    writeFileSync(notes, 'keep me');
    const other = spawnSync(process.execPath, [cli, 'bench', '--json', notes], { encoding: 'utf8' });
    expect([other.status, readFileSync(notes, 'utf8')]).toEqual([2, 'keep me']);
    // tune's --json too, and it may not be the tuning cache it reads and writes.
    const cache = join(mkdtempSync(join(tmpdir(), 'hlgfa-tune-')), 'tuning.json');
    writeFileSync(cache, '{"version":1,"entries":[]}');
    const tune = spawnSync(process.execPath, [cli, 'tune', '--dry-run', '--json', cache], { encoding: 'utf8', env: { ...process.env, HLGFA_TUNING_FILE: cache } });
    expect([tune.status, tune.stderr.split('\n')[0]]).toEqual([2, expect.stringContaining('is an input of this command')]);
    expect(readFileSync(cache, 'utf8')).toBe('{"version":1,"entries":[]}');
  });
});

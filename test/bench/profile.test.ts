// The dispatch profiler (src/gpu/profiler.ts) and `hlgfa profile`'s summaries and Chrome trace
// (src/tune/profile.ts): every dispatch of an inference is recorded with its op and layer, GPU
// spans do not overlap (one pass each, in order), their sum fits inside the call's wall time, and
// the trace is Chrome's JSON object format.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { DEFAULT_BACKBONE } from '../../src/cli/paths.js';
import { DispatchProfiler, profileLayer, type DispatchRecord } from '../../src/gpu/profiler.js';
import { add, matmul } from '../../src/ops/index.js';
import { tensor } from '../../src/tensor/tensor.js';
import { runtime } from '../../src/gpu/runtime.js';
import { resolveConfig } from '../../src/models/hlgfa-config.js';
import { freshDetector } from '../../src/models/fresh-detector.js';
import { readBackbone } from '../../src/tune/e2e.js';
import { e2eImages } from '../../src/tune/workload.js';
import { atDepth, chromeTrace, formatProfile, profileInference, profileTraining, summarise, totals } from '../../src/tune/profile.js';
import { useGpu } from '../helpers.js';

useGpu();
const ROOT = join(import.meta.dirname, '..', '..');

const record = (op: string, layer: string, gpuMs: number, cpuMs = 0.5, flops = NaN, bytes = NaN): DispatchRecord => ({
  op, kernel: `${op}.main`, pipeline: `${op}/main/`, firstUse: false, layer, workgroups: [1, 1, 1], flops, bytes, cpuMs, cpuStart: 0, gpuStart: 0, gpuMs,
});

describe('summaries and layers', () => {
  it('sum GPU and CPU time by op and layer, largest first, with shares of the timed total', () => {
    const rs = [record('conv2d', 'backbone HR/features.1', 3), record('relu6', 'backbone HR/features.1', 1), record('conv2d', 'backbone LR/features.1', 2), record('blur', '', 2), record('add', 'x', NaN)];
    expect(summarise(rs, 'op').map((r) => [r.name, r.count, r.gpuMs, r.share, r.cpuMs])).toEqual([
      ['conv2d', 2, 5, 0.625, 1],
      ['blur', 1, 2, 0.25, 0.5],
      ['relu6', 1, 1, 0.125, 0.5],
      ['add', 1, 0, 0, 0.5],
    ]);
    expect(summarise(atDepth(rs, 1), 'layer').map((r) => [r.name, r.gpuMs])).toEqual([['backbone HR', 4], ['(outside layers)', 2], ['backbone LR', 2], ['x', 0]]);
    expect(totals(rs)).toEqual({ gpuMs: 8, cpuMs: 2.5, timed: 4 });
  });

  it('count workgroups and the GPU time per workgroup (what launching them costs where it dominates)', () => {
    const rs = [
      { ...record('concat', '', 2), workgroups: [100, 1, 1] as [number, number, number] },
      { ...record('concat', '', 1), workgroups: [50, 2, 3] as [number, number, number] },
      { ...record('add', '', NaN), workgroups: [0, 1, 1] as [number, number, number] },
    ];
    expect(summarise(rs, 'op').map((r) => [r.name, r.workgroups, r.usPerWorkgroup])).toEqual([
      ['concat', 400, 7.5],
      ['add', 0, NaN],
    ]);
  });

  it('rate the useful work over the whole GPU time, and against the roofline', () => {
    // A convolution (8 GFLOP, 1 GB in 1 s) and its weight-layout pass (no FLOPs, 1 GB in 1 s).
    const rs = [record('conv2d', '', 1000, 0.5, 8e9, 1e9), record('conv2d', '', 1000, 0.5, NaN, 1e9), record('relu6', '', 500, 0.5, NaN, 2e9)];
    const [conv, relu] = summarise(rs, 'op', { peakGflops: 16, copyGBps: 8 });
    expect([conv.flops, conv.gflops, conv.bytes, conv.gbps]).toEqual([8e9, 4, 2e9, 1]);
    expect(conv.roof).toBeCloseTo(0.25, 12); // 8 GFLOP at 16 GFLOP/s = 0.5 s of 2 s
    expect([Number.isNaN(relu.gflops), relu.gbps]).toEqual([true, 4]);
    expect(relu.roof).toBeCloseTo(0.5, 12); // 2 GB at 8 GB/s = 0.25 s of 0.5 s
    expect(Number.isNaN(summarise(rs, 'op')[0].roof)).toBe(true); // no roofline, no share of it
  });

  it('profileLayer nests names, unwinds on throw, and records only while a profiler is attached', async () => {
    const rt = runtime();
    const x = tensor(Float32Array.from([1, 2, 3]));
    const plain = profileLayer('a', () => add(x, x)); // no profiler: nothing to record
    const profiler = new DispatchProfiler(rt.device);
    rt.setProfiler(profiler);
    const made = [plain];
    try {
      expect(() => profileLayer('a', () => { throw new Error('boom'); })).toThrow('boom');
      made.push(profileLayer('outer', () => profileLayer('inner', () => add(x, x))), profileLayer('b', () => add(x, x)), add(x, x));
    } finally {
      rt.setProfiler(null);
    }
    made.push(add(x, x));
    rt.flush();
    const rs = await profiler.collect();
    expect(rs.map((r) => [r.op, r.layer])).toEqual([['add', 'outer/inner'], ['add', 'b'], ['add', '']]);
    await expect(profiler.collect()).rejects.toThrow('already collected');
    for (const t of [x, ...made]) t.dispose();
  });
});

describe('profiling an inference', () => {
  it('times every dispatch, in order, inside the wall time, with ops and layers', async () => {
    const rt = runtime();
    expect(rt.device.features.has('timestamp-query')).toBe(true); // lavapipe (CI) and SwiftShader have it
    const size = 96;
    const det = freshDetector(await readBackbone(DEFAULT_BACKBONE), resolveConfig({ size }), e2eImages(size, 4, 'train'));
    try {
      const p = await profileInference(rt, det, e2eImages(size, 2, 'test'));
      const rs = p.dispatches;
      expect(rs.length).toBeGreaterThan(100); // two backbone passes alone launch ~100 kernels
      expect(rs.filter((r) => r.firstUse)).toEqual([]); // the unprofiled calls dispatched every pipeline
      expect(rs.every((r) => Number.isFinite(r.gpuMs) && r.gpuMs >= 0 && r.cpuMs >= 0)).toBe(true);
      // One pass per dispatch, recorded in order: GPU spans follow each other (1 µs of clock slack).
      for (let i = 1; i < rs.length; i++) expect(rs[i].gpuStart).toBeGreaterThanOrEqual(rs[i - 1].gpuStart + rs[i - 1].gpuMs - 1e-3);
      // Stated tolerance: the serialised GPU spans and their recording fit inside the call's wall
      // time (+2 % for clock granularity); on a software adapter the GPU is most of it (> 30 %).
      const t = totals(rs);
      expect(t.gpuMs).toBeLessThanOrEqual(p.wallMs * 1.02);
      expect(t.gpuMs).toBeGreaterThan(0.3 * p.wallMs);
      const last = rs[rs.length - 1];
      expect(last.gpuStart + last.gpuMs).toBeLessThanOrEqual(p.wallMs * 1.02);
      const byOp = Object.fromEntries(summarise(rs, 'op', { peakGflops: 100, copyGBps: 10 }).map((r) => [r.name, r]));
      expect(byOp.conv2d.gflops).toBeGreaterThan(0.1);
      expect(byOp.depthwiseConv2d.gflops).toBeGreaterThan(0.01);
      expect(Number.isNaN(byOp.gaussianBlur.gflops)).toBe(true); // declares no FLOPs
      expect(byOp.gaussianBlur.gbps).toBeGreaterThan(0);
      expect(byOp.relu6).toBeUndefined(); // fused into the backbone's convolutions
      expect(byOp.conv2d.roof).toBeGreaterThan(0);
      expect(byOp.conv2d.roof).toBeLessThan(1.5); // nothing runs much past a measured ceiling
      const ops = new Set(rs.map((r) => r.op));
      for (const op of ['conv2d', 'depthwiseConv2d', 'gaussianBlur', 'areaDownsample']) expect(ops).toContain(op);
      const layers = summarise(atDepth(rs, 1), 'layer').map((r) => r.name);
      expect(layers).toEqual(expect.arrayContaining(['backbone HR', 'backbone LR', 'hlgfa level 0', 'hlgfa level 1', 'hlgfa level 2', 'anomaly map']));
      expect(rs.some((r) => r.layer === 'backbone HR/features.13')).toBe(true);
      expect(formatProfile(p)).toMatch(/dispatches: GPU [\d.]+ ms, CPU encode [\d.]+ ms/);

      const trace = JSON.parse(JSON.stringify(chromeTrace(p))) as { traceEvents: Array<Record<string, unknown>>; displayTimeUnit: string };
      expect(trace.displayTimeUnit).toBe('ms');
      const complete = trace.traceEvents.filter((e) => e.ph === 'X');
      expect(complete.length).toBe(2 * rs.length); // a GPU and a CPU-encode event per dispatch
      for (const e of complete) {
        expect(typeof e.name).toBe('string');
        expect([typeof e.ts, typeof e.dur, typeof e.pid, typeof e.tid]).toEqual(['number', 'number', 'number', 'number']);
        expect(e.ts as number).toBeGreaterThanOrEqual(0);
        expect(e.dur as number).toBeGreaterThanOrEqual(0);
      }
      expect(trace.traceEvents.filter((e) => e.ph === 'M').map((e) => (e.args as { name: string }).name)).toEqual(['GPU', 'CPU encode']);
      // Unprofiled work afterwards is not recorded anywhere.
      await det.scoreMaps(e2eImages(size, 1, 'test'));
      expect(p.dispatches.length).toBe(rs.length);
    } finally {
      det.backbone.dispose();
      det.dispose();
    }
  });
});

describe('first dispatches (hlgfa profile --first)', () => {
  it("marks each pipeline's first dispatch in the process, and lists them beside their later ones", async () => {
    const rt = runtime();
    const a = tensor(Float32Array.from({ length: 36 }, (_, i) => i % 5), [6, 6]);
    const profiler = new DispatchProfiler(rt.device);
    rt.setProfiler(profiler);
    const made = [a];
    try {
      // fwd_tiled runs nowhere else in this file's process: its first dispatch is here.
      for (let i = 0; i < 3; i++) made.push(matmul(a, a, { variant: 'tiled' }));
    } finally {
      rt.setProfiler(null);
    }
    rt.flush();
    const rs = (await profiler.collect()).filter((r) => r.kernel === 'matmul.fwd_tiled');
    for (const t of made) t.dispose();
    expect(rs.map((r) => r.firstUse)).toEqual([true, false, false]);
    expect(new Set(rs.map((r) => r.pipeline))).toEqual(new Set(['matmul/fwd_tiled/']));
    const p = { workload: 'test', wallMs: 10, unprofiledMs: 5, firstCall: true, adapter: 'x', roofline: null, dispatches: rs };
    const text = formatProfile(p);
    expect(text).toContain('1 pipelines dispatched for the first time');
    expect(text).toMatch(/matmul\/fwd_tiled\/\s+[\d.]+\s+[\d.]+/); // first ms, then the later median
    expect(formatProfile({ ...p, firstCall: false })).not.toContain('for the first time');
  });
});

describe('profiling a training step', () => {
  it('records the noisy views, each level, loss, backward and Adam, inside the step wall time', async () => {
    const rt = runtime();
    const bb = await readBackbone(DEFAULT_BACKBONE);
    try {
      const cfg = resolveConfig({ size: 64, batchSize: 2, noiseProbability: 1 });
      const p = await profileTraining(rt, bb.backbone, bb.id, cfg);
      expect(p.workload).toBe("one trainHlgfa step, batch 2 at S=64 (noise 'both', p 1)");
      const layers = summarise(atDepth(p.dispatches, 1), 'layer').map((r) => r.name);
      expect(layers).toEqual(expect.arrayContaining(['noisy views', 'hlgfa level 0', 'hlgfa level 1', 'hlgfa level 2', 'loss', 'backward', 'adam']));
      expect(p.dispatches.some((r) => r.layer === 'noisy views/backbone HR/features.6')).toBe(true);
      expect(p.dispatches.some((r) => r.op === 'adam' || r.kernel.startsWith('adam.'))).toBe(true);
      const t = totals(p.dispatches);
      expect(t.timed).toBe(p.dispatches.length);
      expect(t.gpuMs).toBeLessThanOrEqual(p.wallMs * 1.02);
      expect(p.unprofiledMs).toBeGreaterThan(0);
    } finally {
      bb.backbone.dispose();
    }
  });
});

describe('hlgfa profile', () => {
  const hlgfa = (...args: string[]) => spawnSync(process.execPath, ['bin/hlgfa.js', 'profile', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });

  it('prints the tables and writes a trace and the JSON profile; refuses to overwrite inputs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hlgfa-profile-'));
    try {
      const trace = join(dir, 'p.trace.json');
      const json = join(dir, 'p.json');
      const r = hlgfa('--size', '64', '--top', '3', '--trace', trace, '--json', json);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^op +count +GPU ms +% +GFLOP\/s +GB\/s +% roof +CPU enc ms +workgroups +µs\/wg$/m);
      expect(r.stdout).toMatch(/^roofline: [\d.]+ GFLOP\/s, [\d.]+ GB\/s/m);
      expect(r.stdout).toMatch(/^layer +count/m);
      expect(r.stdout).toContain('more (--json has all)');
      expect(JSON.parse(readFileSync(trace, 'utf8')).traceEvents.length).toBeGreaterThan(100);
      expect(JSON.parse(readFileSync(json, 'utf8')).dispatches.length).toBeGreaterThan(50);
      const backbone = hlgfa('--size', '64', '--trace', DEFAULT_BACKBONE);
      expect(backbone.status).toBe(2);
      expect(backbone.stderr).toContain('is an input of this command');
      const notes = join(dir, 'notes.txt');
      writeFileSync(notes, 'keep me');
      const other = hlgfa('--size', '64', '--json', notes);
      expect([other.status, readFileSync(notes, 'utf8')]).toEqual([2, 'keep me']);
      expect(other.stderr).toContain('exists and is not a JSON file');
      const step = hlgfa('--train', '--size', '64', '--batch', '2', '--top', '2');
      expect(step.status, step.stderr).toBe(0);
      expect(step.stdout).toMatch(/one trainHlgfa step, batch 2 at S=64/);
      expect(step.stdout).toMatch(/^(noisy views|backward) +\d+/m);
      const mixed = hlgfa('--model', 'x.safetensors', '--size', '64');
      expect([mixed.status, mixed.stderr]).toEqual([2, expect.stringContaining('--size and --config describe a fresh module')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

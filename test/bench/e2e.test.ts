// The end-to-end bench section on tiny settings (S=64, batch 1 and 2, one warm call, two training
// steps): positive times, images/s consistent with the times, pool peaks bounded below by the
// resident weights plus the largest activation, a finite loss; then the cold / warm shader-cache
// child processes once (they need the compiled dist/, like bench.test.ts's CLI test). Timing
// assertions only where the gap is orders of magnitude (a cold shader cache on Mesa).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { runtime } from '../../src/gpu/runtime.js';
import { bucketSize } from '../../src/gpu/pool.js';
import { DEFAULT_BACKBONE } from '../../src/cli/paths.js';
import { mobilenetV2Spec } from '../../src/models/mobilenet-v2.js';
import { currentTuning } from '../../src/ops/tuning.js';
import { useGpu } from '../helpers.js';
import { tapChannels } from '../../src/models/fresh-detector.js';
import { e2eImages, runE2E, trainImageCount } from '../../src/tune/e2e.js';
import { CHILD_SCRIPT, runChild, shaderCacheRuns } from '../../src/tune/e2e-cache.js';
import { formatE2E, formatShaderCache } from '../../src/tune/report.js';
import type { E2EReport, InferenceResult, PhaseTiming, PoolPeak } from '../../src/tune/schema.js';
import { resolveConfig } from '../../src/models/hlgfa-config.js';
import { replaysTraining } from '../../src/models/hlgfa-step.js';

useGpu();

const S = 64;

/** Pool bytes of the backbone's weights and biases (a lower bound on what stays resident). */
const backboneBytes = mobilenetV2Spec()
  .flatMap((b) => b.layers)
  .reduce((n, l) => n + bucketSize(4 * l.shape.reduce((a, b) => a * b, 1)) + bucketSize(4 * l.shape[0]), 0);

/** The largest activation of the forward pass: features.2's expansion, [N, 96, S/2, S/2]. */
const largest = (n: number) => bucketSize(4 * n * 96 * (S / 2) ** 2);

function expectTimes(t: PhaseTiming | InferenceResult, batch: number): void {
  expect(t.batch).toBe(batch);
  expect(t.firstMs).toBeGreaterThan(0);
  expect(t.time).not.toBeNull();
  const time = t.time!;
  expect(time.median).toBeGreaterThan(0);
  expect(time.p10).toBeLessThanOrEqual(time.median);
  expect(time.median).toBeLessThanOrEqual(time.p90);
  expect(time.repsPerSample).toBe(1);
  expect(t.imagesPerS).toBeCloseTo(batch / (time.median / 1e3), 6);
}

function expectPool(p: PoolPeak, atLeast: number): void {
  expect(p.residentBytes).toBeGreaterThan(0);
  expect(p.peakLiveBytes).toBeGreaterThanOrEqual(p.residentBytes + atLeast);
  expect(p.peakAllocatedBytes).toBeGreaterThanOrEqual(p.peakLiveBytes);
}

describe('e2e section (tiny settings)', () => {
  it('derives tap channels and image counts without touching the GPU', () => {
    expect(tapChannels('mobilenet_v2', ['features.3', 'features.6', 'features.13', 'features.2.expand'])).toEqual([24, 32, 96, 96]);
    expect(() => tapChannels('resnet18', ['layer1'])).toThrow(/e2e: backbone architecture "resnet18" is not supported/);
    expect(trainImageCount(16, resolveConfig())).toBe(18); // holdout 0.1: 2 held out, 16 fit
    expect(trainImageCount(4, resolveConfig())).toBe(4); // fewer than 5 images: nothing held out
    const a = e2eImages(S, 3, 'test');
    expect(a.map((i) => [i.width, i.height])).toEqual([[S, S], [S, S], [S, S]]);
    expect(e2eImages(S, 3, 'test')[1].data).toEqual(a[1].data); // deterministic
  });

  it('measures inference at two batch sizes and training, with pool peaks', async () => {
    const lines: string[] = [];
    const e: E2EReport = await runE2E(runtime(), {
      size: S, batches: [1, 2], warmReps: 1, warmupCalls: 1, timedMs: 0, trainBatch: 2, trainSteps: 2, shaderCache: false, backbonePath: DEFAULT_BACKBONE, log: (l) => lines.push(l),
    });
    expect(e.size).toBe(S);
    expect(e.taps).toEqual(resolveConfig().taps);
    expect(e.backbone.architecture).toBe('mobilenet_v2');
    expect(e.shaderCache).toBeNull();
    expect(e.images).toMatchObject({ source: 'synthetic', inference: 2, training: 4 });

    // Each batch size replayed, then the smallest without replay (what replaying saves).
    expect(e.inference.map((i) => [i.batch, i.replay])).toEqual([[1, true], [2, true], [1, false]]);
    for (const i of e.inference) {
      expect(i.mainThreadMs).toBeGreaterThan(0);
      expect(i.mainThreadMs).toBeLessThan(i.time.median * 1.5);
      expectTimes(i, i.batch);
      expect(i.msPerImage * i.batch).toBeCloseTo(i.time.median, 6);
      expect(i.warmupCalls).toBe(1);
      expect(i.time.samples).toBe(1);
      expect(i.pool.residentBytes).toBeGreaterThanOrEqual(backboneBytes);
      expectPool(i.pool, largest(i.batch));
    }
    // This file's runtime starts with an empty kernel cache: the first call creates the pipelines.
    expect(e.inference[0].pipelinesCompiled).toBeGreaterThan(10);
    expect(e.inference[1].pool.peakLiveBytes).toBeGreaterThan(e.inference[0].pool.peakLiveBytes);

    const t = e.training;
    expect(t).toMatchObject({ batch: 2, fitImages: 4, epochs: 1, steps: 2 });
    expectTimes(t.step, 2);
    expectTimes(t.features, 2);
    // trainHlgfa creates a step's pipelines (backward and Adam included) before the first batch
    expect(t.features.pipelinesCompiled).toBeGreaterThan(0);
    expect(t.step.pipelinesCompiled).toBe(0);
    // as trainHlgfa runs by default here, then the other way: the same losses; two steps (the
    // first runs plainly, the second is recorded) replay none
    const byDefault = replaysTraining(runtime().gpu.info);
    expect(t).toMatchObject({ replay: byDefault, replayedSteps: 0 });
    expect(t.mainThreadMs).toBeGreaterThan(0);
    expect(e.trainingOtherReplay).toMatchObject({ replay: !byDefault, replayedSteps: 0, loss: t.loss, steps: 2 });
    expect(t.loss.finite).toBe(true);
    expect(Number.isFinite(t.loss.first) && t.loss.first > 0).toBe(true);
    expect(t.totalS * 1e3).toBeGreaterThan(t.features.firstMs + t.step.firstMs);
    expectPool(t.pool, largest(2)); // the clean-feature batch runs the backbone on 2 images
    expect(t.pool.peakLiveBytes).toBeGreaterThanOrEqual(t.stepsPool.peakLiveBytes);
    expect(t.stepsPool.peakLiveBytes).toBeGreaterThan(t.stepsPool.residentBytes);

    expect(lines.some((l) => l.includes('inference S=64 batch 2'))).toBe(true);
    const text = formatE2E(JSON.parse(JSON.stringify(e)) as E2EReport);
    expect(text).toMatch(/^end to end — HLGFA S=64/);
    expect(text.split('\n').filter((l) => /^inference\s+[12]\s/.test(l))).toHaveLength(2);
    expect(text).toMatch(/^inference, no replay\s+1\s/m);
    expect(text).toMatch(/^training step, replayed\s+2\s/m);
    expect(text).toMatch(/^training step, no replay\s+2\s/m);
    // Pool lines stay balanced: nothing the section allocated is left live.
    await runtime().sync();
    expect(runtime().pool.getStats().liveBytes).toBeLessThan(e.inference[0].pool.residentBytes);
  });
});

const built = existsSync(CHILD_SCRIPT);
describe.skipIf(!built)('e2e shader cache (child processes)', () => {
  const opts = { size: S, batch: 1, warmReps: 1, backbonePath: DEFAULT_BACKBONE, tuning: currentTuning() };

  it('a child reports its errors on stderr and a non-zero exit', async () => {
    await expect(runChild({ ...opts, backbonePath: join(tmpdir(), 'no-such-backbone.safetensors') }, process.env)).rejects.toThrow(
      /e2e child process failed .*backbone weights not found/s,
    );
  });

  it('runs a cold and a warm shader cache in fresh processes, then prepared pipelines, and removes the folder', async () => {
    const ours = () => readdirSync(tmpdir()).filter((n) => n.startsWith('hlgfa-shader-cache-'));
    const before = new Set(ours());
    const lines: string[] = [];
    const r = await shaderCacheRuns(opts, { log: (l) => lines.push(l) });
    expect(r.error).toBeUndefined();
    expect(r.batch).toBe(1);
    expect(r.env).toContain('MESA_SHADER_CACHE_DIR');
    for (const c of [r.coldCache!, r.warmCache!]) {
      expect(c.adapter).toBe(`${runtime().gpu.info.vendor} ${runtime().gpu.info.architecture} ${runtime().gpu.info.description}`.trim());
      expect(c.initMs).toBeGreaterThan(0);
      expect(c.loadMs).toBeGreaterThan(0);
      expect(c.processMs!).toBeGreaterThan(c.initMs + c.loadMs + c.inference.firstMs);
      expectTimes(c.inference, 1);
      expect(c.inference.pipelinesCompiled).toBe(r.coldCache!.inference.pipelinesCompiled);
      expectPool(c.inference.pool, largest(1));
    }
    // The third process creates the pipelines before its first call: that call creates none.
    const p = r.warmCachePrepared!;
    expect(p.prepareMs).toBeGreaterThan(0);
    expect(p.preparedPipelines).toBe(r.coldCache!.inference.pipelinesCompiled);
    expect(p.inference.pipelinesCompiled).toBe(0);
    expect(r.warmCache!.prepareMs).toBeUndefined();
    const text = formatShaderCache(r).join('\n');
    expect(text).toMatch(/^same cache, prepared\s/m);
    expect(text).toMatch(/ms warm cache \([\d. ]+ ms prepared: [\d. ]+ \+ [\d. ]+\)/);
    expect(ours().filter((n) => !before.has(n))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('e2e: fresh process'))).toHaveLength(3);
    if (runtime().gpu.info.vendor === 'mesa') {
      // Mesa fills the folder on the first run and compiles next to nothing on the second.
      expect(r.cacheBytes.afterCold).toBeGreaterThan(0);
      expect(r.warmCache!.inference.firstMs).toBeLessThan(r.coldCache!.inference.firstMs / 2);
    }
  });

  it('the CLI documents --e2e / --e2e-only and rejects --e2e-only with --filter', () => {
    const cli = join(process.cwd(), 'bin', 'hlgfa.js');
    const help = spawnSync(process.execPath, [cli, 'bench', '--help'], { encoding: 'utf8' });
    expect(help.stdout).toMatch(/--e2e-only/);
    const bad = spawnSync(process.execPath, [cli, 'bench', '--e2e-only', '--filter', 'matmul'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--e2e-only runs no kernel case/);
  });
});

// The page's warm-up (src/web/ui/warm-up.ts) run in Node on the page's own modules: after it, a
// training run and a detection at the form's configuration create no pipeline (all were compiled
// while the user picked files), the estimate's measurement is the one it made, and it yields to a
// task the user starts instead of running on.
import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { DEFAULT_BACKBONE } from '../../src/cli/paths.js';
import { noiseAugmenter } from '../../src/data/augment.js';
import { runtime } from '../../src/gpu/runtime.js';
import { resolveConfig, type HlgfaConfig } from '../../src/models/hlgfa-config.js';
import { trainHlgfa } from '../../src/models/hlgfa-train.js';
import { readBackbone } from '../../src/tune/e2e.js';
import { e2eImages, trainImageCount } from '../../src/tune/workload.js';
import { measureCosts, type StepCosts } from '../../src/web/ui/estimate.js';
import { gpuQueue } from '../../src/web/ui/gpu-queue.js';
import { warmUp } from '../../src/web/ui/warm-up.js';
import { useGpu } from '../helpers.js';

useGpu();

/** Stands in for the page's status line: setStatus writes only these two. */
const statusLine = () => ({ textContent: '', dataset: {} as Record<string, string> });

describe("the page's warm-up", () => {
  it('compiles every pipeline a training run and a detection at its configuration use; the estimate reuses its measurement', async () => {
    const rt = runtime();
    const bb = await readBackbone(DEFAULT_BACKBONE);
    const q = gpuQueue();
    const config: HlgfaConfig = resolveConfig({ size: 64, epochs: 2, batchSize: 2 });
    const measured: Promise<StepCosts>[] = [];
    const measure = (cfg: HlgfaConfig) => {
      measured.push(q.exclusive(() => measureCosts(bb.backbone, cfg, e2eImages(cfg.size, 1, 'train')[0])));
      return measured[measured.length - 1];
    };
    const status = statusLine();
    try {
      await warmUp({ ...q, backbone: () => bb, config: () => config, measure }, status as unknown as HTMLElement);
      expect(status.dataset.state, status.textContent).toBe('ok');
      expect(status.textContent).toMatch(/^Kernels ready for S=64 \(\d+ pipelines in \d+\.\d s\): the estimate, training and detection start without compiling\.$/);
      expect(measured).toHaveLength(1);
      const step = (await measured[0]).step; // a training step was timed (how it splits into fixed and per-image cost is noise-prone)
      expect(step.fixed + step.perImage).toBeGreaterThan(0);
      const warmed = rt.stats().pipelines;
      expect(Number(status.dataset.pipelines)).toBeGreaterThan(30); // backbone, module forward and backward, Adam, anomaly map
      expect(Number(status.dataset.pipelines)).toBeLessThanOrEqual(warmed);

      const images = e2eImages(64, trainImageCount(4, config), 'train');
      const run = await trainHlgfa({ backbone: bb.backbone, backboneId: bb.id, config, images, augment: noiseAugmenter() });
      await run.detector.scoreMaps(e2eImages(64, 1, 'test'));
      run.detector.dispose();
      expect(rt.stats().pipelines - warmed).toBe(0);
      expect(q.idle()).toBe(true);
    } finally {
      bb.backbone.dispose();
    }
  }, 240_000);

  it('stops after its current step when the user starts a task, which runs next', async () => {
    const bb = await readBackbone(DEFAULT_BACKBONE);
    const q = gpuQueue();
    const order: string[] = [];
    const status = statusLine();
    const config = resolveConfig({ size: 64, batchSize: 2 });
    const measure = (cfg: HlgfaConfig) =>
      q.exclusive(async () => {
        order.push('warm: measure');
        return measureCosts(bb.backbone, cfg, e2eImages(cfg.size, 1, 'train')[0]);
      });
    try {
      const warming = warmUp({ ...q, backbone: () => bb, config: () => config, measure }, status as unknown as HTMLElement);
      expect(status.textContent).toMatch(/^Preparing this adapter's kernels for S=64 while you pick images \(1\/4: creating the pipelines together\)…$/);
      const user = q.exclusive(async () => void order.push('user task'));
      await Promise.all([warming, user]);
      expect(order).toEqual(['user task']); // the measurement (step 2) never started
      expect(status.dataset.state).toBe('stopped');
      expect(status.textContent).toMatch(/^Kernel preparation stopped after step 1 of 4 \(\d+ pipelines in \d+\.\d s\) to run your task first; the rest compile when first used\.$/);
      // A queue that is busy when the warm-up would start: it does not start at all.
      const blocker = q.exclusive(() => new Promise<void>((r) => setTimeout(r, 50)));
      const idleStatus = statusLine();
      await warmUp({ ...q, backbone: () => bb, config: () => config, measure }, idleStatus as unknown as HTMLElement);
      await blocker;
      expect([idleStatus.textContent, order.length]).toEqual(['', 1]);
    } finally {
      bb.backbone.dispose();
    }
  }, 240_000);
});

// Bind groups are cached by kernel and bound buffers (Runtime.dispatch), with the uniforms at a
// dynamic offset: a repeated inference creates none after the first, a reused bind group still
// sees each dispatch's own uniforms, and buffers the pool destroys never reach a cached one.
import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { DEFAULT_BACKBONE } from '../../src/cli/paths.js';
import { runtime } from '../../src/gpu/runtime.js';
import { affine } from '../../src/ops/index.js';
import { freshDetector } from '../../src/models/fresh-detector.js';
import { resolveConfig } from '../../src/models/hlgfa-config.js';
import { tensor } from '../../src/tensor/tensor.js';
import { readBackbone } from '../../src/tune/e2e.js';
import { e2eImages } from '../../src/tune/workload.js';
import { useGpu } from '../helpers.js';

useGpu();

describe('bind group cache', () => {
  it('a repeated inference soon finds nearly all its bind groups cached, and scores the same', async () => {
    const bb = await readBackbone(DEFAULT_BACKBONE);
    const det = freshDetector(bb, resolveConfig({ size: 64 }), e2eImages(64, 4, 'train'));
    det.replay = false; // every call runs the ops (a replay looks nothing up)
    try {
      const img = e2eImages(64, 1, 'test');
      const first = await det.scoreMaps(img);
      const created = () => runtime().stats().bindGroupsCreated;
      const firstCall = created();
      // Which pooled buffers a call gets cycles while earlier work is still on the queue, so the
      // cache fills over a few calls (measured: 179 151 96 84 80 62 36 25 25 25 13 13 … per call).
      for (let i = 0; i < 12; i++) await det.scoreMaps(img);
      const before = created();
      const later = [await det.scoreMaps(img), await det.scoreMaps(img), await det.scoreMaps(img)];
      expect(firstCall).toBeGreaterThan(100); // about one per dispatch at first
      expect(created() - before).toBeLessThan(0.1 * 3 * firstCall);
      for (const r of later) expect(r).toEqual(first);
    } finally {
      det.dispose();
      bb.backbone.dispose();
    }
  }, 120_000);

  it('a reused bind group reads each dispatch\'s own uniforms', async () => {
    const x = tensor(new Float32Array([1, 2, 3, 4]), [4]);
    const created = runtime().stats().bindGroupsCreated;
    const results: number[][] = [];
    for (const [a, b] of [[2, 1], [3, 0], [-1, 5]]) {
      const y = affine(x, a, b); // the same kernel on the same pooled buffers each time
      results.push(Array.from(await y.read()));
      y.dispose();
    }
    expect(results).toEqual([[3, 5, 7, 9], [3, 6, 9, 12], [4, 3, 2, 1]]);
    expect(runtime().stats().bindGroupsCreated - created).toBeLessThan(3); // reused at least once
    x.dispose();
  });

  it('buffers the pool destroys take their bind groups with them', async () => {
    const run = async () => {
      const x = tensor(new Float32Array([1, 2, 3, 4]), [4]);
      const y = affine(x, 2, 0);
      const v = Array.from(await y.read());
      x.dispose();
      y.dispose();
      return v;
    };
    expect(await run()).toEqual([2, 4, 6, 8]);
    await runtime().sync();
    runtime().pool.trim(); // destroys the free buffers x and y had
    expect(await run()).toEqual([2, 4, 6, 8]); // new buffers, new bind groups, no validation error
  });
});

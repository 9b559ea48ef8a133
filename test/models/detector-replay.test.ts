// Detector.scoreMaps replays its recorded GPU work (Detector.replay) from the third call on a batch
// size: the maps and scores must be those of running the ops afresh, bit for bit, whatever changed
// in between — parameters updated in place (training), statistics replaced (calibration), kernel
// knobs — and a replayed call must run no op at all and hold steady memory.
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKBONE } from '../../src/cli/paths.js';
import { runtime } from '../../src/gpu/runtime.js';
import type { Detector } from '../../src/models/detector.js';
import { freshDetector } from '../../src/models/fresh-detector.js';
import { resolveConfig } from '../../src/models/hlgfa-config.js';
import { traceLaunches } from '../../src/ops/util.js';
import { keep, tensor } from '../../src/tensor/tensor.js';
import { readBackbone } from '../../src/tune/e2e.js';
import { e2eImages } from '../../src/tune/workload.js';
import { randn, useGpu, withTuning } from '../helpers.js';

useGpu();

const S = 64;

/**
 * Scores `images` with replay on (a replay, where it still holds) and then off; both must agree
 * exactly. Replay first: a plain call would refresh what changed (a stale cached layout) itself.
 */
async function expectReplayMatches(det: Detector, images: ReturnType<typeof e2eImages>, label: string): Promise<void> {
  det.replay = true;
  const replayed = await det.scoreMaps(images);
  det.replay = false;
  const plain = await det.scoreMaps(images);
  det.replay = true;
  expect(replayed, label).toEqual(plain);
}

describe('Detector replay', () => {
  it('scores exactly as running afresh, through parameter updates, new statistics and other kernel knobs', async () => {
    const bb = await readBackbone(DEFAULT_BACKBONE);
    const det = freshDetector(bb, resolveConfig({ size: S }), e2eImages(S, 4, 'train'));
    try {
      const batches = [e2eImages(S, 1, 'test'), e2eImages(S, 4, 'test').slice(1)]; // batch 1 and 3
      for (const images of batches) {
        for (let i = 0; i < 3; i++) await det.scoreMaps(images); // plain, recorded, replayed
        await expectReplayMatches(det, images, `batch ${images.length}`);
        const other = e2eImages(S, 6, 'test').slice(6 - images.length);
        await expectReplayMatches(det, other, `batch ${images.length}, other images`);
      }

      // A training step writes parameters in place: a 3×3 conv's weight (its cached layout goes
      // stale: Tensor.derive) and a depthwise weight read directly.
      const [level] = det.levels;
      for (const p of [level.modulation.w, level.dw7.w]) runtime().write(p.bufferFor('test'), 0, randn(p.size, p.size));
      await expectReplayMatches(det, batches[0], 'after parameters changed in place');

      // Calibration replaces the mean map with a new tensor.
      const old = det.meanMap!;
      det.meanMap = keep(tensor(randn(S * S, 5), [1, 1, S, S]));
      old.dispose();
      await expectReplayMatches(det, batches[0], 'after the mean map was replaced');

      await withTuning({ matmul: { rowGroups: 1 } }, () => expectReplayMatches(det, batches[0], 'other matmul knobs'));

      // Fail closed: statistics turned NaN in place reach a replayed map, and no score is given.
      for (let i = 0; i < 3; i++) await det.scoreMaps(batches[0]);
      runtime().write(det.meanMap!.bufferFor('test'), 0, new Float32Array(S * S).fill(Number.NaN));
      await expect(det.scoreMaps(batches[0])).rejects.toThrow(/image 0: the anomaly map holds NaN at pixel \(\d+, \d+\)/);
    } finally {
      det.dispose();
      bb.backbone.dispose();
    }
  }, 120_000);

  it('a replayed call runs no op, creates no bind group and holds steady memory; dispose gives the memory back', async () => {
    const bb = await readBackbone(DEFAULT_BACKBONE);
    const rt = runtime();
    const img = e2eImages(S, 1, 'test');
    const warm = freshDetector(bb, resolveConfig({ size: S }), e2eImages(S, 4, 'train'));
    await warm.scoreMaps(img); // makes the runtime's constant tables (resize, blur), which stay
    warm.dispose();
    await rt.sync();
    const live0 = rt.pool.getStats().liveBytes;
    const det = freshDetector(bb, resolveConfig({ size: S }), e2eImages(S, 4, 'train'));
    for (let i = 0; i < 3; i++) await det.scoreMaps(img);
    await rt.sync();
    const before = { ...rt.stats() };
    let call: Promise<unknown> | null = null;
    const { launches } = traceLaunches(() => void (call = det.scoreMaps(img))); // the GPU work is issued before its first await
    await call;
    expect(launches).toEqual([]);
    for (let i = 0; i < 20; i++) await det.scoreMaps(img);
    await rt.sync();
    const after = rt.stats();
    expect(after.bindGroupsCreated).toBe(before.bindGroupsCreated);
    expect(after.allocatedBytes).toBe(before.allocatedBytes);
    expect(after.liveBytes).toBe(before.liveBytes);
    det.releaseRecordings();
    await rt.sync();
    expect(rt.pool.getStats().liveBytes).toBeLessThan(before.liveBytes);

    // Passes over more pixels than replayMaxPixels run afresh every time (no recording held).
    det.replayMaxPixels = 2 * S * S;
    const three = e2eImages(S, 3, 'test');
    for (let i = 0; i < 3; i++) await det.scoreMaps(three);
    let large: Promise<unknown> | null = null;
    const { launches: afresh } = traceLaunches(() => void (large = det.scoreMaps(three)));
    await large;
    expect(afresh.length).toBeGreaterThan(100);
    await rt.sync();
    expect(rt.pool.getStats().liveBytes).toBeLessThan(before.liveBytes);
    det.dispose();
    await rt.sync();
    expect(rt.pool.getStats().liveBytes).toBe(live0);
    bb.backbone.dispose();
  }, 120_000);
});

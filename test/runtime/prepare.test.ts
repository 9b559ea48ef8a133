// Runtime.preparePipelines / Detector.preparePipelines: every pipeline a scoring pass dispatches is
// created up front with createComputePipelineAsync, nothing is dispatched while doing so, the
// pass that follows creates none and computes exactly what a pass with pipelines made on the
// spot computes, and a pipeline that cannot be created is an error naming it.
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { DEFAULT_BACKBONE } from '../../src/cli/paths.js';
import { destroyRuntime, initRuntime, runtime } from '../../src/gpu/runtime.js';
import { freshDetector } from '../../src/models/fresh-detector.js';
import { resolveConfig } from '../../src/models/hlgfa-config.js';
import { readBackbone } from '../../src/tune/e2e.js';
import { e2eImages } from '../../src/tune/workload.js';

afterAll(() => destroyRuntime());

const config = resolveConfig({ size: 64 });

/** Anomaly maps of two test images from a fresh detector in a fresh runtime; `prepare` first or not. */
async function scoreInFreshRuntime(prepare: boolean) {
  destroyRuntime();
  const rt = await initRuntime();
  const bb = await readBackbone(DEFAULT_BACKBONE);
  const det = freshDetector(bb, config, e2eImages(64, 4, 'train'));
  try {
    const before = { ...rt.stats() };
    const created = prepare ? await det.preparePipelines() : 0;
    const prepared = { ...rt.stats() };
    const maps = (await det.scoreMaps(e2eImages(64, 1, 'test'))).map((r) => r.map);
    return { created, before, prepared, after: rt.stats(), maps, again: prepare ? await det.preparePipelines() : 0 };
  } finally {
    det.dispose();
    bb.backbone.dispose();
  }
}

describe('preparePipelines', () => {
  it('creates every pipeline a scoring pass needs, dispatching nothing; the pass creates none and scores the same', async () => {
    const plain = await scoreInFreshRuntime(false);
    const prepared = await scoreInFreshRuntime(true);
    expect(prepared.created).toBeGreaterThan(15); // backbone, module, anomaly map
    expect(prepared.prepared.pipelines - prepared.before.pipelines).toBe(prepared.created);
    expect(prepared.prepared.submits).toBe(prepared.before.submits); // a dry run: nothing ran
    expect(prepared.after.pipelines).toBe(prepared.prepared.pipelines);
    expect(prepared.again).toBe(0);
    // The same pipelines as the pass makes for itself, computing the same maps bit for bit.
    expect(prepared.after.pipelines - prepared.before.pipelines).toBe(plain.after.pipelines - plain.before.pipelines);
    expect(prepared.maps).toEqual(plain.maps);
  }, 120_000);

  it('names a pipeline that cannot be created', async () => {
    await initRuntime();
    await expect(runtime().kernels.prepare([{ shader: 'adam', entry: 'step', constants: { WG: 0 } }])).rejects.toThrow(/^pipeline adam\/step\/WG=0: /);
    expect(runtime().kernels.has('adam', 'step', { WG: 0 })).toBe(false);
  });
});

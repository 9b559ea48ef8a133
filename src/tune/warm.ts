// Warm-up runs: the work that makes a process create (and the driver compile) the pipelines a
// deployment will use, before its first real call. WebGPU drivers compile a pipeline when it is
// created or first dispatched (lavapipe: 0.1-0.6 s each, ~60 for a training run), so whoever runs
// these first pays that instead of the user's first image. `hlgfa warm` runs them to fill the
// driver's on-disk cache; the page runs them while the user picks files. No Node APIs.
import { noiseAugmenter } from '../data/augment.js';
import type { Backbone } from '../models/backbone.js';
import type { BackboneIdentity, Detector } from '../models/detector.js';
import type { HlgfaConfig } from '../models/hlgfa-config.js';
import { trainHlgfa } from '../models/hlgfa-train.js';
import { e2eImages, trainImageCount } from './workload.js';

export interface WarmRun {
  /** What the run does, e.g. "inference, batch 1 at S=256". */
  what: string;
  run: () => Promise<void>;
}

/**
 * One `scoreMaps` per batch size on `detector` (a fresh module runs a trained one's kernels: see
 * models/fresh-detector.ts) and, with `trainBatch`, a one-epoch training run whose fit split is one
 * batch of that size: feature caching, one step with its optimizer update, calibration. Kernel
 * variants depend on the batch, so warm the batch sizes that will be used.
 */
export function warmRuns(
  bb: { backbone: Backbone; id: BackboneIdentity },
  detector: Detector,
  o: { batches: readonly number[]; trainBatch?: number },
): WarmRun[] {
  const S = detector.config.size;
  const runs: WarmRun[] = o.batches.map((batch) => ({
    what: `inference, batch ${batch} at S=${S}`,
    run: async () => void (await detector.scoreMaps(e2eImages(S, batch, 'test'))),
  }));
  const B = o.trainBatch;
  if (B !== undefined) {
    const config: HlgfaConfig = { ...detector.config, batchSize: B, epochs: 1 };
    runs.push({
      what: `training step, batch ${B} at S=${S}`,
      run: async () => {
        const images = e2eImages(S, trainImageCount(B, config), 'train');
        (await trainHlgfa({ backbone: bb.backbone, backboneId: bb.id, config, images, augment: noiseAugmenter() })).detector.dispose();
      },
    });
  }
  return runs;
}

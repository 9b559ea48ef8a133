// One training step of the HLGFA module and what is decided before training by it: the step
// itself (forward, alignment loss, backward, Adam), the dry run of a whole step (backbone on both
// views included) that creates its pipelines and checks that it fits the adapter, and whether the
// step is replayed by default. Portable; trainHlgfa (hlgfa-train.ts) runs it.
import { backward, zeroGrad } from '../autograd/tape.js';
import { isSoftwareAdapter, type AdapterSummary } from '../gpu/device.js';
import { profileLayer } from '../gpu/profiler.js';
import { runtime } from '../gpu/runtime.js';
import { Adam } from '../nn/adam.js';
import { affine } from '../ops/index.js';
import { Tensor, empty, scope } from '../tensor/tensor.js';
import { createRng } from '../util/random.js';
import type { Backbone } from './backbone.js';
import { dryRunError, dualFeatures, largestFitting } from './detector.js';
import type { HlgfaConfig } from './hlgfa-config.js';
import { alignmentLoss, createLevel, levelTensors, refine, type LevelParams } from './hlgfa.js';

/** A module step's inputs at one level: HR and LR features (noisy where noise was injected) and the clean HR target. */
export interface StepInputs {
  fh: Tensor;
  fl: Tensor;
  target: Tensor;
}

/** One step of the module on its inputs per level: forward, the alignment loss, backward, Adam; returns the loss per level. */
export function moduleStep(levels: readonly LevelParams[], cfg: HlgfaConfig, adam: Adam, inputs: readonly StepInputs[]): Tensor {
  const fhats = inputs.map((x, l) => profileLayer(`hlgfa level ${l}`, () => refine(levels[l], cfg, x.fh, x.fl)));
  const total = profileLayer('loss', () => alignmentLoss(fhats, inputs.map((x) => x.target)));
  adam.zeroGrad();
  profileLayer('backward', () => backward(total));
  profileLayer('adam', () => adam.step());
  return affine(total, 1 / inputs.length, 0);
}

/** One training step's GPU work on n blank S×S images (backbone on both views, the module's step), for dry runs. */
function stepWork(backbone: Backbone, cfg: HlgfaConfig, n: number, S: number): () => void {
  return () => {
    const { fh, fl } = dualFeatures(backbone, empty([n, 3, S, S]), cfg.taps);
    if (cfg.baseline) return;
    const levels = fh.map((f) => {
      const level = createLevel(f.shape[1], cfg, createRng(0));
      if (cfg.norm === 'running') level.norm = { mean: empty([1, f.shape[1], 1, 1]), invStd: empty([1, f.shape[1], 1, 1]) };
      return level;
    });
    const params = levels.flatMap((p, l) => levelTensors(p, `level${l}`).map(([, t]) => t));
    let adam: Adam | null = null;
    try {
      adam = new Adam(params, { lr: cfg.lr });
      moduleStep(levels, cfg, adam, fh.map((f, l) => ({ fh: f, fl: fl[l], target: f })));
    } finally {
      zeroGrad(params);
      adam?.dispose();
      for (const t of params) t.dispose();
    }
  };
}

/**
 * Creates the pipelines of a training step at the config's size and batch together, in parallel
 * where the driver compiles at creation (Runtime.preparePipelines); resolves to how many it made.
 */
export function prepareTrainingPipelines(backbone: Backbone, cfg: HlgfaConfig): Promise<number> {
  return runtime().preparePipelines(() => void scope(stepWork(backbone, cfg, cfg.batchSize, cfg.size)));
}

/**
 * Why a training step at the config's size and batch cannot run on this device (a buffer over the
 * adapter's limits), with the batch and size that would fit; null when it fits. Decided by dry
 * runs of one step (backbone on both views, the module's step): no memory is spent.
 */
export function trainingFitError(backbone: Backbone, cfg: HlgfaConfig): string | null {
  const step = (n: number, S: number) => stepWork(backbone, cfg, n, S);
  const S = cfg.size;
  const B = cfg.batchSize;
  const error = dryRunError(step(B, S));
  if (!error) return null;
  const batch = largestFitting((n) => dryRunError(step(n, S)) === null, B);
  const size = 32 * largestFitting((k) => dryRunError(step(B, 32 * k)) === null, S / 32);
  const fitsAt = [
    batch > 0 ? `at S=${S} the largest batch that fits is ${batch}` : `S=${S} does not fit even at batch 1`,
    size > 0 ? `at batch ${B} the largest size that fits is S=${size}` : `batch ${B} does not fit at any size`,
  ];
  return `S=${S} with batch ${B} does not fit this adapter (${error.message}); ${fitsAt.join('; ')}`;
}

/**
 * Whether trainHlgfa replays its steps by default on this adapter: on GPUs, where a step's
 * kernels take milliseconds and its JavaScript (~10 ms) much of the step; not on CPU adapters
 * (lavapipe, SwiftShader), where a step is ~0.4 s of kernels: replaying saved no wall time there
 * and the held recording adds ~70 MiB to the peak at batch 8 (bench/RESULTS.md).
 */
export function replaysTraining(adapter: AdapterSummary): boolean {
  return !isSoftwareAdapter(adapter);
}

// How long a training run will take, told before it starts, and the S the page proposes.
//
// The estimate is measured, not looked up from the adapter kind: "software adapter" covers
// SwiftShader on two busy cores and lavapipe on sixty-four, a spread of 30× or more, and a real GPU
// can be slower than expected too (shared, throttled). So the page times the work a run is made
// of, on this adapter, at the chosen S: one backbone pass over both views, one module forward (what
// an anomaly map costs) and one module forward + backward (a training step), each at batch 1 and at
// batch b = min(B, 4) after an untimed warm-up (the first dispatch of each pipeline compiles it).
// Two batch sizes separate the fixed cost per step (dispatch and read-back overhead, which matters
// at small S on a CPU adapter) from the cost per image; a run at batch B is then priced step by
// step. b = 4 rather than 2: the slope is a difference of two timings, and on a busy machine a
// difference over one image was noise (estimates 0.5-1.9× the run), over three it holds.
// `estimateTraining` mirrors the loops of trainHlgfa (src/models/hlgfa-train.ts).
import { isSoftwareAdapter, type AdapterSummary } from '../../gpu/device.js';
import type { RgbaImage } from '../../io/image.js';
import { backward, noGrad, zeroGrad } from '../../autograd/tape.js';
import { full, scope, zeros, type Tensor } from '../../tensor/tensor.js';
import type { Backbone } from '../../models/backbone.js';
import type { HlgfaConfig } from '../../models/hlgfa-config.js';
import { dualFeatures, viewTensor } from '../../models/detector.js';
import { alignmentLoss, createLevel, levelTensors, refine } from '../../models/hlgfa.js';
import { holdoutSplit } from '../../models/hlgfa-train.js';
import { createRng } from '../../util/random.js';

/** Seconds for `fixed + n · perImage` images in one go, per kind of work. */
export interface Cost {
  fixed: number;
  perImage: number;
}

export interface StepCosts {
  size: number;
  /** Backbone features of both views (feature caching, noisy training images, scoring). */
  features: Cost;
  /** Module forward to the loss (a stand-in for the anomaly map of cached features). */
  map: Cost;
  /** Module forward + backward (a training step, without the noisy images' features). */
  step: Cost;
  /** What the measurement itself took, warm-up included. */
  seconds: number;
}

export interface TrainingEstimate {
  /** Seconds per phase, as the page's progress names them. */
  features: number;
  train: number;
  calibrate: number;
  /** The two parts of `calibrate`: map statistics over the fit images, then the threshold. */
  statistics: number;
  threshold: number;
  total: number;
  /** Images trained on, and images the threshold is calibrated on (see holdoutSplit). */
  fit: number;
  calibration: number;
}

const at = (c: Cost, n: number) => (n > 0 ? c.fixed + n * c.perImage : 0);

/** Seconds for `n` images in batches of `batch`, each batch costing `c`. */
function batched(c: Cost, n: number, batch: number): number {
  const full_ = Math.floor(n / batch);
  return full_ * at(c, batch) + at(c, n - full_ * batch);
}

/** The run trainHlgfa makes of `n` images with `cfg`, priced with `c`. */
export function estimateTraining(c: StepCosts, n: number, cfg: HlgfaConfig): TrainingEstimate {
  const { fit, hold } = holdoutSplit(n, cfg);
  const nFit = fit.length;
  const nCal = hold.length >= 2 ? hold.length : nFit;
  const B = cfg.batchSize;
  const features = batched(c.features, nFit, B);
  const epochs = cfg.baseline || !cfg.alignmentTerm ? 0 : cfg.epochs;
  const noisy = cfg.noise === 'off' ? 0 : cfg.noiseProbability;
  // Per step: the noisy share of the batch through the backbone, then the module forward + backward.
  const steps = Math.floor(nFit / B);
  const rest = nFit - steps * B;
  const step = (b: number) => at(c.features, noisy * b) + at(c.step, b);
  const train = epochs * (steps * step(B) + (rest ? step(rest) : 0));
  // Map statistics over the cached features, then the threshold: full scoring of the calibration set.
  const statistics = batched(c.map, nFit, B);
  const threshold = batched(c.features, nCal, B) + batched(c.map, nCal, B);
  const calibrate = statistics + threshold;
  return { features, train, calibrate, statistics, threshold, total: features + train + calibrate, fit: nFit, calibration: nCal };
}

/** Fits `fixed + n · perImage` through the times at batch 1 and batch b (neither ever negative). */
export function costFrom(t1: number, tb: number, b: number): Cost {
  if (b <= 1) return { fixed: 0, perImage: t1 };
  const perImage = Math.min(Math.max((tb - t1) / (b - 1), 0), t1);
  return { fixed: Math.max(t1 - perImage, 0), perImage };
}

/** The second batch size measureCosts times for a run at batch `batchSize`. */
export const measuredBatch = (batchSize: number): number => Math.min(batchSize, 4);


/**
 * The S the page proposes: 256 (the method's size) on a GPU; 128 on a software adapter, where a
 * step at 256 costs ~4× as much (SwiftShader: 2.0 s against 0.34 s per forward) and a default run
 * would take most of an hour. 64 halves it again, at a coarser map; the estimate shows the cost.
 */
export function proposedSize(a: Parameters<typeof isSoftwareAdapter>[0]): number {
  return isSoftwareAdapter(a) ? 128 : 256;
}

/** Times the parts of a training run on this adapter at `cfg.size` (see the top of this file). */
export async function measureCosts(backbone: Backbone, cfg: HlgfaConfig, image: RgbaImage): Promise<StepCosts> {
  const S = cfg.size;
  const t0 = performance.now();
  const once = async (n: number) => {
    const images = Array.from({ length: n }, () => image);
    const a = performance.now();
    const { fh, fl } = scope(() => dualFeatures(backbone, viewTensor(backbone, images, S), cfg.taps));
    await fh[fh.length - 1].read(); // the queue runs in order: this waits for all of it
    const b = performance.now();
    const levels = fh.map((f, l) => {
      const level = createLevel(f.shape[1], cfg, createRng(l));
      if (cfg.norm === 'running') level.norm = { mean: zeros([1, f.shape[1], 1, 1]), invStd: full([1, f.shape[1], 1, 1], 1) };
      return level;
    });
    const params = levels.flatMap((p, l) => levelTensors(p, `level${l}`).map(([, t]) => t));
    const owned: Tensor[] = [...fh, ...fl, ...params, ...levels.flatMap((p) => (p.norm ? [p.norm.mean, p.norm.invStd] : []))];
    try {
      const forward = () => alignmentLoss(levels.map((p, l) => refine(p, cfg, fh[l], fl[l])), fh);
      const mapLoss = scope(() => noGrad(forward));
      await mapLoss.item();
      mapLoss.dispose();
      const c = performance.now();
      const loss = scope(() => {
        const total = forward();
        backward(total);
        return total;
      });
      await loss.item(); // after the backward's dispatches, so it waits for them too
      loss.dispose();
      const d = performance.now();
      return { features: (b - a) / 1000, map: (c - b) / 1000, step: (d - c) / 1000 };
    } finally {
      zeroGrad(params);
      for (const t of owned) t.dispose();
    }
  };
  await once(1); // warm-up: pipelines compile at their first dispatch
  const one = await once(1);
  const b = measuredBatch(cfg.batchSize);
  const more = b > 1 ? await once(b) : one;
  return {
    size: S,
    features: costFrom(one.features, more.features, b),
    map: costFrom(one.map, more.map, b),
    step: costFrom(one.step, more.step, b),
    seconds: (performance.now() - t0) / 1000,
  };
}

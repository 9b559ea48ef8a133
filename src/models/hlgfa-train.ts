// HLGFA training, entirely on the GPU device: frozen backbone features (cached for clean images),
// the refinement module, the alignment loss, backward and Adam. Portable (no Node APIs): the CLI
// and the browser page both call `trainHlgfa`. Deterministic for a given config.seed. The step itself
// and its dry run are in hlgfa-step.ts.
import { luminanceStats, resizeRgba, type RgbaImage } from '../io/image.js';
import { moduleStep, prepareTrainingPipelines, replaysTraining, trainingFitError, type StepInputs } from './hlgfa-step.js';
import { Tensor, empty, keep, scope, tensor } from '../tensor/tensor.js';
import { ReplayedStep } from '../tensor/replay.js';
import { add, concat, concatInto, mul, resizeBilinear, split, sum } from '../ops/index.js';
import { Adam } from '../nn/adam.js';
import { createRng, deriveSeed, permutation, type Rng } from '../util/random.js';
import { calibrateThreshold, calibrationWarning } from '../eval/calibration.js';
import type { Backbone, Exposure } from './backbone.js';
import { resolveConfig, type HlgfaConfig } from './hlgfa-config.js';
import { createLevel, type LevelParams } from './hlgfa.js';
import { Detector, dualFeatures, viewTensor, type BackboneIdentity } from './detector.js';
import { readFiniteF32, type ParsedCheckpoint } from './checkpoint.js';
import { buildMemoryBank, patchEmbedding } from './memory-bank.js';
import type { TensorToWrite } from '../io/safetensors.js';
import { profileLayer, type DispatchProfiler } from '../gpu/profiler.js';
import { runtime } from '../gpu/runtime.js';

export interface TrainProgress {
  phase: 'features' | 'train' | 'calibrate';
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface ResumeState {
  /** Epochs already completed. */
  epoch: number;
  levels: LevelParams[];
  adam: { step: number; steps: number[]; m: Float32Array[]; v: Float32Array[] };
}

export interface TrainOptions {
  backbone: Backbone;
  backboneId: BackboneIdentity;
  config: HlgfaConfig;
  /** Normal training images (train/good), any size. */
  images: readonly RgbaImage[];
  /** Noise-aware augmentation on an S×S RGBA image (sparse points + stripes). */
  augment: (img: RgbaImage, rng: Rng) => RgbaImage;
  onProgress?: (p: TrainProgress) => void;
  /** Called after every epoch with what a resumable checkpoint needs. */
  onEpochEnd?: (detector: Detector, epoch: number, optimiser: Adam) => Promise<void>;
  resume?: ResumeState;
  signal?: AbortSignal;
  /**
   * Records the dispatches of one training step (`hlgfa profile --train`): step `step` (0-based,
   * counted over the whole run) runs with `profiler` attached, and its wall time, from recording to
   * the loss read back, is stored in `wallMs`, with the step after it, unprofiled, in `nextMs`.
   */
  profileStep?: { step: number; profiler: DispatchProfiler; wallMs?: number; nextMs?: number };
  /**
   * Replay the module's step (forward, loss, backward, Adam) from a recording instead of running
   * its ops' JavaScript each step: the same results, less CPU per step, at the cost of holding the
   * step's working memory between steps. Default: `replaysTraining(adapter)`.
   */
  replay?: boolean;
}

export interface TrainResult {
  detector: Detector;
  losses: number[];
  seconds: number;
  /** Epochs completed in all (including those of a resumed run). */
  epochs: number;
  /** What a checkpoint needs to resume this run later (optimiser moments and progress). */
  resumable: { tensors: Record<string, TensorToWrite>; metadata: Record<string, string> };
  /** Things the user should know about the result (e.g. a threshold backed by few images). */
  warnings: string[];
  /** Coefficient of variation of the normal images' mean luminance (what inputNorm 'auto' decides by). */
  exposureVariation: number;
  /** Training steps replayed from a recording rather than run (see TrainOptions.replay). */
  replayedSteps: number;
}

/** Training stopped because the loss (or the weights) stopped being finite numbers. */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted) throw new DOMException('training was cancelled', 'AbortError');
}

/** Splits train images into fit and held-out (threshold calibration) indices. */
export function holdoutSplit(n: number, cfg: HlgfaConfig): { fit: number[]; hold: number[] } {
  const perm = permutation(n, createRng(deriveSeed(cfg.seed, 0x5eed)));
  const nHold = cfg.holdout > 0 && n >= 5 ? Math.max(1, Math.round(n * cfg.holdout)) : 0;
  return { hold: perm.slice(0, nHold).sort((a, b) => a - b), fit: perm.slice(nHold).sort((a, b) => a - b) };
}

/** How much the normal images' exposure varies before 'auto' normalises it (see `inputNorm`). */
export const EXPOSURE_VARIATION_LIMIT = 0.1;

/**
 * The normal images' average luminance mean and contrast (the targets of inputNorm 'image'), and
 * the coefficient of variation of their mean luminance (what 'auto' decides by).
 */
export function exposureOf(images: readonly RgbaImage[]): { target: Exposure; variation: number } {
  const stats = images.map(luminanceStats);
  const mean = stats.reduce((a, s) => a + s.mean, 0) / stats.length;
  const spread = Math.sqrt(stats.reduce((a, s) => a + (s.mean - mean) ** 2, 0) / stats.length);
  return { target: { mean: Math.fround(mean), std: Math.fround(stats.reduce((a, s) => a + s.std, 0) / stats.length) }, variation: spread / Math.max(mean, 1e-6) };
}

/**
 * Settles inputNorm for these normal images ('auto' becomes 'image' or 'none', as checkpoints
 * store it) and returns the exposure targets images are then brought to (null for 'none').
 */
export function resolveInputNorm(cfg: HlgfaConfig, images: readonly RgbaImage[]): { config: HlgfaConfig; exposure: Exposure | null; variation: number } {
  const { target, variation } = exposureOf(images);
  const inputNorm = cfg.inputNorm === 'auto' ? (variation > EXPOSURE_VARIATION_LIMIT ? 'image' : 'none') : cfg.inputNorm;
  return { config: { ...cfg, inputNorm }, exposure: inputNorm === 'image' ? target : null, variation };
}

export async function trainHlgfa(o: TrainOptions): Promise<TrainResult> {
  let cfg = resolveConfig(o.config); // API callers get the same checks as the CLI
  const S = cfg.size;
  const t0 = performance.now();
  if (o.images.length === 0) throw new Error('train: no training images');
  // One dry run of a step both checks that it fits the adapter and creates its pipelines together;
  // only when it does not fit are the dry runs that find what would fit made.
  try {
    await prepareTrainingPipelines(o.backbone, cfg);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new RangeError(trainingFitError(o.backbone, cfg) ?? e.message);
  }
  const resized = o.images.map((img) => resizeRgba(img, S, S));
  const settled = resolveInputNorm(cfg, resized);
  cfg = settled.config;
  const exposure = settled.exposure;
  const { fit, hold } = holdoutSplit(resized.length, cfg);
  const B = cfg.batchSize;
  const nl = cfg.taps.length;

  // Clean features of every fit image, cached on the device: [1, C, h, w] per image and level.
  const cacheH: Tensor[][] = Array.from({ length: nl }, () => []);
  const cacheL: Tensor[][] = Array.from({ length: nl }, () => []);
  for (let s = 0; s < fit.length; s += B) {
    checkAbort(o.signal);
    const idx = fit.slice(s, s + B);
    scope(() => {
      const { fh, fl } = dualFeatures(o.backbone, viewTensor(o.backbone, idx.map((i) => resized[i]), S, exposure), cfg.taps);
      for (let l = 0; l < nl; l++) {
        split(fh[l], idx.map(() => 1), 0).forEach((t) => cacheH[l].push(keep(t)));
        split(fl[l], idx.map(() => 1), 0).forEach((t) => cacheL[l].push(keep(t)));
      }
    });
    await cacheH[nl - 1][cacheH[nl - 1].length - 1].read(); // lets the pool recycle between batches
    o.onProgress?.({ phase: 'features', epoch: 0, epochs: cfg.epochs, step: s + idx.length, steps: fit.length, loss: NaN, imagesPerSecond: 0, etaSeconds: NaN });
  }

  const channels = cacheH.map((c) => c[0].shape[1]);
  const levels = o.resume?.levels ?? channels.map((c, l) => createLevel(c, cfg, createRng(deriveSeed(cfg.seed, 100 + l))));
  if (cfg.norm === 'running' && !o.resume) {
    for (let l = 0; l < nl; l++) levels[l].norm = await channelStatistics(cacheL[l], [cacheH[l][0].shape[2], cacheH[l][0].shape[3]], B);
  }
  const detector = new Detector(o.backbone, cfg, levels, o.backboneId);
  detector.exposure = exposure;
  const params = detector.namedParameters().map(([, t]) => t);
  const adam = new Adam(params, { lr: cfg.lr });
  if (o.resume) adam.loadState(o.resume.adam);

  // Full batches run that step on fixed input slots, refilled each step, so that it is recorded
  // once and replayed (ReplayedStep): the same dispatches without the ops' JavaScript. A smaller
  // last batch runs it plainly, which releases the recording (its zeroGrad frees the recorded
  // gradients), and the next full batch records again: worth it with two full batches an epoch, or
  // one and nothing else.
  const trains = !cfg.baseline && cfg.alignmentTerm; // nothing to train for the raw baseline, or when the map leaves the alignment term out
  const fullSteps = Math.floor(fit.length / B);
  const slotLike = (t: Tensor) => keep(empty([B, ...t.shape.slice(1)]));
  const slots: StepInputs[] =
    (o.replay ?? replaysTraining(runtime().gpu.info)) && trains && (fullSteps >= 2 || fit.length === B)
      ? cacheH.map((c, l) => ({ fh: slotLike(c[0]), fl: slotLike(cacheL[l][0]), target: slotLike(c[0]) }))
      : [];
  const replayed = slots.length ? new ReplayedStep(() => moduleStep(levels, cfg, adam, slots)) : null;
  const releaseReplay = () => {
    replayed?.release();
    for (const slot of slots) for (const t of Object.values(slot)) t.dispose();
  };

  const losses: number[] = [];
  const stepsPerEpoch = Math.ceil(fit.length / B);
  const startEpoch = o.resume?.epoch ?? 0;
  const trainStart = performance.now();
  let done = 0;
  try {
    for (let epoch = startEpoch; epoch < (trains ? cfg.epochs : 0); epoch++) {
      const order = permutation(fit.length, createRng(deriveSeed(cfg.seed, 1000 + epoch)));
      const augRng = createRng(deriveSeed(cfg.seed, 2000 + epoch));
      let epochLoss = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        checkAbort(o.signal);
        const stepIndex = (epoch - startEpoch) * stepsPerEpoch + s;
        const profiled = o.profileStep?.step === stepIndex ? o.profileStep : null;
        if (profiled) runtime().setProfiler(profiled.profiler);
        const stepStart = performance.now();
        const batch = order.slice(s * B, (s + 1) * B);
        // Which images get noise this step (decided before any GPU work, so runs are reproducible).
        const noisy = batch.map(() => cfg.noise !== 'off' && augRng() < cfg.noiseProbability);
        const noisyImages = batch.filter((_, i) => noisy[i]).map((j) => o.augment(resized[fit[j]], augRng));
        // Per level, the batch's module inputs: noisy features where noise was injected (HR
        // always, LR only for noise = 'both'), cached clean ones elsewhere. Called in a scope,
        // which holds the noisy views' features.
        const batchInputs = () => {
          let k = 0;
          const noiseRow = noisy.map((n) => (n ? k++ : -1));
          const f = noisyImages.length ? profileLayer('noisy views', () => dualFeatures(o.backbone, viewTensor(o.backbone, noisyImages, S, exposure), cfg.taps)) : null;
          const rows = (t: Tensor[] | undefined, l: number) => (t ? split(t[l], noisyImages.map(() => 1), 0) : []);
          const pick = (cache: Tensor[][], noisyRows: Tensor[], l: number) =>
            batch.map((j, i) => (noiseRow[i] >= 0 && noisyRows.length ? noisyRows[noiseRow[i]] : cache[l][j]));
          return (l: number) => ({
            fh: pick(cacheH, rows(f?.fh, l), l),
            fl: pick(cacheL, cfg.noise === 'both' ? rows(f?.fl, l) : [], l),
            target: batch.map((j) => cacheH[l][j]),
          });
        };
        let loss: Tensor;
        if (replayed && batch.length === B) {
          scope(() => {
            const parts = batchInputs();
            slots.forEach((slot, l) => profileLayer(`hlgfa level ${l}`, () => {
              const p = parts(l);
              for (const key of ['fh', 'fl', 'target'] as const) concatInto(p[key], slot[key], 0);
            }));
          });
          loss = replayed.run();
        } else {
          replayed?.release(); // this step's zeroGrad frees the recorded gradients
          loss = scope(() => {
            const parts = batchInputs();
            const inputs = levels.map((_, l) => profileLayer(`hlgfa level ${l}`, () => {
              const p = parts(l);
              return { fh: concat(p.fh, 0), fl: concat(p.fl, 0), target: concat(p.target, 0) };
            }));
            return moduleStep(levels, cfg, adam, inputs);
          });
        }
        const value = await loss.item();
        if (profiled) runtime().setProfiler(null);
        loss.dispose();
        if (profiled) profiled.wallMs = performance.now() - stepStart;
        else if (o.profileStep?.step === stepIndex - 1) o.profileStep.nextMs = performance.now() - stepStart;
        if (!Number.isFinite(value)) {
          throw new TrainingDivergedError(
            `training diverged: the loss is ${value} at epoch ${epoch + 1}, step ${s + 1} (learning rate ${cfg.lr}; try a lower --lr). ` +
              `Nothing was written for this epoch${epoch > startEpoch ? `; the checkpoint of epoch ${epoch} stays` : ''}.`,
          );
        }
        epochLoss += value;
        losses.push(value);
        done += batch.length;
        const elapsed = (performance.now() - trainStart) / 1000;
        const rate = done / Math.max(elapsed, 1e-9);
        const remaining = (cfg.epochs - epoch - 1) * fit.length + (fit.length - Math.min(fit.length, (s + 1) * B));
        o.onProgress?.({ phase: 'train', epoch: epoch + 1, epochs: cfg.epochs, step: s + 1, steps: stepsPerEpoch, loss: epochLoss / (s + 1), imagesPerSecond: rate, etaSeconds: remaining / rate });
      }
      if (o.onEpochEnd) await o.onEpochEnd(detector, epoch + 1, adam);
    }
    const replayedSteps = replayed?.replays ?? 0;
    releaseReplay(); // calibration below has passes of its own

    // Normal-image statistics over the fit images' clean features: per-pixel mean (and, for
    // 'zscore', standard deviation) of their maps, accumulated on the GPU, finished on the CPU.
    let mapSum: Tensor | null = null;
    let sqSum: Tensor | null = null;
    for (let s = 0; s < fit.length; s += B) {
      checkAbort(o.signal);
      const idx = Array.from({ length: Math.min(B, fit.length - s) }, (_, k) => s + k); // cache rows
      const [nextSum, nextSq] = scope(() => {
        const maps = detector.mapsFromFeatures(
          cacheH.map((c) => concat(idx.map((i) => c[i]), 0)),
          cacheL.map((c) => concat(idx.map((i) => c[i]), 0)),
          false,
        );
        const part = sum(maps, 0, { keepDims: true });
        const partSq = sum(mul(maps, maps), 0, { keepDims: true });
        return [mapSum ? add(mapSum, part) : part, sqSum ? add(sqSum, partSq) : partSq];
      });
      mapSum?.dispose();
      sqSum?.dispose();
      mapSum = keep(nextSum);
      sqSum = keep(nextSq);
      await mapSum.read();
      o.onProgress?.({ phase: 'calibrate', epoch: cfg.epochs, epochs: cfg.epochs, step: s + idx.length, steps: fit.length + hold.length, loss: NaN, imagesPerSecond: 0, etaSeconds: NaN });
    }
    const { mean, invStd } = mapStatistics(await mapSum!.read(), await sqSum!.read(), fit.length);
    mapSum!.dispose();
    sqSum!.dispose();
    detector.meanMap = keep(tensor(mean, [1, 1, cfg.size, cfg.size]));
    if (cfg.mapNorm === 'zscore') detector.invStdMap = keep(tensor(invStd, [1, 1, cfg.size, cfg.size]));

    for (const name of ['meanMap', 'invStdMap'] as const) {
      const t = detector[name];
      if (t && !(await t.read()).every(Number.isFinite)) throw new TrainingDivergedError(`training diverged: the normal-image statistics (${name}) are not finite`);
    }

    // Calibration images: held-out normal images (never trained on, never in the memory bank);
    // with fewer than two of those, the training images.
    const source = hold.length >= 2 ? 'held-out' : 'training';
    const calibrationSet = source === 'held-out' ? hold : fit;

    // normality 'knn': the memory bank from the fit images' cached features, then each map term's
    // mean and spread on the calibration images, which the scores standardise the terms by.
    if (cfg.normality === 'knn') {
      const levels = cfg.knnTaps.map((t) => cfg.taps.indexOf(t));
      const embed = (b: number) => scope(() => patchEmbedding(levels.map((l) => concat(cacheH[l].slice(b * B, (b + 1) * B), 0)), cfg.knnGrid));
      detector.memoryBank = await buildMemoryBank(Math.ceil(fit.length / B), embed, cfg.knnBankSize, cfg.seed);
      detector.termNorm = await detector.termStatistics(calibrationSet.map((i) => resized[i]));
    }

    // Decision threshold for the target false-positive rate, fitted to the calibration images' scores.
    const scores: number[] = [];
    for (let s = 0; s < calibrationSet.length; s += B) {
      checkAbort(o.signal);
      const res = await detector.scoreMaps(calibrationSet.slice(s, s + B).map((i) => resized[i]));
      scores.push(...res.map((r) => r.score));
    }
    const calibration = calibrateThreshold(scores, cfg.thresholdFpr, source);
    detector.setThreshold(calibration.threshold, calibration);
    const warning = calibrationWarning(calibration);
    const epochs = Math.max(startEpoch, cfg.baseline ? 0 : cfg.epochs);
    return {
      detector,
      losses,
      seconds: (performance.now() - t0) / 1000,
      epochs,
      resumable: await trainingState(detector, adam, epochs),
      warnings: warning ? [warning] : [],
      exposureVariation: settled.variation,
      replayedSteps,
    };
  } catch (e) {
    detector.dispose();
    throw e;
  } finally {
    if (o.profileStep) runtime().setProfiler(null); // a step that threw while profiled
    releaseReplay();
    adam.dispose();
    for (const c of [...cacheH, ...cacheL]) for (const t of c) t.dispose();
  }
}

/**
 * Per-pixel mean and floored inverse standard deviation of n maps from their sums and sums of
 * squares (float64; the variance is clamped at 0 against rounding). The floor, a tenth of the mean
 * standard deviation, keeps nearly constant positions from dominating a z-scored map.
 */
export function mapStatistics(sum: Float32Array, sumSq: Float32Array, n: number): { mean: Float32Array; invStd: Float32Array } {
  const mean = new Float32Array(sum.length);
  const std = new Float64Array(sum.length);
  let stdMean = 0;
  for (let i = 0; i < sum.length; i++) {
    const m = sum[i] / n;
    mean[i] = m;
    std[i] = Math.sqrt(Math.max(0, sumSq[i] / n - m * m));
    stdMean += std[i] / sum.length;
  }
  const floor = Math.max(0.1 * stdMean, 1e-12);
  const invStd = Float32Array.from(std, (s) => 1 / Math.max(s, floor));
  return { mean, invStd };
}

/**
 * Per-channel mean and 1/std (eps 1e-5) of Up(Fl) over cached LR features [1, C, h/2, w/2]:
 * the fixed statistics of norm 'running'. Sums on the GPU in batches, finished in float64.
 */
async function channelStatistics(fl: readonly Tensor[], size: [number, number], batch: number): Promise<{ mean: Tensor; invStd: Tensor }> {
  const c = fl[0].shape[1];
  const s1 = new Float64Array(c);
  const s2 = new Float64Array(c);
  for (let s = 0; s < fl.length; s += batch) {
    const [a, b] = scope(() => {
      const u = resizeBilinear(concat(fl.slice(s, s + batch), 0), size, { alignCorners: false });
      return [sum(u, [0, 2, 3]), sum(mul(u, u), [0, 2, 3])];
    });
    const [va, vb] = [await a.read(), await b.read()];
    a.dispose();
    b.dispose();
    for (let i = 0; i < c; i++) {
      s1[i] += va[i];
      s2[i] += vb[i];
    }
  }
  const n = fl.length * size[0] * size[1];
  const mean = Float32Array.from(s1, (v) => v / n);
  const invStd = Float32Array.from(s2, (v, i) => 1 / Math.sqrt(Math.max(0, v / n - mean[i] ** 2) + 1e-5));
  return { mean: keep(tensor(mean, [1, c, 1, 1])), invStd: keep(tensor(invStd, [1, c, 1, 1])) };
}

/** Checkpoint additions that let `--resume` continue a run: Adam moments and progress. */
export async function trainingState(detector: Detector, adam: Adam, epoch: number): Promise<{ tensors: Record<string, TensorToWrite>; metadata: Record<string, string> }> {
  const st = adam.state();
  const names = detector.namedParameters().map(([n]) => n);
  const tensors: Record<string, TensorToWrite> = {};
  for (let i = 0; i < names.length; i++) {
    tensors[`optim.m.${names[i]}`] = { dtype: 'F32', shape: st.m[i].shape, data: await st.m[i].read() };
    tensors[`optim.v.${names[i]}`] = { dtype: 'F32', shape: st.v[i].shape, data: await st.v[i].read() };
  }
  return { tensors, metadata: { epoch: String(epoch), adam: JSON.stringify({ step: st.step, steps: st.steps }) } };
}

/** The resume state stored in a checkpoint written during training (`trainingState`). */
export function resumeState(ck: ParsedCheckpoint, detector: Detector): ResumeState {
  const epoch = ck.epoch;
  if (epoch === null) throw new Error(`${ck.file.source}: checkpoint has no training progress to resume (metadata "epoch")`);
  let adam: { step: number; steps: number[] };
  try {
    adam = JSON.parse(ck.metadata.adam);
  } catch {
    throw new Error(`${ck.file.source}: checkpoint has no optimiser state to resume (metadata "adam")`);
  }
  const named = detector.namedParameters();
  const counter = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  if (!adam || !counter(adam.step) || !Array.isArray(adam.steps) || adam.steps.length !== named.length || !adam.steps.every(counter)) {
    throw new Error(`${ck.file.source}: metadata "adam" is malformed (expected a step count and ${named.length} per-parameter step counts)`);
  }
  for (const [, t] of named) t.requiresGrad = true;
  return {
    epoch,
    levels: detector.levels,
    adam: {
      step: adam.step,
      steps: adam.steps,
      m: named.map(([n, t]) => readFiniteF32(ck.file, `optim.m.${n}`, [...t.shape])),
      v: named.map(([n, t]) => readFiniteF32(ck.file, `optim.v.${n}`, [...t.shape])),
    },
  };
}

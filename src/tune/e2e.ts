// The end-to-end section of the bench (`hlgfa bench --e2e`): the whole HLGFA detector at its
// default configuration (S = 256, MobileNetV2 taps features.3/6/13) on deterministic synthetic
// images, timed by wall clock exactly as the commands run it:
//   inference  Detector.scoreMaps(batch): CPU preprocessing, upload, backbone on the HR and LR views,
//              the module, the anomaly map, readback, image score (what `hlgfa detect` / `eval` do
//              per batch), at batch 1 and 8: first call (pipeline creation) and warm calls;
//   training   trainHlgfa as `hlgfa train` runs it, timed through its progress callbacks: the
//              clean-feature caching batches and the training steps, first and warm;
//   pool       the buffer pool's high-water marks over each of them;
//   shader cache  fresh processes with an empty, then warm, driver shader cache (src/tune/e2e-cache.ts).
// The module is freshly initialised (untrained) for inference: the work per image is the same.
import '../ops/index.js';
import { basename } from 'node:path';
import { performance as perf, type EventLoopUtilization } from 'node:perf_hooks';
import { noiseAugmenter } from '../data/augment.js';
import type { Runtime } from '../gpu/runtime.js';
import type { RgbaImage } from '../io/image.js';
import { readFileOrThrow } from '../io/node-fs.js';
import { loadBackbone, type Backbone } from '../models/backbone.js';
import { sha256Hex, type BackboneIdentity, type Detector } from '../models/detector.js';
import { freshDetector } from '../models/fresh-detector.js';
import { DEFAULT_CONFIG, resolveConfig, type HlgfaConfig } from '../models/hlgfa-config.js';
import { holdoutSplit, trainHlgfa } from '../models/hlgfa-train.js';
import { replaysTraining } from '../models/hlgfa-step.js';
import { currentTuning } from '../ops/tuning.js';
import { shaderCacheRuns } from './e2e-cache.js';
import { E2E_CATEGORY, E2E_SEED, e2eImages, trainImageCount } from './workload.js';
import { stats } from './harness.js';
import type { E2EReport, InferenceResult, PhaseTiming, PoolPeak, TrainingResult } from './schema.js';

export interface E2EOptions {
  /** HLGFA input size S (default DEFAULT_CONFIG.size). */
  size?: number;
  /** Inference batch sizes (default [1, 8]). */
  batches?: readonly number[];
  /** Timed warm calls per inference batch size, at least (default 5, quick 3); see timedMs. */
  warmReps?: number;
  /** Untimed calls between the first call and the timed ones (default 5, quick 1). */
  warmupCalls?: number;
  /** Timed calls continue past warmReps until this much time was timed, at most 100 (default 2000 ms, quick 0). */
  timedMs?: number;
  /** Training batch size (default DEFAULT_CONFIG.batchSize). */
  trainBatch?: number;
  /** Training steps, two per epoch (default 6, quick 4): the fit split is 2 × trainBatch images. */
  trainSteps?: number;
  /** Backbone safetensors (the CLI passes the shipped ImageNet MobileNetV2). */
  backbonePath: string;
  /** Run the cold / warm shader-cache child processes (default true). */
  shaderCache?: boolean;
  /** Fewer repetitions and steps. */
  quick?: boolean;
  log?: (line: string) => void;
}

export { E2E_CATEGORY, E2E_SEED, e2eImages, trainImageCount };
const STEPS_PER_EPOCH = 2;

const now = () => performance.now();

/** A backbone file with the identity a checkpoint records for it. */
export interface LoadedBackbone {
  backbone: Backbone;
  id: BackboneIdentity;
}

/** Reads a backbone's safetensors, with the CLI's messages ("…: backbone weights not found"). */
export async function readBackbone(path: string): Promise<LoadedBackbone> {
  const bytes = readFileOrThrow(path, 'backbone weights');
  const backbone = loadBackbone(bytes, path);
  return { backbone, id: { architecture: backbone.architecture, source: backbone.metadata.source ?? basename(path), sha256: await sha256Hex(bytes) } };
}

/** Empties the pool's free lists and restarts its high-water marks; returns the live bytes. */
async function poolStart(rt: Runtime): Promise<number> {
  await rt.sync();
  rt.pool.trim();
  rt.pool.resetPeaks();
  return rt.pool.getStats().liveBytes;
}

function poolPeak(rt: Runtime, residentBytes: number): PoolPeak {
  const s = rt.pool.getStats();
  return { residentBytes, peakLiveBytes: s.peakLiveBytes, peakAllocatedBytes: s.peakAllocatedBytes };
}

/**
 * Times `Detector.scoreMaps` on `batch` images: first call, `warmupCalls` untimed, then at least
 * `warmReps` timed and more until `timedMs` of them (at most 100). Warm-up: the bind-group cache
 * fills over the first ~10 calls (the pooled buffers a call gets cycle while earlier work is queued);
 * with `replay` (the default, as the detector's) the second call is recorded and later ones replay it.
 */
export async function measureInference(
  rt: Runtime,
  det: Detector,
  images: readonly RgbaImage[],
  batch: number,
  o: { warmReps: number; warmupCalls?: number; timedMs?: number; replay?: boolean },
): Promise<InferenceResult> {
  const warmupCalls = o.warmupCalls ?? 1;
  const replay = o.replay ?? true;
  det.replay = replay;
  det.releaseRecordings();
  const residentBytes = await poolStart(rt);
  let k = 0;
  const call = async (): Promise<number> => {
    const imgs = Array.from({ length: batch }, (_, i) => images[(k * batch + i) % images.length]);
    k++;
    const t = now();
    await det.scoreMaps(imgs); // the fresh module has no threshold; a non-finite map throws
    return now() - t;
  };
  const pipelines = rt.kernels.size;
  const firstMs = await call();
  const pipelinesCompiled = rt.kernels.size - pipelines;
  for (let i = 0; i < warmupCalls; i++) await call();
  const times: number[] = [];
  let timed = 0;
  const busy = perf.eventLoopUtilization();
  while (times.length < Math.max(1, o.warmReps) || (timed < (o.timedMs ?? 0) && times.length < 100)) {
    times.push(await call());
    timed += times[times.length - 1];
  }
  const mainThreadMs = perf.eventLoopUtilization(busy).active / times.length;
  const time = stats(times, 1);
  return {
    batch,
    firstMs,
    pipelinesCompiled,
    warmupCalls,
    time,
    imagesPerS: batch / (time.median / 1e3),
    msPerImage: time.median / batch,
    pool: poolPeak(rt, residentBytes),
    replay,
    mainThreadMs,
  };
}

interface Mark {
  t: number;
  pipelines: number;
}

/** First duration and the statistics of the later ones, from consecutive marks after `start`. */
function phaseTiming(start: Mark, marks: readonly Mark[], batch: number): PhaseTiming {
  if (marks.length === 0) throw new Error('e2e: training reported no progress for a phase');
  const durations = marks.map((m, i) => m.t - (i === 0 ? start.t : marks[i - 1].t));
  const time = durations.length > 1 ? stats(durations.slice(1), 1) : null;
  return {
    batch,
    firstMs: durations[0],
    pipelinesCompiled: marks[0].pipelines - start.pipelines,
    time,
    imagesPerS: batch / ((time?.median ?? durations[0]) / 1e3),
  };
}

/** trainHlgfa as `hlgfa train` runs it, timed through its progress callbacks. */
export async function measureTraining(
  rt: Runtime, bb: LoadedBackbone, cfg: HlgfaConfig, images: readonly RgbaImage[], replay = replaysTraining(rt.gpu.info),
): Promise<TrainingResult> {
  const B = cfg.batchSize;
  const fitImages = holdoutSplit(images.length, cfg).fit.length;
  const steps = cfg.epochs * Math.ceil(fitImages / B);
  const residentBytes = await poolStart(rt);
  const mark = (): Mark => ({ t: now(), pipelines: rt.kernels.size });
  const start = mark();
  const features: Mark[] = [];
  const train: Mark[] = [];
  const busy: EventLoopUtilization[] = []; // at each step's end
  // Assigned in the progress callback (declared so that control-flow narrowing keeps the union).
  let featuresPeak = null as PoolPeak | null;
  let stepsPeak = null as PoolPeak | null;
  let stepsResident = 0;
  const result = await trainHlgfa({
    backbone: bb.backbone,
    backboneId: bb.id,
    config: cfg,
    images,
    augment: noiseAugmenter(),
    replay,
    onProgress: (p) => {
      if (p.phase === 'features') {
        features.push(mark());
        if (p.step === p.steps) {
          featuresPeak = poolPeak(rt, residentBytes);
          stepsResident = rt.pool.getStats().liveBytes;
          rt.pool.resetPeaks();
        }
      } else if (p.phase === 'train') {
        train.push(mark());
        busy.push(perf.eventLoopUtilization());
        if (train.length === steps) stepsPeak = poolPeak(rt, stepsResident);
      }
    },
  });
  const totalS = (now() - start.t) / 1e3;
  const after = poolPeak(rt, residentBytes);
  result.detector.dispose();
  const { losses } = result;
  if (!featuresPeak || !stepsPeak || train.length !== steps) throw new Error(`e2e: expected ${steps} training steps, saw ${train.length}`);
  const fp = featuresPeak;
  return {
    batch: B,
    fitImages,
    epochs: cfg.epochs,
    steps,
    step: phaseTiming(features[features.length - 1], train, B),
    features: phaseTiming(start, features, B),
    loss: { first: losses[0], last: losses[losses.length - 1], finite: losses.length > 0 && losses.every(Number.isFinite) },
    totalS,
    pool: { residentBytes, peakLiveBytes: Math.max(fp.peakLiveBytes, after.peakLiveBytes), peakAllocatedBytes: Math.max(fp.peakAllocatedBytes, after.peakAllocatedBytes) },
    stepsPool: stepsPeak,
    replay,
    replayedSteps: result.replayedSteps,
    mainThreadMs: busy.length > 1 ? stats(busy.slice(1).map((b, i) => perf.eventLoopUtilization(b, busy[i]).active), 1).median : undefined,
  };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** The whole section on `rt` (the runtime's current tuning is what the child processes apply too). */
export async function runE2E(rt: Runtime, opts: E2EOptions): Promise<E2EReport> {
  const started = now();
  const log = opts.log ?? (() => {});
  const quick = opts.quick ?? false;
  const size = opts.size ?? DEFAULT_CONFIG.size;
  const batches = opts.batches ?? [1, 8];
  const warmReps = opts.warmReps ?? (quick ? 3 : 5);
  const warmupCalls = opts.warmupCalls ?? (quick ? 1 : 5);
  const timedMs = opts.timedMs ?? (quick ? 0 : 2000);
  const trainBatch = opts.trainBatch ?? DEFAULT_CONFIG.batchSize;
  const trainSteps = opts.trainSteps ?? (quick ? 4 : 6);
  const backbonePath = opts.backbonePath;
  const epochs = Math.max(1, Math.ceil(trainSteps / STEPS_PER_EPOCH));
  const cfg = resolveConfig({ size, batchSize: trainBatch, epochs });

  const inferImages = e2eImages(size, Math.max(...batches), 'test');
  const trainImages = e2eImages(size, trainImageCount(STEPS_PER_EPOCH * trainBatch, cfg), 'train');
  const bb = await readBackbone(backbonePath);
  try {
    const det = freshDetector(bb, cfg, trainImages);
    const inference: InferenceResult[] = [];
    try {
      for (const batch of batches) {
        log(`e2e: inference S=${size} batch ${batch} (first call, ${warmupCalls} warm-up, ≥ ${warmReps} timed${timedMs ? ` over ≥ ${timedMs} ms` : ''})…`);
        const r = await measureInference(rt, det, inferImages, batch, { warmReps, warmupCalls, timedMs });
        log(`  first ${r.firstMs.toFixed(0)} ms (${r.pipelinesCompiled} new pipelines), warm ${r.time.median.toFixed(0)} ms → ${r.imagesPerS.toFixed(2)} images/s, main thread ${r.mainThreadMs?.toFixed(1)} ms/call, peak pool ${mib(r.pool.peakLiveBytes)} live`);
        inference.push(r);
      }
      // The smallest batch again with every call run afresh: what replaying saves.
      const batch = Math.min(...batches);
      log(`e2e: inference S=${size} batch ${batch} without replay…`);
      const r = await measureInference(rt, det, inferImages, batch, { warmReps, warmupCalls, timedMs, replay: false });
      log(`  warm ${r.time.median.toFixed(0)} ms → ${r.imagesPerS.toFixed(2)} images/s, main thread ${r.mainThreadMs?.toFixed(1)} ms/call`);
      inference.push(r);
    } finally {
      det.dispose();
    }
    log(`e2e: training S=${size} batch ${trainBatch}, ${trainImages.length} images (${STEPS_PER_EPOCH * trainBatch} fit), ${epochs} epochs…`);
    const training = await measureTraining(rt, bb, cfg, trainImages);
    const trained = (t: TrainingResult) =>
      `  step first ${t.step.firstMs.toFixed(0)} ms, warm ${t.step.time?.median.toFixed(0) ?? '–'} ms → ${t.step.imagesPerS.toFixed(2)} images/s, ` +
      `main thread ${t.mainThreadMs?.toFixed(1) ?? '–'} ms/step, ${t.replayedSteps} replayed; loss ${t.loss.first.toFixed(4)} → ${t.loss.last.toFixed(4)}`;
    log(trained(training));
    // The same training with replay the other way (off by default on CPU adapters: replaysTraining);
    // quick runs skip it.
    let trainingOtherReplay: TrainingResult | undefined;
    if (!quick) {
      log(`e2e: training again ${training.replay ? 'without' : 'with'} replay…`);
      trainingOtherReplay = await measureTraining(rt, bb, cfg, trainImages, !training.replay);
      log(trained(trainingOtherReplay));
    }
    await poolStart(rt);
    let shaderCache = null;
    if (opts.shaderCache ?? true) {
      shaderCache = await shaderCacheRuns({ size, batch: 1, warmReps, backbonePath, tuning: currentTuning() }, { log });
    }
    return {
      size,
      taps: [...cfg.taps],
      backbone: { path: backbonePath, architecture: bb.backbone.architecture, sha256: bb.id.sha256 },
      images: { source: 'synthetic', category: E2E_CATEGORY, seed: E2E_SEED, inference: inferImages.length, training: trainImages.length },
      inference,
      training,
      ...(trainingOtherReplay ? { trainingOtherReplay } : {}),
      shaderCache,
      durationS: (now() - started) / 1e3,
    };
  } finally {
    bb.backbone.dispose();
    await rt.sync();
    rt.pool.trim();
  }
}

/** What makes the section a failure: a non-finite loss, failed shader-cache runs. */
export function e2eProblems(e: E2EReport): string[] {
  const out: string[] = [];
  if (!e.training.loss.finite) out.push(`e2e: training loss is not finite (${e.training.loss.first} → ${e.training.loss.last})`);
  if (e.shaderCache?.error) out.push(`e2e: shader cache runs: ${e.shaderCache.error}`);
  return out;
}

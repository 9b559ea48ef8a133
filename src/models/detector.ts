// A trained HLGFA detector: frozen backbone + refinement module + normal-image statistics +
// decision threshold. Scores RGBA images; serialises to and from safetensors checkpoints.
import type { RgbaImage } from '../io/image.js';
import { serializeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { noGrad } from '../autograd/tape.js';
import { Tensor, empty, scope, tensor } from '../tensor/tensor.js';
import { ReplayCache } from '../tensor/replay.js';
import { tuningFingerprint } from '../ops/tuning.js';
import { add, affine, areaDownsample, mul, resizeBilinear, sub } from '../ops/index.js';
import { runtime } from '../gpu/runtime.js';
import { profileLayer } from '../gpu/profiler.js';
import type { Calibration } from '../eval/calibration.js';
import { topkMean } from '../eval/metrics.js';
import { imagesToPlanar, imagesToTensor, type Backbone, type Exposure } from './backbone.js';
import type { HlgfaConfig } from './hlgfa-config.js';
import { anomalyMap, levelTensors, refine, reliabilityWeight, type LevelParams } from './hlgfa.js';
import { normalityMap } from './memory-bank.js';

export const CHECKPOINT_FORMAT = 'hlgfa-checkpoint/1';

export interface BackboneIdentity {
  architecture: string;
  source: string;
  sha256: string;
}

export interface TermNorm {
  alignment: { mean: number; std: number };
  normality: { mean: number; std: number };
}

export interface AnomalyResult {
  /** Anomaly map at the model's input size S×S (row-major). */
  map: Float32Array;
  size: number;
  score: number;
  anomalous: boolean;
}

/** HR view tensor [N,3,S,S] from images (the backbone's preprocessing at size S, exposure-normalised if given). */
export function viewTensor(backbone: Backbone, images: readonly RgbaImage[], size: number, exposure: Exposure | null = null): Tensor {
  return imagesToTensor(images, backbone.preprocessing, size, exposure);
}

/**
 * Backbone features of the HR view and of its 2× area-downsampled LR view. The method allows area or
 * antialiased bilinear; at exactly 2× a 2×2 box is what bilinear with align_corners false samples
 * too (midpoints, weights ½), and a wider antialiasing kernel would only remove detail the LR view
 * loses anyway, so area it is (not an option).
 */
export function dualFeatures(backbone: Backbone, hr: Tensor, taps: readonly string[]): { fh: Tensor[]; fl: Tensor[] } {
  return noGrad(() =>
    scope(() => {
      const lr = profileLayer('backbone LR', () => areaDownsample(hr, 2));
      const h = profileLayer('backbone HR', () => backbone.features(hr, taps));
      const l = profileLayer('backbone LR', () => backbone.features(lr, taps));
      return { fh: taps.map((t) => h[t]), fl: taps.map((t) => l[t]) };
    }),
  );
}

/** The image score: the map's maximum or its top-k mean (topkMean lives with the metrics, src/eval). */
export function imageScore(map: Float32Array, cfg: HlgfaConfig): number {
  return cfg.score === 'max' ? topkMean(map, 0) : topkMean(map, cfg.topkFraction);
}

export class Detector {
  private decisionThreshold: number | null = null;
  /** How the threshold was obtained, when by calibration on normal images. */
  calibration: Calibration | null = null;
  private batchLimit: { size: number; images: number } | null = null;
  /** inputNorm 'image': the luminance every image is brought to before the backbone. */
  exposure: Exposure | null = null;
  /** normality 'knn': the coreset of normal patch features [K, D]. */
  memoryBank: Tensor | null = null;
  /** normality 'knn': mean and standard deviation of each map term over normal images. */
  termNorm: TermNorm | null = null;
  /**
   * Whether scoring replays its recorded GPU work (src/tensor/replay.ts) when called again on the
   * same batch size and unchanged model: the same maps, bit for bit, for a fraction of the CPU time.
   * The recordings hold their intermediate buffers (a pass's working memory) until released.
   */
  replay = true;
  /**
   * Passes over more pixels than this (images · S²) always run afresh: a recording holds its pass's
   * working memory between calls (~30 MiB per 256² image), and a large pass's CPU share is small
   * (batch 8 at 256²: 296 vs 327 ms) while the plain pass beside it (a folder's last, smaller chunk)
   * would need working memory of its own. Default: 8 images at 256².
   */
  replayMaxPixels = 8 * 256 * 256;
  private readonly replays = new ReplayCache(2);

  constructor(
    readonly backbone: Backbone,
    readonly config: HlgfaConfig,
    readonly levels: LevelParams[],
    readonly backboneId: BackboneIdentity,
    /** Per-pixel mean map of normal images [1,1,S,S], subtracted when config.mapNorm is 'mean' or 'zscore'. */
    public meanMap: Tensor | null = null,
    /** 1 / floored per-pixel standard deviation of normal maps [1,1,S,S] (mapNorm 'zscore'). */
    public invStdMap: Tensor | null = null,
  ) {}

  /** The decision threshold (score > threshold ⇒ anomalous). Throws if none was calibrated or set. */
  get threshold(): number {
    if (this.decisionThreshold === null) throw new Error('this detector has no decision threshold yet (it was not calibrated); no verdict can be given');
    return this.decisionThreshold;
  }

  get hasThreshold(): boolean {
    return this.decisionThreshold !== null;
  }

  /** Sets the threshold (finite only: a NaN threshold would call every image normal). */
  setThreshold(value: number, calibration: Calibration | null = null): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`the decision threshold must be a finite number, got ${value}`);
    this.decisionThreshold = value;
    this.calibration = calibration;
  }

  /**
   * Anomaly maps [N,1,S,S] (GPU) for backbone features. With `normalise` (the default) they are
   * what scores are taken from: the alignment map centred by the normal mean map (and z-scored),
   * plus, with normality 'knn', the memory-bank term, each term standardised by its statistics on
   * normal images so that neither dominates by its units. Without, the raw alignment map (what the
   * normal-image statistics are computed from).
   */
  mapsFromFeatures(fh: Tensor[], fl: Tensor[], normalise = true, size = this.config.size): Tensor {
    if (!normalise || this.config.normality === 'none') return this.alignmentMaps(fh, fl, normalise, size);
    const norm = this.termNorm;
    if (!norm) throw new Error('this detector has no statistics for its anomaly-map terms yet (it was not calibrated)');
    return noGrad(() =>
      scope(() => {
        const t = this.termMaps(fh, fl, size);
        const knn = affine(t.normality, 1 / norm.normality.std, -norm.normality.mean / norm.normality.std);
        if (!t.alignment) return knn;
        return add(affine(t.alignment, 1 / norm.alignment.std, -norm.alignment.mean / norm.alignment.std), knn);
      }),
    );
  }

  /**
   * The terms of the anomaly map before they are standardised and summed: the (centred) alignment
   * map — null when the config drops it (`alignmentTerm: false`) — and the memory-bank map.
   */
  termMaps(fh: Tensor[], fl: Tensor[], size = this.config.size): { alignment: Tensor | null; normality: Tensor } {
    const cfg = this.config;
    if (cfg.normality !== 'knn' || !this.memoryBank) throw new Error("termMaps: the detector has no memory bank (config normality 'knn')");
    const bank = this.memoryBank;
    return noGrad(() =>
      scope(() => ({
        alignment: cfg.alignmentTerm ? this.alignmentMaps(fh, fl, true, size) : null,
        normality: profileLayer('memory bank', () => normalityMap(bank, cfg.knnTaps.map((t) => fh[cfg.taps.indexOf(t)]), size, cfg.blurSigma, cfg.knnGrid)),
      })),
    );
  }

  /** The cross-resolution alignment maps; centred (and z-scored) by normal statistics if `normalise`. */
  alignmentMaps(fh: Tensor[], fl: Tensor[], normalise: boolean, size = this.config.size): Tensor {
    const cfg = this.config;
    return noGrad(() =>
      scope(() => {
        const fhats = cfg.baseline
          ? fl.map((f, l) => resizeBilinear(f, [fh[l].shape[2], fh[l].shape[3]], { alignCorners: false }))
          : this.levels.map((p, l) => profileLayer(`hlgfa level ${l}`, () => refine(p, cfg, fh[l], fl[l])));
        const w = cfg.reliability ? reliabilityWeight(this.levels, fh, size, cfg.reliabilityStrength) : null;
        const map = profileLayer('anomaly map', () => anomalyMap(fhats, fh, size, cfg.blurSigma, w));
        if (!normalise || cfg.mapNorm === 'none' || !this.meanMap) return map;
        const centred = sub(map, this.meanMap);
        return cfg.mapNorm === 'zscore' && this.invStdMap ? mul(centred, this.invStdMap) : centred;
      }),
    );
  }

  /**
   * The most images one GPU pass can score at the model's size on this device: found by dry runs
   * (`Runtime.dryRun`), which check every buffer binding against the adapter's limits without
   * spending memory. `score()` splits larger batches into passes of this size.
   */
  maxImagesPerPass(): number {
    const S = this.config.size;
    if (this.batchLimit?.size === S) return this.batchLimit.images;
    const pass = (n: number) => () => {
      const { fh, fl } = dualFeatures(this.backbone, empty([n, 3, S, S]), this.config.taps);
      if (this.config.normality === 'knn') this.termMaps(fh, fl);
      else this.mapsFromFeatures(fh, fl);
    };
    const images = largestFitting((n) => dryRunError(pass(n)) === null, 1024);
    if (images === 0) throw new RangeError(`S=${S} does not fit this adapter even for one image: ${dryRunError(pass(1))?.message}`);
    this.batchLimit = { size: S, images };
    return images;
  }

  /**
   * Creates every pipeline scoring `batch` images at a time runs, in parallel and without running
   * anything (Runtime.preparePipelines): on drivers that compile at creation the first score()
   * then waits for none of them. loadDetector and the CLI's model loading call it; resolves to
   * how many it created (0 when all exist).
   */
  preparePipelines(batch = 1): Promise<number> {
    const S = this.config.size;
    return runtime().preparePipelines(
      () =>
        void scope(() => {
          const { fh, fl } = dualFeatures(this.backbone, empty([batch, 3, S, S]), this.config.taps);
          return this.mapsFromFeatures(fh, fl);
        }),
    );
  }

  /**
   * Anomaly maps and image scores, without a verdict (used to calibrate the threshold). Any
   * non-finite value in a map is an error naming the image: a broken model or input never turns
   * into a score.
   */
  async scoreMaps(images: readonly RgbaImage[]): Promise<Array<{ map: Float32Array; size: number; score: number }>> {
    const S = this.config.size;
    const out: Array<{ map: Float32Array; size: number; score: number }> = [];
    const step = images.length > 1 ? this.maxImagesPerPass() : 1;
    for (let start = 0; start < images.length; start += step) {
      const chunk = images.slice(start, start + step);
      const maps = this.forwardMaps(chunk);
      let all: Float32Array;
      try {
        all = await maps.read();
      } finally {
        maps.dispose();
      }
      chunk.forEach((_, i) => {
        const map = all.slice(i * S * S, (i + 1) * S * S);
        const bad = map.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) {
          throw new Error(`image ${start + i}: the anomaly map holds ${map[bad]} at pixel (${bad % S}, ${Math.floor(bad / S)}); the model or the input is broken, so no score is given`);
        }
        out.push({ map, size: S, score: imageScore(map, this.config) });
      });
    }
    return out;
  }

  /** Anomaly maps [N,1,S,S] of images: replayed when recorded for this batch size and model state (see `replay`). */
  private forwardMaps(images: readonly RgbaImage[]): Tensor {
    const S = this.config.size;
    const data = imagesToPlanar(images, this.backbone.preprocessing, S, this.inputExposure());
    const shape = [images.length, 3, S, S];
    const maps = (hr: Tensor) => {
      const { fh, fl } = dualFeatures(this.backbone, hr, this.config.taps);
      return this.mapsFromFeatures(fh, fl);
    };
    if (!this.replay || images.length * S * S > this.replayMaxPixels) return scope(() => maps(tensor(data, shape)));
    return this.replays.run(this.replayKey(images.length), shape, data, maps);
  }

  /**
   * Everything the recorded maps depend on besides the input values and the contents of the
   * tensors they read: batch size, config, term statistics (uniforms), which tensors hold the
   * parameters and statistics (replacing one changes the key), the kernel knobs in force.
   */
  private replayKey(batch: number): string {
    const ids = (ts: Array<Tensor | null | undefined>) => ts.map((t) => (t ? t.id : 0));
    return JSON.stringify([
      batch,
      this.config,
      this.termNorm,
      ids([this.meanMap, this.invStdMap, this.memoryBank]),
      ids(this.namedParameters().map(([, t]) => t)),
      ids(this.levels.flatMap((p) => [p.norm?.mean, p.norm?.invStd])),
      tuningFingerprint(),
    ]);
  }

  /** Releases the recorded scoring passes and their buffers (see `replay`); the next calls record anew. */
  releaseRecordings(): void {
    this.replays.clear();
  }

  /**
   * Mean and standard deviation of each map term over all pixels of `images` (normal images): what
   * `mapsFromFeatures` standardises the terms by. Floored spreads keep a constant term finite.
   */
  async termStatistics(images: readonly RgbaImage[]): Promise<TermNorm> {
    const S = this.config.size;
    const acc = { alignment: [0, 0, 0], normality: [0, 0, 0] };
    const step = Math.min(this.config.batchSize, this.maxImagesPerPass());
    for (let start = 0; start < images.length; start += step) {
      const t = scope(() => {
        const { fh, fl } = dualFeatures(this.backbone, viewTensor(this.backbone, images.slice(start, start + step), S, this.inputExposure()), this.config.taps);
        return this.termMaps(fh, fl);
      });
      for (const name of ['alignment', 'normality'] as const) {
        const map = t[name];
        if (!map) continue;
        const values = await map.read();
        map.dispose();
        const a = acc[name];
        for (const v of values) {
          if (!Number.isFinite(v)) throw new Error(`the ${name} term's map of a normal image holds ${v}; the model is broken`);
          a[0] += v;
          a[1] += v * v;
          a[2]++;
        }
      }
    }
    const stats = (a: number[]) => {
      const mean = a[2] ? a[0] / a[2] : 0;
      const std = a[2] ? Math.sqrt(Math.max(0, a[1] / a[2] - mean * mean)) : 1;
      // Rounded to float32 now, as checkpoints store them: a restored detector scores identically.
      return { mean: Math.fround(mean), std: Math.fround(Math.max(std, 1e-6 * Math.abs(mean), 1e-12)) };
    };
    return { alignment: stats(acc.alignment), normality: stats(acc.normality) };
  }

  /** Scores a batch of images (any count: split into passes that fit the device) with verdicts. */
  async score(images: readonly RgbaImage[]): Promise<AnomalyResult[]> {
    const threshold = this.threshold;
    return (await this.scoreMaps(images)).map((r) => ({ ...r, anomalous: r.score > threshold }));
  }

  /** The exposure targets images are brought to (inputNorm 'image'), or null. */
  inputExposure(): Exposure | null {
    if (this.config.inputNorm === 'none') return null;
    if (this.config.inputNorm !== 'image' || !this.exposure) throw new Error(`inputNorm '${this.config.inputNorm}' needs exposure targets (set when training; stored in checkpoints)`);
    return this.exposure;
  }

  /** Module parameters by checkpoint name. */
  namedParameters(): Array<[string, Tensor]> {
    return this.levels.flatMap((p, l) => levelTensors(p, `level${l}`));
  }

  /**
   * Serialises module weights, config, backbone identity, threshold with its calibration, and
   * statistics. Refuses non-finite values: a NaN never becomes a file.
   */
  async toCheckpoint(extra: { tensors?: Record<string, TensorToWrite>; metadata?: Record<string, string> } = {}): Promise<Uint8Array> {
    const tensors: Record<string, TensorToWrite> = {};
    const put = async (name: string, t: Tensor) => {
      const data = await t.read();
      const bad = data.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new Error(`checkpoint: tensor "${name}" holds ${data[bad]} at element ${bad}; refusing to write a checkpoint with non-finite values`);
      tensors[name] = { dtype: 'F32', shape: t.shape, data };
    };
    for (const [name, t] of this.namedParameters()) await put(name, t);
    if (this.meanMap) await put('stats.mean_map', this.meanMap);
    if (this.invStdMap) await put('stats.inv_std_map', this.invStdMap);
    if (this.memoryBank) await put('stats.memory_bank', this.memoryBank);
    if (this.exposure) {
      const values = Float32Array.from([this.exposure.mean, this.exposure.std]);
      if (!values.every(Number.isFinite)) throw new Error('checkpoint: the exposure targets are not finite; refusing to write them');
      tensors['stats.exposure'] = { dtype: 'F32', shape: [2], data: values };
    }
    if (this.termNorm) {
      const n = this.termNorm;
      const values = Float32Array.from([n.alignment.mean, n.alignment.std, n.normality.mean, n.normality.std]);
      if (!values.every(Number.isFinite)) throw new Error('checkpoint: the map-term statistics are not finite; refusing to write them');
      tensors['stats.term_norm'] = { dtype: 'F32', shape: [4], data: values };
    }
    for (const [l, p] of this.levels.entries()) {
      if (!p.norm) continue;
      await put(`level${l}.norm.mean`, p.norm.mean);
      await put(`level${l}.norm.inv_std`, p.norm.invStd);
    }
    for (const [name, t] of Object.entries(extra.tensors ?? {})) {
      const values = t.data instanceof Float32Array ? t.data : null;
      const bad = values ? values.findIndex((v) => !Number.isFinite(v)) : -1;
      if (bad >= 0) throw new Error(`checkpoint: tensor "${name}" holds ${values![bad]} at element ${bad}; refusing to write a checkpoint with non-finite values`);
      tensors[name] = t;
    }
    const metadata: Record<string, string> = {
      format: CHECKPOINT_FORMAT,
      config: JSON.stringify(this.config),
      channels: JSON.stringify(this.levels.map((p) => p.channels)),
      backbone: JSON.stringify(this.backboneId),
      ...extra.metadata,
    };
    if (this.decisionThreshold !== null) metadata.threshold = String(this.decisionThreshold);
    if (this.calibration) metadata.calibration = JSON.stringify(this.calibration);
    return serializeSafetensors(tensors, metadata);
  }

  dispose(): void {
    this.replays.clear();
    for (const [, t] of this.namedParameters()) t.dispose();
    for (const p of this.levels) {
      p.norm?.mean.dispose();
      p.norm?.invStd.dispose();
    }
    this.meanMap?.dispose();
    this.meanMap = null;
    this.invStdMap?.dispose();
    this.invStdMap = null;
    this.memoryBank?.dispose();
    this.memoryBank = null;
  }
}

/** The limit error a dry run of `fn` raises (null when it fits). Other errors propagate. */
export function dryRunError(fn: () => unknown): RangeError | null {
  try {
    runtime().dryRun(() => void scope(() => void fn()));
    return null;
  } catch (e) {
    if (e instanceof RangeError) return e;
    throw e;
  }
}

/** The largest n in [1, max] with fits(n), given that fits is monotone; 0 if even 1 does not fit. */
export function largestFitting(fits: (n: number) => boolean, max: number): number {
  if (!fits(1)) return 0;
  let lo = 1;
  let hi = 2;
  while (hi <= max && fits(hi)) {
    lo = hi;
    hi *= 2;
  }
  hi = Math.min(hi, max + 1);
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

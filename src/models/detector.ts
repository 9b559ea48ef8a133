// A trained HLGFA detector: frozen backbone + refinement module + normal-image statistics +
// decision threshold. Scores RGBA images; serialises to and from safetensors checkpoints.
import { checkImage, resizeRgba, rgbaToPlanar, type RgbaImage } from '../io/image.js';
import { parseSafetensors, readF32, serializeSafetensors, SafeTensorsError, type TensorToWrite } from '../io/safetensors.js';
import { noGrad } from '../autograd/tape.js';
import { Tensor, keep, scope, tensor } from '../tensor/tensor.js';
import { areaDownsample, mul, resizeBilinear, sub } from '../ops/index.js';
import { initRuntime } from '../gpu/runtime.js';
import { loadBackbone, type Backbone } from './backbone.js';
import { resolveConfig, type HlgfaConfig } from './hlgfa-config.js';
import { anomalyMap, levelShapes, levelTensors, refine, reliabilityWeight, type LevelParams } from './hlgfa.js';

export const CHECKPOINT_FORMAT = 'hlgfa-checkpoint/1';

export interface BackboneIdentity {
  architecture: string;
  source: string;
  sha256: string;
}

export interface AnomalyResult {
  /** Anomaly map at the model's input size S×S (row-major). */
  map: Float32Array;
  size: number;
  score: number;
  anomalous: boolean;
}

/** HR view tensor [N,3,S,S] from images (CPU antialiased resize + backbone normalisation). */
export function viewTensor(backbone: Backbone, images: readonly RgbaImage[], size: number): Tensor {
  const pre = backbone.preprocessing;
  const plane = 3 * size * size;
  const data = new Float32Array(images.length * plane);
  images.forEach((img, i) => {
    checkImage(img, `image ${i}`);
    const r = img.width === size && img.height === size ? img : resizeRgba(img, size, size);
    data.set(rgbaToPlanar(r, pre.mean, pre.std, pre.scale / 255), i * plane);
  });
  return tensor(data, [images.length, 3, size, size]);
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
      const lr = areaDownsample(hr, 2);
      const h = backbone.features(hr, taps);
      const l = backbone.features(lr, taps);
      return { fh: taps.map((t) => h[t]), fl: taps.map((t) => l[t]) };
    }),
  );
}

export function imageScore(map: Float32Array, cfg: HlgfaConfig): number {
  return cfg.score === 'max' ? topkMean(map, 0) : topkMean(map, cfg.topkFraction);
}

/** Mean of the largest max(1, round(fraction·n)) values; fraction 0 is the maximum. */
export function topkMean(map: Float32Array, fraction: number): number {
  const k = Math.max(1, Math.round(map.length * fraction));
  if (k === 1) {
    let m = -Infinity;
    for (const v of map) m = Math.max(m, v);
    return m;
  }
  const sorted = Float32Array.from(map).sort();
  let s = 0;
  for (let i = sorted.length - k; i < sorted.length; i++) s += sorted[i];
  return s / k;
}

export class Detector {
  constructor(
    readonly backbone: Backbone,
    readonly config: HlgfaConfig,
    readonly levels: LevelParams[],
    readonly backboneId: BackboneIdentity,
    /** Per-pixel mean map of normal images [1,1,S,S], subtracted when config.mapNorm is 'mean' or 'zscore'. */
    public meanMap: Tensor | null = null,
    public threshold = Number.POSITIVE_INFINITY,
    /** 1 / floored per-pixel standard deviation of normal maps [1,1,S,S] (mapNorm 'zscore'). */
    public invStdMap: Tensor | null = null,
  ) {}

  /** Maps [N,1,S,S] (GPU) for backbone features; normalised by the mean map when configured. */
  mapsFromFeatures(fh: Tensor[], fl: Tensor[], normalise = true): Tensor {
    const cfg = this.config;
    return noGrad(() =>
      scope(() => {
        const fhats = cfg.baseline
          ? fl.map((f, l) => resizeBilinear(f, [fh[l].shape[2], fh[l].shape[3]], { alignCorners: false }))
          : this.levels.map((p, l) => refine(p, cfg, fh[l], fl[l]));
        const w = cfg.reliability ? reliabilityWeight(this.levels, fh, cfg.size, cfg.reliabilityStrength) : null;
        const map = anomalyMap(fhats, fh, cfg.size, cfg.blurSigma, w);
        if (!normalise || cfg.mapNorm === 'none' || !this.meanMap) return map;
        const centred = sub(map, this.meanMap);
        return cfg.mapNorm === 'zscore' && this.invStdMap ? mul(centred, this.invStdMap) : centred;
      }),
    );
  }

  /** Scores a batch of images. */
  async score(images: readonly RgbaImage[]): Promise<AnomalyResult[]> {
    const S = this.config.size;
    const maps = scope(() => {
      const hr = viewTensor(this.backbone, images, S);
      const { fh, fl } = dualFeatures(this.backbone, hr, this.config.taps);
      return this.mapsFromFeatures(fh, fl);
    });
    const all = await maps.read();
    maps.dispose();
    return images.map((_, i) => {
      const map = all.slice(i * S * S, (i + 1) * S * S);
      const score = imageScore(map, this.config);
      return { map, size: S, score, anomalous: score > this.threshold };
    });
  }

  /** Module parameters by checkpoint name. */
  namedParameters(): Array<[string, Tensor]> {
    return this.levels.flatMap((p, l) => levelTensors(p, `level${l}`));
  }

  /** Serialises module weights, config, backbone identity, threshold and statistics. */
  async toCheckpoint(extra: { tensors?: Record<string, TensorToWrite>; metadata?: Record<string, string> } = {}): Promise<Uint8Array> {
    const tensors: Record<string, TensorToWrite> = {};
    for (const [name, t] of this.namedParameters()) tensors[name] = { dtype: 'F32', shape: t.shape, data: await t.read() };
    if (this.meanMap) tensors['stats.mean_map'] = { dtype: 'F32', shape: this.meanMap.shape, data: await this.meanMap.read() };
    if (this.invStdMap) tensors['stats.inv_std_map'] = { dtype: 'F32', shape: this.invStdMap.shape, data: await this.invStdMap.read() };
    for (const [l, p] of this.levels.entries()) {
      if (!p.norm) continue;
      tensors[`level${l}.norm.mean`] = { dtype: 'F32', shape: p.norm.mean.shape, data: await p.norm.mean.read() };
      tensors[`level${l}.norm.inv_std`] = { dtype: 'F32', shape: p.norm.invStd.shape, data: await p.norm.invStd.read() };
    }
    Object.assign(tensors, extra.tensors ?? {});
    return serializeSafetensors(tensors, {
      format: CHECKPOINT_FORMAT,
      config: JSON.stringify(this.config),
      channels: JSON.stringify(this.levels.map((p) => p.channels)),
      threshold: String(this.threshold),
      backbone: JSON.stringify(this.backboneId),
      ...extra.metadata,
    });
  }

  dispose(): void {
    for (const [, t] of this.namedParameters()) t.dispose();
    for (const p of this.levels) {
      p.norm?.mean.dispose();
      p.norm?.invStd.dispose();
    }
    this.meanMap?.dispose();
    this.meanMap = null;
    this.invStdMap?.dispose();
    this.invStdMap = null;
  }
}

export interface ParsedCheckpoint {
  config: HlgfaConfig;
  channels: number[];
  threshold: number;
  backbone: BackboneIdentity;
  metadata: Record<string, string>;
  file: ReturnType<typeof parseSafetensors>;
}

export function parseCheckpoint(bytes: Uint8Array, source: string): ParsedCheckpoint {
  const file = parseSafetensors(bytes, source);
  const m = file.metadata;
  if (m.format !== CHECKPOINT_FORMAT) {
    throw new SafeTensorsError(source, `not an HLGFA checkpoint (metadata format is ${JSON.stringify(m.format)}, expected "${CHECKPOINT_FORMAT}")`);
  }
  const json = <T>(key: string): T => {
    try {
      return JSON.parse(m[key]) as T;
    } catch {
      throw new SafeTensorsError(source, `checkpoint metadata "${key}" is missing or not valid JSON`);
    }
  };
  const threshold = Number(m.threshold);
  return { config: resolveConfig(json('config')), channels: json('channels'), threshold, backbone: json('backbone'), metadata: m, file };
}

/** Rebuilds a detector from a checkpoint and the backbone it was trained with. */
export function detectorFromCheckpoint(ck: ParsedCheckpoint, backbone: Backbone, backboneSha256: string): Detector {
  if (ck.backbone.sha256 && backboneSha256 !== ck.backbone.sha256) {
    throw new SafeTensorsError(
      ck.file.source,
      `was trained with backbone ${ck.backbone.source} (sha256 ${ck.backbone.sha256.slice(0, 12)}…) but the given backbone has sha256 ${backboneSha256.slice(0, 12)}…`,
    );
  }
  const levels = ck.channels.map((c, l) => {
    const shapes = levelShapes(c, ck.config);
    const get = (n: string, shape = shapes[n]) => keep(tensor(readF32(ck.file, `level${l}.${n}`, shape), shape));
    const conv = (n: string) => ({ w: get(`${n}.weight`), b: get(`${n}.bias`) });
    return {
      channels: c,
      detailChannels: shapes['detail.weight'][0],
      dw3: conv('dw3'), dw5: conv('dw5'), dw7: conv('dw7'), structure: conv('structure'), detailDw: conv('detailDw'),
      detail: conv('detail'), modulation: conv('modulation'), gate: conv('gate'), residual: conv('residual'),
      norm: ck.config.norm === 'running' ? { mean: get('norm.mean', [1, c, 1, 1]), invStd: get('norm.inv_std', [1, c, 1, 1]) } : undefined,
    } satisfies LevelParams;
  });
  const S = ck.config.size;
  const stat = (name: string) => (ck.file.tensors.has(name) ? keep(tensor(readF32(ck.file, name, [1, 1, S, S]), [1, 1, S, S])) : null);
  return new Detector(backbone, ck.config, levels, ck.backbone, stat('stats.mean_map'), ck.threshold, stat('stats.inv_std_map'));
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The app-facing entry point: a ready detector from checkpoint and backbone bytes (Node or
 * browser). Initialises the WebGPU runtime if needed. Then `await detector.score([rgba])`.
 */
export async function loadDetector(
  checkpoint: Uint8Array,
  backboneBytes: Uint8Array,
  names: { checkpoint?: string; backbone?: string } = {},
): Promise<Detector> {
  await initRuntime();
  const ck = parseCheckpoint(checkpoint, names.checkpoint ?? 'checkpoint');
  const backbone = loadBackbone(backboneBytes, names.backbone ?? 'backbone');
  return detectorFromCheckpoint(ck, backbone, await sha256Hex(backboneBytes));
}

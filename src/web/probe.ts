// Fixed computations that the browser page (window.hlgfaTest) and Node run with the same engine, so
// the web tests can compare the two. Portable: no DOM, no Node APIs.
import type { RgbaImage } from '../io/image.js';
import { noGrad } from '../autograd/tape.js';
import { scope, type Tensor } from '../tensor/tensor.js';
import { generateSample, type SyntheticCategory, type SyntheticDefect } from '../data/synthetic.js';
import { createRng, deriveSeed } from '../util/random.js';
import type { Backbone } from '../models/backbone.js';
import { resolveConfig, type HlgfaConfig } from '../models/hlgfa-config.js';
import { Detector, dualFeatures, viewTensor, type BackboneIdentity } from '../models/detector.js';
import { createLevel, refine } from '../models/hlgfa.js';
import { trainHlgfa } from '../models/hlgfa-train.js';
import { noiseAugmenter } from '../data/augment.js';

export interface ImageSpec {
  category?: SyntheticCategory;
  defect?: 'good' | SyntheticDefect;
  split?: 'train' | 'test';
  index?: number;
  size?: number;
  seed?: number;
}

/** A deterministic synthetic image (defaults: fabric, test/good #0, 64×64, seed 0). */
export function probeImage(s: ImageSpec = {}): RgbaImage {
  return generateSample({
    category: s.category ?? 'fabric',
    size: s.size ?? 64,
    seed: s.seed ?? 0,
    split: s.split ?? 'test',
    defect: s.defect ?? 'good',
    index: s.index ?? 0,
  }).image;
}

/** FNV-1a of the pixel bytes, as hex: shows both sides fed the very same image. */
export function pixelHash(img: RgbaImage): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < img.data.length; i++) h = Math.imul(h ^ img.data[i], 0x01000193) >>> 0;
  return `${img.width}x${img.height}:${h.toString(16).padStart(8, '0')}`;
}

export interface ForwardProbeOptions {
  image?: ImageSpec;
  /** HLGFA input size S (default 64). */
  size?: number;
  /** Seed of the (untrained) HLGFA module (default 7). */
  moduleSeed?: number;
  config?: Partial<HlgfaConfig>;
}

export interface ForwardProbeResult {
  pixels: string;
  /** Per level: backbone features of the HR view, of the LR view, and the refined features. */
  fh: Float32Array[];
  fl: Float32Array[];
  fhat: Float32Array[];
  /** Un-normalised anomaly map, S×S. */
  map: Float32Array;
}

/** Backbone + a freshly initialised HLGFA module (fixed seed) on one synthetic image. */
export async function forwardProbe(backbone: Backbone, o: ForwardProbeOptions = {}): Promise<ForwardProbeResult> {
  const cfg = resolveConfig({ ...o.config, size: o.size ?? 64, seed: o.moduleSeed ?? 7 });
  const img = probeImage(o.image);
  const out = scope(() =>
    noGrad(() => {
      const hr = viewTensor(backbone, [img], cfg.size);
      const { fh, fl } = dualFeatures(backbone, hr, cfg.taps);
      const levels = fh.map((t, l) => createLevel(t.shape[1], cfg, createRng(deriveSeed(cfg.seed, 100 + l))));
      const det = new Detector(backbone, cfg, levels, { architecture: backbone.architecture, source: 'probe', sha256: '' });
      const fhat = levels.map((p, l) => refine(p, cfg, fh[l], fl[l]));
      const map = det.mapsFromFeatures(fh, fl, false);
      return { fh, fl, fhat, map, params: det.namedParameters().map(([, t]) => t) };
    }),
  );
  const read = (ts: Tensor[]) => Promise.all(ts.map((t) => t.read()));
  const result: ForwardProbeResult = {
    pixels: pixelHash(img),
    fh: await read(out.fh),
    fl: await read(out.fl),
    fhat: await read(out.fhat),
    map: await out.map.read(),
  };
  for (const t of [...out.fh, ...out.fl, ...out.fhat, out.map, ...out.params]) t.dispose();
  return result;
}

export interface TrainProbeOptions {
  /** Synthetic normal training images (default 4 fabric train/good, 64×64). */
  count?: number;
  image?: ImageSpec;
  config?: Partial<HlgfaConfig>;
}

export interface TrainProbeResult {
  pixels: string[];
  losses: number[];
  threshold: number;
}

/** trainHlgfa on synthetic normal images; defaults give 5 epochs × 2 steps = 10 steps at S=64. */
export async function trainProbe(backbone: Backbone, backboneId: BackboneIdentity, o: TrainProbeOptions = {}): Promise<TrainProbeResult> {
  const n = o.count ?? 4;
  const images = Array.from({ length: n }, (_, i) => probeImage({ split: 'train', ...o.image, index: i }));
  const config = resolveConfig({ size: 64, epochs: 5, batchSize: 2, holdout: 0, seed: 3, ...o.config });
  const r = await trainHlgfa({ backbone, backboneId, config, images, augment: noiseAugmenter() });
  const threshold = r.detector.threshold;
  r.detector.dispose();
  return { pixels: images.map(pixelHash), losses: r.losses, threshold };
}

/** Relative L2 distance ‖a − b‖ / ‖b‖ (0 when both are zero). */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return n === 0 ? Math.sqrt(d) : Math.sqrt(d / n);
}

// HLGFA's noise-aware augmentation (portable: no Node APIs). The paper injects random sparse point
// noise and structured stripe noise (thin stripes at random angle, width and contrast) into normal
// training images; the training target stays the features of the clean image, so the module learns
// to ignore such perturbations rather than reproduce them. Parameters here are ours.
//
// Works on 8-bit RGBA images (`RgbaImage`) and on planar float images with values on a 0..1 scale
// (`PlanarImage`, i.e. before any mean/std normalisation). Amplitudes and contrasts are fractions
// of the full range (1.0 = 255 for RGBA). All functions are pure (they return a new image and leave
// the input alone) and draw every random choice from the `rng` given, so a seeded rng reproduces
// them exactly. Alpha is left unchanged.
import type { RgbaImage } from '../io/image.js';

/** Uniform [0, 1) source, e.g. `createRng(seed)` from util/random.ts. */
export type RandomFn = () => number;

/** A fixed value or a [lo, hi) range drawn uniformly per use. */
export type Range = number | readonly [number, number];

export interface PlanarImage {
  width: number;
  height: number;
  channels: number;
  /** channels × height × width, values on a 0..1 scale. */
  data: Float32Array;
}

export type AugmentImage = RgbaImage | PlanarImage;

export interface PointNoiseOptions {
  /** Fraction of pixels hit (default [0.001, 0.006]). */
  density: Range;
  /** Magnitude of each point's change, as a fraction of the full range (default [0.25, 0.6]); sign random per point. */
  amplitude: Range;
  /** Side of each (square) point in pixels (default 1). */
  size: Range;
  /** Independent change per colour channel instead of a grey one (default false). */
  color: boolean;
}

export interface StripeNoiseOptions {
  /** Number of stripes (default [1, 4], rounded). */
  count: Range;
  /** Stripe width in pixels, anti-aliased (default [1, 3]). */
  width: Range;
  /** Stripe direction in radians (default: uniform over [0, π)). */
  angle?: Range;
  /** Brightness change as a fraction of the full range (default [0.08, 0.25]); sign random per stripe. */
  contrast: Range;
  /** Stripe length as a fraction of the image diagonal, centred on a random point (default 1: a line through the whole image). */
  length: Range;
}

export interface NoiseAugmentOptions {
  /** Probability that any noise is added (default 0.5). */
  p: number;
  /** What to add when it is: points, stripes, both, or 'random' (each of the three with chance 1/3; default). */
  mode: 'random' | 'points' | 'stripes' | 'both';
  points: Partial<PointNoiseOptions>;
  stripes: Partial<StripeNoiseOptions>;
}

export const DEFAULT_POINT_NOISE: PointNoiseOptions = { density: [0.001, 0.006], amplitude: [0.25, 0.6], size: 1, color: false };
export const DEFAULT_STRIPE_NOISE: StripeNoiseOptions = { count: [1, 4], width: [1, 3], contrast: [0.08, 0.25], length: 1 };

function draw(rng: RandomFn, r: Range): number {
  return typeof r === 'number' ? r : r[0] + (r[1] - r[0]) * rng();
}

function isPlanar(img: AugmentImage): img is PlanarImage {
  return (img as PlanarImage).channels !== undefined && img.data instanceof Float32Array;
}

/** A mutable copy of the image with an "add delta to pixel i, channel c" primitive (clamped to the range). */
interface Work {
  w: number;
  h: number;
  channels: number;
  add(i: number, c: number, delta: number): void;
  image(): AugmentImage;
}

function workOn(img: AugmentImage, what: string): Work {
  const w = img.width;
  const h = img.height;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new Error(`${what}: invalid image size ${w}×${h}`);
  if (isPlanar(img)) {
    if (img.data.length !== img.channels * w * h) {
      throw new Error(`${what}: planar image has ${img.data.length} values, expected ${img.channels}×${h}×${w}`);
    }
    const data = img.data.slice();
    const n = w * h;
    return {
      w,
      h,
      channels: Math.min(3, img.channels),
      add(i, c, d) {
        const v = data[c * n + i] + d;
        data[c * n + i] = v < 0 ? 0 : v > 1 ? 1 : v;
      },
      image: () => ({ width: w, height: h, channels: img.channels, data }),
    };
  }
  if (img.data.length !== 4 * w * h) throw new Error(`${what}: ${img.data.length} bytes of pixels, expected ${w}×${h}×4 (RGBA)`);
  const f = new Float32Array(img.data); // exact 0..255 values; quantised once at the end
  return {
    w,
    h,
    channels: 3,
    add(i, c, d) {
      f[4 * i + c] += 255 * d;
    },
    image() {
      const out = new Uint8ClampedArray(f); // clamps to 0..255 and rounds
      return { width: w, height: h, data: new Uint8Array(out.buffer) };
    },
  };
}

function points(wk: Work, rng: RandomFn, o: PointNoiseOptions): void {
  const n = wk.w * wk.h;
  const density = draw(rng, o.density);
  const count = Math.floor(density * n + rng());
  for (let k = 0; k < count; k++) {
    const size = Math.max(1, Math.round(draw(rng, o.size)));
    const x0 = Math.floor(rng() * wk.w);
    const y0 = Math.floor(rng() * wk.h);
    const sign = rng() < 0.5 ? -1 : 1;
    const amp = draw(rng, o.amplitude);
    const deltas = [0, 1, 2].map(() => (o.color ? (rng() < 0.5 ? -1 : 1) * draw(rng, o.amplitude) : sign * amp));
    for (let y = y0; y < Math.min(wk.h, y0 + size); y++) {
      for (let x = x0; x < Math.min(wk.w, x0 + size); x++) {
        for (let c = 0; c < wk.channels; c++) wk.add(y * wk.w + x, c, deltas[c]);
      }
    }
  }
}

function stripes(wk: Work, rng: RandomFn, o: StripeNoiseOptions): void {
  const count = Math.max(0, Math.round(draw(rng, o.count)));
  const diag = Math.hypot(wk.w, wk.h);
  for (let k = 0; k < count; k++) {
    const th = o.angle === undefined ? rng() * Math.PI : draw(rng, o.angle);
    const width = Math.max(0.5, draw(rng, o.width));
    const contrast = (rng() < 0.5 ? -1 : 1) * draw(rng, o.contrast);
    const frac = draw(rng, o.length);
    const half = frac >= 1 ? Infinity : (frac * diag) / 2; // centred on a random point; 1 = through the whole image
    const cx = rng() * wk.w;
    const cy = rng() * wk.h;
    const ux = Math.cos(th); // along the stripe
    const uy = Math.sin(th);
    const reach = width / 2 + 0.5;
    for (let y = 0; y < wk.h; y++) {
      for (let x = 0; x < wk.w; x++) {
        const dx = x + 0.5 - cx;
        const dy = y + 0.5 - cy;
        const across = Math.abs(-uy * dx + ux * dy);
        if (across >= reach) continue;
        const along = Math.abs(ux * dx + uy * dy);
        // anti-aliased band: full inside, linear over the last pixel, soft ends for finite stripes
        const cov = Math.min(1, reach - across) * Math.min(1, Math.max(0, half + 0.5 - along));
        if (cov <= 0) continue;
        for (let c = 0; c < wk.channels; c++) wk.add(y * wk.w + x, c, contrast * cov);
      }
    }
  }
}

/** Random sparse points brighter or darker than the image (salt-and-pepper-like, additive). */
export function addSparsePointNoise<T extends AugmentImage>(img: T, rng: RandomFn, opts: Partial<PointNoiseOptions> = {}): T {
  const wk = workOn(img, 'addSparsePointNoise');
  points(wk, rng, { ...DEFAULT_POINT_NOISE, ...opts });
  return wk.image() as T;
}

/** Thin straight stripes at random angle, position, width and contrast (additive). */
export function addStripeNoise<T extends AugmentImage>(img: T, rng: RandomFn, opts: Partial<StripeNoiseOptions> = {}): T {
  const wk = workOn(img, 'addStripeNoise');
  stripes(wk, rng, { ...DEFAULT_STRIPE_NOISE, ...opts });
  return wk.image() as T;
}

/**
 * With probability `p`, adds point noise, stripe noise or both (see `mode`); otherwise returns an
 * unchanged copy. Always consumes the same first draw, so seeded runs stay aligned.
 */
export function noiseAugment<T extends AugmentImage>(img: T, rng: RandomFn, opts: Partial<NoiseAugmentOptions> = {}): T {
  const p = opts.p ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new Error(`noiseAugment: p = ${p}, expected a probability in [0, 1]`);
  const mode = opts.mode ?? 'random';
  if (!['random', 'points', 'stripes', 'both'].includes(mode)) throw new Error(`noiseAugment: unknown mode "${mode}"`);
  const wk = workOn(img, 'noiseAugment');
  if (rng() < p) {
    let doPoints = mode === 'points' || mode === 'both';
    let doStripes = mode === 'stripes' || mode === 'both';
    if (mode === 'random') {
      const r = Math.floor(rng() * 3);
      doPoints = r !== 1;
      doStripes = r !== 0;
    }
    if (doPoints) points(wk, rng, { ...DEFAULT_POINT_NOISE, ...opts.points });
    if (doStripes) stripes(wk, rng, { ...DEFAULT_STRIPE_NOISE, ...opts.stripes });
  }
  return wk.image() as T;
}

/**
 * The augmentation as the trainer takes it: `(image, rng) => noisy image`. The trainer decides
 * which images get noise, so `p` defaults to 1 here.
 */
export function noiseAugmenter(opts: Partial<NoiseAugmentOptions> = {}): (img: RgbaImage, rng: RandomFn) => RgbaImage {
  const o = { ...opts, p: opts.p ?? 1 };
  return (img, rng) => noiseAugment(img, rng, o);
}

// Deterministic synthetic anomaly-detection datasets in MVTec AD form (portable: no Node APIs; see
// synthetic-node.ts to write one to disk). Three industrial-like texture categories — woven fabric,
// brushed metal, wood — each image with natural variation (phase, slight rotation, irregularities,
// camera blur, illumination gradient, exposure, sensor noise), and four defect types with exact
// binary masks: thin curved scratches, stains/spots, branching cracks, missing (chipped) patches.
//
// Every image depends only on (seed, category, split, folder, index): the texture, the defect and
// the camera each draw from their own seeded stream, so the defect-free version of a defective
// image (`withClean`) is bit-identical outside the defect (up to the 1-pixel camera blur).
import type { RgbaImage } from '../io/image.js';
import { hashSeed, Prng } from './prng.js';
import { paintDefect, SYNTHETIC_DEFECTS, type SyntheticCategory, type SyntheticDefect } from './synthetic-defects.js';
import { renderFabric, renderMetal, renderWood } from './synthetic-textures.js';

export { SYNTHETIC_DEFECTS, type SyntheticCategory, type SyntheticDefect };
export const SYNTHETIC_CATEGORIES: readonly SyntheticCategory[] = ['fabric', 'metal', 'wood'];

const RENDER: Record<SyntheticCategory, (out: Float32Array, w: number, h: number, rng: Prng) => void> = {
  fabric: renderFabric,
  metal: renderMetal,
  wood: renderWood,
};

export interface SyntheticOptions {
  category: SyntheticCategory;
  /** Normal training images (default 60). */
  trainCount?: number;
  /** Normal test images (default 20). */
  testGoodCount?: number;
  /** Defective test images, split round-robin over `defects` (default 30). */
  testDefectCount?: number;
  /** Square image side in pixels (default 256, at least 32). */
  size?: number;
  /** Base seed (default 0). */
  seed?: number;
  /** Defect types to use (default all four). */
  defects?: readonly SyntheticDefect[];
}

export interface SyntheticSample {
  split: 'train' | 'test';
  /** "good" or the defect type (the MVTec folder name). */
  defect: 'good' | SyntheticDefect;
  /** Index within its folder; the file stem is `name`. */
  index: number;
  /** Zero-padded file stem, e.g. "007". */
  name: string;
  label: 0 | 1;
  image: RgbaImage;
  /** 0/1 per pixel, size*size; all zero for good images. */
  mask: Uint8Array;
}

export interface SyntheticDataset {
  category: SyntheticCategory;
  size: number;
  seed: number;
  defects: SyntheticDefect[];
  train: SyntheticSample[];
  /** test/good first, then the defect folders in `defects` order. */
  test: SyntheticSample[];
}

export interface SampleSpec {
  category: SyntheticCategory;
  size: number;
  seed: number;
  split: 'train' | 'test';
  defect: 'good' | SyntheticDefect;
  index: number;
}

/** Φ⁻¹ at 4096 evenly spaced probabilities: Gaussian sensor noise from one u32 per sample. */
const GAUSS = (() => {
  const t = new Float32Array(4096);
  // Acklam's rational approximation of the normal quantile (|error| < 1.2e-9).
  const a = [-39.69683028665376, 220.9460984245205, -275.928510446969, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  for (let i = 0; i < 4096; i++) {
    const p = (i + 0.5) / 4096;
    const q = Math.min(p, 1 - p);
    let x: number;
    if (q < 0.02425) {
      const r = Math.sqrt(-2 * Math.log(q));
      x = (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) / ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1);
      x = p < 0.5 ? x : -x;
    } else {
      const u = p - 0.5;
      const r = u * u;
      x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * u) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    t[i] = x;
  }
  return t;
})();

/** Camera blur [1 2 1]/4 (reflect), illumination gradient + vignette + exposure, sensor noise, 8-bit quantisation. */
function finish(src: Float32Array, w: number, h: number, rng: Prng): RgbaImage {
  const n = w * h;
  const gx = rng.uniform(-0.14, 0.14);
  const gy = rng.uniform(-0.14, 0.14);
  const vig = rng.uniform(0, 0.12);
  const expo = rng.uniform(0.94, 1.06);
  const sigma = rng.uniform(0.006, 0.011);
  const tmp = new Float32Array(n);
  const out = new Uint8ClampedArray(4 * n); // clamps and rounds on store
  // xorshift32 in a local (the hot loop must not allocate); top 12 bits index the Gaussian table
  let s = rng.u32() | 1;
  const ix = 1 / (w - 1);
  const iy = 1 / (h - 1);
  for (let ch = 0; ch < 3; ch++) {
    const p = src.subarray(ch * n, (ch + 1) * n);
    for (let y = 0; y < h; y++) {
      const r = y * w;
      tmp[r] = 0.5 * (p[r] + p[r + 1]);
      for (let x = 1; x < w - 1; x++) tmp[r + x] = 0.25 * (p[r + x - 1] + p[r + x + 1]) + 0.5 * p[r + x];
      tmp[r + w - 1] = 0.5 * (p[r + w - 1] + p[r + w - 2]);
    }
    for (let y = 0; y < h; y++) {
      const up = (y > 0 ? y - 1 : 1) * w;
      const dn = (y < h - 1 ? y + 1 : h - 2) * w;
      const r = y * w;
      const ny = y * iy - 0.5;
      const ly = 1 + gy * ny - 2 * vig * ny * ny;
      for (let x = 0; x < w; x++) {
        const nx = x * ix - 0.5;
        const light = expo * (ly + gx * nx - 2 * vig * nx * nx);
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        const v = (0.25 * (tmp[up + x] + tmp[dn + x]) + 0.5 * tmp[r + x]) * light + sigma * GAUSS[(s >>> 20) & 4095];
        out[4 * (r + x) + ch] = 255 * v;
      }
    }
  }
  for (let i = 3; i < 4 * n; i += 4) out[i] = 255;
  return { width: w, height: h, data: new Uint8Array(out.buffer) };
}

function checkCategory(category: string): asserts category is SyntheticCategory {
  if (!(SYNTHETIC_CATEGORIES as readonly string[]).includes(category)) {
    throw new Error(`synthetic: unknown category "${category}", expected one of ${SYNTHETIC_CATEGORIES.join(', ')}`);
  }
}

/**
 * One image. `withClean` also returns the same image without its defect (identical texture, light
 * and noise), for tests and visual checks.
 */
export function generateSample(spec: SampleSpec, withClean = false): SyntheticSample & { clean?: RgbaImage } {
  checkCategory(spec.category);
  const { size, split, defect, index } = spec;
  if (!Number.isInteger(size) || size < 32) throw new Error(`synthetic: size ${size}, expected an integer ≥ 32`);
  if (defect !== 'good' && !SYNTHETIC_DEFECTS.includes(defect)) {
    throw new Error(`synthetic: unknown defect "${defect}", expected one of ${SYNTHETIC_DEFECTS.join(', ')}`);
  }
  const w = size;
  const h = size;
  const seed = hashSeed(spec.seed, spec.category, split, defect, index);
  const tex = new Float32Array(3 * w * h);
  RENDER[spec.category](tex, w, h, new Prng(hashSeed(seed, 'texture')));
  const mask = new Uint8Array(w * h);
  let painted = tex;
  if (defect !== 'good') {
    for (let attempt = 0; ; attempt++) {
      painted = tex.slice();
      mask.fill(0);
      const added = paintDefect({ img: painted, w, h, k: size / 256, category: spec.category }, defect, new Prng(hashSeed(seed, 'defect', attempt)), mask);
      if (added >= 4) break;
      if (attempt >= 20) throw new Error(`synthetic: could not place a ${defect} defect on a ${size}×${size} image`);
    }
  }
  const sample: SyntheticSample & { clean?: RgbaImage } = {
    split,
    defect,
    index,
    name: String(index).padStart(3, '0'),
    label: defect === 'good' ? 0 : 1,
    image: finish(painted, w, h, new Prng(hashSeed(seed, 'camera'))),
    mask,
  };
  if (withClean) sample.clean = defect === 'good' ? sample.image : finish(tex, w, h, new Prng(hashSeed(seed, 'camera')));
  return sample;
}

function count(v: number | undefined, dflt: number, what: string): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < 0) throw new Error(`synthetic: ${what} ${x}, expected a non-negative integer`);
  return x;
}

/** A whole category: train/good, test/good and test/<defect> with masks. */
export function generateDataset(opts: SyntheticOptions): SyntheticDataset {
  checkCategory(opts.category);
  const size = opts.size ?? 256;
  const seed = opts.seed ?? 0;
  const trainCount = count(opts.trainCount, 60, 'trainCount');
  const testGoodCount = count(opts.testGoodCount, 20, 'testGoodCount');
  const testDefectCount = count(opts.testDefectCount, 30, 'testDefectCount');
  const defects = [...(opts.defects ?? SYNTHETIC_DEFECTS)];
  if (defects.length === 0 && testDefectCount > 0) throw new Error('synthetic: testDefectCount > 0 but no defect types given');
  for (const d of defects) {
    if (!SYNTHETIC_DEFECTS.includes(d)) throw new Error(`synthetic: unknown defect "${d}", expected one of ${SYNTHETIC_DEFECTS.join(', ')}`);
  }
  const base = { category: opts.category, size, seed };
  const train: SyntheticSample[] = [];
  for (let i = 0; i < trainCount; i++) train.push(generateSample({ ...base, split: 'train', defect: 'good', index: i }));
  const test: SyntheticSample[] = [];
  for (let i = 0; i < testGoodCount; i++) test.push(generateSample({ ...base, split: 'test', defect: 'good', index: i }));
  defects.forEach((d, j) => {
    const n = Math.floor(testDefectCount / defects.length) + (j < testDefectCount % defects.length ? 1 : 0);
    for (let i = 0; i < n; i++) test.push(generateSample({ ...base, split: 'test', defect: d, index: i }));
  });
  return { category: opts.category, size, seed, defects, train, test };
}

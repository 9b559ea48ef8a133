// Procedural industrial textures for the synthetic dataset (portable: no Node APIs).
// Each renderer writes planar linear-ish RGB in [0, 1] (Float32Array [3, H, W]) for one image, with
// per-image natural variation: random phase, slight rotation, thread/ring/streak irregularities.
// Lengths are expressed for a 256-pixel image and scaled by `k = size / 256`, so a dataset rendered
// at another size shows the same content at another resolution.
import type { Prng } from './prng.js';

/** 2-D value noise with a per-instance random lattice (smoothstep interpolation), values in [-1, 1]. */
export class ValueNoise {
  private readonly perm = new Uint8Array(512);
  private readonly vals = new Float32Array(256);

  constructor(rng: Prng) {
    for (let i = 0; i < 256; i++) {
      this.vals[i] = rng.uniform(-1, 1);
      this.perm[i] = i;
    }
    for (let i = 255; i > 0; i--) {
      const j = rng.int(0, i + 1);
      const t = this.perm[i];
      this.perm[i] = this.perm[j];
      this.perm[j] = t;
    }
    for (let i = 0; i < 256; i++) this.perm[256 + i] = this.perm[i];
  }

  at(x: number, y: number): number {
    const xf = Math.floor(x);
    const yf = Math.floor(y);
    const fx = x - xf;
    const fy = y - yf;
    const xi = xf & 255;
    const yi = yf & 255;
    const p = this.perm;
    const v = this.vals;
    const a = p[xi];
    const b = p[xi + 1];
    const v00 = v[p[a + yi]];
    const v01 = v[p[a + yi + 1]];
    const v10 = v[p[b + yi]];
    const v11 = v[p[b + yi + 1]];
    const sx = fx * fx * (3 - 2 * fx);
    const sy = fy * fy * (3 - 2 * fy);
    const top = v00 + (v10 - v00) * sx;
    const bot = v01 + (v11 - v01) * sx;
    return top + (bot - top) * sy;
  }

  /** Fractal sum of `octaves` octaves (gain 0.5, lacunarity ~2, shifted per octave), roughly in [-1, 1]. */
  fbm(x: number, y: number, octaves: number): number {
    let s = 0;
    let amp = 0.5;
    let norm = 0;
    for (let o = 0; o < octaves; o++) {
      s += amp * this.at(x + 17.3 * o, y - 9.1 * o);
      norm += amp;
      amp *= 0.5;
      x *= 2.03;
      y *= 2.03;
    }
    return s / norm;
  }
}

/** A smooth field sampled on a grid every `step` pixels and bilinearly interpolated (cheap low frequencies). */
export function coarseField(w: number, h: number, step: number, f: (x: number, y: number) => number): Float32Array {
  const gw = Math.ceil((w - 1) / step) + 2;
  const gh = Math.ceil((h - 1) / step) + 2;
  const g = new Float32Array(gw * gh);
  for (let j = 0; j < gh; j++) for (let i = 0; i < gw; i++) g[j * gw + i] = f(i * step, j * step);
  const out = new Float32Array(w * h);
  const inv = 1 / step;
  const ix = new Int32Array(w);
  const tx = new Float32Array(w);
  for (let x = 0; x < w; x++) {
    ix[x] = (x * inv) | 0;
    tx[x] = x * inv - ix[x];
  }
  for (let y = 0; y < h; y++) {
    const j = (y * inv) | 0;
    const ty = y * inv - j;
    const row = j * gw;
    for (let x = 0; x < w; x++) {
      const o = row + ix[x];
      const t = tx[x];
      const top = g[o] + (g[o + 1] - g[o]) * t;
      const bot = g[o + gw] + (g[o + gw + 1] - g[o + gw]) * t;
      out[y * w + x] = top + (bot - top) * ty;
    }
  }
  return out;
}

function smoothstep(a: number, b: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - a) / (b - a)));
  return t * t * (3 - 2 * t);
}

export interface Frame {
  w: number;
  h: number;
  /** Scale relative to a 256-pixel image. */
  k: number;
  cos: number;
  sin: number;
  /** Rotated, shifted coordinates: u = along the main texture direction. */
  u0: number;
  v0: number;
}

function frame(w: number, h: number, rng: Prng, maxDeg: number, phase: number): Frame {
  const a = (rng.uniform(-maxDeg, maxDeg) * Math.PI) / 180;
  return { w, h, k: Math.min(w, h) / 256, cos: Math.cos(a), sin: Math.sin(a), u0: rng.uniform(0, phase), v0: rng.uniform(0, phase) };
}

/** Texture coordinates (u along the grain) of pixel (x, y): rotated, scaled to 256², offset. */
function grainUv(f: Frame, x: number, y: number): [number, number] {
  return [(f.cos * x + f.sin * y) / f.k + f.u0, (-f.sin * x + f.cos * y) / f.k + f.v0];
}

// Thread profiles of the weave over one cell, tabulated (1024 steps, well below a pixel at period 8):
// across a thread a rounded bump, along it bright in the middle and dipping where it passes under.
const CROSS = Float32Array.from({ length: 1025 }, (_, i) => Math.pow(1 - (2 * (i / 1024) - 1) ** 2, 0.6));
const ALONG = Float32Array.from({ length: 1025 }, (_, i) => 0.35 + 0.65 * Math.sqrt(Math.sin(Math.PI * (i / 1024))));

/** Plain-weave fabric (chambray: blue warp, light weft), period ~8 px at 256². */
export function renderFabric(out: Float32Array, w: number, h: number, rng: Prng): void {
  const f = frame(w, h, rng, 3, 1000);
  const P = 8 * f.k * (1 + rng.normal(0, 0.02));
  const fib = new ValueNoise(rng);
  const low = new ValueNoise(rng);
  const warpTone = Float32Array.from({ length: 256 }, () => 1 + rng.normal(0, 0.07));
  const weftTone = Float32Array.from({ length: 256 }, () => 1 + rng.normal(0, 0.07));
  const jit = () => 1 + rng.normal(0, 0.03);
  const cWarp = [0.3 * jit(), 0.37 * jit(), 0.55 * jit()];
  const cWeft = [0.68 * jit(), 0.69 * jit(), 0.72 * jit()];
  const wob = 0.35 * P;
  const du = coarseField(w, h, 4, (x, y) => wob * low.fbm(x / (60 * f.k), y / (60 * f.k), 2));
  const dv = coarseField(w, h, 4, (x, y) => wob * low.fbm(x / (60 * f.k) + 50, y / (60 * f.k) - 30, 2));
  const shade = coarseField(w, h, 8, (x, y) => 0.06 * low.fbm(x / (90 * f.k) - 70, y / (90 * f.k) + 10, 3));
  const n = w * h;
  const invP = 1 / P;
  const fibScale = 0.9 / f.k;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const u = f.cos * x + f.sin * y + f.u0 + du[i];
      const v = -f.sin * x + f.cos * y + f.v0 + dv[i];
      const a = u * invP;
      const b = v * invP;
      const ia = Math.floor(a);
      const ib = Math.floor(b);
      const fu = a - ia;
      const fv = b - ib;
      let val: number;
      let warp: boolean;
      let fibre: number;
      if (((ia + ib) & 1) === 0) {
        // warp (runs along v) on top
        val = CROSS[(fu * 1024) | 0] * ALONG[(fv * 1024) | 0] * warpTone[ia & 255];
        fibre = fib.at(u * fibScale, v * fibScale * 0.15);
        warp = true;
      } else {
        val = CROSS[(fv * 1024) | 0] * ALONG[(fu * 1024) | 0] * weftTone[ib & 255];
        fibre = fib.at(u * fibScale * 0.15 + 91, v * fibScale);
        warp = false;
      }
      const lum = (0.22 + 0.78 * val) * (1 + 0.1 * fibre) * (1 + shade[i]);
      const col = warp ? cWarp : cWeft;
      out[i] = lum * col[0];
      out[n + i] = lum * col[1];
      out[2 * n + i] = lum * col[2];
    }
  }
}

/** Brushed metal: long anisotropic streaks at several scales, a broad specular band, smudges. */
export function renderMetal(out: Float32Array, w: number, h: number, rng: Prng): void {
  const f = frame(w, h, rng, 4, 1000);
  const nA = new ValueNoise(rng);
  const nB = new ValueNoise(rng);
  const low = new ValueNoise(rng);
  const k = f.k;
  const base = rng.uniform(0.5, 0.56);
  const bandPos = rng.uniform(0.15, 0.85) * h;
  const bandWidth = rng.uniform(0.25, 0.45) * h;
  const bandAmp = rng.uniform(0.08, 0.16);
  const tint = [0.95 + rng.normal(0, 0.01), 0.97 + rng.normal(0, 0.01), 1.0];
  const smudge = coarseField(w, h, 8, (x, y) => 0.05 * low.fbm(x / (70 * k), y / (70 * k), 3));
  const n = w * h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const [u, v] = grainUv(f, x, y);
      const s =
        0.5 * nA.at(u * 0.006, v * 1.1) +
        0.3 * nA.at(u * 0.014 + 33, v * 0.42) +
        0.22 * nB.at(u * 0.03, v * 0.17) +
        0.12 * nB.at(u * 0.15 + 7, v * 2.3);
      const dy = (-f.sin * x + f.cos * y - bandPos) / bandWidth;
      const lum = base + 0.085 * s + bandAmp * Math.exp(-dy * dy) + smudge[i];
      out[i] = lum * tint[0];
      out[n + i] = lum * tint[1];
      out[2 * n + i] = lum * tint[2];
    }
  }
}

/** Wood: distorted growth rings (dark latewood bands) along the grain, pores, colour map light→dark. */
export function renderWood(out: Float32Array, w: number, h: number, rng: Prng): void {
  const f = frame(w, h, rng, 5, 1000);
  const k = f.k;
  const warpN = new ValueNoise(rng);
  const pore = new ValueNoise(rng);
  const period = rng.uniform(13, 19);
  const warpAmp = rng.uniform(1.2, 2.2);
  const light = [0.8, 0.62, 0.42].map((c) => c * (1 + rng.normal(0, 0.025)));
  const dark = [0.5, 0.32, 0.19].map((c) => c * (1 + rng.normal(0, 0.025)));
  const warp = coarseField(w, h, 4, (x, y) => {
    const [u, v] = grainUv(f, x, y);
    return warpAmp * warpN.fbm(u * 0.004, v * 0.018, 3) + 0.25 * warpN.at(u * 0.02 + 40, v * 0.05);
  });
  const tone = coarseField(w, h, 8, (x, y) => 0.07 * warpN.fbm(x / (80 * k) + 90, y / (80 * k), 2));
  const n = w * h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const [u, v] = grainUv(f, x, y);
      const r = v / period + warp[i];
      const g = r - Math.floor(r);
      const late = smoothstep(0.5, 0.88, g) * (1 - smoothstep(0.9, 1, g));
      const pores = pore.at(u * 0.05, v * 0.9) * 0.5 + pore.at(u * 0.012 + 11, v * 0.35) * 0.3 + pore.at(u * 0.3 - 4, v * 1.7) * 0.2;
      const t = Math.min(1, Math.max(0, 0.7 * late + 0.2 * pores + 0.18 + tone[i]));
      out[i] = light[0] + (dark[0] - light[0]) * t;
      out[n + i] = light[1] + (dark[1] - light[1]) * t;
      out[2 * n + i] = light[2] + (dark[2] - light[2]) * t;
    }
  }
}

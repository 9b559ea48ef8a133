// Defects painted onto a synthetic texture (portable: no Node APIs). Each defect is an anti-aliased
// coverage map α ∈ [0, 1] (strokes: distance to a polyline with a per-point radius; blobs: a radial
// function with harmonics) and an effect that pulls the texture towards a target look by α. The
// ground-truth mask is exactly { α ≥ 0.5 } of the painted shapes. Strengths are drawn per instance
// in moderate ranges: visible to the eye, far from saturated, and always relative to the local
// texture (a stain darkens what is under it), so the detector has to model the texture.
import type { Prng } from './prng.js';
import { ValueNoise } from './synthetic-textures.js';

export type SyntheticCategory = 'fabric' | 'metal' | 'wood';
export type SyntheticDefect = 'scratch' | 'spot' | 'crack' | 'missing';
export const SYNTHETIC_DEFECTS: readonly SyntheticDefect[] = ['scratch', 'spot', 'crack', 'missing'];

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

interface Pt {
  x: number;
  y: number;
  r: number;
}

export interface Canvas {
  /** Planar RGB [3, h, w] in [0, 1], modified in place. */
  img: Float32Array;
  w: number;
  h: number;
  /** Scale relative to a 256-pixel image. */
  k: number;
  category: SyntheticCategory;
}

function clampBox(b: Box, w: number, h: number): Box {
  return { x0: Math.max(0, Math.floor(b.x0)), y0: Math.max(0, Math.floor(b.y0)), x1: Math.min(w - 1, Math.ceil(b.x1)), y1: Math.min(h - 1, Math.ceil(b.y1)) };
}

function union(a: Box | null, b: Box): Box {
  return a ? { x0: Math.min(a.x0, b.x0), y0: Math.min(a.y0, b.y0), x1: Math.max(a.x1, b.x1), y1: Math.max(a.y1, b.y1) } : b;
}

/** Max-accumulates the coverage of a polyline with per-point radius (pixel centres at +0.5). */
function strokeCoverage(cov: Float32Array, w: number, h: number, pts: Pt[]): Box | null {
  let box: Box | null = null;
  for (let s = 0; s + 1 < pts.length; s++) {
    const a = pts[s];
    const b = pts[s + 1];
    const rm = Math.max(a.r, b.r) + 1;
    const bb = clampBox({ x0: Math.min(a.x, b.x) - rm, y0: Math.min(a.y, b.y) - rm, x1: Math.max(a.x, b.x) + rm, y1: Math.max(a.y, b.y) + rm }, w, h);
    if (bb.x0 > bb.x1 || bb.y0 > bb.y1) continue;
    box = union(box, bb);
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len2 = dx * dx + dy * dy || 1e-12;
    for (let y = bb.y0; y <= bb.y1; y++) {
      for (let x = bb.x0; x <= bb.x1; x++) {
        const px = x + 0.5 - a.x;
        const py = y + 0.5 - a.y;
        const t = Math.min(1, Math.max(0, (px * dx + py * dy) / len2));
        const ex = px - t * dx;
        const ey = py - t * dy;
        const d = Math.sqrt(ex * ex + ey * ey);
        const c = Math.min(1, Math.max(0, a.r + (b.r - a.r) * t + 0.5 - d));
        const i = y * w + x;
        if (c > cov[i]) cov[i] = c;
      }
    }
  }
  return box;
}

interface Blob {
  cx: number;
  cy: number;
  R: number;
  amp: number[];
  phase: number[];
  feather: number;
}

function blobRadius(b: Blob, phi: number): number {
  let r = 1;
  for (let j = 0; j < b.amp.length; j++) r += b.amp[j] * Math.cos((j + 2) * phi + b.phase[j]);
  return b.R * r;
}

function makeBlob(rng: Prng, cx: number, cy: number, R: number, harmonics: number, roughness: number, feather: number): Blob {
  const amp: number[] = [];
  const phase: number[] = [];
  for (let j = 0; j < harmonics; j++) {
    amp.push(rng.uniform(0, roughness / (j + 2)));
    phase.push(rng.uniform(0, 2 * Math.PI));
  }
  return { cx, cy, R, amp, phase, feather };
}

/** Max-accumulates a blob's coverage; returns its box. `edge` (optional) receives the signed inside distance. */
function blobCoverage(cov: Float32Array, w: number, h: number, b: Blob, inside?: Float32Array): Box | null {
  const ext = b.R * (1 + b.amp.reduce((s, a) => s + a, 0)) + b.feather + 1;
  const bb = clampBox({ x0: b.cx - ext, y0: b.cy - ext, x1: b.cx + ext, y1: b.cy + ext }, w, h);
  if (bb.x0 > bb.x1 || bb.y0 > bb.y1) return null;
  for (let y = bb.y0; y <= bb.y1; y++) {
    for (let x = bb.x0; x <= bb.x1; x++) {
      const dx = x + 0.5 - b.cx;
      const dy = y + 0.5 - b.cy;
      const d = Math.sqrt(dx * dx + dy * dy);
      const depth = blobRadius(b, Math.atan2(dy, dx)) - d;
      const c = Math.min(1, Math.max(0, depth / b.feather + 0.5));
      const i = y * w + x;
      if (c > cov[i]) {
        cov[i] = c;
        if (inside) inside[i] = depth;
      }
    }
  }
  return bb;
}

/** Smooth curved line (a gentle arc with varying curvature), tapered ends. */
function scratchPath(rng: Prng, w: number, h: number, k: number): Pt[] {
  const L = rng.uniform(40, 130) * k;
  const m = 10 * k;
  let x = rng.uniform(m, w - m);
  let y = rng.uniform(m, h - m);
  let th = rng.uniform(0, 2 * Math.PI);
  const k1 = rng.normal(0, 0.6) / L;
  const k2 = rng.normal(0, 0.8) / L;
  const r0 = rng.uniform(0.65, 1.2) * k;
  const step = 1.5;
  const pts: Pt[] = [];
  for (let s = 0; s <= L; s += step) {
    const t = s / L;
    pts.push({ x, y, r: Math.max(0.55, r0 * (0.45 + 0.55 * Math.pow(Math.sin(Math.PI * t), 0.4))) });
    th += (k1 + k2 * (2 * t - 1)) * step;
    x += step * Math.cos(th);
    y += step * Math.sin(th);
  }
  return pts;
}

/** Jagged random walk with mean reversion of the heading and a few thinner branches. */
function crackPaths(rng: Prng, w: number, h: number, k: number): Pt[][] {
  const out: Pt[][] = [];
  const walk = (x: number, y: number, th0: number, L: number, r0: number, depth: number): void => {
    const pts: Pt[] = [];
    let th = th0;
    const step = 1.2 * k;
    const n = Math.max(2, Math.round(L / step));
    for (let s = 0; s <= n; s++) {
      const t = s / n;
      pts.push({ x, y, r: Math.max(0.55, r0 * (1 - 0.6 * t)) });
      th += rng.normal(0, 0.38) + 0.12 * (th0 - th);
      x += step * Math.cos(th);
      y += step * Math.sin(th);
      if (depth < 2 && s > 3 && s < n - 4 && rng.chance(0.03)) {
        walk(x, y, th + rng.sign() * rng.uniform(0.5, 1.1), (n - s) * step * rng.uniform(0.3, 0.6), r0 * 0.7, depth + 1);
      }
    }
    out.push(pts);
  };
  const m = 12 * k;
  walk(rng.uniform(m, w - m), rng.uniform(m, h - m), rng.uniform(0, 2 * Math.PI), rng.uniform(45, 120) * k, rng.uniform(0.7, 1.25) * k, 0);
  return out;
}

function meanColour(c: Canvas, b: Box): number[] {
  const n = c.w * c.h;
  const s = [0, 0, 0];
  let cnt = 0;
  for (let y = b.y0; y <= b.y1; y++) {
    for (let x = b.x0; x <= b.x1; x++) {
      const i = y * c.w + x;
      for (let ch = 0; ch < 3; ch++) s[ch] += c.img[ch * n + i];
      cnt++;
    }
  }
  return s.map((v) => v / Math.max(1, cnt));
}

/**
 * Paints one defect of the given type onto the canvas and ORs its mask (0/1) into `mask`.
 * Returns the number of mask pixels it added.
 */
export function paintDefect(c: Canvas, type: SyntheticDefect, rng: Prng, mask: Uint8Array): number {
  const { w, h, k, img } = c;
  const n = w * h;
  const cov = new Float32Array(n);
  const tex = new ValueNoise(rng);
  // the woven texture's own contrast is high (σ ≈ 35/255): stronger effects to stay comparably visible
  const boost = c.category === 'fabric' ? 1.3 : 1;
  let box: Box | null = null;
  // pixel effect: new = old + α·(target(old) − old), written per defect below
  let target: (i: number, x: number, y: number, ch: number, old: number) => number;
  if (type === 'scratch') {
    const count = rng.chance(0.25) ? 2 : 1;
    for (let j = 0; j < count; j++) {
      const b = strokeCoverage(cov, w, h, scratchPath(rng, w, h, k));
      if (b) box = union(box, b);
    }
    const bright = c.category === 'metal' ? rng.chance(0.7) : c.category === 'wood' ? rng.chance(0.75) : rng.chance(0.5);
    const amount = rng.uniform(0.3, 0.5) * boost;
    target = (_i, x, y, _ch, old) => {
      const a = amount * (0.75 + 0.25 * tex.at(x * 0.12, y * 0.12));
      return bright ? old + a * (0.95 - old) : old * (1 - a);
    };
  } else if (type === 'crack') {
    for (const p of crackPaths(rng, w, h, k)) {
      const b = strokeCoverage(cov, w, h, p);
      if (b) box = union(box, b);
    }
    const amount = Math.min(0.8, rng.uniform(0.4, 0.6) * boost);
    target = (_i, x, y, _ch, old) => old * (1 - amount * (0.85 + 0.15 * tex.at(x * 0.2, y * 0.2)));
  } else if (type === 'spot') {
    const count = rng.pick([1, 1, 2, 3]);
    const m = 16 * k;
    const cx = rng.uniform(m, w - m);
    const cy = rng.uniform(m, h - m);
    const inside = new Float32Array(n);
    for (let j = 0; j < count; j++) {
      const R = rng.uniform(4, 13) * k;
      const bx = j === 0 ? cx : cx + rng.normal(0, 18 * k);
      const by = j === 0 ? cy : cy + rng.normal(0, 18 * k);
      const b = blobCoverage(cov, w, h, makeBlob(rng, bx, by, R, 4, 0.6, rng.uniform(1.2, 2.5) * k), inside);
      if (b) box = union(box, b);
    }
    const amount = rng.uniform(0.16, 0.32) * boost;
    const tint = c.category === 'metal' ? [1, 0.86, 0.7] : c.category === 'wood' ? [0.95, 0.9, 0.9] : [1, 0.97, 0.9];
    target = (i, x, y, ch, old) => {
      const ring = 0.7 + 0.3 * Math.exp(-((inside[i] / (2 * k)) ** 2));
      const a = amount * ring * (0.8 + 0.2 * tex.at(x * 0.1, y * 0.1));
      return old * (1 - a) * (1 - (1 - tint[ch]) * Math.min(1, a * 4));
    };
  } else {
    const m = 18 * k;
    const blob = makeBlob(rng, rng.uniform(m, w - m), rng.uniform(m, h - m), rng.uniform(6, 14) * k, 6, 0.9, 0.6);
    const inside = new Float32Array(n);
    box = blobCoverage(cov, w, h, blob, inside);
    const mean = box ? meanColour(c, box) : [0.5, 0.5, 0.5];
    const level = c.category === 'wood' ? rng.uniform(1.05, 1.2) : c.category === 'metal' ? rng.uniform(0.6, 0.8) : rng.uniform(0.5, 0.72);
    const la = rng.uniform(0, 2 * Math.PI);
    const lx = Math.cos(la);
    const ly = Math.sin(la);
    target = (i, x, y, ch) => {
      const dx = x + 0.5 - blob.cx;
      const dy = y + 0.5 - blob.cy;
      const d = Math.sqrt(dx * dx + dy * dy) || 1;
      const wall = Math.exp(-((inside[i] / (1.5 * k)) ** 2));
      const shade = 1 + 0.35 * wall * ((dx * lx + dy * ly) / d);
      const rough = 1 + 0.08 * tex.at(x * 0.45, y * 0.45) + 0.05 * tex.at(x * 0.12 + 5, y * 0.12);
      return Math.min(1, mean[ch] * level * rough * shade);
    };
  }
  if (!box) return 0;
  let added = 0;
  for (let y = box.y0; y <= box.y1; y++) {
    for (let x = box.x0; x <= box.x1; x++) {
      const i = y * w + x;
      const a = cov[i];
      if (a <= 0) continue;
      for (let ch = 0; ch < 3; ch++) {
        const old = img[ch * n + i];
        img[ch * n + i] = old + a * (target(i, x, y, ch, old) - old);
      }
      if (a >= 0.5 && mask[i] === 0) {
        mask[i] = 1;
        added++;
      }
    }
  }
  return added;
}

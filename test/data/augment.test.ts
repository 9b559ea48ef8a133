import { describe, expect, it } from 'vitest';
import { addSparsePointNoise, addStripeNoise, noiseAugment, noiseAugmenter, type PlanarImage } from '../../src/data/augment.js';
import type { RgbaImage } from '../../src/io/image.js';
import { rng } from '../helpers.js';

const W = 64;
const H = 48;
function flat(v: number): RgbaImage {
  const data = new Uint8Array(W * H * 4);
  for (let i = 0; i < W * H; i++) data.set([v, v, v, 255], 4 * i);
  return { width: W, height: H, data };
}
function changed(a: RgbaImage, b: RgbaImage): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.width * a.height; i++) if (a.data[4 * i] !== b.data[4 * i] || a.data[4 * i + 1] !== b.data[4 * i + 1] || a.data[4 * i + 2] !== b.data[4 * i + 2]) out.push(i);
  return out;
}

describe('addSparsePointNoise', () => {
  it('changes about density × pixels, grey and by ±amplitude, leaving the input and alpha alone', () => {
    const img = flat(128);
    const before = img.data.slice();
    const out = addSparsePointNoise(img, rng(1), { density: 0.02, amplitude: 0.3 });
    expect(out).not.toBe(img);
    expect(img.data).toEqual(before);
    const idx = changed(img, out);
    expect(idx.length).toBeGreaterThan(0.02 * W * H * 0.8); // duplicates may coincide
    expect(idx.length).toBeLessThanOrEqual(Math.ceil(0.02 * W * H));
    for (const i of idx) {
      const [r, g, b, a] = out.data.subarray(4 * i, 4 * i + 4);
      expect(r).toBe(g);
      expect(g).toBe(b);
      expect(a).toBe(255);
      expect([52, 204]).toContain(r); // 128 ± 0.3 × 255 = 51.5 / 204.5, rounded half to even
    }
  });

  it('is deterministic for a seed; colour mode changes channels independently; size makes squares', () => {
    const img = flat(100);
    const a = addSparsePointNoise(img, rng(5), { density: 0.01 });
    expect(addSparsePointNoise(img, rng(5), { density: 0.01 }).data).toEqual(a.data);
    expect(addSparsePointNoise(img, rng(6), { density: 0.01 }).data).not.toEqual(a.data);
    const c = addSparsePointNoise(img, rng(2), { density: 0.01, color: true });
    expect(changed(img, c).some((i) => c.data[4 * i] !== c.data[4 * i + 1] || c.data[4 * i + 1] !== c.data[4 * i + 2])).toBe(true);
    const sq = addSparsePointNoise(img, rng(3), { density: 1 / (W * H), size: 3 }); // exactly one 3×3 point (clipped at borders)
    const idx = changed(img, sq);
    expect(idx.length).toBeGreaterThanOrEqual(1);
    expect(idx.length).toBeLessThanOrEqual(9);
  });
});

describe('addStripeNoise', () => {
  it('draws thin straight stripes of the requested angle, width and contrast', () => {
    const img = flat(120);
    const out = addStripeNoise(img, rng(4), { count: 1, angle: 0, width: 2, contrast: 0.2 });
    const idx = changed(img, out);
    const rows = new Set(idx.map((i) => Math.floor(i / W)));
    expect(rows.size).toBeGreaterThanOrEqual(2);
    expect(rows.size).toBeLessThanOrEqual(3); // 2 px wide, anti-aliased
    const perRow = [...rows].map((y) => idx.filter((i) => Math.floor(i / W) === y).length);
    expect(perRow.filter((c) => c === W).length).toBeGreaterThanOrEqual(2); // full-length horizontal stripe
    const full = idx.map((i) => Math.abs(out.data[4 * i] - 120));
    expect(Math.max(...full)).toBe(51); // 0.2 × 255
    const v = addStripeNoise(img, rng(4), { count: 1, angle: Math.PI / 2, width: 1, contrast: 0.2 });
    const cols = new Set(changed(img, v).map((i) => i % W));
    expect(cols.size).toBeLessThanOrEqual(2);
  });

  it('random angles and finite lengths; clamps at the range ends', () => {
    const img = flat(250);
    const out = addStripeNoise(img, rng(8), { count: 3, contrast: [0.3, 0.4], length: 0.3 });
    const idx = changed(img, out);
    expect(idx.length).toBeGreaterThan(0);
    expect(idx.length).toBeLessThan(W * H * 0.3);
    expect(Math.max(...Array.from(out.data))).toBe(255);
  });
});

describe('noiseAugment', () => {
  it('applies with probability p, deterministically, in the requested mode', () => {
    const img = flat(128);
    expect(noiseAugment(img, rng(1), { p: 0 }).data).toEqual(img.data);
    let applied = 0;
    const r = rng(11);
    for (let k = 0; k < 200; k++) if (changed(img, noiseAugment(img, r, { p: 0.3 })).length) applied++;
    expect(applied).toBeGreaterThan(35);
    expect(applied).toBeLessThan(85);
    const a = noiseAugment(img, rng(3), { p: 1, mode: 'both' });
    expect(noiseAugment(img, rng(3), { p: 1, mode: 'both' }).data).toEqual(a.data);
    const stripesOnly = noiseAugment(img, rng(3), { p: 1, mode: 'stripes', stripes: { count: 1, angle: 0, width: 1 } });
    expect(new Set(changed(img, stripesOnly).map((i) => Math.floor(i / W))).size).toBeLessThanOrEqual(2);
    expect(() => noiseAugment(img, rng(1), { p: 2 })).toThrow(/noiseAugment: p = 2, expected a probability/);
    expect(() => noiseAugment({ width: 2, height: 2, data: new Uint8Array(3) }, rng(1))).toThrow(/noiseAugment: 3 bytes of pixels, expected 2×2×4/);
  });

  it('works on planar float images in [0, 1] and clamps there', () => {
    const n = W * H;
    const img: PlanarImage = { width: W, height: H, channels: 3, data: new Float32Array(3 * n).fill(0.95) };
    const out = noiseAugment(img, rng(2), { p: 1, mode: 'points', points: { density: 0.05, amplitude: 0.5 } });
    expect(out.channels).toBe(3);
    expect(out.data).not.toBe(img.data);
    expect(img.data.every((v) => v === Math.fround(0.95))).toBe(true);
    const values = new Set(Array.from(out.data, (v) => v.toFixed(5)));
    // ±0.5 per point, clamped after each: 0.45 / 1, then 0 or 0.5 where two points coincide
    expect(['0.00000', '0.45000', '0.50000', '0.95000', '1.00000']).toEqual(expect.arrayContaining([...values]));
    expect([...values]).toEqual(expect.arrayContaining(['0.45000', '0.95000', '1.00000']));
    let diff = 0;
    for (let i = 0; i < n; i++) if (out.data[i] !== Math.fround(0.95)) diff++;
    expect(diff).toBeGreaterThan(0.04 * n);
  });

  it('noiseAugmenter is the trainer-facing form: always applies (the trainer draws p itself)', () => {
    const aug = noiseAugmenter();
    const img = flat(128);
    for (let s = 0; s < 10; s++) expect(changed(img, aug(img, rng(s))).length).toBeGreaterThan(0);
  });
});

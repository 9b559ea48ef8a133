import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aupro, auroc, connectedComponents, pixelAuroc, pixelMetrics, proCurve, radixSortF32, resizeMask, trapezoidTo, type Grid } from '../../src/eval/metrics.js';
import { rng } from '../helpers.js';

const grid = (width: number, height: number, data: number[] | Float32Array | Uint8Array): Grid => ({ width, height, data });

/** Naive PRO reference: every given threshold, all pixels, per-region overlap; trapezoid with interpolation at maxFpr. */
function naiveAupro(maps: Grid[], masks: Grid[], thresholds: number[], maxFpr: number): number {
  const comps = masks.map((m) => connectedComponents(m.data, m.width, m.height));
  const regions = comps.reduce((s, c) => s + c.count, 0);
  let nNeg = 0;
  for (const c of comps) for (const l of c.labels) if (!l) nNeg++;
  const xs = [0];
  const ys = [0];
  for (const t of thresholds) {
    let fp = 0;
    let pro = 0;
    maps.forEach((m, k) => {
      const hit = new Array(comps[k].count).fill(0);
      for (let i = 0; i < m.data.length; i++) {
        if (m.data[i] < t) continue;
        const l = comps[k].labels[i];
        if (l) hit[l - 1]++;
        else fp++;
      }
      hit.forEach((h, r) => (pro += h / comps[k].sizes[r]));
    });
    xs.push(fp / nNeg);
    ys.push(pro / regions);
  }
  return trapezoidTo(xs, ys, maxFpr) / maxFpr;
}

function randomCase(seed: number, n: number, w: number, h: number, quant = 0) {
  const r = rng(seed);
  const maps: Grid[] = [];
  const masks: Grid[] = [];
  for (let k = 0; k < n; k++) {
    const m = new Uint8Array(w * h);
    const blobs = Math.floor(r() * 4);
    for (let b = 0; b < blobs; b++) {
      const cx = r() * w;
      const cy = r() * h;
      const rx = 0.8 + r() * 4;
      const ry = 0.8 + r() * 3;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1) m[y * w + x] = 1;
    }
    const s = new Float32Array(w * h);
    for (let i = 0; i < s.length; i++) {
      const v = r() + 0.4 * m[i] * r();
      s[i] = quant ? Math.round(v * quant) / quant : v;
    }
    maps.push(grid(w, h, s));
    masks.push(grid(w, h, m));
  }
  // The masks were built from Uint8Arrays above; Grid only promises a read-only ArrayLike.
  if (!masks.some((m) => (m.data as Uint8Array).some((v) => v))) (masks[0].data as Uint8Array)[0] = 1;
  return { maps, masks };
}

describe('auroc', () => {
  it('matches hand-computed values, with half credit for ties', () => {
    expect(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
    // pos {0.5, 0.9}, neg {0.5, 0.2}: (0.5 + 1 + 1 + 1) / 4
    expect(auroc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1])).toBeCloseTo(0.875, 12);
    expect(auroc([1, 1, 1, 1], [0, 1, 0, 1])).toBe(0.5);
    expect(auroc([3, -Infinity, Infinity], [1, 0, 1])).toBe(1);
    expect(auroc([0.2, 0.7], [false, true])).toBe(1);
  });

  it('is 1 for a perfect and 0 for an inverted detector', () => {
    const labels = [0, 1, 0, 1, 1, 0];
    const perfect = labels.map((l, i) => l * 10 + i * 0.1);
    expect(auroc(perfect, labels)).toBe(1);
    expect(auroc(perfect.map((v) => -v), labels)).toBe(0);
  });

  it('equals the pairwise definition on random data with ties', () => {
    const r = rng(5);
    const s = Array.from({ length: 300 }, () => Math.round(r() * 20));
    const l = s.map((v) => (r() < 0.3 + v / 40 ? 1 : 0));
    let acc = 0;
    let pairs = 0;
    for (let i = 0; i < s.length; i++) for (let j = 0; j < s.length; j++) if (l[i] && !l[j]) {
      acc += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
      pairs++;
    }
    expect(auroc(s, l)).toBeCloseTo(acc / pairs, 12);
  });

  it('rejects one-class input, NaN and length mismatches', () => {
    expect(() => auroc([1, 2], [0, 0])).toThrow(/auroc: undefined with 0 anomalous and 2 normal samples/);
    expect(() => auroc([1, 2], [1, 1])).toThrow(/2 anomalous and 0 normal/);
    expect(() => auroc([1, NaN], [0, 1])).toThrow(/auroc: scores contain NaN/);
    expect(() => auroc([1, 2, 3], [0, 1])).toThrow(/auroc: 3 scores but 2 labels/);
  });
});

describe('pixelAuroc', () => {
  it('pools all pixels of all images', () => {
    const maps = [grid(2, 2, [0.9, 0.1, 0.4, 0.4]), grid(3, 1, [0.3, 0.8, 0.4])];
    const masks = [grid(2, 2, [1, 0, 0, 1]), grid(3, 1, [0, 1, 0])];
    // pos {0.9, 0.4, 0.8}, neg {0.1, 0.4, 0.3, 0.4}: 4 + (1 + 0.5 + 1 + 0.5) + 4 = 11 of 12
    expect(pixelAuroc(maps, masks)).toBeCloseTo(11 / 12, 12);
    expect(pixelAuroc([[0.9, 0.1, 0.4, 0.4]], [[1, 0, 0, 1]])).toBeCloseTo(pixelAuroc([maps[0]], [masks[0]]), 12);
  });

  it('rejects size mismatches and all-normal masks', () => {
    expect(() => pixelAuroc([[1, 2, 3]], [[0, 1]])).toThrow(/pixelAuroc: map 0 has 3 values but its mask has 2/);
    expect(() => pixelAuroc([[1, 2]], [[0, 0]])).toThrow(/pixelAuroc: undefined with 0 anomalous and 2 normal pixels/);
    expect(() => pixelAuroc([[1, 2]], [[0, 1], [1]])).toThrow(/1 maps but 2 masks/);
    expect(() => pixelAuroc([[1, 2], new Float32Array([0, NaN])], [[0, 1], [1, 0]])).toThrow(/pixelAuroc: anomaly map 1 contains NaN \(pixel 1\)/);
  });
});

describe('connectedComponents', () => {
  it('uses 8-connectivity and numbers regions in raster order of their first pixel (as scipy.ndimage.label)', () => {
    // prettier-ignore
    const m = [
      0, 0, 1, 0, 1,
      1, 0, 0, 1, 0,
      1, 0, 0, 0, 0,
      0, 1, 0, 1, 1,
    ];
    const c = connectedComponents(m, 5, 4);
    expect(c.count).toBe(3);
    // prettier-ignore
    expect(Array.from(c.labels)).toEqual([
      0, 0, 1, 0, 1,
      2, 0, 0, 1, 0,
      2, 0, 0, 0, 0,
      0, 2, 0, 3, 3,
    ]);
    expect(c.sizes).toEqual([3, 3, 2]);
    expect(connectedComponents(new Uint8Array(6), 3, 2).count).toBe(0);
    expect(() => connectedComponents([1, 0, 1], 2, 2)).toThrow(/connectedComponents: mask has 3 values, expected 2×2/);
  });
});

describe('aupro', () => {
  it('a single region: hand-computed curve and integrals', () => {
    const maps = [grid(3, 2, [0.9, 0.5, 0.7, 0.1, 0.2, 0.3])];
    const masks = [grid(3, 2, [1, 1, 0, 0, 0, 0])];
    const c = proCurve(maps, masks, { maxFpr: 1 });
    expect(Array.from(c.fpr)).toEqual([0, 0, 0.25, 0.25, 0.5, 0.75, 1]);
    expect(Array.from(c.pro)).toEqual([0, 0.5, 0.5, 1, 1, 1, 1]);
    // ∫₀^0.3 = 0.5·0.25 + 1·0.05 = 0.175
    expect(aupro(maps, masks)).toBeCloseTo(0.175 / 0.3, 12);
    expect(aupro(maps, masks, { maxFpr: 1 })).toBeCloseTo(0.875, 12);
  });

  it('several regions of different sizes are averaged per region, not per pixel', () => {
    // regions {0} (1 px) and {2,3,4} (3 px); normal pixels 1, 5, 6
    const maps = [grid(7, 1, [0.2, 0.1, 0.9, 0.8, 0.3, 0.4, 0.05])];
    const masks = [grid(7, 1, [1, 0, 1, 1, 1, 0, 0])];
    const c = proCurve(maps, masks, { maxFpr: 1 });
    expect(c.regions).toBe(2);
    expect(Array.from(c.fpr)).toEqual([0, 0, 0, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 1]);
    expect(Array.from(c.pro).map((v) => +v.toFixed(12))).toEqual([0, 1 / 6, 1 / 3, 1 / 3, 0.5, 1, 1, 1].map((v) => +v.toFixed(12)));
    expect(aupro(maps, masks)).toBeCloseTo(1 / 3, 12); // PRO stays 1/3 up to FPR 1/3
    expect(aupro(maps, masks, { maxFpr: 1 })).toBeCloseTo(1 / 9 + 2 / 3, 12);
  });

  it('ties between normal and anomalous pixels form one curve point', () => {
    const maps = [grid(2, 2, [0.5, 0.5, 0.5, 0.5])];
    const masks = [grid(2, 2, [1, 0, 0, 0])];
    const c = proCurve(maps, masks, { maxFpr: 1 });
    expect(Array.from(c.fpr)).toEqual([0, 1]);
    expect(Array.from(c.pro)).toEqual([0, 1]);
    expect(aupro(maps, masks)).toBeCloseTo(0.15, 12); // diagonal from (0,0) to (1,1): 0.045 / 0.3
  });

  it('is 1 for a perfect detector and 0 for an inverted one; all-normal images count only as normal pixels', () => {
    const { maps, masks } = randomCase(3, 6, 20, 15);
    const perfect = maps.map((m, k) => grid(m.width, m.height, Float32Array.from(m.data, (v, i) => v + 2 * masks[k].data[i])));
    const inverted = maps.map((m, k) => grid(m.width, m.height, Float32Array.from(m.data, (v, i) => v - 2 * masks[k].data[i])));
    expect(aupro(perfect, masks)).toBeCloseTo(1, 12);
    expect(aupro(inverted, masks)).toBe(0);
    const good = grid(20, 15, new Float32Array(300).fill(5)); // high scores on a good image: false positives
    expect(aupro([...perfect, good], [...masks, grid(20, 15, new Uint8Array(300))])).toBeLessThan(1);
  });

  it('throws when there is no anomalous region (AUPRO undefined) or no normal pixel', () => {
    const z = grid(4, 4, new Uint8Array(16));
    expect(() => aupro([grid(4, 4, new Float32Array(16))], [z])).toThrow(/aupro: undefined — the 1 ground-truth mask\(s\) contain no anomalous region/);
    expect(() => aupro([[1, 2]], [grid(2, 1, [1, 1])])).toThrow(/no normal pixels/);
    expect(() => aupro([[1, 2]], [[1, 0]])).toThrow(/aupro: mask 0 \(2 values\) needs a width/);
    expect(aupro([[1, 2]], [[0, 1]], { width: 2 })).toBe(1);
    expect(() => aupro([[1, 2]], [[1, 0]], { maxFpr: 0, width: 2 })).toThrow(/maxFpr = 0/);
  });

  it('matches a naive all-thresholds reference exactly and a 3000-threshold sweep within 1e-3', () => {
    for (const [seed, quant] of [
      [11, 0],
      [12, 20],
      [13, 0],
    ]) {
      const { maps, masks } = randomCase(seed, 5, 31, 23, quant);
      const all = [...new Set(maps.flatMap((m) => Array.from(m.data)))].sort((a, b) => b - a);
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of all) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      const sweep = Array.from({ length: 3000 }, (_, i) => hi - ((hi - lo) * i) / 2999);
      for (const maxFpr of [0.3, 0.05, 1]) {
        const fast = aupro(maps, masks, { maxFpr });
        expect(fast).toBeCloseTo(naiveAupro(maps, masks, all, maxFpr), 10);
        expect(Math.abs(fast - naiveAupro(maps, masks, sweep, maxFpr))).toBeLessThan(1e-3);
      }
    }
  });

  it('matches the MVTec AD evaluation code (numpy/scipy, fixtures/make-mvtec-reference.py)', () => {
    const ref = JSON.parse(readFileSync(new URL('./fixtures/mvtec-reference.json', import.meta.url), 'utf8'));
    for (const c of ref.cases) {
      const maps = c.maps.map((d: number[]) => grid(c.width, c.height, d));
      const masks = c.masks.map((d: number[]) => grid(c.width, c.height, d));
      for (const [lim, v] of Object.entries(c.aupro)) expect(aupro(maps, masks, { maxFpr: Number(lim) })).toBeCloseTo(v as number, 10);
      expect(pixelAuroc(maps, masks)).toBeCloseTo(c.pixelAuroc, 12);
      expect(auroc(c.scores, c.labels)).toBeCloseTo(c.imageAuroc, 12);
    }
  });

  it('is fast on 100 maps of 256×256', () => {
    const r = rng(9);
    const maps: Grid[] = [];
    const masks: Grid[] = [];
    for (let k = 0; k < 100; k++) {
      const m = new Uint8Array(256 * 256);
      if (k >= 30) for (let y = 100; y < 100 + (k % 40); y++) for (let x = 50; x < 60 + k; x++) m[y * 256 + x] = 1;
      const s = new Float32Array(256 * 256);
      for (let i = 0; i < s.length; i++) s[i] = r() + 0.5 * m[i];
      maps.push(grid(256, 256, s));
      masks.push(grid(256, 256, m));
    }
    const t0 = performance.now();
    const px = pixelAuroc(maps, masks);
    const t1 = performance.now();
    const pro = aupro(maps, masks);
    const t2 = performance.now();
    const both = pixelMetrics(maps, masks);
    const t3 = performance.now();
    console.log(`100×256²: pixelAuroc ${(t1 - t0).toFixed(0)} ms, aupro ${(t2 - t1).toFixed(0)} ms, pixelMetrics (both) ${(t3 - t2).toFixed(0)} ms`);
    expect(both).toEqual({ pixelAuroc: px, aupro: pro });
    expect(px).toBeGreaterThan(0.8);
    expect(pro).toBeGreaterThan(0.3);
    expect(t2 - t0).toBeLessThan(10_000); // ~1.5 s on an idle 2-core machine
  });
});

describe('radixSortF32', () => {
  it('sorts like the built-in sort, including negatives, ±0, ±Infinity and subnormals, with the permutation', () => {
    const r = rng(21);
    const v = Float32Array.from({ length: 5000 }, () => (r() - 0.5) * 10 ** Math.floor(r() * 8 - 4));
    v.set([0, -0, Infinity, -Infinity, 1e-45, -1e-45, 3.4e38], 100);
    const { sorted, perm } = radixSortF32(v, true);
    expect(Array.from(sorted)).toEqual(Array.from(v.slice().sort()));
    expect(Array.from(perm!, (i) => v[i])).toEqual(Array.from(sorted));
  });
});

describe('pixelMetrics', () => {
  it('gives both figures at once, NaN when undefined; float64 maps are sorted exactly', () => {
    const { maps, masks } = randomCase(31, 4, 19, 13);
    const m64 = maps.map((m) => grid(m.width, m.height, Array.from(m.data, (x) => x + 1e-12)));
    expect(pixelMetrics(m64, masks)).toEqual({ pixelAuroc: pixelAuroc(maps, masks), aupro: aupro(maps, masks) });
    expect(pixelMetrics([[1, 2]], [grid(2, 1, [0, 0])])).toEqual({ pixelAuroc: NaN, aupro: NaN });
  });
});

describe('resizeMask', () => {
  it('area-averages when shrinking and interpolates when enlarging, binarised at 0.5', () => {
    // prettier-ignore
    const m = [
      1, 1, 0, 0,
      1, 0, 0, 0,
      0, 0, 0, 1,
      0, 0, 1, 1,
    ];
    expect(Array.from(resizeMask(m, 4, 4, 2, 2))).toEqual([1, 0, 0, 1]);
    expect(Array.from(resizeMask(m, 4, 4, 4, 4))).toEqual(m);
    expect(Array.from(resizeMask([1, 0], 2, 1, 4, 1))).toEqual([1, 1, 0, 0]);
    expect(Array.from(resizeMask([0, 1, 0], 3, 1, 2, 1))).toEqual([0, 0]); // 1/3 coverage each side
    expect(() => resizeMask([1], 2, 2, 1, 1)).toThrow(/resizeMask: mask has 1 values, expected 2×2/);
  });
});

import { describe, expect, it } from 'vitest';
import { evaluateDetections, SCORE_RULES, type Detection } from '../../src/eval/report.js';
import { topkMean } from '../../src/eval/metrics.js';

function detection(label: 0 | 1, map: number[], defect = label ? 'spot' : 'good'): Detection {
  const size = Math.sqrt(map.length);
  const mask = new Uint8Array(map.length);
  if (label) mask[0] = 1;
  return { defect, label, score: Math.max(...map), map: Float32Array.from(map), size, mask, maskWidth: size, maskHeight: size };
}

describe('topkMean', () => {
  it('is the maximum for fraction 0 and the mean of the k largest otherwise', () => {
    const m = Float32Array.from([3, -1, 7, 2, 5, 0, 1, 4, 6, 9]);
    expect(topkMean(m, 0)).toBe(9);
    expect(topkMean(m, 0.3)).toBeCloseTo((9 + 7 + 6) / 3, 6);
    expect(topkMean(m, 0.01)).toBe(9); // k is at least 1
    expect(topkMean(m, 1)).toBeCloseTo(36 / 10, 6);
  });

  it('equals the mean of the k largest of a full sort, summed in the same order, on awkward maps', () => {
    const bySort = (map: Float32Array, fraction: number) => {
      const k = Math.max(1, Math.round(map.length * fraction));
      const sorted = Float32Array.from(map).sort();
      let s = 0;
      for (let i = sorted.length - k; i < sorted.length; i++) s += sorted[i];
      return s / k;
    };
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const maps: Float32Array[] = [
      Float32Array.from({ length: 65536 }, () => rand() * 10 - 3),
      Float32Array.from({ length: 4099 }, () => Math.floor(rand() * 5)), // many ties
      new Float32Array(1000).fill(2.5), // constant
      Float32Array.from({ length: 3001 }, (_, i) => i), // sorted
      Float32Array.from({ length: 3001 }, (_, i) => -i), // reversed
      Float32Array.from({ length: 2, }, (_, i) => i),
      Float32Array.from({ length: 999 }, (_, i) => (i % 2 ? Infinity : -Infinity)),
      // The sampled threshold misled: the largest values only where the sample does not look (every
      // 16th of 65536 is sampled), or only where it does (fewer than k reach its threshold).
      Float32Array.from({ length: 65536 }, (_, i) => (i % 16 === 7 ? 50 + rand() : rand())),
      Float32Array.from({ length: 65536 }, (_, i) => (i % 16 === 0 ? 50 + rand() : rand())),
    ];
    for (const map of maps) {
      for (const f of [0.001, 0.01, 0.05, 0.3, 0.5, 0.999, 1]) expect(topkMean(map, f)).toBe(bySort(map, f));
    }
  });

  it('is NaN when the map holds NaN', () => {
    const m = Float32Array.from([1, 2, NaN, 4, 5, 6, 7, 8, 9, 10]);
    expect(topkMean(m, 0)).toBeNaN();
    expect(topkMean(m, 0.3)).toBeNaN();
  });
});

describe('evaluateDetections', () => {
  it('reports image AUROC under every score rule, computed from the maps', () => {
    // 100-pixel maps. The anomalous images have one hot pixel (wins for max) but a cold bulk; the
    // good images have a flat, warm bulk: max separates perfectly, the top-5 % mean inverts.
    const hot = (peak: number) => [peak, ...Array<number>(99).fill(0)];
    const flat = (v: number) => Array<number>(100).fill(v);
    const ds = [detection(1, hot(10)), detection(1, hot(9)), detection(0, flat(1)), detection(0, flat(2))];
    const r = evaluateDetections(ds, { threshold: 5, msPerImage: 1 });
    expect(Object.keys(r.imageAUROCByScore)).toEqual(Object.keys(SCORE_RULES));
    expect(r.imageAUROCByScore.max).toBe(1);
    expect(r.imageAUROC).toBe(1); // the stored score is the max here
    // top 1 % of 100 pixels is one pixel: the max again.
    expect(r.imageAUROCByScore['top1%']).toBe(1);
    // top 5 %: anomalous (10/5 = 2, 9/5 = 1.8) vs good (1, 2) → pairs: (2>1, 2=2 → ½, 1.8>1, 1.8<2) = 2.5/4.
    expect(r.imageAUROCByScore['top5%']).toBeCloseTo(2.5 / 4, 12);
    expect(r.accuracy).toBe(1);
  });

  it('gives NaN for every rule when one class is missing', () => {
    const r = evaluateDetections([detection(1, [1, 0, 0, 0]), detection(1, [2, 0, 0, 0])], { threshold: 0, msPerImage: 1 });
    expect(Number.isNaN(r.imageAUROC)).toBe(true);
    for (const v of Object.values(r.imageAUROCByScore)) expect(Number.isNaN(v)).toBe(true);
  });
});

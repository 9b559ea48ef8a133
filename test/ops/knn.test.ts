// Nearest-neighbour distances and the greedy coreset (src/ops/knn.ts) against float64 CPU
// references, on odd sizes: single points and banks of one row, primes, banks split over several
// chunks, grids that do not fill a workgroup. Forward only: neither op has a gradient (frozen data).
import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { greedyCoreset, knnRef, nearestDistance } from '../../src/ops/knn.js';
import { tensor } from '../../src/tensor/tensor.js';
import { expectClose, randn, useGpu } from '../helpers.js';

useGpu();

describe('nearestDistance', () => {
  // |q|² + |b|² − 2 q·b in f32 cancels: the error is a few ulps of the squared norms, not of the
  // (possibly tiny) distance. atol 4e-7 · (|q|² + |b|²)-scale (D · 1 for values in [-1, 1]) covers
  // it with margin (measured below 1e-6 at D = 131).
  const cases: Array<[number, number, number, number]> = [
    [1, 1, 1, 1],
    [1, 3, 7, 1],
    [2, 5, 13, 11],
    [3, 17, 31, 97],
    [1, 131, 64, 257],
  ];
  for (const [n, d, p, k] of cases) {
    it(`x [${n}, ${d}, ${p}] against a bank of ${k}`, async () => {
      const x = randn(n * d * p, 1 + d);
      const bank = randn(k * d, 2 + k);
      const ref = knnRef.nearestSqDist(x, [n, d, p], bank, k);
      const sq = await nearestDistance(tensor(x, [n, d, p]), tensor(bank, [k, d]), { squared: true }).read();
      expectClose(sq, ref, { atol: 4e-7 * d, rtol: 1e-5 }, `knn ${n}x${d}x${p} k=${k}`);
      // Distances: the root of the same sums, in every chunk layout.
      for (const chunk of [undefined, Math.max(1, k >> 1)]) {
        const dist = await nearestDistance(tensor(x, [n, d, p]), tensor(bank, [k, d]), { chunk }).read();
        expectClose(dist, ref.map(Math.sqrt), { atol: Math.sqrt(4e-7 * d), rtol: 1e-5 }, `distance, chunk ${chunk}`);
      }
    });
  }

  it('a query that is a bank row is at distance 0 (never negative), and chunks agree with one pass', async () => {
    const d = 9;
    const p = 5;
    const x = randn(d * p, 3);
    // The bank holds query 2 itself among other rows.
    const rows = Array.from({ length: 6 }, (_, r) => (r === 4 ? Array.from({ length: d }, (_, f) => x[f * p + 2]) : Array.from(randn(d, 40 + r))));
    const got = await nearestDistance(tensor(x, [1, d, p]), tensor(rows.flat(), [6, d]), { squared: true }).read();
    expect(got[2]).toBeGreaterThanOrEqual(0);
    expect(got[2]).toBeLessThan(1e-5);
    for (const chunk of [1, 4]) {
      const chunked = await nearestDistance(tensor(x, [1, d, p]), tensor(rows.flat(), [6, d]), { chunk, squared: true }).read();
      expect(Array.from(chunked), `chunk ${chunk}`).toEqual(Array.from(got));
    }
  });

  it('names what is wrong', () => {
    expect(() => nearestDistance(tensor([1, 2], [1, 2]), tensor([1, 2], [1, 2]))).toThrow(/nearestDistance: points must have rank 3, got shape \[1, 2\]/);
    expect(() => nearestDistance(tensor(new Float32Array(6), [1, 3, 2]), tensor([1, 2], [1, 2]))).toThrow(/bank \[1, 2\] has 2 features per row, the points \[1, 3, 2\] have 3/);
  });
});

describe('greedyCoreset', () => {
  // Integer coordinates keep every squared distance exact in f32, so the GPU must pick exactly the
  // reference's points, ties (lowest index first) included.
  const ints = (n: number, seed: number, span = 8) => Float32Array.from(randn(n, seed), (v) => Math.round(v * span));
  const cases: Array<[number, number, number, number, number]> = [
    // [N, D, P, count, start]
    [1, 1, 1, 1, 0],
    [1, 2, 5, 5, 3],
    [2, 3, 7, 9, 0],
    [3, 16, 97, 40, 11],
    [2, 5, 300, 17, 599], // 600 points: three workgroups of 256
  ];
  for (const [n, d, p, count, start] of cases) {
    it(`[${n}, ${d}, ${p}] picks ${count} from point ${start} like the reference`, async () => {
      const z = ints(n * d * p, n * 100 + d + p);
      const got = await greedyCoreset(tensor(z, [n, d, p]), count, start);
      expect(Array.from(got)).toEqual(Array.from(knnRef.greedyCoreset(z, [n, d, p], count, start)));
      expect(new Set(got).size).toBe(Math.min(count, n * p));
    });
  }

  it('ties go to the lowest index; a count above the number of points is capped', async () => {
    // Four points on a line at 0, 2, 4, 2: from point 0 the farthest is 2 (4 away); then points 1
    // and 3 tie at distance 2 from both picks: 1 wins.
    const z = [0, 2, 4, 2];
    const got = await greedyCoreset(tensor(z, [1, 1, 4]), 10, 0);
    expect(Array.from(got.slice(0, 3))).toEqual([0, 2, 1]);
    expect(got.length).toBe(4);
  });

  it('names what is wrong', async () => {
    await expect(greedyCoreset(tensor([1, 2], [1, 1, 2]), 0)).rejects.toThrow(/greedyCoreset: count must be an integer >= 1, got 0/);
    await expect(greedyCoreset(tensor([1, 2], [1, 1, 2]), 1, 2)).rejects.toThrow(/start 2 is not a point index in \[0, 2\)/);
  });
});

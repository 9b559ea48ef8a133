import { describe, expect, it } from 'vitest';
import { max, mean, reduceRef, sum } from '../../src/ops/index.js';
import { tensor } from '../../src/tensor/tensor.js';
import { blockInner, reducePlan } from '../../src/ops/reduce.js';
import { expectClose, gradCheck, numel, randn, sweepVariants, useGpu } from '../helpers.js';

useGpu();

// Tolerance: sums accumulate in f32 in a different order than the f64 reference:
// atol 1e-5 * sqrt(n) covers it for inputs in [-1, 1]; max is exact.
const cases: Array<[number[], number[] | undefined]> = [
  [[1], undefined],
  [[1031], undefined],
  [[70_001], undefined], // split over 68 workgroups + a combining pass
  [[3, 40_003], [1]], // few outputs, each split (39 chunks of 1026)
  [[5, 3000, 3], [1]], // strided reduced axis, 2 chunks per output
  [[7, 13], [1]],
  [[7, 13], [0]],
  [[2, 3, 5, 7], [0, 2, 3]],
  [[2, 3, 67, 5], [2]],
  [[3, 65, 2], [0, 2]],
  [[4, 1, 3], [1]],
];

describe('sum / mean / max', () => {
  for (const [shape, axes] of cases) {
    it(`shape ${JSON.stringify(shape)} over ${JSON.stringify(axes ?? 'all')}`, async () => {
      const x = randn(numel(shape), numel(shape));
      const t = tensor(x, shape);
      const n = numel(shape);
      for (const [kind, f] of [['sum', sum], ['mean', mean], ['max', max]] as const) {
        const y = f(t, axes);
        const ref = reduceRef(kind, x, shape, axes);
        expect(y.size).toBe(ref.length);
        expectClose(await y.read(), ref, { atol: kind === 'max' ? 0 : 1e-5 * Math.sqrt(n), rtol: 1e-5 }, kind);
        y.dispose();
      }
      t.dispose();
    });
  }

  it('every kernel variant (each candidate of splitTarget, wide and narrow shapes) matches the reference, and runs as planned', async () => {
    const specs: Array<[number[], number[]]> = [[[70_001], [0]], [[3, 40_003], [1]], [[7, 13], [1]], [[1, 96, 8, 8], [2, 3]]];
    const reached = await sweepVariants('reduce', specs.map(([shape, axes]) => ({
      name: `${JSON.stringify(shape)} over ${JSON.stringify(axes)}`,
      record: () => {
        const x = randn(numel(shape), 3);
        const t = tensor(x, shape);
        const y = sum(t, axes);
        return async () => {
          expectClose(await y.read(), reduceRef('sum', x, shape, axes), { atol: 1e-5 * Math.sqrt(numel(shape)), rtol: 1e-5 }, 'sum');
          t.dispose();
          y.dispose();
        };
      },
      planned: () => {
        const p = reducePlan(shape, axes);
        return [`reduce.${p.entry}`, ...(p.splits > 1 ? ['reduce.fwd_narrow'] : [])];
      },
    })));
    expect(reached).toEqual(['reduce.fwd_narrow', 'reduce.fwd_wide']);
  });

  it('keepDims keeps reduced axes as size 1', () => {
    const t = tensor(randn(30), [2, 3, 5]);
    const y = sum(t, [1], { keepDims: true });
    const z = mean(t, -1);
    expect(y.shape).toEqual([2, 1, 5]);
    expect(z.shape).toEqual([2, 3]);
    for (const v of [t, y, z]) v.dispose();
  });

  it('gradients', async () => {
    for (const [kind, f] of [['sum', sum], ['mean', mean], ['max', max]] as const) {
      await gradCheck({
        inputs: [{ shape: [3, 4, 5] }],
        gpu: ([a]) => f(a, [0, 2]),
        ref: ([a]) => reduceRef(kind, a, [3, 4, 5], [0, 2]),
      });
    }
  });

  it('blockInner finds one contiguous reduced block (size-1 axes ignored), else null', () => {
    expect(blockInner([2, 3, 67, 5], [2])).toBe(5);
    expect(blockInner([1, 96, 64, 64], [2, 3])).toBe(1);
    expect(blockInner([1, 96, 64, 64], [1])).toBe(4096);
    expect(blockInner([2, 1, 5, 7], [0, 1, 2])).toBe(7); // the size-1 axis joins the block
    expect(blockInner([4, 1, 3], [1])).toBe(1); // only size-1 axes reduced
    expect(blockInner([2, 3, 5, 7], [0, 2, 3])).toBeNull();
    expect(blockInner([3, 65, 2], [0, 2])).toBeNull();
  });

  it('rejects an out-of-range axis', () => {
    const t = tensor(randn(6), [2, 3]);
    expect(() => sum(t, 2)).toThrow(/sum: axis 2 is out of range for shape \[2, 3\]/);
    t.dispose();
  });
});

describe('empty reductions', () => {
  it('sum over an empty axis is 0; mean and max refuse', async () => {
    const t = tensor([], [3, 0]);
    const s = sum(t, 1);
    expect(Array.from(await s.read())).toEqual([0, 0, 0]);
    expect(() => mean(t, 1)).toThrow(/mean: cannot reduce over an empty axis of shape \[3, 0\]/);
    expect(() => max(t, 1)).toThrow(/max: cannot reduce over an empty axis/);
    s.dispose();
    t.dispose();
  });
});

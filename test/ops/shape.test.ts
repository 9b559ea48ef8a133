import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { flatten, reshape, shapeRef } from '../../src/ops/shape.js';
import { add, mul, sum } from '../../src/ops/index.js';
import { backward, parameter, tapeLength } from '../../src/autograd/tape.js';
import { runtime } from '../../src/gpu/runtime.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { expectClose, gradCheck, randn, useGpu } from '../helpers.js';

useGpu();

// Tolerance: views move no data, so values are exact (atol 0); gradients use gradCheck's default.
const EXACT = { atol: 0, rtol: 0 };

describe('reshape / flatten', () => {
  it('reshape is a zero-copy view with -1 inference', async () => {
    const data = randn(120, 3);
    const x = tensor(data, [2, 3, 4, 5]);
    const y = reshape(x, [6, -1]);
    expect(y.shape).toEqual([6, 20]);
    expect(y.bufferFor('test')).toBe(x.bufferFor('test'));
    expectClose(await y.read(), shapeRef(data), EXACT, 'reshape');
    const z = reshape(x, [120]);
    expect(z.shape).toEqual([120]);
    const e = reshape(tensor([], [0, 3]), [-1, 3]);
    expect(e.shape).toEqual([0, 3]);
    for (const t of [x, y, z, e]) t.dispose();
  });

  it('flatten merges an axis range', async () => {
    const data = randn(120, 4);
    const x = tensor(data, [2, 3, 4, 5]);
    const cases: Array<[number, number | undefined, number[]]> = [
      [1, undefined, [2, 60]],
      [0, undefined, [120]],
      [1, 2, [2, 12, 5]],
      [-2, undefined, [2, 3, 20]],
      [3, 3, [2, 3, 4, 5]],
    ];
    for (const [s, e, want] of cases) {
      const y = flatten(x, s, e);
      expect(y.shape).toEqual(want);
      expectClose(await y.read(), shapeRef(data), EXACT, `flatten(${s}, ${e})`);
      y.dispose();
    }
    const s = tensor([7], []);
    const f = flatten(s, 0);
    expect(f.shape).toEqual([1]);
    for (const t of [x, s, f]) t.dispose();
  });

  it('gradients (finite differences), including two views of one input', async () => {
    await gradCheck({ inputs: [{ shape: [2, 3, 4] }], gpu: ([a]) => reshape(a, [4, -1]), ref: ([a]) => shapeRef(a) });
    await gradCheck({ inputs: [{ shape: [2, 3, 4] }], gpu: ([a]) => flatten(a, 1), ref: ([a]) => shapeRef(a) });
    // Both branches hand back views of their gy; the tape must accumulate them into one gradient.
    await gradCheck({
      inputs: [{ shape: [3, 4] }],
      gpu: ([a]) => add(reshape(a, [12]), flatten(mul(a, a), 0)),
      ref: ([a]) => Float64Array.from(a, (v) => v + v * v),
    });
  });

  it('backward through views frees every temporary and keeps the gradient readable', async () => {
    const rt = runtime();
    const x = parameter(tensor(randn(24, 9), [2, 3, 4]));
    await rt.sync();
    const before = rt.stats().liveBytes;
    scope(() => {
      const y = flatten(reshape(x, [6, 4]), 0);
      backward(sum(mul(y, y)));
    });
    expect(tapeLength()).toBe(0);
    const g = await x.grad!.read();
    const xv = await x.read();
    expectClose(g, Float64Array.from(xv, (v) => 2 * v), { atol: 1e-6, rtol: 1e-6 }, 'grad of sum(x^2)');
    const gradBytes = 256; // the gradient's own (smallest-bucket) buffer is all that remains
    expect(rt.stats().liveBytes - before).toBe(gradBytes);
    x.dispose(); // also disposes x.grad
    expect(rt.stats().liveBytes - before).toBe(-256);
  });

  it('rejects bad shapes and axes', () => {
    const x = tensor(randn(6), [2, 3]);
    expect(() => reshape(x, [4, 2])).toThrow(/reshape: cannot view \[2, 3\] \(6 elements\) as \[4, 2\] \(8 elements\)/);
    expect(() => reshape(x, [-1, -1])).toThrow(/reshape: invalid target shape \[-1, -1\]/);
    expect(() => reshape(x, [4, -1])).toThrow(/reshape: cannot view \[2, 3\] \(6 elements\) as \[4, -1\]: the -1 dimension is not determined/);
    expect(() => reshape(x, [2.5, 2])).toThrow(/reshape: invalid target shape/);
    expect(() => flatten(x, 2)).toThrow(/flatten: axes 2..-1 are out of range for shape \[2, 3\]/);
    expect(() => flatten(x, 1, 0)).toThrow(/flatten: startAxis 1 comes after endAxis 0 for shape \[2, 3\]/);
    x.dispose();
  });
});

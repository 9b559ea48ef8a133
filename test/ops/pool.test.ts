import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { backward, parameter } from '../../src/autograd/tape.js';
import { mul } from '../../src/ops/elementwise.js';
import { avgPool2d, avgPool2dRef, globalAvgPool, globalAvgPoolRef, type AvgPoolOptions } from '../../src/ops/pool.js';
import { sum } from '../../src/ops/reduce.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { expectClose, gradCheck, numel, randn, useGpu } from '../helpers.js';

useGpu();

// Tolerances: an average sums at most a few hundred f32 values in [-1, 1] (global pool: H·W) in a
// different order than the float64 reference, then divides once: atol 1e-6 · sqrt(terms) + 1e-6,
// rtol 1e-5. Gradients are single products gy / count per window overlap: same tolerance.
const tol = (terms: number) => ({ atol: 1e-6 * Math.sqrt(terms) + 1e-6, rtol: 1e-5 });

/** d/dx of sum(avgPool2d(x) · R) in float64: each window spreads R / divisor over its taps. */
function avgPoolGradRef(shape: number[], o: AvgPoolOptions, R: ArrayLike<number>): Float64Array {
  const n = numel(shape);
  const g = new Float64Array(n);
  // The op is linear: g[i] = sum_o R[o] · d out[o] / d x[i], read off the reference with unit inputs.
  const unit = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    unit[i] = 1;
    const y = avgPool2dRef(unit, shape, o);
    let s = 0;
    for (let k = 0; k < y.length; k++) s += y[k] * R[k];
    g[i] = s;
    unit[i] = 0;
  }
  return g;
}

describe('avgPool2d', () => {
  const CASES: Array<[number[], AvgPoolOptions]> = [
    [[2, 3, 8, 8], { kernel: 2 }],
    [[1, 5, 7, 11], { kernel: 3, stride: 1, padding: 1 }],
    [[1, 5, 7, 11], { kernel: 3, stride: 1, padding: 1, countIncludePad: false }],
    [[2, 3, 13, 7], { kernel: [3, 2], stride: [2, 1], padding: [1, 0] }],
    [[1, 1, 17, 19], { kernel: 3, stride: 2, padding: 1, countIncludePad: false }],
    [[1, 2, 1, 1], { kernel: 1 }],
    [[1, 3, 5, 5], { kernel: 5, padding: 2, stride: 3 }],
  ];
  for (const [shape, o] of CASES) {
    it(`x ${JSON.stringify(shape)} ${JSON.stringify(o)}: forward and gradient match the reference`, async () => {
      const xs = randn(numel(shape), numel(shape));
      const x = parameter(tensor(xs, shape));
      const yRef = avgPool2dRef(xs, shape, o);
      const R = randn(yRef.length, 5);
      const y = scope(() => {
        const y = avgPool2d(x, o);
        backward(sum(mul(y, tensor(R, y.shape))));
        return y;
      });
      const [kh, kw] = typeof o.kernel === 'number' ? [o.kernel, o.kernel] : o.kernel;
      expectClose(await y.read(), yRef, tol(kh * kw), 'forward');
      expectClose(await x.grad!.read(), avgPoolGradRef(shape, o, R), tol(kh * kw), 'dx');
      x.dispose();
      y.dispose();
    });
  }

  it('default stride is the kernel; output shape', () => {
    const x = tensor(randn(2 * 3 * 9 * 10), [2, 3, 9, 10]);
    const y = avgPool2d(x, { kernel: 3 });
    const z = avgPool2d(x, { kernel: [2, 3], stride: 1, padding: [1, 1] });
    expect(y.shape).toEqual([2, 3, 3, 3]);
    expect(z.shape).toEqual([2, 3, 10, 10]);
    for (const t of [x, y, z]) t.dispose();
  });

  it('finite-difference gradients', async () => {
    for (const o of [{ kernel: 3, stride: 2, padding: 1 }, { kernel: 3, stride: 2, padding: 1, countIncludePad: false }]) {
      await gradCheck({
        inputs: [{ shape: [1, 2, 5, 6] }],
        gpu: ([x]) => avgPool2d(x, o),
        ref: ([x]) => avgPool2dRef(x, [1, 2, 5, 6], o),
      });
    }
  });

  it('rejects bad options and inputs', () => {
    const x = tensor(randn(2 * 4 * 4), [1, 2, 4, 4]);
    expect(() => avgPool2d(x, { kernel: 0 })).toThrow(/^avgPool2d: kernel must be an integer >= 1 or a pair of them, got 0/);
    expect(() => avgPool2d(x, { kernel: 2, padding: 2 })).toThrow(/^avgPool2d: padding \[2, 2\] must be at most half the kernel \[2, 2\]/);
    expect(() => avgPool2d(x, { kernel: 5 })).toThrow(/^avgPool2d: input \[1, 2, 4, 4\] with padding \[0, 0\] is smaller than the kernel \[5, 5\]/);
    expect(() => avgPool2d(x.reshape([2, 4, 4]), { kernel: 2 })).toThrow(/^avgPool2d: input x must have rank 4, got shape \[2, 4, 4\]/);
    x.dispose();
  });
});

describe('globalAvgPool', () => {
  // [2, 150, 7, 7]: many small planes (one thread per plane); [1, 3, 33, 35]: H·W >= 1024 and
  // [2, 5, 3, 3]: few planes (one workgroup per plane); [1, 1, 1, 1]: a single pixel.
  for (const shape of [[2, 150, 7, 7], [1, 3, 33, 35], [2, 5, 3, 3], [1, 1, 1, 1]]) {
    it(`x ${JSON.stringify(shape)}: forward and gradient match the reference`, async () => {
      const xs = randn(numel(shape), numel(shape) + 1);
      const x = parameter(tensor(xs, shape));
      const R = randn(shape[0] * shape[1], 9);
      const y = scope(() => {
        const y = globalAvgPool(x);
        backward(sum(mul(y, tensor(R, y.shape))));
        return y;
      });
      const hw = shape[2] * shape[3];
      expect(y.shape).toEqual([shape[0], shape[1], 1, 1]);
      expectClose(await y.read(), globalAvgPoolRef(xs, shape), tol(hw), 'forward');
      const gRef = Float64Array.from({ length: numel(shape) }, (_, i) => R[Math.floor(i / hw)] / hw);
      expectClose(await x.grad!.read(), gRef, tol(1), 'dx');
      x.dispose();
      y.dispose();
    });
  }

  it('finite-difference gradient', async () => {
    await gradCheck({
      inputs: [{ shape: [2, 3, 4, 5] }],
      gpu: ([x]) => globalAvgPool(x),
      ref: ([x]) => globalAvgPoolRef(x, [2, 3, 4, 5]),
    });
  });

  it('rejects inputs that are not [N, C, H, W]', () => {
    const x = tensor(randn(12), [3, 4]);
    expect(() => globalAvgPool(x)).toThrow(/^globalAvgPool: input x must have rank 4, got shape \[3, 4\]/);
    x.dispose();
  });
});

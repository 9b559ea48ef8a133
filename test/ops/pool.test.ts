import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { backward, parameter } from '../../src/autograd/tape.js';
import { mul } from '../../src/ops/elementwise.js';
import {
  avgPool2d, avgPool2dRef, globalAvgPool, globalAvgPoolRef, maxPool2d, maxPool2dBackwardRef, maxPool2dRef,
  type AvgPoolOptions, type MaxPoolOptions,
} from '../../src/ops/pool.js';
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

describe('maxPool2d', () => {
  // Tolerance: the forward selects one input value and the backward sums at most
  // ceil(k/s)² gradients per pixel, so both are exact up to a float32 rounding of the
  // reference: atol 1e-6, rtol 1e-6.
  const exact = { atol: 1e-6, rtol: 1e-6 };
  const CASES: Array<[number[], MaxPoolOptions]> = [
    [[1, 64, 20, 20], { kernel: 3, stride: 2, padding: 1 }], // the ResNet stem
    [[2, 3, 8, 8], { kernel: 2 }],
    [[1, 5, 7, 11], { kernel: 3, stride: 1, padding: 1 }],
    [[2, 3, 13, 7], { kernel: [3, 2], stride: [2, 1], padding: [1, 0] }],
    [[1, 1, 17, 19], { kernel: 3, stride: 2, padding: 1 }],
    [[1, 2, 1, 1], { kernel: 1 }],
    [[1, 3, 5, 5], { kernel: 5, padding: 2, stride: 3 }],
    [[1, 2, 67, 5], { kernel: [4, 2], stride: [3, 2], padding: [2, 1] }],
    [[3, 1, 8, 9], { kernel: 2, stride: 3 }], // pixels outside every window get no gradient
  ];
  for (const [shape, o] of CASES) {
    it(`x ${JSON.stringify(shape)} ${JSON.stringify(o)}: forward and gradient match the reference`, async () => {
      const xs = randn(numel(shape), numel(shape) + 3);
      const x = parameter(tensor(xs, shape));
      const yRef = maxPool2dRef(xs, shape, o);
      const R = randn(yRef.length, 11);
      const y = scope(() => {
        const y = maxPool2d(x, o);
        backward(sum(mul(y, tensor(R, y.shape))));
        return y;
      });
      expect(y.shape).toEqual(maxPoolShape(shape, o));
      expectClose(await y.read(), yRef, exact, 'forward');
      expectClose(await x.grad!.read(), maxPool2dBackwardRef(xs, shape, o, R), exact, 'dx');
      x.dispose();
      y.dispose();
    });
  }

  it('ties go to the first maximum in window order (as in PyTorch); -inf and NaN inputs', async () => {
    // Values from {0, 1, 2}: most windows hold several maxima; overlapping windows (stride 1, 2).
    const shape = [1, 2, 9, 10];
    const r = randn(numel(shape), 77, 0, 3);
    const xs = Float32Array.from(r, (v) => Math.floor(v));
    for (const o of [{ kernel: 3, stride: 1, padding: 1 }, { kernel: 3, stride: 2, padding: 1 }, { kernel: 2 }] as MaxPoolOptions[]) {
      const x = parameter(tensor(xs, shape));
      const R = randn(numel(maxPoolShape(shape, o)), 5);
      scope(() => backward(sum(mul(maxPool2d(x, o), tensor(R, maxPoolShape(shape, o))))));
      expectClose(await x.grad!.read(), maxPool2dBackwardRef(xs, shape, o, R), exact, `dx with ties ${JSON.stringify(o)}`);
      x.dispose();
    }
    // An all -inf window gives -inf; a NaN in a window gives NaN (PyTorch propagates NaN).
    const special = Float32Array.from([-Infinity, -Infinity, -Infinity, -Infinity, 1, NaN, 0, 2, 3]);
    const s = tensor(special, [1, 1, 3, 3]);
    const y = maxPool2d(s, { kernel: 2, stride: 1 });
    const got = Array.from(await y.read());
    expect(got[0]).toBe(1); // window {-inf, -inf, -inf, 1}
    expect(Number.isNaN(got[1]), `window with a NaN gives ${got[1]}`).toBe(true);
    expect(got[2]).toBe(2);
    expect(Number.isNaN(got[3]), 'a NaN stays the maximum').toBe(true);
    const z = maxPool2d(tensor(Float32Array.from([-Infinity, -Infinity, -Infinity, -Infinity]), [1, 1, 2, 2]), { kernel: 2 });
    expect(Array.from(await z.read())).toEqual([-Infinity]);
    for (const t of [s, y, z]) t.dispose();
  });

  it('finite-difference gradients', async () => {
    for (const o of [{ kernel: 3, stride: 2, padding: 1 }, { kernel: [2, 3], stride: 1 }] as MaxPoolOptions[]) {
      await gradCheck({
        inputs: [{ shape: [1, 2, 5, 7] }],
        gpu: ([x]) => maxPool2d(x, o),
        ref: ([x]) => maxPool2dRef(x, [1, 2, 5, 7], o),
        fwdTol: exact,
      });
    }
  });

  it('without gradients no arg-max is stored; inference output matches', async () => {
    const xs = randn(2 * 3 * 11 * 13, 4);
    const x = tensor(xs, [2, 3, 11, 13]);
    const o = { kernel: 3, stride: 2, padding: 1 };
    const y = maxPool2d(x, o);
    expectClose(await y.read(), maxPool2dRef(xs, [2, 3, 11, 13], o), exact, 'forward');
    x.dispose();
    y.dispose();
  });

  it('rejects bad options and inputs', () => {
    const x = tensor(randn(2 * 4 * 4), [1, 2, 4, 4]);
    expect(() => maxPool2d(x, { kernel: 0 })).toThrow(/^maxPool2d: kernel must be an integer >= 1 or a pair of them, got 0/);
    expect(() => maxPool2d(x, { kernel: 3, stride: [1, 0] })).toThrow(/^maxPool2d: stride must be an integer >= 1 or a pair of them, got \[1,0\]/);
    expect(() => maxPool2d(x, { kernel: 3, padding: 2 })).toThrow(/^maxPool2d: padding \[2, 2\] must be at most half the kernel \[3, 3\]/);
    expect(() => maxPool2d(x, { kernel: 5 })).toThrow(/^maxPool2d: input \[1, 2, 4, 4\] with padding \[0, 0\] is smaller than the kernel \[5, 5\]/);
    expect(() => maxPool2d(x.reshape([2, 4, 4]), { kernel: 2 })).toThrow(/^maxPool2d: input x must have rank 4, got shape \[2, 4, 4\]/);
    expect(() => maxPool2d(x, {} as MaxPoolOptions)).toThrow(/^maxPool2d: options.kernel is required/);
    x.dispose();
  });
});

function maxPoolShape(shape: number[], o: MaxPoolOptions): number[] {
  const [kh, kw] = typeof o.kernel === 'number' ? [o.kernel, o.kernel] : o.kernel;
  const [sh, sw] = o.stride === undefined ? [kh, kw] : typeof o.stride === 'number' ? [o.stride, o.stride] : o.stride;
  const [ph, pw] = o.padding === undefined ? [0, 0] : typeof o.padding === 'number' ? [o.padding, o.padding] : o.padding;
  return [shape[0], shape[1], Math.floor((shape[2] + 2 * ph - kh) / sh) + 1, Math.floor((shape[3] + 2 * pw - kw) / sw) + 1];
}

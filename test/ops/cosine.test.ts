import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { cosinePlan, cosineRef, cosineSimilarity, cosineSimilarityBackward } from '../../src/ops/cosine.js';
import { backward, parameter, tapeLength } from '../../src/autograd/tape.js';
import { runtime } from '../../src/gpu/runtime.js';
import { mul } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/reduce.js';
import { scope, tensor, type Tensor } from '../../src/tensor/tensor.js';
import { expectClose, gradCheck, numel, randn, sweepVariants, useGpu, withTuning } from '../helpers.js';

useGpu();

// Tolerances: three f32 dot products over C channels (sequential per thread), then two sqrt and a
// division: error ~ ulps * sqrt(C) relative to |a||b| (measured max 1.8e-7 at C = 96, 8e-8 at
// C = 2048), so forward atol 3e-7 * max(1, sqrt(C) / 8), rtol 1e-6 (cos is in [-1, 1]). Backward
// values scale like max|a, b| / (|a||b|): each position is divided by that scale before comparing
// with atol 1e-6 * max(1, sqrt(C) / 8), rtol 1e-5.
const fwdTol = (c: number) => ({ atol: 3e-7 * Math.max(1, Math.sqrt(c) / 8), rtol: 1e-6 });
const bwdTol = (c: number) => ({ atol: 1e-6 * Math.max(1, Math.sqrt(c) / 8), rtol: 1e-5 });

/** Per-element scale max|a|,|b| / (|a||b|) of the gradient at that element's position. */
function gradScale(a: ArrayLike<number>, b: ArrayLike<number>, shape: number[]): Float64Array {
  const [n, c] = shape;
  const hw = numel(shape.slice(2));
  const s = new Float64Array(a.length);
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < hw; q++) {
      let aa = 0;
      let bb = 0;
      let m = 0;
      for (let k = 0; k < c; k++) {
        const o = (i * c + k) * hw + q;
        aa += a[o] ** 2;
        bb += b[o] ** 2;
        m = Math.max(m, Math.abs(a[o]), Math.abs(b[o]));
      }
      const v = m / (Math.max(Math.sqrt(aa), 1e-8) * Math.max(Math.sqrt(bb), 1e-8));
      for (let k = 0; k < c; k++) s[(i * c + k) * hw + q] = Math.max(v, 1e-30);
    }
  }
  return s;
}

async function check(shape: number[], a: Float32Array, b: Float32Array, seed = 1): Promise<void> {
  const c = shape[1];
  const hw = numel(shape.slice(2));
  const label = JSON.stringify(shape);
  const ta = tensor(a, shape);
  const tb = tensor(b, shape);
  const y = cosineSimilarity(ta, tb);
  expect(y.shape).toEqual([shape[0], 1, ...shape.slice(2)]);
  expectClose(await y.read(), cosineRef.forward(a, b, shape), fwdTol(c), `forward ${label}`);
  y.dispose();
  if (a.length === 0) {
    // (The core `sum` refuses empty tensors, so no loss to back-propagate: call the backward directly.)
    const [gy0, st0] = [tensor([], y.shape), tensor([], [0, 3, hw])];
    const grads = cosineSimilarityBackward(gy0, parameter(ta), parameter(tb), st0);
    expect(grads.map((t) => t?.shape)).toEqual([shape, shape]);
    for (const t of [ta, tb, gy0, st0, ...(grads as Tensor[])]) t.dispose();
    return;
  }
  // Backward through the tape (saves the coefficients, frees them after use).
  const gy = randn(shape[0] * hw, seed + 7);
  const [pa, pb] = [parameter(ta), parameter(tb)];
  scope(() => backward(sum(mul(cosineSimilarity(pa, pb), tensor(gy, [shape[0], 1, ...shape.slice(2)])))));
  const ref = cosineRef.backward(gy, a, b, shape);
  const s = gradScale(a, b, shape);
  const scaled = (v: ArrayLike<number>) => Float64Array.from(v, (x, i) => x / s[i]);
  expectClose(scaled(await pa.grad!.read()), scaled(ref.ga), bwdTol(c), `ga ${label}`);
  expectClose(scaled(await pb.grad!.read()), scaled(ref.gb), bwdTol(c), `gb ${label}`);
  pa.dispose();
  pb.dispose();
}

// C = 1, prime C, H*W = 1, primes, vec4 positions, rank 2 and 3, the 64x64x96 feature map.
const SHAPES = [
  [0, 3, 4, 4],
  [1, 1, 1, 1],
  [2, 1, 5, 5],
  [3, 7, 1, 1],
  [2, 13, 7, 11],
  [2, 17, 8, 8],
  [5, 33],
  [2, 3, 50],
  [3, 131, 4, 3],
  [1, 96, 64, 64],
  [2, 512, 8, 8],
];

describe('cosineSimilarity', () => {
  for (const shape of SHAPES) {
    it(`forward and backward match the reference, shape ${JSON.stringify(shape)}`, async () => {
      const n = numel(shape);
      await check(shape, randn(n, 1), randn(n, 2));
    });
  }

  it('correlated, anti-correlated, scaled and tiny vectors', async () => {
    const shape = [2, 24, 4, 5];
    const n = numel(shape);
    const a = randn(n, 3);
    const noise = randn(n, 4);
    await check(shape, a, a.map((v, i) => 3 * v + 0.01 * noise[i])); // cos ~ 1
    await check(shape, a, a.map((v, i) => -v + 0.01 * noise[i])); // cos ~ -1
    await check(shape, a.map((v) => v * 1e3), noise.map((v) => v * 1e-3));
    // Norms below eps: the clamp applies (PyTorch gives the same finite values).
    await check(shape, a.map((v) => v * 1e-10), noise.map((v) => v * 1e-10));
  });

  it('a zero vector gives 0 and PyTorch gradients', async () => {
    const shape = [1, 6, 2, 2];
    const a = randn(24, 5);
    const b = randn(24, 6);
    for (let k = 0; k < 6; k++) a[k * 4 + 1] = 0; // position 1 of a is the zero vector
    for (let k = 0; k < 6; k++) b[k * 4 + 2] = 0; // position 2 of b too
    const ta = tensor(a, shape);
    const tb = tensor(b, shape);
    const y = await cosineSimilarity(ta, tb).read();
    expect(y[1]).toBe(0);
    expect(y[2]).toBe(0);
    for (const t of [ta, tb]) t.dispose();
    await check(shape, a, b);
  });

  it('every kernel variant (each candidate of every cosine knob) agrees with the reference, and runs as planned', async () => {
    const record = (shape: number[]) => () => {
      const n = numel(shape);
      const [a, b, gy] = [randn(n, 8), randn(n, 9), randn(n / shape[1], 10)];
      const [pa, pb] = [parameter(tensor(a, shape)), parameter(tensor(b, shape))];
      const y = scope(() => {
        const y = cosineSimilarity(pa, pb);
        backward(sum(mul(y, tensor(gy, y.shape))));
        return y;
      });
      return async () => {
        const ref = cosineRef.backward(gy, a, b, shape);
        const s = gradScale(a, b, shape);
        const scaled = (v: ArrayLike<number>) => Float64Array.from(v, (x, i) => x / s[i]);
        expectClose(await y.read(), cosineRef.forward(a, b, shape), fwdTol(shape[1]), 'forward');
        expectClose(scaled(await pa.grad!.read()), scaled(ref.ga), bwdTol(shape[1]), 'ga');
        expectClose(scaled(await pb.grad!.read()), scaled(ref.gb), bwdTol(shape[1]), 'gb');
        for (const t of [pa, pb, y]) t.dispose();
      };
    };
    const shapes = [[2, 5, 4, 4], [1, 3, 3, 3], [2, 9, 2, 6]];
    const reached = await sweepVariants(
      'cosine',
      shapes.map((shape) => ({
        name: JSON.stringify(shape),
        record: record(shape),
        planned: () => {
          const { suffix } = cosinePlan({ n: shape[0], c: shape[1], hw: numel(shape.slice(2)) });
          return [`cosine.fwd${suffix}`, `cosine.bwd${suffix}`];
        },
      })),
      { extra: [{ cosine: { vec4: false, wg: 7 } }] },
    );
    expect(reached).toEqual(['cosine.bwd', 'cosine.bwd_v4', 'cosine.fwd', 'cosine.fwd_v4']);
    const shape = [2, 3, 33_000, 4]; // 66000 vec4 threads: > 65535 workgroups
    await withTuning({ cosine: { vec4: true, wg: 1 } }, () => check(shape, randn(numel(shape), 10), randn(numel(shape), 11)));
  });

  it('releases the saved coefficients after backward and with the scope', async () => {
    const shape = [2, 8, 4, 4];
    // Live pool bytes once recorded work is submitted (uniform chunks are released on flush).
    const live = async () => (await runtime().sync(), runtime().stats().liveBytes);
    const before = await live();
    const a = parameter(tensor(randn(numel(shape), 12), shape));
    const b = parameter(tensor(randn(numel(shape), 13), shape));
    scope(() => backward(sum(cosineSimilarity(a, b))));
    scope(() => void cosineSimilarity(a, b)); // recorded, never back-propagated
    expect(tapeLength()).toBe(0);
    a.dispose();
    b.dispose();
    expect(await live()).toBe(before);
  });

  it('backward returns null without grad and new tensors otherwise', async () => {
    const shape = [2, 3, 4];
    const [a, b, gy, st] = [randn(24, 1), randn(24, 2), randn(8, 3), randn(24, 4)];
    const [ta, tb, tgy, tst] = [tensor(a, shape), tensor(b, shape), tensor(gy, [2, 1, 4]), tensor(st, [2, 3, 4])];
    expect(cosineSimilarityBackward(tgy, ta, tb, tst)).toEqual([null, null]);
    tb.requiresGrad = true;
    const [ga, gb] = cosineSimilarityBackward(tgy, ta, tb, tst);
    expect(ga).toBeNull();
    expect(gb).not.toBeNull();
    for (const t of [ta, tb, tgy, tst, gb as Tensor]) t.dispose();
  });

  it('gradients (finite differences)', async () => {
    for (const shape of [[2, 5, 3, 4], [2, 3, 5], [1, 1, 3]]) {
      await gradCheck({
        inputs: [{ shape }, { shape }],
        gpu: ([a, b]) => cosineSimilarity(a, b),
        ref: ([a, b]) => cosineRef.forward(a, b, shape),
        fwdTol: { atol: 1e-6, rtol: 1e-5 },
      });
    }
    await gradCheck({
      inputs: [{ shape: [3, 4, 2] }, { shape: [3, 4, 2], constant: true }],
      gpu: ([a, b]) => cosineSimilarity(a, b, 1e-3),
      ref: ([a, b]) => cosineRef.forward(a, b, [3, 4, 2], 1e-3),
    });
  });

  it('rejects bad shapes and options', () => {
    const a = tensor(randn(24), [2, 3, 4]);
    const b = tensor(randn(24), [2, 4, 3]);
    const c = tensor(randn(24), [24]);
    expect(() => cosineSimilarity(a, b)).toThrow(/^cosineSimilarity: b has shape \[2, 4, 3\], expected \[2, 3, 4\]/);
    expect(() => cosineSimilarity(c, c)).toThrow(/^cosineSimilarity: a has shape \[24\], expected rank >= 2/);
    expect(() => cosineSimilarity(a, a, Number.NaN)).toThrow(/^cosineSimilarity: eps must be a finite number >= 0, got NaN/);
    for (const t of [a, b, c]) t.dispose();
  });
});

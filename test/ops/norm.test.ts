import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { instanceNorm, modulate, normBackward, normPlan, normRef } from '../../src/ops/norm.js';
import { backward, parameter, tapeLength } from '../../src/autograd/tape.js';
import { runtime } from '../../src/gpu/runtime.js';
import { scope, tensor, type Tensor } from '../../src/tensor/tensor.js';
import { sum } from '../../src/ops/reduce.js';
import { mul } from '../../src/ops/elementwise.js';
import { expectClose, expectClose as expectCloseRaw, gradCheck, numel, randn, rng, sweepVariants, useGpu, withTuning } from '../helpers.js';

useGpu();

// Tolerances: statistics are f32 sums over H*W (strided per-thread partials + a tree), so the
// output error grows ~sqrt(H*W) ulps: forward atol 2e-6 * max(1, sqrt(hw) / 4), rtol 1e-5;
// backward (two more reductions, values ~ rstd * |gy|) atol 1e-5 * max(1, sqrt(hw) / 4), rtol 1e-4.
// Both are applied after dividing each row by its conditioning max(1, max|x| * rstd / 4): x - mean
// in f32 loses ulp(max|x|) * rstd however it is computed (a short row with a tiny spread).
const fwdTol = (hw: number) => ({ atol: 2e-6 * Math.max(1, Math.sqrt(hw) / 4), rtol: 1e-5 });
const bwdTol = (hw: number) => ({ atol: 1e-5 * Math.max(1, Math.sqrt(hw) / 4), rtol: 1e-4 });

/** Non-constant channels with per-row offsets and scales (tests the two-pass variance). */
function features(shape: number[], seed: number): Float32Array {
  const hw = numel(shape.slice(2));
  const u = randn(numel(shape), seed);
  const r = rng(seed + 5);
  for (let row = 0; row < shape[0] * shape[1]; row++) {
    const off = 6 * r() - 3;
    const sc = 0.25 + 2 * r();
    for (let i = row * hw; i < (row + 1) * hw; i++) u[i] = off + sc * u[i];
  }
  return u;
}

// hw = 1, primes, < and > the narrow threshold, non-multiples of 4 / the workgroup, vec4 rows,
// prime C, C = 1, rank 3, the 64x64x96 feature map (more variants, 2-D grids further down).
const SHAPES = [
  [0, 3, 4, 4],
  [1, 1, 1, 1],
  [2, 3, 1, 1],
  [1, 1, 7, 1],
  [2, 5, 37, 1],
  [3, 7, 11, 13],
  [2, 13, 8, 8],
  [1, 1, 16, 16],
  [2, 3, 50],
  [1, 96, 64, 64],
  [2, 7, 64, 64],
];

/** Records instanceNorm, modulate and both backwards of `shape`; returns their check against the reference. */
function recordForwardBackward(shape: number[], seed = 1): () => Promise<void> {
  const n = numel(shape);
  const hw = numel(shape.slice(2));
  const x = features(shape, seed);
  const g = randn(n, seed + 1);
  const b = randn(n, seed + 2);
  const gy = randn(n, seed + 3);
  const [tx, tg, tb, tgy] = [x, g, b, gy].map((d) => tensor(d, shape));
  const y1 = instanceNorm(tx);
  const y2 = modulate(tx, tg, tb);
  const label = JSON.stringify(shape);
  const rows = shape[0] * shape[1];
  const ref = normRef.stats(x, shape, 1e-5);
  const cond = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let i = r * hw; i < (r + 1) * hw; i++) m = Math.max(m, Math.abs(x[i]));
    cond.fill(hw === 1 ? 1 : Math.max(1, (m * ref.rstd[r]) / 4), r * hw, (r + 1) * hw);
  }
  const expectClose = (a: ArrayLike<number>, e: ArrayLike<number>, tol: { atol: number; rtol: number }, what: string) =>
    expectCloseRaw(Float64Array.from(a, (v, i) => v / cond[i]), Float64Array.from(e, (v, i) => v / cond[i]), tol, what);
  // Backward from freshly computed statistics (what the tape would save).
  for (const t of [tx, tg, tb]) t.requiresGrad = true;
  const st = new Float32Array(2 * rows);
  for (let r = 0; r < rows; r++) [st[2 * r], st[2 * r + 1]] = [ref.mean[r], ref.rstd[r]];
  const stats = tensor(st, [rows, 2]);
  const [gx1] = normBackward(tgy, tx, stats, null, null) as Tensor[];
  const [gx2, gg2, gb2] = normBackward(tgy, tx, stats, tg, tb) as Tensor[];
  return async () => {
    expectClose(await y1.read(), normRef.instanceNorm(x, shape), fwdTol(hw), `instanceNorm ${label}`);
    expectClose(await y2.read(), normRef.modulate(x, g, b, shape), fwdTol(hw), `modulate ${label}`);
    const r1 = normRef.backward(gy, x, null, shape);
    const r2 = normRef.backward(gy, x, g, shape);
    expectClose(await gx1.read(), r1.gx, bwdTol(hw), `instanceNorm gx ${label}`);
    expectClose(await gx2.read(), r2.gx, bwdTol(hw), `modulate gx ${label}`);
    expectClose(await gg2.read(), r2.ggamma, bwdTol(hw), `modulate ggamma ${label}`);
    expectClose(await gb2.read(), r2.gbeta, { atol: 0, rtol: 0 }, `modulate gbeta ${label}`);
    for (const t of [tx, tg, tb, tgy, y1, y2, stats, gx1, gx2, gg2, gb2]) t.dispose();
  };
}

const checkForwardBackward = (shape: number[], seed = 1) => recordForwardBackward(shape, seed)();

describe('instanceNorm / modulate', () => {
  for (const shape of SHAPES) {
    it(`forward and backward match the reference, shape ${JSON.stringify(shape)}`, async () => {
      await checkForwardBackward(shape);
    });
  }

  it('every kernel variant (each candidate of every norm knob) agrees with the reference, and runs as planned', async () => {
    const shapes = [[2, 3, 1, 1], [1, 5, 7, 3], [2, 3, 12, 12], [1, 2, 1, 257], [1, 3, 64, 64]];
    const reached = await sweepVariants(
      'norm',
      shapes.map((shape) => ({
        name: JSON.stringify(shape),
        record: () => recordForwardBackward(shape, 3),
        planned: () => {
          const { suffix } = normPlan({ rows: shape[0] * shape[1], hw: numel(shape.slice(2)) });
          return [`norm.fwd${suffix}`, `norm.bwd${suffix}`];
        },
      })),
      // the extremes of the ranges too: wide for tiny rows, tiny workgroups
      { extra: [{ norm: { narrowBelow: 32, wg: 8 } }, { norm: { narrowBelow: 1 << 30, vec4: false, narrowWg: 4 } }] },
    );
    expect(reached).toEqual(
      ['fwd', 'bwd'].flatMap((pass) => ['_narrow', '_narrow_v4', '_wide', '_wide_v4'].map((v) => `norm.${pass}${v}`)).sort(),
    );
    // Both paths over > 65535 workgroups (2-D workgroup grid).
    await withTuning({ norm: { narrowBelow: 0, wg: 8 } }, () => checkForwardBackward([1, 65_600, 1, 4], 4));
    await withTuning({ norm: { narrowWg: 1 } }, () => checkForwardBackward([5, 13_109, 1, 3], 5));
  });

  it('the tape saves statistics and releases them (after backward, or with the scope)', async () => {
    const shape = [2, 3, 6, 6];
    // Live pool bytes once recorded work is submitted (uniform chunks are released on flush).
    const live = async () => (await runtime().sync(), runtime().stats().liveBytes);
    const before = await live();
    const x = parameter(tensor(features(shape, 9), shape));
    const R = randn(numel(shape), 10);
    scope(() => backward(sum(mul(instanceNorm(x), tensor(R, shape)))));
    const ref = normRef.backward(R, await x.read(), null, shape).gx;
    expectClose(await x.grad!.read(), ref, bwdTol(36), 'gx through the tape');
    const g = parameter(tensor(randn(numel(shape), 11), shape));
    scope(() => void modulate(x, g, g)); // recorded, never back-propagated
    expect(tapeLength()).toBe(0);
    x.dispose();
    g.dispose();
    expect(await live()).toBe(before);
  });

  it('gradients (finite differences)', async () => {
    for (const shape of [[2, 3, 4, 5], [1, 2, 8, 8], [1, 2, 37]]) {
      const n = numel(shape);
      await gradCheck({
        inputs: [{ shape, data: features(shape, 11) }],
        gpu: ([x]) => instanceNorm(x),
        ref: ([x]) => normRef.instanceNorm(x, shape),
      });
      await gradCheck({
        inputs: [{ shape, data: features(shape, 12) }, { shape, data: randn(n, 13) }, { shape, data: randn(n, 14) }],
        gpu: ([x, g, b]) => modulate(x, g, b),
        ref: ([x, g, b]) => normRef.modulate(x, g, b, shape),
      });
    }
    // A constant input (only gamma and beta differentiated) and a custom eps.
    const shape = [1, 3, 5, 5];
    await gradCheck({
      inputs: [{ shape, data: features(shape, 15), constant: true }, { shape }, { shape }],
      gpu: ([x, g, b]) => modulate(x, g, b, 1e-3),
      ref: ([x, g, b]) => normRef.modulate(x, g, b, shape, 1e-3),
    });
  });

  it('rejects bad shapes and options', () => {
    const x = tensor(randn(24), [2, 3, 4]);
    const y = tensor(randn(24), [2, 12]);
    const z = tensor(randn(24), [2, 3, 2, 2]);
    expect(() => instanceNorm(y)).toThrow(/^instanceNorm: x has shape \[2, 12\], expected rank >= 3/);
    expect(() => modulate(x, z, x)).toThrow(/^modulate: gamma has shape \[2, 3, 2, 2\], expected \[2, 3, 4\]/);
    expect(() => modulate(x, x, z)).toThrow(/^modulate: beta has shape \[2, 3, 2, 2\], expected \[2, 3, 4\]/);
    expect(() => instanceNorm(x, -1)).toThrow(/^instanceNorm: eps must be a finite number >= 0, got -1/);
    for (const t of [x, y, z]) t.dispose();
  });
});

// ReLU6 and ReLU fused into the output stores of conv2d (direct kernels, the 1×1 matmul path, split-K) and
// depthwiseConv2d (rolling, blocked, vec4, subgroup): every kernel variant of the conv2d, matmul
// and depthwise families against the clamped reference, with no separate activation pass; and
// with gradients, the unfused path (same values, the masked gradients). And a residual added
// in the same stores (conv2d's `residual`: MobileNetV2's project convs).
import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { backward, parameter } from '../../src/autograd/tape.js';
import { conv2d, convGeometry, conv2dPlan, type Conv2dOptions } from '../../src/ops/conv2d.js';
import { conv2dBackwardRef, conv2dRef } from '../../src/ops/conv2d.ref.js';
import { depthwiseConv2d, depthwiseGeometry, depthwisePlan, type DepthwiseOptions } from '../../src/ops/depthwise.js';
import { depthwiseBackwardRef, depthwiseRef } from '../../src/ops/depthwise.ref.js';
import { mul } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/reduce.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { traceLaunches } from '../../src/ops/util.js';
import { expectClose, numel, randn, sweepVariants, useGpu } from '../helpers.js';

useGpu();

const clamp6 = (v: ArrayLike<number>) => Float64Array.from(v, (x) => Math.min(Math.max(x, 0), 6));
const ACTIVATIONS = { relu6: clamp6, relu: (v: ArrayLike<number>) => Float64Array.from(v, (x) => Math.max(x, 0)) } as const;
/** Values spread over about [-10, 10], so that both clamps are hit. */
const spread = (n: number, seed: number) => randn(n, seed).map((v) => 3 * v);
const tol = (terms: number) => ({ atol: 2e-6 * Math.sqrt(terms) * 9 + 1e-5, rtol: 1e-5 });
const ACTIVATION_PASS = /^elementwise\./;

interface ConvCase {
  x: number[];
  w: number[];
  opts?: Conv2dOptions;
  note: string;
}

const convCases: ConvCase[] = [
  { x: [2, 8, 8, 8], w: [12, 8, 1, 1], note: '1×1: matmul' },
  { x: [1, 600, 2, 2], w: [4, 600, 1, 1], note: '1×1 with a long reduction: split-K, activation on the summed result' },
  { x: [3, 5, 7, 11], w: [13, 5, 1, 1], note: '1×1, odd sizes' },
  { x: [1, 3, 6, 12], w: [5, 3, 3, 3], opts: { padding: 1 }, note: 'direct, vec4 rows' },
  { x: [1, 4, 7, 9], w: [3, 4, 3, 3], note: 'direct, odd rows' },
  { x: [2, 3, 16, 24], w: [32, 3, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] }, note: 'the stem' },
];

describe('conv2d with activation relu6 or relu', () => {
  const run = (c: ConvCase, activation: keyof typeof ACTIVATIONS) => () => {
    const [xd, wd, bd] = [spread(numel(c.x), 31), spread(numel(c.w), 32), spread(c.w[0], 33)];
    const [x, w, b] = [tensor(xd, c.x), tensor(wd, c.w), tensor(bd, [c.w[0]])];
    const y = conv2d(x, w, b, { ...c.opts, activation });
    return async () => {
      const ref = conv2dRef(xd, c.x, wd, c.w, bd, c.opts);
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.read(), ACTIVATIONS[activation](ref.data), tol(c.w[1] * c.w[2] * c.w[3]), `${activation}: ${c.note}`);
      for (const t of [x, w, b, y]) t.dispose();
    };
  };

  it.each(['relu6', 'relu'] as const)('every conv2d and matmul variant applies %s in its store, with no activation pass', async (activation) => {
    const runs = convCases.map((c) => ({
      name: c.note,
      record: () => {
        const { result, launches } = traceLaunches(run(c, activation));
        expect(launches.filter((l) => ACTIVATION_PASS.test(`${l.shader}.${l.entry}`)).map((l) => l.entry), c.note).toEqual([]);
        return result;
      },
      planned: () => {
        if (c.w[2] === 1 && c.w[3] === 1 && !c.opts) return [];
        const p = conv2dPlan(convGeometry('conv2d', c.x, c.w, [c.w[0]], c.opts));
        return [`${p.shader}.${p.entry}`];
      },
    }));
    await sweepVariants('conv2d', runs, { shaders: ['conv2d', 'conv2d-sg'] });
    const reached = await sweepVariants('matmul', runs, { shaders: ['matmul', 'matmul-sg'] });
    expect(reached).toContain('matmul.sum_splits_v4'); // [1, 600, 2, 2]: N = 4
  });

  it.each(['relu6', 'relu'] as const)('with gradients, %s runs unfused: the same values and masked gradients', async (activation) => {
    const c = convCases[4];
    const [xd, wd, bd] = [spread(numel(c.x), 41), spread(numel(c.w), 42), spread(c.w[0], 43)];
    const [x, w, b] = [parameter(tensor(xd, c.x)), parameter(tensor(wd, c.w)), parameter(tensor(bd, [c.w[0]]))];
    const ref = conv2dRef(xd, c.x, wd, c.w, bd, c.opts);
    const gy = randn(numel(ref.shape), 44);
    const y = scope(() => {
      const y = conv2d(x, w, b, { activation });
      backward(sum(mul(y, tensor(gy, ref.shape))));
      return y;
    });
    const hi = activation === 'relu6' ? 6 : Infinity;
    const masked = Float64Array.from(gy, (g, i) => (ref.data[i] > 0 && ref.data[i] < hi ? g : 0));
    const g = conv2dBackwardRef(xd, c.x, wd, c.w, masked, c.opts);
    expectClose(await y.read(), ACTIVATIONS[activation](ref.data), tol(36), 'forward');
    expectClose(await x.grad!.read(), g.dx, tol(27), 'dx');
    expectClose(await w.grad!.read(), g.dw, tol(numel(ref.shape)), 'dW');
    expectClose(await b.grad!.read(), g.db, tol(numel(ref.shape)), 'db');
    for (const t of [x, w, b, y]) t.dispose();
  });

  it('rejects an unknown activation', () => {
    const x = tensor(new Float32Array(4), [1, 1, 2, 2]);
    const w = tensor(new Float32Array(1), [1, 1, 1, 1]);
    expect(() => conv2d(x, w, null, { activation: 'gelu' as 'relu6' })).toThrow(/conv2d: activation "gelu" must be 'none', 'relu6' or 'relu'/);
    const w3 = tensor(new Float32Array(9), [1, 1, 3, 3]);
    expect(() => depthwiseConv2d(x, w3, null, { padding: 1, activation: 'tanh' as 'relu6' })).toThrow(/depthwiseConv2d: activation "tanh" must be 'none', 'relu6' or 'relu'/);
    for (const t of [x, w, w3]) t.dispose();
  });
});

describe('conv2d with a residual', () => {
  // y = act(conv + bias + residual): fused into the store where the convolution runs as a matmul
  // (vec4 and ragged subgroup entries, split-K's sum_splits), conv then add elsewhere.
  const cases: Array<ConvCase & { fused: boolean }> = [
    { x: [2, 8, 8, 8], w: [12, 8, 1, 1], note: '1×1: matmul', fused: true },
    { x: [1, 16, 7, 7], w: [24, 16, 1, 1], note: '1×1 at 7×7: ragged N', fused: true },
    { x: [1, 600, 2, 2], w: [4, 600, 1, 1], note: '1×1, split-K: added to the summed result', fused: true },
    { x: [3, 5, 7, 11], w: [13, 5, 1, 1], note: '1×1 with Cin % 4 != 0: direct, then add', fused: false },
    { x: [1, 3, 6, 12], w: [5, 3, 3, 3], opts: { padding: 1 }, note: '3×3: direct, then add', fused: false },
  ];
  for (const activation of ['none', 'relu6'] as const) {
    it(`matches conv + bias + residual${activation === 'relu6' ? ', clamped' : ''}; one pass where it runs as a matmul`, async () => {
      for (const c of cases) {
        const [xd, wd, bd] = [spread(numel(c.x), 51), spread(numel(c.w), 52), spread(c.w[0], 53)];
        const ref = conv2dRef(xd, c.x, wd, c.w, bd, c.opts);
        const rd = spread(numel(ref.shape), 54);
        const [x, w, b, r] = [tensor(xd, c.x), tensor(wd, c.w), tensor(bd, [c.w[0]]), tensor(rd, ref.shape)];
        const { result: y, launches } = traceLaunches(() => conv2d(x, w, b, { ...c.opts, activation, residual: r }));
        const passes = launches.filter((l) => ACTIVATION_PASS.test(`${l.shader}.${l.entry}`)).length;
        expect(passes, c.note).toBe(c.fused ? 0 : activation === 'relu6' ? 2 : 1);
        const sum = ref.data.map((v, i) => v + rd[i]);
        expectClose(await y.read(), activation === 'relu6' ? clamp6(sum) : sum, tol(c.w[1] * c.w[2] * c.w[3]), c.note);
        for (const t of [x, w, b, r, y]) t.dispose();
      }
    });
  }

  it('with gradients, runs unfused: the residual gets gy, x and w the convolution\'s gradients', async () => {
    const c = cases[0];
    const [xd, wd, bd] = [spread(numel(c.x), 61), spread(numel(c.w), 62), spread(c.w[0], 63)];
    const ref = conv2dRef(xd, c.x, wd, c.w, bd);
    const rd = spread(numel(ref.shape), 64);
    const [x, w, b, r] = [parameter(tensor(xd, c.x)), parameter(tensor(wd, c.w)), parameter(tensor(bd, [c.w[0]])), parameter(tensor(rd, ref.shape))];
    const gy = randn(numel(ref.shape), 65);
    const y = scope(() => {
      const y = conv2d(x, w, b, { activation: 'relu6', residual: r });
      backward(sum(mul(y, tensor(gy, ref.shape))));
      return y;
    });
    const pre = ref.data.map((v, i) => v + rd[i]);
    const masked = Float64Array.from(gy, (g, i) => (pre[i] > 0 && pre[i] < 6 ? g : 0));
    const g = conv2dBackwardRef(xd, c.x, wd, c.w, masked);
    expectClose(await y.read(), clamp6(pre), tol(8), 'forward');
    expectClose(await r.grad!.read(), masked, { atol: 0, rtol: 0 }, 'd residual');
    expectClose(await x.grad!.read(), g.dx, tol(12), 'dx');
    expectClose(await w.grad!.read(), g.dw, tol(numel(ref.shape)), 'dW');
    expectClose(await b.grad!.read(), g.db, tol(numel(ref.shape)), 'db');
    for (const t of [x, w, b, r, y]) t.dispose();
  });

  it('rejects a residual of another shape than the output', () => {
    const x = tensor(new Float32Array(16), [1, 4, 2, 2]);
    const w = tensor(new Float32Array(8), [2, 4, 1, 1]);
    const r = tensor(new Float32Array(8), [1, 2, 4, 1]);
    expect(() => conv2d(x, w, null, { residual: r })).toThrow(/conv2d: residual has shape \[1, 2, 4, 1\], expected the output's \[1, 2, 2, 2\]/);
    for (const t of [x, w, r]) t.dispose();
  });
});

describe('depthwiseConv2d with activation relu6 or relu', () => {
  const cases: Array<[number[], number, DepthwiseOptions]> = [
    [[1, 3, 24, 16], 7, { padding: 'same' }], // rolling, vec4 windows and stores
    [[1, 3, 19, 23], 5, { padding: 'same', dilation: 2 }], // rolling / blocked, odd rows: scalar stores
    [[2, 2, 13, 9], 7, { stride: 2 }], // blocked, scalar stores
    [[1, 3, 33, 31], 3, { stride: 2, padding: 1 }], // vec4 stores
    [[1, 4, 32, 32], 3, { stride: 2, padding: [0, 1, 0, 1] }], // vec4 windows, shared filter
  ];

  it.each(['relu6', 'relu'] as const)('every depthwise variant applies %s in its store, with no activation pass', async (activation) => {
    const runs = cases.map(([shape, k, opts]) => ({
      name: `${JSON.stringify(shape)} k${k} ${JSON.stringify(opts)}`,
      record: () => {
        const c = shape[1];
        const [xd, wd, bd] = [spread(numel(shape), 51), spread(c * k * k, 52), spread(c, 53)];
        const [x, w, b] = [tensor(xd, shape), tensor(wd, [c, 1, k, k]), tensor(bd, [c])];
        const { result: y, launches } = traceLaunches(() => depthwiseConv2d(x, w, b, { ...opts, activation }));
        expect(launches.filter((l) => ACTIVATION_PASS.test(`${l.shader}.${l.entry}`))).toEqual([]);
        return async () => {
          expectClose(await y.read(), ACTIVATIONS[activation](depthwiseRef(xd, shape, wd, k, bd, opts)), tol(k * k), `${activation}: forward`);
          for (const t of [x, w, b, y]) t.dispose();
        };
      },
      planned: () => {
        const p = depthwisePlan(depthwiseGeometry(shape, [shape[1], 1, k, k], opts));
        return [`${p.shader}.${p.entry}`];
      },
    }));
    const reached = await sweepVariants('depthwise', runs, { shaders: ['depthwise', 'depthwise-sg'] });
    expect(reached).toEqual(expect.arrayContaining(['depthwise.fwd', 'depthwise.fwd_rolling', 'depthwise.fwd_rolling_st4', 'depthwise.fwd_st4', 'depthwise.fwd_v4']));
  });

  it('with gradients, runs unfused: the same values and ReLU6-masked gradients', async () => {
    const [shape, k, opts] = cases[2];
    const c = shape[1];
    const [xd, wd] = [spread(numel(shape), 61), spread(c * k * k, 62)];
    const [x, w] = [parameter(tensor(xd, shape)), parameter(tensor(wd, [c, 1, k, k]))];
    const ref = depthwiseRef(xd, shape, wd, k, null, opts);
    const gy = randn(ref.length, 63);
    const y = scope(() => {
      const y = depthwiseConv2d(x, w, null, { ...opts, activation: 'relu6' });
      backward(sum(mul(y, tensor(gy, y.shape))));
      return y;
    });
    const g = depthwiseBackwardRef(xd, shape, wd, k, Float64Array.from(gy, (v, i) => (ref[i] > 0 && ref[i] < 6 ? v : 0)), opts);
    expectClose(await y.read(), clamp6(ref), tol(k * k), 'forward');
    expectClose(await x.grad!.read(), g.dx, tol(k * k), 'dx');
    expectClose(await w.grad!.read(), g.dw, tol(ref.length / c), 'dw');
    for (const t of [x, w, y]) t.dispose();
  });
});

import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { conv2d, conv2dPlan, convGeometry, im2col, weightGradPlan, IM2COL_MAX_BYTES, type Conv2dOptions } from '../../src/ops/conv2d.js';
import { conv2dBackwardRef, conv2dRef, im2colRef } from '../../src/ops/conv2d.ref.js';
import { applyTuning } from '../../src/ops/tuning.js';
import { traceLaunches } from '../../src/ops/util.js';
import { backward, parameter } from '../../src/autograd/tape.js';
import { runtime } from '../../src/gpu/runtime.js';
import { mul, sum } from '../../src/ops/index.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { expectClose, gradCheck, numel, randn, sweepVariants, useGpu } from '../helpers.js';

useGpu();

// Tolerance: f32 accumulation over K = Cin * kh * kw products of values in [-1, 1], in another order
// than the float64 reference: atol 2e-6 * sqrt(K) + rtol 1e-5.
const tolFor = (k: number) => ({ atol: 2e-6 * Math.sqrt(k) + 1e-6, rtol: 1e-5 });

interface Case {
  x: number[];
  w: number[];
  bias?: boolean;
  opts?: Conv2dOptions;
  note?: string;
}

const cases: Case[] = [
  { x: [1, 1, 1, 1], w: [1, 1, 1, 1], note: '1x1 with Cin % 4 != 0: direct kernel' },
  { x: [2, 8, 3, 5], w: [6, 8, 1, 1], bias: true, note: '1x1 with H·W % 4 != 0: ragged subgroup matmul (direct kernel without subgroups)' },
  { x: [3, 16, 7, 7], w: [20, 16, 1, 1], bias: true, note: '1x1 at 7×7 (MobileNetV2 at 224): ragged subgroup matmul' },
  { x: [2, 8, 4, 5], w: [6, 8, 1, 1], bias: true, note: '1x1 as matmul (Cin, H·W multiples of 4)' },
  { x: [2, 8, 8, 8], w: [12, 8, 1, 1], bias: true, note: '1x1 fast path, vec4 matmul' },
  { x: [3, 5, 7, 11], w: [13, 5, 1, 1], bias: true, note: '1x1 with Cin % 4 != 0, odd sizes: direct kernel' },
  { x: [2, 30, 8, 8], w: [24, 30, 1, 1], bias: true, note: '1x1 as the HLGFA gate (Cin 30): direct kernel' },
  { x: [1, 3, 9, 9], w: [5, 3, 1, 1], opts: { stride: 2 }, note: '1x1 stride 2 (general path)' },
  { x: [2, 3, 8, 8], w: [8, 3, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [1, 5, 13, 11], w: [13, 5, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [1, 4, 7, 9], w: [3, 4, 3, 3], opts: { padding: 0 } },
  { x: [2, 3, 17, 16], w: [32, 3, 3, 3], bias: true, opts: { stride: 2, padding: 1 }, note: 'stem' },
  { x: [1, 6, 11, 13], w: [7, 6, 3, 3], opts: { stride: 2, padding: 2 } },
  { x: [1, 4, 12, 10], w: [9, 4, 3, 3], opts: { padding: 2, dilation: 2 } },
  { x: [1, 2, 15, 14], w: [3, 2, 3, 3], opts: { stride: 2, padding: 1, dilation: 2 } },
  { x: [1, 3, 10, 12], w: [4, 3, 2, 5], opts: { stride: [2, 1], padding: [0, 2] } },
  { x: [1, 3, 9, 10], w: [4, 3, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] }, note: 'TF SAME padding' },
  { x: [1, 32, 16, 16], w: [32, 32, 3, 3], bias: true, opts: { padding: 1 } },
  { x: [1, 1, 3, 3], w: [1, 1, 3, 3], opts: { padding: 1 } },
  // conv_fwd4 (input rows a multiple of 4 wide, PX·stride a multiple of 4): vec4 windows at phases
  // 0..3, partial thread windows, dilation, the TF-SAME stride-2 stem
  { x: [2, 3, 6, 12], w: [5, 3, 3, 3], bias: true, note: 'vec4 rows, phase 0' },
  { x: [1, 2, 5, 20], w: [3, 2, 3, 7], opts: { padding: [1, 1, 3, 3] }, note: 'vec4 rows, phase 1, 7 wide' },
  { x: [1, 3, 9, 16], w: [6, 3, 3, 3], opts: { padding: 2, dilation: 2 }, note: 'vec4 rows, dilation' },
  { x: [1, 3, 16, 24], w: [32, 3, 3, 3], bias: true, opts: { stride: 2, padding: [0, 1, 0, 1] }, note: 'vec4 rows, TF-SAME stem' },
];

const label = (c: Case) =>
  `x ${JSON.stringify(c.x)} w ${JSON.stringify(c.w)}${c.bias ? ' +bias' : ''} ${JSON.stringify(c.opts ?? {})}${c.note ? ` (${c.note})` : ''}`;

describe('conv2d forward', () => {
  for (const c of cases) {
    it(label(c), async () => {
      const xd = randn(numel(c.x), 11);
      const wd = randn(numel(c.w), 12);
      const bd = c.bias ? randn(c.w[0], 13) : null;
      const x = tensor(xd, c.x);
      const w = tensor(wd, c.w);
      const b = bd ? tensor(bd, [c.w[0]]) : null;
      const y = conv2d(x, w, b, c.opts);
      const ref = conv2dRef(xd, c.x, wd, c.w, bd, c.opts);
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.read(), ref.data, tolFor(c.w[1] * c.w[2] * c.w[3]), 'conv2d');
      for (const t of [x, w, b, y]) t?.dispose();
    });
  }
});

describe('conv2d variants', () => {
  /** Records forward and backward of a case; returns the check of y, dx, dW and db against the references. */
  const record = (c: Case) => () => {
    const [xd, wd, bd] = [randn(numel(c.x), 21), randn(numel(c.w), 22), randn(c.w[0], 23)];
    const [x, w, b] = [parameter(tensor(xd, c.x)), parameter(tensor(wd, c.w)), parameter(tensor(bd, [c.w[0]]))];
    const ref = conv2dRef(xd, c.x, wd, c.w, bd, c.opts);
    const gy = randn(numel(ref.shape), 24);
    const y = scope(() => {
      const y = conv2d(x, w, b, c.opts);
      backward(sum(mul(y, tensor(gy, ref.shape))));
      return y;
    });
    return async () => {
      const k = c.w[1] * c.w[2] * c.w[3];
      const g = conv2dBackwardRef(xd, c.x, wd, c.w, gy, c.opts);
      expectClose(await y.read(), ref.data, tolFor(k), 'forward');
      expectClose(await x.grad!.read(), g.dx, tolFor(c.w[0] * c.w[2] * c.w[3]), 'dx');
      expectClose(await w.grad!.read(), g.dw, tolFor(numel(ref.shape) / c.w[0]), 'dW');
      expectClose(await b.grad!.read(), g.db, tolFor(numel(ref.shape) / c.w[0]), 'db');
      for (const t of [x, w, b, y]) t.dispose();
    };
  };

  it('every kernel variant (each candidate of every conv2d knob) matches the references, and the forward runs as planned', async () => {
    const vcases: Case[] = [
      { x: [1, 3, 6, 12], w: [5, 3, 3, 3], opts: { padding: 1 }, note: 'vec4 rows' },
      { x: [1, 4, 7, 9], w: [3, 4, 3, 3], note: 'odd rows' },
      { x: [1, 2, 7, 8], w: [3, 2, 3, 3], opts: { stride: 2, padding: 1 }, note: 'stride 2: gathered input gradient' },
      { x: [2, 8, 12, 16], w: [16, 8, 3, 3], opts: { padding: 1 }, note: 'weight gradient split over rows' },
    ];
    const reached = await sweepVariants(
      'conv2d',
      vcases.map((c) => ({
        name: label(c),
        record: record(c),
        planned: () => {
          const p = conv2dPlan(convGeometry('conv2d', c.x, c.w, [c.w[0]], c.opts));
          return [`${p.shader}.${p.entry}`];
        },
      })),
      { shaders: ['conv2d', 'conv2d-sg', 'conv2d-tiled'], extra: [{ conv2d: { pixelsPerThread: 3 } }] },
    );
    const sg = runtime().gpu.subgroups;
    const entries = ['bwd_b', 'bwd_w', 'bwd_w_sum', 'bwd_x', 'fwd', 'fwd_v4', 'im2col', 'wprep'].map((e) => `conv2d.${e}`);
    expect(reached).toEqual(sg && sg.min >= 6 ? ['conv2d-sg.fwd_v4_sg', 'conv2d-tiled.fwd_tiled', ...entries] : ['conv2d-tiled.fwd_tiled', ...entries]);
    expect(() => applyTuning({ conv2d: { pixelsPerThread: 17 } })).toThrow(/conv2d\.pixelsPerThread must be an integer in 1\.\.16, got 17/);
  });
});

describe('conv2d plans', () => {
  it('runs a 1×1 convolution as a matmul where the matmul loads A as vec4s (Cin % 4 == 0) and B as vec4s or, in the subgroup kernel, scalars', () => {
    const plan = (x: number[], w: number[]) => conv2dPlan(convGeometry('conv2d', x, w, null, {}));
    const sg = runtime().gpu.subgroups;
    const usable = sg !== null && sg.min >= 4 && sg.max <= 64;
    expect(plan([1, 96, 16, 16], [576, 96, 1, 1]).label).toMatch(/^1x1 as matmul/);
    expect(plan([1, 30, 64, 64], [24, 30, 1, 1]).label).toMatch(/^direct/); // the HLGFA gate at level 0
    // MobileNetV2 at S = 224: H·W = 49
    expect(plan([1, 960, 7, 7], [160, 960, 1, 1]).entry).toMatch(usable ? /^fwd_subgroup_ragged$/ : /^fwd/);
  });

  it('names the kernel a 1×1 convolution with a fused residual runs (fwd_smallk takes no addend)', async () => {
    const sg = runtime().gpu.subgroups;
    const eight = sg !== null && sg.min === 8 && sg.max === 8;
    const [xd, wd, rd] = [randn(16 * 256, 1), randn(64 * 16, 2), randn(64 * 256, 3)];
    const [x, w, r] = [tensor(xd, [1, 16, 16, 16]), tensor(wd, [64, 16, 1, 1]), tensor(rd, [1, 64, 16, 16])];
    const conv = conv2dRef(xd, x.shape, wd, w.shape).data;
    const g = convGeometry('conv2d', x.shape, w.shape, null, {});
    for (const residual of [false, true]) {
      const p = conv2dPlan(g, residual);
      if (eight) expect(p.entry).toBe(residual ? 'fwd_subgroup' : 'fwd_smallk');
      const { result, launches } = traceLaunches(() => conv2d(x, w, null, residual ? { residual: r } : {}));
      expect(launches.map((l) => `${l.shader}.${l.entry}`)).toContain(`${p.shader}.${p.entry}`);
      expectClose(await result.read(), conv.map((v, i) => v + (residual ? rd[i] : 0)), { atol: 1e-5, rtol: 1e-5 }, residual ? 'with a residual' : 'plain');
      result.dispose();
    }
    for (const t of [x, w, r]) t.dispose();
  });
});

describe('conv2d im2col (the weight gradient\'s patch matrix)', () => {
  it('matches the CPU reference: primes, stride, dilation, asymmetric padding, 1-pixel rows and kernels, every vec4 phase', async () => {
    const icases: Case[] = [
      { x: [3, 5, 7, 8], w: [1, 5, 3, 3], opts: { padding: 1 } },
      { x: [1, 3, 11, 16], w: [1, 3, 2, 5], opts: { stride: [2, 2], padding: [1, 0, 2, 2] } },
      { x: [2, 2, 9, 17], w: [1, 2, 3, 3], opts: { padding: 2, dilation: [2, 3], stride: [1, 2] } },
      { x: [1, 7, 1, 4], w: [1, 7, 1, 1], opts: { padding: 0 } },
      { x: [1, 1, 1, 2], w: [1, 1, 1, 3], opts: { padding: [0, 0, 2, 2] } },
      { x: [1, 2, 3, 300], w: [1, 2, 3, 3], opts: { padding: [1, 1, 3, 3] }, note: 'rows wider than a workgroup' },
      { x: [1, 2, 6, 12], w: [1, 2, 3, 3], opts: { padding: 2, dilation: 2 }, note: 'vec4 row pairs, dilation' },
    ];
    for (const c of icases) {
      const g = convGeometry('conv2d', c.x, c.w, null, c.opts);
      expect(g.wo % 4, label(c)).toBe(0);
      const xd = randn(numel(c.x), 31);
      const x = tensor(xd, c.x);
      const cols = im2col(x, g);
      expect(cols.shape).toEqual([g.n, g.cin * g.kh * g.kw, g.ho * g.wo]);
      expectClose(await cols.read(), im2colRef(xd, g), { atol: 0, rtol: 0 }, label(c));
      for (const t of [x, cols]) t.dispose();
    }
    expect(() => im2col(tensor(randn(15, 1), [1, 1, 3, 5]), convGeometry('conv2d', [1, 1, 3, 5], [1, 1, 3, 3], null, { padding: 1 }))).toThrow(/im2col needs output rows a multiple of 4 wide, got 5/);
  });

  it('the weight gradient uses it where rows are a multiple of 4 wide and the matrix fits, else the direct kernel', () => {
    const plan = (x: number[], w: number[], opts: Conv2dOptions = {}) => weightGradPlan(convGeometry('conv2d', x, w, null, opts));
    expect(plan([8, 24, 64, 64], [48, 24, 3, 3], { padding: 1 })).toBe('im2col'); // 28 MB
    expect(plan([2, 3, 5, 6], [4, 3, 3, 3], { padding: 1 })).toBe('direct'); // 6 wide
    const side = 4 * Math.ceil(Math.sqrt(IM2COL_MAX_BYTES / (4 * 9 * 8)) / 4) + 4;
    expect(plan([1, 8, side, side], [8, 8, 3, 3], { padding: 1 })).toBe('direct'); // over IM2COL_MAX_BYTES
    applyTuning({ conv2d: { weightGrad: 'direct' } });
    try {
      expect(plan([8, 24, 64, 64], [48, 24, 3, 3], { padding: 1 })).toBe('direct');
    } finally {
      applyTuning({ conv2d: { weightGrad: 'im2col' } });
    }
  });
});

describe('conv2d gradients (x, w, bias)', () => {
  const gcases: Case[] = [
    { x: [2, 3, 5, 6], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 }, note: 'stride 1' },
    { x: [1, 2, 7, 8], w: [3, 2, 3, 3], bias: true, opts: { stride: 2, padding: 1 }, note: 'stride 2' },
    { x: [2, 4, 3, 5], w: [5, 4, 1, 1], bias: true, note: '1x1 with H·W % 4 != 0: direct kernels, matmul weight gradient' },
    { x: [2, 6, 3, 8], w: [5, 6, 1, 1], bias: true, note: '1x1 with Cin % 4 != 0: direct kernels, matmul weight gradient' },
    { x: [1, 4, 4, 4], w: [8, 4, 1, 1], bias: true, note: '1x1 vec4 matmul path' },
    { x: [1, 2, 8, 7], w: [3, 2, 3, 3], opts: { padding: 2, dilation: 2 }, note: 'dilation' },
    { x: [1, 3, 6, 8], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 }, note: 'vec4 rows in forward and input gradient' },
    { x: [1, 2, 5, 4], w: [3, 2, 3, 3], opts: { padding: 3 }, note: 'input gradient with negative padding, vec4 rows' },
    { x: [1, 2, 7, 9], w: [9, 2, 2, 3], bias: true, opts: { stride: [2, 1], padding: [1, 0, 2, 1] }, note: 'asymmetric' },
    { x: [1, 1, 3, 12], w: [2, 1, 1, 9], opts: { padding: [0, 4] }, note: 'wide kernel: three tap blocks' },
    { x: [1, 1, 3, 60], w: [2, 1, 1, 5], opts: { padding: [0, 3], stride: [1, 4], dilation: [1, 10] }, note: 'row segment too long' },
  ];
  for (const c of gcases) {
    it(label(c), async () => {
      const bshape = c.bias ? [{ shape: [c.w[0]] }] : [];
      await gradCheck({
        inputs: [{ shape: c.x }, { shape: c.w }, ...bshape],
        gpu: ([x, w, b]) => conv2d(x, w, b ?? null, c.opts),
        ref: ([x, w, b]) => conv2dRef(x, c.x, w, c.w, b ?? null, c.opts).data,
      });
    });
  }

  it('a larger case (weight gradient split over rows, vec4 gy reads)', async () => {
    await gradCheck({
      inputs: [{ shape: [2, 8, 12, 16] }, { shape: [16, 8, 3, 3] }, { shape: [16] }],
      gpu: ([x, w, b]) => conv2d(x, w, b, { padding: 1 }),
      ref: ([x, w, b]) => conv2dRef(x, [2, 8, 12, 16], w, [16, 8, 3, 3], b, { padding: 1 }).data,
      fwdTol: tolFor(72),
      tol: { atol: 2e-3, rtol: 1e-2 },
      samples: 12,
    });
  });
});

describe('conv2d errors', () => {
  it('rejects bad shapes and options, naming op and shapes', () => {
    const x = tensor(randn(2 * 3 * 8 * 8), [2, 3, 8, 8]);
    const w = tensor(randn(8 * 4 * 9), [8, 4, 3, 3]);
    const w3 = tensor(randn(8 * 3 * 9), [8, 3, 3, 3]);
    const wr = tensor(randn(8 * 9), [8, 3, 3]);
    const b = tensor(randn(5), [5]);
    expect(() => conv2d(x, w)).toThrow(/conv2d: weight \[8, 4, 3, 3\] expects 4 input channels but input \[2, 3, 8, 8\] has 3/);
    expect(() => conv2d(x, wr)).toThrow(/conv2d: weight has shape \[8, 3, 3\], expected rank 4/);
    expect(() => conv2d(wr, w3)).toThrow(/conv2d: input has shape \[8, 3, 3\], expected rank 4/);
    expect(() => conv2d(x, w3, b)).toThrow(/conv2d: bias has shape \[5\], expected \[8\]/);
    expect(() => conv2d(x, w3, null, { stride: 0 })).toThrow(/conv2d: stride must be an integer >= 1/);
    expect(() => conv2d(x, w3, null, { padding: -1 })).toThrow(/conv2d: padding must be an integer >= 0/);
    expect(() => conv2d(x, w3, null, { dilation: 5 })).toThrow(/conv2d: input \[2, 3, 8, 8\] .* smaller than the 11x11 dilated kernel/);
    for (const t of [x, w, w3, wr, b]) t.dispose();
  });
});

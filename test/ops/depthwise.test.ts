import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { backward, parameter } from '../../src/autograd/tape.js';
import { depthwiseBackwardRef, depthwiseRef, multiScaleDepthwiseRef } from '../../src/ops/depthwise.ref.js';
import {
  depthwiseConv2d,
  multiScaleDepthwise,
  depthwiseGeometry,
  depthwisePlan,
  type DepthwiseOptions,
} from '../../src/ops/depthwise.js';
import { runtime } from '../../src/gpu/runtime.js';
import { mul } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/reduce.js';
import { Tensor, scope, tensor } from '../../src/tensor/tensor.js';
import { expectClose, gradCheck, numel, randn, sweepVariants, useGpu } from '../helpers.js';

useGpu();

// Tolerances: a forward output sums at most 49 (multi-scale: 49 combined + 3 biases) f32 products of
// values in [-1, 1] in a different order than the float64 reference: atol 1e-5 / rtol 1e-4.
// Weight / bias gradients sum N·OH·OW products: atol 2e-6 · sqrt(terms) + 1e-5, rtol 1e-4.
// Finite-difference checks use the helper defaults (the op is linear, so they are exact up to f32).
const FWD = { atol: 1e-5, rtol: 1e-4 };
const gradTol = (terms: number) => ({ atol: 2e-6 * Math.sqrt(terms) + 1e-5, rtol: 1e-4 });

type Case = [string, number[], number, DepthwiseOptions, boolean];
// [label, x shape, k, options, with bias]. Sizes: primes, 1×1 images, C = 1 and prime C, widths
// that are not multiples of the register blocks or of the workgroup. Stride-1 planes of >= 16 rows
// take the rolling kernels, the others (and all of stride 2) the blocked ones.
const CASES: Case[] = [
  ['k3 s1 p1 (MobileNetV2)', [2, 16, 17, 19], 3, { padding: 1 }, true],
  ['k3 s2 p1 (MobileNetV2)', [2, 13, 15, 16], 3, { stride: 2, padding: 1 }, false],
  ['k3 s1 p1, 7×7 planes, prime C', [2, 37, 7, 7], 3, { padding: 1 }, true],
  ['k3 s1 p1, 1×1 image', [1, 4, 1, 1], 3, { padding: 1 }, true],
  ['k3 s1 p0, C = 1, prime H/W', [1, 1, 29, 31], 3, {}, false],
  ['k5 same', [1, 7, 23, 11], 5, { padding: 'same' }, true],
  ['k5 s2 d2 p3', [1, 5, 19, 29], 5, { stride: 2, dilation: 2, padding: 3 }, false],
  ['k7 same d2', [1, 3, 31, 37], 7, { padding: 'same', dilation: 2 }, true],
  ['k7 s2 p0', [2, 2, 13, 9], 7, { stride: 2 }, false],
  ['k3 s1 p3 (padding wider than the kernel reach)', [1, 2, 20, 18], 3, { padding: 3 }, true],
  ['k3 s2 TF-SAME [0, 1, 0, 1] (even input)', [2, 6, 16, 18], 3, { stride: 2, padding: [0, 1, 0, 1] }, true],
  ['k3 s2 p1, bias, 17×16 output (vec4 stores, partial block rows)', [1, 3, 33, 31], 3, { stride: 2, padding: 1 }, true],
  ['k3 s1 asymmetric [1, 2, 1, 0], 17-row plane (rolling)', [1, 3, 17, 20], 3, { padding: [1, 2, 1, 0] }, true],
  // forward_v4 (input and output rows multiples of 4): vec4 windows at phases 0..3, partial blocks,
  // and planes small enough that several share a workgroup (67 planes of one 4×4 block each).
  ['k3 s2 TF-SAME, vec4 windows (phase 0), 12-wide output', [2, 6, 16, 24], 3, { stride: 2, padding: [0, 1, 0, 1] }, true],
  ['k3 s2 p1, vec4 windows (phase 3)', [1, 5, 16, 16], 3, { stride: 2, padding: 1 }, true],
  ['k5 same, 12 rows (blocked), vec4 windows (phase 2)', [1, 3, 12, 20], 5, { padding: 'same' }, false],
  ['k7 s2 p3, 4×4 outputs (phase 1), 3 planes per image', [3, 7, 8, 8], 7, { stride: 2, padding: 3 }, true],
  ['k3 s2 d2 p2, vec4 windows', [1, 3, 20, 16], 3, { stride: 2, dilation: 2, padding: 2 }, false],
  ['k3 s2 TF-SAME, 67 one-block planes packed into workgroups', [1, 67, 8, 8], 3, { stride: 2, padding: [0, 1, 0, 1] }, true],
  // blocked forward with the filter shared by subgroup shuffles (planes of 8+ blocks): k3 / k5 / k7
  // (2 / 4 / 7 taps per lane), rows past the image, planes past the last in a workgroup
  ['k3 s2 TF-SAME, 16×16 outputs (shared filter)', [1, 4, 32, 32], 3, { stride: 2, padding: [0, 1, 0, 1] }, true],
  ['k7 s2 p3, 32×16 outputs (shared filter, 7 taps a lane)', [1, 2, 64, 32], 7, { stride: 2, padding: 3 }, false],
  ['k5 same, 16-row planes (blocked, shared filter)', [2, 3, 16, 24], 5, { padding: 'same' }, true],
  // blocked forward on rows that do not start on vec4 boundaries (scalar loads): MobileNetV2's
  // 14×14 / 7×7 layers at S = 224, odd widths, a padding wider than a vec4
  ['k3 s1 p1, 14×14 planes', [1, 12, 14, 14], 3, { padding: 1 }, true],
  ['k3 s2 TF-SAME, 14 → 7', [2, 6, 14, 14], 3, { stride: 2, padding: [0, 1, 0, 1] }, true],
  ['k3 s1 p1, 7×7 planes, C = 4', [1, 4, 7, 7], 3, { padding: 1 }, false],
  ['k7 same d2, 13×13 planes (pad 6)', [1, 4, 13, 13], 7, { padding: 'same', dilation: 2 }, true],
  ['k5 s1 p2, 11-wide rows, 5 planes', [1, 5, 12, 11], 5, { padding: 2 }, true],
  // rolling kernels reading vec4 windows (forward and the stride-1 input gradient)
  ['k7 same, 24-row planes (rolling, vec4 windows at phase 1)', [1, 3, 24, 16], 7, { padding: 'same' }, true],
  ['k3 same d2, rolling, vec4 windows at phase 2', [1, 2, 20, 24], 3, { padding: 'same', dilation: 2 }, false],
  ['k3 p3, rolling, input gradient with negative padding (phase 1)', [1, 2, 18, 16], 3, { padding: 3 }, true],
];

function makeInputs(shape: number[], k: number, seed: number) {
  const c = shape[1];
  return { x: randn(numel(shape), seed), w: randn(c * k * k, seed + 1), b: randn(c, seed + 2) };
}

describe('depthwiseConv2d', () => {
  for (const [label, shape, k, opts, withBias] of CASES) {
    it(`${label}: x ${JSON.stringify(shape)}, forward and gradients match the reference`, async () => {
      const c = shape[1];
      const d = makeInputs(shape, k, numel(shape) + k);
      const x = parameter(tensor(d.x, shape));
      const w = parameter(tensor(d.w, [c, 1, k, k]));
      const b = withBias ? parameter(tensor(d.b, [c])) : null;
      const yRef = depthwiseRef(d.x, shape, d.w, k, withBias ? d.b : null, opts);
      const R = randn(yRef.length, 99);
      const y = scope(() => {
        const y = depthwiseConv2d(x, w, b, opts);
        backward(sum(mul(y, tensor(R, y.shape))));
        return y;
      });
      expectClose(await y.read(), yRef, FWD, 'forward');
      const g = depthwiseBackwardRef(d.x, shape, d.w, k, R, opts);
      const terms = yRef.length / c;
      expectClose(await x.grad!.read(), g.dx, FWD, 'dx');
      expectClose(await w.grad!.read(), g.dw, gradTol(terms), 'dw');
      if (b) expectClose(await b.grad!.read(), g.db, gradTol(terms), 'dbias');
      for (const t of [x, w, b, y]) t?.dispose();
    });
  }

  it('every kernel variant (each candidate of every depthwise knob) matches the reference, and the forward runs as planned', async () => {
    const record = (shape: number[], k: number, opts: DepthwiseOptions) => () => {
      const c = shape[1];
      const d = makeInputs(shape, k, 5);
      const [x, w, b] = [parameter(tensor(d.x, shape)), parameter(tensor(d.w, [c, 1, k, k])), parameter(tensor(d.b, [c]))];
      const yRef = depthwiseRef(d.x, shape, d.w, k, d.b, opts);
      const R = randn(yRef.length, 98);
      const y = scope(() => {
        const y = depthwiseConv2d(x, w, b, opts);
        backward(sum(mul(y, tensor(R, y.shape))));
        return y;
      });
      return async () => {
        const g = depthwiseBackwardRef(d.x, shape, d.w, k, R, opts);
        expectClose(await y.read(), yRef, FWD, 'forward');
        expectClose(await x.grad!.read(), g.dx, FWD, 'dx');
        expectClose(await w.grad!.read(), g.dw, gradTol(yRef.length / c), 'dw');
        expectClose(await b.grad!.read(), g.db, gradTol(yRef.length / c), 'db');
        for (const t of [x, w, b, y]) t.dispose();
      };
    };
    const vcases: Array<[number[], number, DepthwiseOptions]> = [
      [[1, 3, 24, 16], 7, { padding: 'same' }], // rolling, vec4 windows and stores
      [[1, 3, 19, 23], 5, { padding: 'same', dilation: 2 }], // rolling / blocked with odd rows: scalar stores
      [[2, 2, 13, 9], 7, { stride: 2 }], // blocked, scalar stores
      [[1, 3, 33, 31], 3, { stride: 2, padding: 1 }], // 17×16 output: vec4 stores only
      [[1, 4, 32, 32], 3, { stride: 2, padding: [0, 1, 0, 1] }], // vec4 windows, shared filter
    ];
    const runs = vcases.map(([shape, k, opts]) => ({
      name: `${JSON.stringify(shape)} k${k} ${JSON.stringify(opts)}`,
      record: record(shape, k, opts),
      planned: () => {
        const p = depthwisePlan(depthwiseGeometry(shape, [shape[1], 1, k, k], opts));
        return [`${p.shader}.${p.entry}`];
      },
    }));
    runs.push({
      name: 'multi-scale 3+5+7',
      record: () => {
        const shape = [1, 2, 9, 12];
        const xd = randn(numel(shape), 6);
        const ws = [3, 5, 7].map((k, i) => randn(2 * k * k, 7 + i));
        const x = tensor(xd, shape);
        const wt = ws.map((d, i) => parameter(tensor(d, [2, 1, 3 + 2 * i, 3 + 2 * i])));
        const y = scope(() => {
          const y = multiScaleDepthwise(x, [wt[0], wt[1], wt[2]]);
          backward(sum(y));
          return y;
        });
        return async () => {
          expectClose(await y.read(), multiScaleDepthwiseRef(xd, shape, [ws[0], ws[1], ws[2]], [null, null, null]), FWD, 'forward');
          const ones = new Float32Array(y.size).fill(1);
          for (const [i, k] of [3, 5, 7].entries()) {
            expectClose(await wt[i].grad!.read(), depthwiseBackwardRef(xd, shape, ws[i], k, ones, { padding: 'same' }).dw, gradTol(108), `dw${k}`);
          }
          for (const t of [x, y, ...wt]) t.dispose();
        };
      },
      planned: () => ['depthwise.ms_combine', 'depthwise.ms_split'],
    });
    const reached = await sweepVariants('depthwise', runs, { shaders: ['depthwise', 'depthwise-sg'] });
    const sg = runtime().gpu.subgroups;
    const entries = ['bwd_b', 'bwd_w', 'bwd_w_rolling', 'bwd_w_sum', 'bwd_x', 'fwd', 'fwd_rolling', 'fwd_rolling_st4', 'fwd_st4', 'fwd_v4', 'ms_combine', 'ms_split'].map((e) => `depthwise.${e}`);
    expect(reached).toEqual(sg && sg.min >= 8 ? ['depthwise-sg.fwd_v4_sg', ...entries] : entries);
  });

  it('output shape follows (H + 2p − d(k − 1) − 1) / s + 1', () => {
    const x = tensor(randn(2 * 3 * 10 * 9), [2, 3, 10, 9]);
    const w = tensor(randn(3 * 25), [3, 1, 5, 5]);
    const outs = scope(() => [
      depthwiseConv2d(x, w, null, { stride: 2, padding: 2 }),
      depthwiseConv2d(x, w, null, { dilation: 2, padding: 'same' }),
    ]);
    expect(outs[0].shape).toEqual([2, 3, 5, 5]);
    expect(outs[1].shape).toEqual([2, 3, 10, 9]);
    for (const t of [x, w, ...outs]) t.dispose();
  });

  it('finite-difference gradients for x, w and bias', async () => {
    await gradCheck({
      inputs: [{ shape: [1, 2, 6, 6] }, { shape: [2, 1, 3, 3] }, { shape: [2] }],
      gpu: ([x, w, b]) => depthwiseConv2d(x, w, b, { stride: 2, padding: [0, 1, 0, 1] }),
      ref: ([x, w, b]) => depthwiseRef(x, [1, 2, 6, 6], w, 3, b, { stride: 2, padding: [0, 1, 0, 1] }),
    });
    await gradCheck({
      inputs: [{ shape: [1, 2, 5, 6] }, { shape: [2, 1, 3, 3] }, { shape: [2] }],
      gpu: ([x, w, b]) => depthwiseConv2d(x, w, b, { stride: 2, padding: 1 }),
      ref: ([x, w, b]) => depthwiseRef(x, [1, 2, 5, 6], w, 3, b, { stride: 2, padding: 1 }),
    });
  });

  it('rejects bad kernels, mismatched weights and bad options', () => {
    const x = tensor(randn(3 * 8 * 8), [1, 3, 8, 8]);
    const w4 = tensor(randn(3 * 16), [3, 1, 4, 4]);
    const wc = tensor(randn(4 * 9), [4, 1, 3, 3]);
    const w3 = tensor(randn(3 * 9), [3, 1, 3, 3]);
    const b = tensor(randn(4), [4]);
    expect(() => depthwiseConv2d(x, w4)).toThrow(
      /^depthwiseConv2d: kernel size 4 \(weight \[3, 1, 4, 4\]\) is not supported, expected 3, 5 or 7/,
    );
    expect(() => depthwiseConv2d(x, wc)).toThrow(
      /^depthwiseConv2d: weight has shape \[4, 1, 3, 3\], expected \[3, 1, k, k\] .*x \[1, 3, 8, 8\]/,
    );
    expect(() => depthwiseConv2d(x, w3, b)).toThrow(/^depthwiseConv2d: bias has shape \[4\], expected \[3\]/);
    expect(() => depthwiseConv2d(x, w3, null, { stride: 0 })).toThrow(/^depthwiseConv2d: stride must be an integer >= 1, got 0/);
    expect(() => depthwiseConv2d(x.reshape([3, 8, 8]), w3)).toThrow(/^depthwiseConv2d: input x must have rank 4, got shape \[3, 8, 8\]/);
    const tiny = tensor(randn(3 * 4), [1, 3, 2, 2]);
    expect(() => depthwiseConv2d(tiny, w3)).toThrow(/^depthwiseConv2d: input \[1, 3, 2, 2\] with padding 0 is smaller than the 3×3/);
    for (const t of [x, w4, wc, w3, b, tiny]) t.dispose();
    {
      const xx = tensor(randn(2 * 8 * 8), [1, 2, 8, 8]);
      const ww = tensor(randn(18), [2, 1, 3, 3]);
      expect(() => depthwiseConv2d(xx, ww, null, { padding: [0, 1, 1, 1] })).toThrow(/depthwiseConv2d: padding \[0, 1, 1, 1\] needs top = left/);
      xx.dispose();
      ww.dispose();
    }
  });
});

describe('multiScaleDepthwise (fused DW3 + DW5 + DW7)', () => {
  const MS: Array<[number[], { stride?: number; dilation?: number }, boolean]> = [
    [[2, 24, 16, 16], {}, true], // HLGFA-like
    [[1, 5, 13, 11], { stride: 2, dilation: 2 }, false],
    [[1, 3, 1, 1], {}, true],
    [[1, 1, 17, 6], { stride: 2 }, true],
  ];
  for (const [shape, opts, withBias] of MS) {
    it(`x ${JSON.stringify(shape)} ${JSON.stringify(opts)}: equals the sum of three depthwise references`, async () => {
      const c = shape[1];
      const xs = randn(numel(shape), 3);
      const ws = [3, 5, 7].map((k, i) => randn(c * k * k, 10 + i));
      const bs = [0, 1, 2].map((i) => (withBias && i !== 1 ? randn(c, 20 + i) : null)); // b5 absent
      const x = parameter(tensor(xs, shape));
      const w = [3, 5, 7].map((k, i) => parameter(tensor(ws[i], [c, 1, k, k]))) as [Tensor, Tensor, Tensor];
      const b = bs.map((v) => (v ? parameter(tensor(v, [c])) : null)) as [Tensor | null, Tensor | null, Tensor | null];
      const yRef = multiScaleDepthwiseRef(xs, shape, [ws[0], ws[1], ws[2]], [bs[0], bs[1], bs[2]], opts);
      const R = randn(yRef.length, 77);
      const y = scope(() => {
        const y = multiScaleDepthwise(x, w, withBias ? b : null, opts);
        backward(sum(mul(y, tensor(R, y.shape))));
        return y;
      });
      expectClose(await y.read(), yRef, FWD, 'forward');
      const o: DepthwiseOptions = { ...opts, padding: 'same' };
      const g = [3, 5, 7].map((k, i) => depthwiseBackwardRef(xs, shape, ws[i], k, R, o));
      const terms = yRef.length / c;
      expectClose(await x.grad!.read(), g[0].dx.map((v, i) => v + g[1].dx[i] + g[2].dx[i]), FWD, 'dx');
      for (let i = 0; i < 3; i++) {
        expectClose(await w[i].grad!.read(), g[i].dw, gradTol(terms), `dw${2 * i + 3}`);
        if (b[i]) expectClose(await b[i]!.grad!.read(), g[i].db, gradTol(terms), `db${2 * i + 3}`);
      }
      for (const t of [x, ...w, ...b, y]) t?.dispose();
    });
  }

  it('finite-difference gradients for x, the three weights and the biases', async () => {
    const shape = [1, 2, 6, 5];
    await gradCheck({
      inputs: [{ shape }, { shape: [2, 1, 3, 3] }, { shape: [2, 1, 5, 5] }, { shape: [2, 1, 7, 7] }, { shape: [2] }, { shape: [2] }],
      gpu: ([x, w3, w5, w7, b3, b7]) => multiScaleDepthwise(x, [w3, w5, w7], [b3, null, b7]),
      ref: ([x, w3, w5, w7, b3, b7]) => multiScaleDepthwiseRef(x, shape, [w3, w5, w7], [b3, null, b7]),
    });
  });

  it('rejects weights of the wrong size or channel count', () => {
    const c = 3;
    const x = tensor(randn(c * 36), [1, c, 6, 6]);
    const w3 = tensor(randn(c * 9), [c, 1, 3, 3]);
    const w5 = tensor(randn(c * 25), [c, 1, 5, 5]);
    const w7 = tensor(randn(c * 49), [c, 1, 7, 7]);
    const w7bad = tensor(randn(2 * 49), [2, 1, 7, 7]);
    expect(() => multiScaleDepthwise(x, [w3, w3, w7])).toThrow(/^multiScaleDepthwise: weight has shape \[3, 1, 3, 3\], expected \[3, 1, 5, 5\]/);
    expect(() => multiScaleDepthwise(x, [w3, w5, w7bad])).toThrow(/^multiScaleDepthwise: weight has shape \[2, 1, 7, 7\], expected \[3, 1, k, k\]/);
    const b = tensor(randn(2), [2]);
    expect(() => multiScaleDepthwise(x, [w3, w5, w7], [null, b, null])).toThrow(/^multiScaleDepthwise: bias 5 has shape \[2\], expected \[3\]/);
    for (const t of [x, w3, w5, w7, w7bad, b]) t.dispose();
  });
});

import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { areaDownsample, resizeBilinear, resizeRef } from '../../src/ops/resize.js';
import { mul, sum } from '../../src/ops/index.js';
import { backward, parameter } from '../../src/autograd/tape.js';
import { scope, tensor } from '../../src/tensor/tensor.js';
import { traceLaunches } from '../../src/ops/util.js';
import { expectClose, gradCheck, numel, randn, useGpu } from '../helpers.js';

useGpu();

// Tolerances: bilinear output is a convex combination of 4 inputs in [-1, 1] with f32 weights
// (f64 in the reference): atol 1e-5. Area is a mean of f^2 values times 1/f^2 in f32: atol 2e-6.
// The bilinear backward sums up to a few hundred weight * gy products: atol 1e-4 on values O(10).

const CASES: Array<[number[], [number, number]]> = [
  [[1, 1, 1, 1], [5, 5]], // 1 -> 5
  [[1, 2, 7, 7], [3, 3]], // 7 -> 3
  [[2, 3, 13, 17], [32, 31]],
  [[1, 1, 5, 9], [1, 1]],
  [[2, 1, 33, 20], [8, 5]],
  [[1, 3, 6, 6], [6, 6]], // same size
  [[1, 1, 1, 7], [4, 1]],
  [[1, 4, 61, 67], [131, 257]],
  // Integer W factor with W % 4 == 0 (align false: the bilinear_upf kernel), H taps arbitrary.
  [[2, 3, 5, 8], [10, 16]], // 2x both ways, odd H
  [[1, 2, 7, 4], [3, 12]], // W x3 (a single vec4 block), H shrinks
  [[1, 1, 1, 4], [1, 64]], // W x16, H = 1
  [[1, 3, 16, 16], [64, 64]], // 4x
  [[1, 1, 3, 12], [5, 24]], // W x2, H non-integer
  [[2, 3, 6, 8], [11, 64]], // W x8 (bilinear_fwd_up4: the factor a uniform), H non-integer
];

describe('resizeBilinear', () => {
  for (const [shape, [oh, ow]] of CASES) {
    for (const align of [false, true]) {
      it(`${JSON.stringify(shape)} -> ${oh}x${ow}, alignCorners=${align}: forward and backward`, async () => {
        const data = randn(numel(shape), numel(shape) + oh);
        const x = parameter(tensor(data, shape));
        const r = randn(shape[0] * shape[1] * oh * ow, 5);
        const y = scope(() => {
          const out = resizeBilinear(x, [oh, ow], { alignCorners: align });
          backward(sum(mul(out, tensor(r, out.shape))));
          return out;
        });
        expect(y.shape).toEqual([shape[0], shape[1], oh, ow]);
        expectClose(await y.read(), resizeRef.bilinear(data, shape, oh, ow, align), { atol: 1e-5, rtol: 0 }, 'forward');
        expectClose(await x.grad!.read(), resizeRef.bilinearBackward(r, shape, oh, ow, align), { atol: 1e-4, rtol: 1e-5 }, 'backward');
        y.dispose();
        x.dispose();
      });
    }
  }

  it('integer W factors: multiples of 4 share one pipeline (the factor a uniform), others a constant each', () => {
    const x = tensor(randn(2 * 8, 3), [1, 2, 1, 8]);
    const kernel = (w: number) => {
      const { result, launches } = traceLaunches(() => resizeBilinear(x, [1, w], { alignCorners: false }));
      result.dispose();
      return `${launches[0].entry} ${JSON.stringify(launches[0].constants)}`;
    };
    expect([16, 24, 32, 64, 128].map(kernel)).toEqual([
      'bilinear_fwd_up {"F":2}', 'bilinear_fwd_up {"F":3}', 'bilinear_fwd_up4 {}', 'bilinear_fwd_up4 {}', 'bilinear_fwd_up4 {}',
    ]);
    x.dispose();
  });

  it('known values', async () => {
    const x = tensor([0, 2, 4, 6], [1, 1, 2, 2]);
    // align_corners=true, 2 -> 3: the middle sample is the midpoint.
    const a = resizeBilinear(x, [3, 3], { alignCorners: true });
    expectClose(await a.read(), [0, 1, 2, 2, 3, 4, 4, 5, 6], { atol: 1e-6, rtol: 0 }, 'align true 2->3');
    const row = tensor([0, 1], [1, 1, 1, 2]);
    // align_corners=false, 2 -> 4: half-pixel centres, clamped at the borders (PyTorch values).
    const b = resizeBilinear(row, [1, 4], { alignCorners: false });
    expectClose(await b.read(), [0, 0.25, 0.75, 1], { atol: 1e-6, rtol: 0 }, 'align false 2->4');
    const row4 = tensor([0, 1, 2, 3], [1, 1, 1, 4]);
    const c = resizeBilinear(row4, [1, 2], { alignCorners: false });
    expectClose(await c.read(), [0.5, 2.5], { atol: 1e-6, rtol: 0 }, 'align false 4->2');
    const d = resizeBilinear(row4, [1, 2], { alignCorners: true });
    expectClose(await d.read(), [0, 3], { atol: 1e-6, rtol: 0 }, 'align true 4->2');
    const e = resizeBilinear(row4, [1, 1], { alignCorners: true });
    expectClose(await e.read(), [0], { atol: 0, rtol: 0 }, 'align true to size 1 takes the first pixel');
    for (const t of [x, a, row, b, row4, c, d, e]) t.dispose();
  });

  it('gradients (finite differences)', async () => {
    for (const align of [false, true]) {
      for (const [shape, size] of [[[1, 2, 5, 7], [9, 4]], [[1, 1, 6, 9], [3, 4]], [[2, 1, 1, 2], [5, 3]]] as Array<[number[], [number, number]]>) {
        await gradCheck({
          inputs: [{ shape }],
          gpu: ([a]) => resizeBilinear(a, size, { alignCorners: align }),
          ref: ([a]) => resizeRef.bilinear(a, shape, size[0], size[1], align),
          samples: 40,
        });
      }
    }
  });

  it('rejects bad inputs', () => {
    const x3 = tensor(randn(24), [2, 3, 4]);
    const x4 = tensor(randn(24), [1, 2, 3, 4]);
    expect(() => resizeBilinear(x3, [2, 2], { alignCorners: false })).toThrow(/resizeBilinear: input must have rank 4, got shape \[2, 3, 4\]/);
    expect(() => resizeBilinear(x4, [0, 2], { alignCorners: false })).toThrow(/resizeBilinear: output size \[0,2\] must be two integers >= 1/);
    expect(() => resizeBilinear(x4, [2, 2.5], { alignCorners: false })).toThrow(/resizeBilinear: output size/);
    expect(() => resizeBilinear(x4, [2, 2], {} as never)).toThrow(/resizeBilinear: options.alignCorners must be true or false/);
    x3.dispose();
    x4.dispose();
  });
});

describe('areaDownsample', () => {
  const cases: Array<[number[], number]> = [
    [[1, 1, 4, 4], 2],
    [[2, 3, 12, 15], 3],
    [[1, 2, 7, 7], 7],
    [[1, 1, 5, 3], 1],
    [[3, 5, 66, 130], 2],
    [[1, 1, 64, 64], 8],
    // Factor 2 on rows of a multiple of 8 (area2_fwd_v4): odd planes, one vec4 per thread, two rows
    [[3, 5, 6, 8], 2],
    [[2, 3, 2, 40], 2],
    [[1, 3, 256, 256], 2],
  ];
  it('factor 2 with rows of a multiple of 8 runs 4 outputs per thread (area2_fwd_v4), others one', () => {
    const entry = (shape: number[], f: number) => {
      const x = tensor(new Float32Array(numel(shape)), shape);
      const { result, launches } = traceLaunches(() => areaDownsample(x, f));
      result.dispose();
      x.dispose();
      return launches[0].entry;
    };
    expect([entry([1, 1, 2, 8], 2), entry([1, 1, 2, 12], 2), entry([1, 1, 4, 8], 4)]).toEqual(['area2_fwd_v4', 'area_fwd', 'area_fwd']);
  });
  for (const [shape, f] of cases) {
    it(`${JSON.stringify(shape)} by ${f}`, async () => {
      const data = randn(numel(shape), numel(shape) + f);
      const x = tensor(data, shape);
      const y = areaDownsample(x, f);
      expect(y.shape).toEqual([shape[0], shape[1], shape[2] / f, shape[3] / f]);
      expectClose(await y.read(), resizeRef.area(data, shape, f), { atol: 2e-6, rtol: 0 }, 'area');
      x.dispose();
      y.dispose();
    });
  }

  it('gradients (finite differences)', async () => {
    for (const [shape, f] of [[[1, 2, 6, 4], 2], [[2, 1, 9, 6], 3], [[1, 1, 3, 5], 1]] as Array<[number[], number]>) {
      await gradCheck({ inputs: [{ shape }], gpu: ([a]) => areaDownsample(a, f), ref: ([a]) => resizeRef.area(a, shape, f), samples: 48 });
    }
  });

  it('rejects bad inputs', () => {
    const x = tensor(randn(2 * 13 * 17), [1, 2, 13, 17]);
    expect(() => areaDownsample(x, 2)).toThrow(/areaDownsample: input \[1, 2, 13, 17\] has spatial size 13x17, which is not divisible by factor 2/);
    expect(() => areaDownsample(x, 0)).toThrow(/areaDownsample: factor 0 must be an integer >= 1/);
    expect(() => areaDownsample(x, 1.5)).toThrow(/areaDownsample: factor 1.5/);
    const x2 = tensor(randn(4), [2, 2]);
    expect(() => areaDownsample(x2, 2)).toThrow(/areaDownsample: input must have rank 4, got shape \[2, 2\]/);
    x.dispose();
    x2.dispose();
  });
});

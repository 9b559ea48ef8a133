import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { blurPlan, defaultBlurRadius, gaussianBlur, gaussianBlurRef, gaussianKernel1d, reflectIndex } from '../../src/ops/blur.js';
import { parameter } from '../../src/autograd/tape.js';
import { full, tensor } from '../../src/tensor/tensor.js';
import { expectClose, numel, randn, sweepVariants, useGpu } from '../helpers.js';
import { traceLaunches } from '../../src/ops/util.js';

useGpu();

// Tolerance: each output is a weighted sum of (2r + 1)^2 inputs in [-1, 1] with weights summing
// to 1, accumulated in f32 in two passes (f64 reference): atol 1e-5.
const TOL = { atol: 1e-5, rtol: 0 };

describe('gaussianBlur', () => {
  const cases: Array<[number[], number, number | undefined]> = [
    [[1, 1, 1, 1], 1, undefined], // radius 4 on a single pixel
    [[1, 1, 5, 3], 2, undefined], // radius 8 > size: repeated reflection
    [[1, 1, 2, 3], 1, 20],
    [[2, 3, 17, 29], 1.5, undefined],
    [[1, 2, 64, 67], 4, undefined], // 33 taps
    [[1, 1, 130, 9], 0.8, undefined],
    [[1, 1, 7, 13], 2, 0], // radius 0: identity
    // Rows a multiple of 4 wide: the vertical pass 4 columns at a time (fwd_v4)
    [[2, 3, 17, 28], 1.5, undefined],
    [[1, 2, 64, 64], 4, undefined], // 33 taps
    [[1, 1, 5, 4], 2, undefined], // radius 8 > height: repeated reflection
    [[3, 1, 9, 8], 1, 0],
  ];
  for (const [shape, sigma, radius] of cases) {
    for (const span of [1, 2] as const) {
      it(`${JSON.stringify(shape)} sigma=${sigma} radius=${radius ?? 'default'} span=${span}`, async () => {
        const data = randn(numel(shape), numel(shape) + 3);
        const x = tensor(data, shape);
        const y = gaussianBlur(x, sigma, { radius, span });
        expect(y.shape).toEqual(shape);
        expectClose(await y.read(), gaussianBlurRef(data, shape, sigma, radius), TOL, 'blur');
        x.dispose();
        y.dispose();
      });
    }
  }

  it('every kernel variant (each candidate of the span knob) matches the reference, with the planned SPAN and vertical entry', async () => {
    const runs = [[1, 2, 19, 29], [1, 2, 19, 24]].map((shape) => {
      const data = randn(numel(shape), 4);
      const vertical = shape[3] % 4 === 0 ? 'blur.fwd_v4' : 'blur.fwd_v';
      return {
        name: JSON.stringify(shape),
        record: () => {
          const { result: y, launches } = traceLaunches(() => gaussianBlur(tensor(data, shape), 1.5));
          for (const l of launches) expect(l.constants).toEqual(blurPlan().constants);
          expect(launches.map((l) => `${l.shader}.${l.entry}`)).toEqual(['blur.fwd_h', vertical]);
          return async () => {
            expectClose(await y.read(), gaussianBlurRef(data, shape, 1.5), TOL, 'blur');
            y.dispose();
          };
        },
        planned: () => ['blur.fwd_h', vertical],
      };
    });
    const reached = await sweepVariants('blur', runs);
    expect(reached).toEqual(['blur.fwd_h', 'blur.fwd_v', 'blur.fwd_v4']);
  });

  it('applies scale and shift in the last pass (both vertical entries); rejects non-finite ones', async () => {
    for (const shape of [[2, 1, 9, 12], [1, 2, 7, 11]]) {
      const data = randn(numel(shape), 6);
      const x = tensor(data, shape);
      const y = gaussianBlur(x, 1.5, { scale: -1 / 3, shift: 1 });
      const ref = gaussianBlurRef(data, shape, 1.5).map((v) => v * (-1 / 3) + 1);
      expectClose(await y.read(), ref, TOL, `scale and shift ${JSON.stringify(shape)}`);
      expect(() => gaussianBlur(x, 1, { shift: NaN })).toThrow(/gaussianBlur: scale 1 and shift NaN must be finite numbers/);
      for (const t of [x, y]) t.dispose();
    }
  });

  it('default kernel size is 2 * floor(4 sigma + 0.5) + 1 and weights sum to 1', () => {
    expect(defaultBlurRadius(4)).toBe(16);
    expect(gaussianKernel1d(4, defaultBlurRadius(4)).length).toBe(33);
    expect(gaussianKernel1d(1.3, 5).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it("uses 'reflect' borders (mirror without repeating the edge)", async () => {
    expect([-1, -2, 3, 4, 7].map((i) => reflectIndex(i, 3))).toEqual([1, 2, 1, 0, 1]);
    expect(reflectIndex(-5, 1)).toBe(0);
    // Row [0, 0, 1], radius 1, weights [a, b, a]: the edge 1 sees its mirror neighbour x[1] = 0.
    const k = gaussianKernel1d(1, 1);
    const x = tensor([0, 0, 1], [1, 1, 1, 3]);
    const y = gaussianBlur(x, 1, { radius: 1 });
    expectClose(await y.read(), [0, k[0], k[1]], { atol: 1e-7, rtol: 0 }, 'reflect row');
    x.dispose();
    y.dispose();
  });

  it('keeps a constant image constant', async () => {
    const x = full([2, 1, 23, 41], 3.25);
    const y = gaussianBlur(x, 4);
    expectClose(await y.read(), new Float32Array(x.size).fill(3.25), { atol: 3e-6, rtol: 0 }, 'constant');
    x.dispose();
    y.dispose();
  });

  it('blurs an impulse into the normalised 2-D kernel', async () => {
    const sigma = 4;
    const r = defaultBlurRadius(sigma);
    const size = 2 * r + 9;
    const c = r + 4;
    const data = new Float32Array(size * size);
    data[c * size + c] = 1;
    const x = tensor(data, [1, 1, size, size]);
    const y = gaussianBlur(x, sigma);
    const k = gaussianKernel1d(sigma, r);
    const expected = new Float64Array(size * size);
    for (let i = -r; i <= r; i++) for (let j = -r; j <= r; j++) expected[(c + i) * size + c + j] = k[i + r] * k[j + r];
    expectClose(await y.read(), expected, { atol: 1e-8, rtol: 1e-5 }, 'impulse');
    x.dispose();
    y.dispose();
  });

  it('is not recorded by autograd', () => {
    const x = parameter(tensor(randn(16), [1, 1, 4, 4]));
    const y = gaussianBlur(x, 1);
    expect(y.requiresGrad).toBe(false);
    x.dispose();
    y.dispose();
  });

  it('rejects bad inputs', () => {
    const x3 = tensor(randn(12), [1, 3, 4]);
    const x = tensor(randn(16), [1, 1, 4, 4]);
    expect(() => gaussianBlur(x3, 1)).toThrow(/gaussianBlur: input must have rank 4, got shape \[1, 3, 4\]/);
    expect(() => gaussianBlur(x, 0)).toThrow(/gaussianBlur: sigma 0 must be a finite number > 0/);
    expect(() => gaussianBlur(x, Number.NaN)).toThrow(/gaussianBlur: sigma NaN/);
    expect(() => gaussianBlur(x, 1, { radius: -1 })).toThrow(/gaussianBlur: radius -1 must be an integer >= 0/);
    expect(() => gaussianBlur(x, 1, { radius: 1.5 })).toThrow(/gaussianBlur: radius 1.5/);
    x3.dispose();
    x.dispose();
  });
});

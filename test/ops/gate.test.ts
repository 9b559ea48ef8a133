import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { gatePlan, gateRef, gatedResidual, gatedResidualBackward } from '../../src/ops/gate.js';
import { tensor, type Tensor } from '../../src/tensor/tensor.js';
import { expectClose, gradCheck, numel, randn, sweepVariants, useGpu } from '../helpers.js';

useGpu();

// Tolerance: one exp and a few f32 roundings per element (inputs in [-4, 4]): atol 1e-6, rtol 1e-5
// against the float64 reference, forward and backward.
const TOL = { atol: 1e-6, rtol: 1e-5 };

// Element counts: 1, primes, non-multiples of 4 / the workgroup, multiples of 4 (vec4 path), and
// a 2-D-grid size (> 65535 workgroups at 1 element per thread is not reached; 70k covers the tail).
const SHAPES = [[0, 4], [1], [7], [4], [2, 3, 5, 7], [1, 4, 8, 8], [2, 13, 31, 31], [1, 96, 64, 64], [70_001]];

/** Records the forward and the backward of `shape`; returns their check against the reference. */
function recordShape(shape: number[]): () => Promise<void> {
  const n = numel(shape);
  const [z, g, r, gy] = [randn(n, 1, -4, 4), randn(n, 2, -4, 4), randn(n, 3, -4, 4), randn(n, 4)];
  const tz = tensor(z, shape);
  const tg = tensor(g, shape);
  const tr = tensor(r, shape);
  const tgy = tensor(gy, shape);
  const y = gatedResidual(tz, tg, tr);
  expect(y.shape).toEqual(shape);
  for (const t of [tz, tg, tr]) t.requiresGrad = true;
  const [gz, gg, gr] = gatedResidualBackward(tgy, tz, tg, tr) as Tensor[];
  return async () => {
    expectClose(await y.read(), gateRef.forward(z, g, r), TOL, `forward ${JSON.stringify(shape)}`);
    const ref = gateRef.backward(gy, g, r);
    expectClose(await gz.read(), ref.gz, { atol: 0, rtol: 0 }, 'gz');
    expectClose(await gg.read(), ref.gg, TOL, 'gg');
    expectClose(await gr.read(), ref.gr, TOL, 'gr');
    for (const t of [tz, tg, tr, tgy, y, gz, gg, gr]) t.dispose();
  };
}

const checkShape = (shape: number[]) => recordShape(shape)();

describe('gatedResidual', () => {
  for (const shape of SHAPES) {
    it(`forward and backward match the reference, shape ${JSON.stringify(shape)}`, async () => {
      await checkShape(shape);
    });
  }

  it('every kernel variant (each candidate of every gate knob) agrees with the reference, and runs as planned', async () => {
    const reached = await sweepVariants(
      'gate',
      [[3, 5, 4, 9], [1031]].map((shape) => ({
        name: JSON.stringify(shape),
        record: () => recordShape(shape),
        planned: () => [`gate.fwd${gatePlan(numel(shape)).suffix}`, `gate.bwd${gatePlan(numel(shape)).suffix}`],
      })),
      { extra: [{ gate: { vec4: false, unroll: 2, wg: 128 } }] },
    );
    expect(reached).toEqual(['gate.bwd', 'gate.bwd_v4', 'gate.fwd', 'gate.fwd_v4']);
  });

  it('saturated gates keep relative accuracy and stay finite', async () => {
    const g = Float32Array.from([-90, -30, -17, -1e-3, 0, 1e-3, 17, 30, 90]);
    const n = g.length;
    const [tz, tg, tr, tgy] = [new Float32Array(n).fill(0.5), g, new Float32Array(n).fill(2), new Float32Array(n).fill(1)].map((d) => tensor(d));
    const y = await gatedResidual(tz, tg, tr).read();
    tg.requiresGrad = tr.requiresGrad = true;
    const [, gg, gr] = gatedResidualBackward(tgy, tz, tg, tr) as Tensor[];
    const ref = gateRef.backward(new Float32Array(n).fill(1), g, new Float32Array(n).fill(2));
    const exact = { atol: 0, rtol: 2e-6 };
    expectClose(y, gateRef.forward(new Float32Array(n).fill(0.5), g, new Float32Array(n).fill(2)), exact, 'y');
    // Relative accuracy down to the smallest normal f32 (denormals may flush to zero).
    expectClose(await gg.read(), ref.gg, { atol: 1.2e-38, rtol: 2e-5 }, 'gg (tiny but accurate)');
    expectClose(await gr.read(), ref.gr, { atol: 1.2e-38, rtol: 2e-5 }, 'gr');
    for (const t of [tz, tg, tr, tgy, gg, gr]) t.dispose();
  });

  it('backward returns null for inputs without grad and new tensors otherwise', async () => {
    const n = 12;
    const [z, g, r, gy] = [randn(n, 5), randn(n, 6), randn(n, 7), randn(n, 8)];
    const tz = tensor(z);
    const tg = tensor(g);
    const tr = tensor(r);
    const tgy = tensor(gy);
    tg.requiresGrad = true;
    const [gz, gg, gr] = gatedResidualBackward(tgy, tz, tg, tr);
    expect(gz).toBeNull();
    expect(gr).toBeNull();
    expect(gg).not.toBe(tgy);
    expectClose(await gg!.read(), gateRef.backward(gy, g, r).gg, TOL, 'gg only');
    tz.requiresGrad = true;
    tg.requiresGrad = false;
    const [gz2, gg2] = gatedResidualBackward(tgy, tz, tg, tr);
    expect(gz2).not.toBe(tgy);
    expect(gg2).toBeNull();
    expectClose(await gz2!.read(), gy, { atol: 0, rtol: 0 }, 'gz only');
    for (const t of [tz, tg, tr, tgy, gg!, gz2!]) t.dispose();
  });

  it('gradients (finite differences)', async () => {
    const shape = [2, 3, 5];
    await gradCheck({
      inputs: [{ shape }, { shape, data: randn(30, 9, -3, 3) }, { shape }],
      gpu: ([z, g, r]) => gatedResidual(z, g, r),
      ref: ([z, g, r]) => gateRef.forward(z, g, r),
    });
    await gradCheck({
      inputs: [{ shape: [8] }, { shape: [8], constant: true }, { shape: [8] }],
      gpu: ([z, g, r]) => gatedResidual(z, g, r),
      ref: ([z, g, r]) => gateRef.forward(z, g, r),
    });
  });

  it('rejects mismatched shapes', () => {
    const a = tensor(randn(6), [2, 3]);
    const b = tensor(randn(6), [3, 2]);
    expect(() => gatedResidual(a, a, b)).toThrow(/^gatedResidual: r has shape \[3, 2\], expected \[2, 3\]/);
    expect(() => gatedResidual(a, b, a)).toThrow(/^gatedResidual: g has shape \[3, 2\], expected \[2, 3\]/);
    a.dispose();
    b.dispose();
  });
});

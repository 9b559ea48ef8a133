import { describe, expect, it } from 'vitest';
import { add, affine, div, elementwiseRef, expand, mul, relu, relu6, sigmoid, sub } from '../../src/ops/index.js';
import { tensor, scope } from '../../src/tensor/tensor.js';
import { expectClose, gradCheck, numel, randn, useGpu } from '../helpers.js';

useGpu();

// Tolerances: activations are exact up to f32 rounding (1e-6); sigmoid uses exp (1e-6 abs);
// binary ops are one rounding (rtol 1e-6); division by values near zero is avoided in inputs.
const SIZES = [1, 7, 256, 257, 1031, 70_001];

describe('unary activations', () => {
  for (const n of SIZES) {
    it(`relu / relu6 / sigmoid / affine match the reference, n=${n}`, async () => {
      const x = randn(n, n, -8, 8);
      const t = tensor(x);
      const out = scope(() => [relu(t), relu6(t), sigmoid(t), affine(t, 0.5, -2)]);
      expectClose(await out[0].read(), elementwiseRef.relu(x), { atol: 0, rtol: 0 }, 'relu');
      expectClose(await out[1].read(), elementwiseRef.relu6(x), { atol: 0, rtol: 0 }, 'relu6');
      expectClose(await out[2].read(), elementwiseRef.sigmoid(x), { atol: 1e-6, rtol: 1e-5 }, 'sigmoid');
      expectClose(await out[3].read(), elementwiseRef.affine(x, 0.5, -2), { atol: 1e-6, rtol: 1e-6 }, 'affine');
      for (const o of [...out, t]) o.dispose();
    });
  }

  it('gradients (finite differences)', async () => {
    // Keep inputs away from the relu kinks so central differences are well defined.
    const x = randn(37, 3, -8, 8).map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : Math.abs(v - 6) < 0.05 ? v + 0.1 : v));
    await gradCheck({ inputs: [{ shape: [37], data: x }], gpu: ([a]) => relu(a), ref: ([a]) => elementwiseRef.relu(a) });
    await gradCheck({ inputs: [{ shape: [37], data: x }], gpu: ([a]) => relu6(a), ref: ([a]) => elementwiseRef.relu6(a) });
    await gradCheck({ inputs: [{ shape: [37], data: x }], gpu: ([a]) => sigmoid(a), ref: ([a]) => elementwiseRef.sigmoid(a) });
    await gradCheck({ inputs: [{ shape: [5, 7] }], gpu: ([a]) => affine(a, -1.5, 3), ref: ([a]) => elementwiseRef.affine(a, -1.5, 3) });
  });
});

describe('broadcasting binary ops', () => {
  const cases: Array<[number[], number[]]> = [
    [[1], [1]],
    [[13], [13]],
    [[2, 3, 5, 7], [1, 3, 1, 1]],
    [[3, 1, 5], [4, 1]],
    [[1, 17, 1], [2, 1, 19]],
    [[6, 5], []],
    [[2, 1, 3, 1, 5, 1, 7], [3, 4, 1, 2, 1]],
  ];
  for (const [as, bs] of cases) {
    it(`add/sub/mul/div ${JSON.stringify(as)} with ${JSON.stringify(bs)}`, async () => {
      const a = randn(numel(as), 11);
      const b = randn(numel(bs), 12, 0.5, 2);
      const ta = tensor(a, as);
      const tb = tensor(b, bs);
      const ops = { add, sub, mul, div } as const;
      for (const [name, f] of Object.entries(ops)) {
        const y = f(ta, tb);
        const ref = elementwiseRef.binary(name as keyof typeof ops, a, as, b, bs);
        expect(y.shape).toEqual(ref.shape);
        expectClose(await y.read(), ref.data, { atol: 1e-6, rtol: 1e-6 }, name);
        y.dispose();
      }
      ta.dispose();
      tb.dispose();
    });
  }

  it('gradients reduce over broadcast axes', async () => {
    for (const name of ['add', 'sub', 'mul', 'div'] as const) {
      const f = { add, sub, mul, div }[name];
      await gradCheck({
        inputs: [{ shape: [2, 3, 5] }, { shape: [3, 1], data: randn(3, 5, 0.5, 2) }],
        gpu: ([a, b]) => f(a, b),
        ref: ([a, b]) => elementwiseRef.binary(name, a, [2, 3, 5], b, [3, 1]).data,
      });
    }
  });

  it('expand broadcasts and its gradient sums back', async () => {
    await gradCheck({
      inputs: [{ shape: [3, 1, 2] }],
      gpu: ([a]) => expand(a, [4, 3, 5, 2], 2),
      ref: ([a]) => elementwiseRef.binary('mul', a, [3, 1, 2], new Float64Array(4 * 3 * 5 * 2).fill(2), [4, 3, 5, 2]).data,
    });
  });

  it('rejects shapes that do not broadcast, naming op and shapes', () => {
    const a = tensor(randn(6), [2, 3]);
    const b = tensor(randn(4), [4]);
    expect(() => add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4\] do not broadcast/);
    a.dispose();
    b.dispose();
  });
});

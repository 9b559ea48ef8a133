import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { Adam, adamRef, adamStep, type AdamHyper } from '../../src/nn/adam.js';
import { adamPlan } from '../../src/ops/adam.js';
import { backward, parameter } from '../../src/autograd/tape.js';
import { mul, sub } from '../../src/ops/elementwise.js';
import { sum } from '../../src/ops/reduce.js';
import { scope, tensor, zeros, type Tensor } from '../../src/tensor/tensor.js';
import { expectClose, numel, randn, sweepVariants, useGpu, withTuning } from '../helpers.js';

useGpu();

// Tolerance: each step is a handful of f32 operations per element, so param, m and v match the
// float64 reference to rtol 1e-5, with atol a few ulps of the largest value along the way (a value
// can cancel to ~0): 4e-7 for m and v (|g| <= 2), 3e-7 * (1 + lr * steps) for param (moves ~lr a step).
const TOL = { atol: 4e-7, rtol: 1e-5 };
const paramTol = (lr: number) => ({ atol: 3e-7 * (1 + lr * STEPS), rtol: 1e-5 });

const HYPER: AdamHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
const STEPS = 7;

/**
 * Gradients with |g| in [0.25, 2]: far from |weightDecay * param| <= 0.05, because where g + wd * p
 * cancels to ~0 the sign-like first Adam update amplifies any f32 rounding (an ill-conditioned
 * case for every f32 implementation, PyTorch's too).
 */
function gradSequence(n: number, seed: number): Float32Array[] {
  return Array.from({ length: STEPS }, (_, s) => randn(n, seed + 17 * s, -1, 1).map((u) => Math.sign(u || 1) * (0.25 + 1.75 * Math.abs(u))));
}

/** Records STEPS updates of `shape`; returns their check against the float64 reference. */
function recordSteps(shape: number[], h: AdamHyper, seed: number): () => Promise<void> {
  const n = numel(shape);
  const p0 = randn(n, seed);
  const grads = gradSequence(n, seed + 1);
  const [param, m, v] = [tensor(p0, shape), zeros(shape), zeros(shape)];
  grads.forEach((g, s) => {
    const tg = tensor(g, shape);
    adamStep(param, tg, m, v, { ...h, step: s + 1 });
    tg.dispose();
  });
  return async () => {
    const ref = adamRef(p0, grads, h);
    const label = `${JSON.stringify(shape)} ${JSON.stringify(h)}`;
    expectClose(await param.read(), ref.param, paramTol(h.lr), `param ${label}`);
    expectClose(await m.read(), ref.m, TOL, `m ${label}`);
    expectClose(await v.read(), ref.v, TOL, `v ${label}`);
    for (const t of [param, m, v]) t.dispose();
  };
}

const checkSteps = (shape: number[], h: AdamHyper, seed: number) => recordSteps(shape, h, seed)();

describe('adamStep', () => {
  // 1, primes, vec4 sizes, a 2-D-grid-sized parameter is covered by the wg = 1 variant below.
  for (const shape of [[1], [7], [1031], [16, 64], [3, 5, 2, 2], [96, 96, 3, 3]]) {
    it(`${STEPS} steps match the float64 reference, shape ${JSON.stringify(shape)}`, async () => {
      await checkSteps(shape, HYPER, numel(shape));
      await checkSteps(shape, { lr: 0.3, beta1: 0.5, beta2: 0.9, eps: 1e-6, weightDecay: 0.05 }, 3);
    });
  }

  it('every kernel variant (each candidate of every adam knob) matches the reference, and runs as planned', async () => {
    const reached = await sweepVariants(
      'adam',
      [[4, 9], [7]].map((shape) => ({
        name: JSON.stringify(shape),
        record: () => recordSteps(shape, HYPER, 4),
        planned: () => [`adam.${adamPlan(numel(shape)).entry}`],
      })),
    );
    expect(reached).toEqual(['adam.step', 'adam.step_v4']);
    await withTuning({ adam: { vec4: true, wg: 1 } }, () => checkSteps([66_000 * 4], HYPER, 5)); // > 65535 workgroups
  });

  it('rejects bad shapes and options', () => {
    const [p, g, m, v] = [zeros([2, 3]), zeros([3, 2]), zeros([2, 3]), zeros([2, 3])];
    expect(() => adamStep(p, g, m, v, { ...HYPER, step: 1 })).toThrow(/^adamStep: grad has shape \[3, 2\], expected \[2, 3\]/);
    expect(() => adamStep(p, m, g, v, { ...HYPER, step: 1 })).toThrow(/^adamStep: m has shape \[3, 2\], expected \[2, 3\]/);
    expect(() => adamStep(p, m, m, v, { ...HYPER, step: 0 })).toThrow(/^adamStep: step must be an integer >= 1, got 0/);
    expect(() => adamStep(p, m, m, v, { ...HYPER, beta1: 1, step: 1 })).toThrow(/^adamStep: beta1 must be in \[0, 1\), got 1/);
    expect(() => new Adam([p], { lr: -1 })).toThrow(/^Adam: lr must be a finite number >= 0, got -1/);
    for (const t of [p, g, m, v]) t.dispose();
  });
});

describe('Adam', () => {
  it('matches the reference over a fixed gradient sequence and skips parameters without grad', async () => {
    const shapes = [[5, 4], [3]];
    const p0 = shapes.map((s, i) => randn(numel(s), 40 + i));
    const grads = shapes.map((s, i) => gradSequence(numel(s), 50 + i));
    const params = shapes.map((s, i) => parameter(tensor(p0[i], s)));
    const h = { lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 };
    const opt = new Adam(params, h);
    // The second parameter has no gradient on step 3: it is skipped and its own count lags.
    const used: number[][] = [[], []];
    for (let s = 0; s < STEPS; s++) {
      params.forEach((p, i) => {
        if (i === 1 && s === 2) return;
        p.grad = tensor(grads[i][s], p.shape);
        used[i].push(s);
      });
      opt.step();
      opt.zeroGrad();
      params.forEach((p) => expect(p.grad).toBeNull());
    }
    const st = opt.state();
    expect(st.step).toBe(STEPS);
    expect(st.steps).toEqual([STEPS, STEPS - 1]);
    for (let i = 0; i < 2; i++) {
      const ref = adamRef(p0[i], used[i].map((s) => grads[i][s]), h);
      expectClose(await params[i].read(), ref.param, paramTol(h.lr), `param ${i}`);
      expectClose(await st.m[i].read(), ref.m, TOL, `m ${i}`);
      expectClose(await st.v[i].read(), ref.v, TOL, `v ${i}`);
    }
    // loadState restores moments and counts into a fresh optimiser.
    const m = await Promise.all(st.m.map((t) => t.read()));
    const v = await Promise.all(st.v.map((t) => t.read()));
    const opt2 = new Adam(params, h);
    opt2.loadState({ step: st.step, steps: st.steps, m, v });
    const st2 = opt2.state();
    expect(st2.steps).toEqual(st.steps);
    expectClose(await st2.v[0].read(), v[0], { atol: 0, rtol: 0 }, 'loaded v');
    expect(() => opt2.loadState({ step: 1, m: [m[0]], v })).toThrow(/^Adam.loadState: state holds 1 m \/ 2 v tensors, expected 2/);
    opt.dispose();
    opt2.dispose();
    expect(st.m[0].disposed).toBe(true);
    expect(() => opt.step()).toThrow(/^Adam.step: the optimiser was disposed/);
    params.forEach((p) => p.dispose());
  });

  it('minimises a quadratic', async () => {
    const n = 37;
    const target = randn(n, 60, -3, 3);
    const x = parameter(zeros([n]));
    const t = tensor(target);
    const opt = new Adam([x], { lr: 0.1 });
    const lossAt = () =>
      scope(() => {
        const d = sub(x, t);
        const loss = sum(mul(d, d));
        backward(loss);
        return loss;
      });
    const first = lossAt();
    const l0 = await first.item();
    first.dispose();
    opt.step();
    for (let s = 0; s < 300; s++) {
      opt.zeroGrad();
      const l = lossAt();
      l.dispose();
      opt.step();
    }
    opt.zeroGrad();
    const final = lossAt();
    const l1 = await final.item();
    final.dispose();
    expect(l1).toBeLessThan(1e-3 * l0);
    expectClose(await x.read(), target, { atol: 2e-2, rtol: 0 }, 'x converges to the target');
    opt.zeroGrad();
    opt.dispose();
    for (const v of [x, t] as Tensor[]) v.dispose();
  });
});

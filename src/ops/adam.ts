// One Adam update as one in-place WGSL kernel per parameter (PyTorch torch.optim.Adam semantics:
// bias correction, L2 weight decay added to the gradient, amsgrad = false); the optimiser that
// owns the moments is src/nn/adam.ts. Kernel: shaders/adam.wgsl. CPU reference at the bottom.
import { Tensor, shapeStr } from '../tensor/tensor.js';
import { allow, tunable } from './tunable.js';
import { groups1d, launch, sameShape } from './util.js';

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay?: number;
}

export interface AdamStepOptions extends AdamHyper {
  /** 1-based step count of this parameter (after this update), for the bias correction. */
  step: number;
}

/** Threads per workgroup, and the vec4 entry where the size allows. Measured: bench/RESULTS.md. */
export const adamTuning = tunable('adam', {
  vec4: { default: true, allowed: allow.bool, candidates: [true, false], cases: ['adam/165888', 'adam/1048576'], quick: true },
  wg: { default: 128, allowed: allow.int(1, 256), candidates: [64, 128, 256], cases: ['adam/165888', 'adam/1048576'] },
});

/** The kernel, constants and grid one update of `size` parameters runs (and the bench's label). */
export function adamPlan(size: number): { entry: string; constants: Record<string, number>; items: number; workgroups: [number, number]; label: string } {
  const t = adamTuning.values;
  const v4 = t.vec4 && size % 4 === 0;
  const items = v4 ? size / 4 : size;
  return { entry: v4 ? 'step_v4' : 'step', constants: { WG: t.wg }, items, workgroups: groups1d(items, t.wg), label: `wg=${t.wg}${v4 ? ' vec4' : ''}` };
}

export function checkHyper(op: string, h: AdamHyper): void {
  const bad = (name: string, value: unknown, want: string) => new Error(`${op}: ${name} must be ${want}, got ${value}`);
  if (!(Number.isFinite(h.lr) && h.lr >= 0)) throw bad('lr', h.lr, 'a finite number >= 0');
  if (!(h.beta1 >= 0 && h.beta1 < 1)) throw bad('beta1', h.beta1, 'in [0, 1)');
  if (!(h.beta2 >= 0 && h.beta2 < 1)) throw bad('beta2', h.beta2, 'in [0, 1)');
  if (!(Number.isFinite(h.eps) && h.eps >= 0)) throw bad('eps', h.eps, 'a finite number >= 0');
  const wd = h.weightDecay ?? 0;
  if (!(Number.isFinite(wd) && wd >= 0)) throw bad('weightDecay', wd, 'a finite number >= 0');
}

/**
 * One Adam update of `param`, `m` and `v` in place (recorded, not awaited). `opts` may be a
 * function giving them: a recording of the update (Runtime.record) then asks it again at each
 * replay, so the step count and its bias corrections move on (the optimiser's step, src/nn/adam.ts).
 */
export function adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: AdamStepOptions | (() => AdamStepOptions)): void {
  const op = 'adamStep';
  for (const [name, t] of [['grad', grad], ['m', m], ['v', v]] as const) {
    if (!sameShape(t.shape, param.shape)) {
      throw new Error(`${op}: ${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(param.shape)} (the shape of param)`);
    }
  }
  const now = typeof opts === 'function' ? opts() : opts;
  checkHyper(op, now);
  if (!(Number.isInteger(now.step) && now.step >= 1)) throw new Error(`${op}: step must be an integer >= 1, got ${now.step}`);
  if (param.size === 0) return;
  const pl = adamPlan(param.size);
  const uniforms = (o: AdamStepOptions) => ({
    n: pl.items,
    one_minus_beta1: 1 - o.beta1,
    beta2: o.beta2,
    one_minus_beta2: 1 - o.beta2,
    eps: o.eps,
    weight_decay: o.weightDecay ?? 0,
    step_size: o.lr / (1 - o.beta1 ** o.step), // bias corrections in float64
    bc2_sqrt: Math.sqrt(1 - o.beta2 ** o.step),
  });
  launch(op, {
    shader: 'adam',
    entry: pl.entry,
    constants: pl.constants,
    tensors: { param, grad, m, v },
    uniforms: uniforms(now),
    ...(typeof opts === 'function' ? { liveUniforms: () => uniforms(opts()) } : {}),
    workgroups: pl.workgroups,
  });
}

// ---- CPU reference (float64) ------------------------------------------------------------------

/** Runs `grads.length` Adam steps from `param0` with zero moments; returns the final state. */
export function adamRef(
  param0: ArrayLike<number>,
  grads: readonly ArrayLike<number>[],
  h: AdamHyper,
): { param: Float64Array; m: Float64Array; v: Float64Array } {
  const param = Float64Array.from(param0);
  const m = new Float64Array(param.length);
  const v = new Float64Array(param.length);
  const wd = h.weightDecay ?? 0;
  grads.forEach((grad, s) => {
    const t = s + 1;
    const stepSize = h.lr / (1 - h.beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - h.beta2 ** t);
    for (let i = 0; i < param.length; i++) {
      const g = grad[i] + wd * param[i];
      m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
      v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
      param[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + h.eps);
    }
  });
  return { param, m, v };
}

// Adam (PyTorch torch.optim.Adam semantics: bias correction, L2 weight decay added to the
// gradient, amsgrad = false), as one in-place WGSL kernel per parameter. Kernel: shaders/adam.wgsl.
// CPU reference at the bottom.
import { runtime } from '../gpu/runtime.js';
import { zeroGrad as clearGrads } from '../autograd/tape.js';
import { Tensor, keep, shapeStr, zeros } from '../tensor/tensor.js';
import { groups1d, launch, sameShape } from '../ops/util.js';

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

export type AdamOptions = Partial<AdamHyper>;

/**
 * Threads per workgroup and the vec4 entry when the size allows. 128 threads beat 64 by ×1.35 on
 * lavapipe (256 won on SwiftShader, ×1.18) in `hlgfa tune --browser --compare`; `hlgfa tune` may override.
 */
export const adamTuning = { wg: 128, vec4: true };

function checkHyper(op: string, h: AdamHyper): void {
  const bad = (name: string, value: unknown, want: string) => new Error(`${op}: ${name} must be ${want}, got ${value}`);
  if (!(Number.isFinite(h.lr) && h.lr >= 0)) throw bad('lr', h.lr, 'a finite number >= 0');
  if (!(h.beta1 >= 0 && h.beta1 < 1)) throw bad('beta1', h.beta1, 'in [0, 1)');
  if (!(h.beta2 >= 0 && h.beta2 < 1)) throw bad('beta2', h.beta2, 'in [0, 1)');
  if (!(Number.isFinite(h.eps) && h.eps >= 0)) throw bad('eps', h.eps, 'a finite number >= 0');
  const wd = h.weightDecay ?? 0;
  if (!(Number.isFinite(wd) && wd >= 0)) throw bad('weightDecay', wd, 'a finite number >= 0');
}

/** One Adam update of `param`, `m` and `v` in place (recorded, not awaited). */
export function adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: AdamStepOptions): void {
  const op = 'adamStep';
  for (const [name, t] of [['grad', grad], ['m', m], ['v', v]] as const) {
    if (!sameShape(t.shape, param.shape)) {
      throw new Error(`${op}: ${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(param.shape)} (the shape of param)`);
    }
  }
  checkHyper(op, opts);
  if (!(Number.isInteger(opts.step) && opts.step >= 1)) throw new Error(`${op}: step must be an integer >= 1, got ${opts.step}`);
  if (param.size === 0) return;
  const v4 = adamTuning.vec4 && param.size % 4 === 0;
  const n = v4 ? param.size / 4 : param.size;
  const bc1 = 1 - opts.beta1 ** opts.step;
  const bc2 = 1 - opts.beta2 ** opts.step;
  launch(op, {
    shader: 'adam',
    entry: v4 ? 'adam4' : 'adam',
    constants: { WG: adamTuning.wg },
    tensors: v4 ? { param4: param, grad4: grad, m4: m, v4: v } : { param, grad, m, v },
    uniforms: {
      n,
      one_minus_beta1: 1 - opts.beta1,
      beta2: opts.beta2,
      one_minus_beta2: 1 - opts.beta2,
      eps: opts.eps,
      weight_decay: opts.weightDecay ?? 0,
      step_size: opts.lr / bc1,
      bc2_sqrt: Math.sqrt(bc2),
    },
    workgroups: groups1d(n, adamTuning.wg),
  });
}

export interface AdamState {
  /** Number of `step()` calls. */
  step: number;
  /** Per-parameter update counts (a parameter without a gradient is skipped, as in PyTorch). */
  steps: number[];
  /** First and second moments, one per parameter, in parameter order (kept tensors owned by Adam). */
  m: Tensor[];
  v: Tensor[];
}

/** Adam over a fixed list of parameters; owns the moment tensors. */
export class Adam {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  readonly params: readonly Tensor[];
  private readonly m: Tensor[];
  private readonly v: Tensor[];
  private readonly steps: number[];
  private stepCount = 0;
  private disposed = false;

  constructor(params: readonly Tensor[], opts: AdamOptions = {}) {
    this.lr = opts.lr ?? 1e-3;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    checkHyper('Adam', this);
    this.params = [...params];
    this.m = this.params.map((p) => keep(zeros(p.shape)));
    this.v = this.params.map((p) => keep(zeros(p.shape)));
    this.steps = this.params.map(() => 0);
  }

  /** Updates every parameter that has a gradient: one dispatch each, no await. */
  step(): void {
    this.assertAlive('step');
    checkHyper('Adam', this);
    this.stepCount++;
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      this.steps[i]++;
      adamStep(p, p.grad, this.m[i], this.v[i], {
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.weightDecay,
        step: this.steps[i],
      });
    });
  }

  zeroGrad(): void {
    clearGrads(this.params);
  }

  /** The live moment tensors and step counts (for checkpoints; do not dispose them). */
  state(): AdamState {
    this.assertAlive('state');
    return { step: this.stepCount, steps: [...this.steps], m: [...this.m], v: [...this.v] };
  }

  /** Restores moments and step counts saved from `state()` (values in parameter order). */
  loadState(s: { step: number; steps?: readonly number[]; m: readonly ArrayLike<number>[]; v: readonly ArrayLike<number>[] }): void {
    this.assertAlive('loadState');
    const n = this.params.length;
    if (s.m.length !== n || s.v.length !== n || (s.steps && s.steps.length !== n)) {
      throw new Error(`Adam.loadState: state holds ${s.m.length} m / ${s.v.length} v tensors, expected ${n} (one per parameter)`);
    }
    for (let i = 0; i < n; i++) {
      for (const [name, data] of [['m', s.m[i]], ['v', s.v[i]]] as const) {
        if (data.length !== this.params[i].size) {
          throw new Error(`Adam.loadState: ${name}[${i}] has ${data.length} values, expected ${this.params[i].size} (parameter ${shapeStr(this.params[i].shape)})`);
        }
      }
    }
    // Queue writes run ahead of unsubmitted work: submit what is recorded first.
    const rt = runtime();
    rt.flush();
    for (let i = 0; i < n; i++) {
      rt.write(this.m[i].bufferFor('Adam.loadState'), 0, Float32Array.from(s.m[i]));
      rt.write(this.v[i].bufferFor('Adam.loadState'), 0, Float32Array.from(s.v[i]));
      this.steps[i] = s.steps?.[i] ?? s.step;
    }
    this.stepCount = s.step;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [...this.m, ...this.v]) t.dispose();
  }

  private assertAlive(what: string): void {
    if (this.disposed) throw new Error(`Adam.${what}: the optimiser was disposed`);
  }
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

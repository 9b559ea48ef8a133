// The Adam optimiser (PyTorch torch.optim.Adam semantics): owns the moment tensors and the step
// counts, and runs one in-place kernel per parameter (src/ops/adam.ts, shaders/adam.wgsl). A
// recorded step (Runtime.record) counts steps again at each replay (Runtime.each) and its kernels
// take the bias corrections of that count (live uniforms).
import { runtime } from '../gpu/runtime.js';
import { zeroGrad as clearGrads } from '../autograd/tape.js';
import { Tensor, keep, shapeStr, zeros } from '../tensor/tensor.js';
import { adamStep, checkHyper, type AdamHyper, type AdamStepOptions } from '../ops/adam.js';

export { adamRef, adamStep, adamTuning, type AdamHyper, type AdamStepOptions } from '../ops/adam.js';

export type AdamOptions = Partial<AdamHyper>;

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

  /**
   * Updates every parameter that has a gradient: one dispatch each, no await. In a recording
   * (Runtime.record), each replay counts a step again and updates the same parameters.
   */
  step(): void {
    this.assertAlive('step');
    checkHyper('Adam', this);
    const updated = this.params.map((p) => p.grad !== null);
    const rt = runtime();
    // A replay runs no check: it is refused (the work then runs afresh, here) once a setting is bad.
    rt.guardRecording(() => this.settingsValid());
    let options: Array<AdamStepOptions | null> = [];
    rt.each(() => void (options = this.advance(updated)));
    this.params.forEach((p, i) => {
      if (updated[i]) adamStep(p, p.grad!, this.m[i], this.v[i], () => options[i]!);
    });
  }

  /** Counts a step of the `updated` parameters; returns each one's options for it (null: not updated). */
  private advance(updated: readonly boolean[]): Array<AdamStepOptions | null> {
    this.stepCount++;
    return updated.map((u, i) => {
      if (!u) return null;
      this.steps[i]++;
      return { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step: this.steps[i] };
    });
  }

  private settingsValid(): boolean {
    try {
      checkHyper('Adam', this);
      return true;
    } catch {
      return false;
    }
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


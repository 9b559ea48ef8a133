// Fused gated residual: y = z + sigmoid(g) * r, forward and backward in one kernel each.
// Kernels: shaders/gate.wgsl. CPU reference at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { Tensor, empty, shapeStr } from '../tensor/tensor.js';
import { allow, tunable } from './tunable.js';
import { groups1d, launch, sameShape } from './util.js';

const CASES = ['gate/24ch @64²', 'gate/backward 24ch @64²'];

/**
 * Threads per workgroup (power of two), items per thread, the vec4 entries. Measured: bench/RESULTS.md.
 * unroll 2: fastest in `hlgfa tune` on lavapipe (2: 0.43-0.44 ms, 4: 0.54-0.71, 1: 0.48-0.61) and
 * half the compile of 4 (0.11 s against 0.23-0.37 s at the first dispatch).
 */
export const gateTuning = tunable('gate', {
  vec4: { default: true, allowed: allow.bool, candidates: [true, false], cases: CASES, quick: true },
  wg: { default: 64, allowed: allow.pow2(1, 256), candidates: [64, 128, 256], cases: CASES },
  unroll: { default: 2, allowed: allow.int(1, 16), candidates: [1, 2, 4], cases: CASES },
});

function checkSame(op: string, ref: Tensor, others: Record<string, Tensor>): void {
  for (const [name, t] of Object.entries(others)) {
    if (!sameShape(t.shape, ref.shape)) {
      throw new Error(`${op}: ${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(ref.shape)} (the shape of z)`);
    }
  }
}

/** The entry suffix, constants, item count and grid for `n` elements (and the bench's label). */
export function gatePlan(n: number): { suffix: string; constants: Record<string, number>; items: number; workgroups: [number, number]; label: string } {
  const t = gateTuning.values;
  const v4 = t.vec4 && n % 4 === 0;
  const items = v4 ? n / 4 : n;
  return {
    suffix: v4 ? '_v4' : '',
    constants: { WG: t.wg, UNROLL: t.unroll },
    items,
    workgroups: groups1d(items, t.wg * t.unroll),
    label: `wg=${t.wg} unroll=${t.unroll}${v4 ? ' vec4' : ''}`,
  };
}

/** y = z + sigmoid(g) * r, elementwise; z, g and r share one shape. */
export function gatedResidual(z: Tensor, g: Tensor, r: Tensor): Tensor {
  checkSame('gatedResidual', z, { g, r });
  const y = empty(z.shape);
  const pl = gatePlan(z.size);
  if (z.size > 0) {
    launch('gatedResidual', {
      shader: 'gate',
      entry: `fwd${pl.suffix}`,
      constants: pl.constants,
      tensors: { z, g, r, y },
      uniforms: { n: pl.items },
      workgroups: pl.workgroups,
    });
  }
  if (needsGrad(z, g, r)) record('gatedResidual', [z, g, r], y, (gy) => gatedResidualBackward(gy, z, g, r));
  return y;
}

/** [gz, gg, gr] for upstream gradient `gy`; null for inputs that do not require a gradient. */
export function gatedResidualBackward(gy: Tensor, z: Tensor, g: Tensor, r: Tensor): [Tensor | null, Tensor | null, Tensor | null] {
  checkSame('gatedResidual backward', z, { gy, g, r });
  const want = [z.requiresGrad, g.requiresGrad, r.requiresGrad];
  if (!want.some(Boolean)) return [null, null, null];
  const pl = gatePlan(z.size);
  const outs = want.map((w) => (w ? empty(z.shape) : null));
  if (z.size === 0) return [outs[0], outs[1], outs[2]];
  // Unwanted outputs are written nowhere (WANT_* = false) but must be bound: one dummy each.
  const dummies = want.filter((w) => !w).map(() => empty([4]));
  let d = 0;
  const bind = (t: Tensor | null) => t ?? dummies[d++];
  launch('gatedResidual backward', {
    shader: 'gate',
    entry: `bwd${pl.suffix}`,
    constants: { ...pl.constants, WANT_GZ: +want[0], WANT_GG: +want[1], WANT_GR: +want[2] },
    tensors: { g, r, gy, gz: bind(outs[0]), gg: bind(outs[1]), gr: bind(outs[2]) },
    uniforms: { n: pl.items },
    workgroups: pl.workgroups,
  });
  for (const t of dummies) t.dispose();
  return [outs[0], outs[1], outs[2]];
}

// ---- CPU reference (float64) ------------------------------------------------------------------

function sigmoid64(v: number): number {
  return v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
}

export const gateRef = {
  forward(z: ArrayLike<number>, g: ArrayLike<number>, r: ArrayLike<number>): Float64Array {
    return Float64Array.from(z, (v, i) => v + r[i] * sigmoid64(g[i]));
  },
  backward(gy: ArrayLike<number>, g: ArrayLike<number>, r: ArrayLike<number>): { gz: Float64Array; gg: Float64Array; gr: Float64Array } {
    const n = gy.length;
    const gz = Float64Array.from(gy);
    const gg = new Float64Array(n);
    const gr = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const s = sigmoid64(g[i]);
      gg[i] = gy[i] * r[i] * s * sigmoid64(-g[i]);
      gr[i] = gy[i] * s;
    }
    return { gz, gg, gr };
  },
};

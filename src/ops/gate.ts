// Fused gated residual: y = z + sigmoid(g) * r, forward and backward in one kernel each.
// Kernels: shaders/gate.wgsl. CPU reference at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { Tensor, empty, shapeStr } from '../tensor/tensor.js';
import { groups1d, launch, sameShape } from './util.js';

export interface GateTuning {
  /** Threads per workgroup (power of two). */
  wg: number;
  /** Items per thread. */
  unroll: number;
  /** Use the vec4 entries when the element count is a multiple of 4. */
  vec4: boolean;
}

/**
 * Defaults measured by `hlgfa tune --browser --compare` (full): unroll 4 beat 1 by ×1.44 on lavapipe
 * and ×1.43 on SwiftShader; a tuner may overwrite the fields.
 */
export const gateTuning: GateTuning = { wg: 64, unroll: 4, vec4: true };

function checkSame(op: string, ref: Tensor, others: Record<string, Tensor>): void {
  for (const [name, t] of Object.entries(others)) {
    if (!sameShape(t.shape, ref.shape)) {
      throw new Error(`${op}: ${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(ref.shape)} (the shape of z)`);
    }
  }
}

/** Launch geometry: entry suffix, item count and workgroups for `n` elements. */
function plan(n: number): { v4: boolean; items: number; workgroups: [number, number] } {
  const v4 = gateTuning.vec4 && n % 4 === 0;
  const items = v4 ? n / 4 : n;
  return { v4, items, workgroups: groups1d(items, gateTuning.wg * gateTuning.unroll) };
}

function names(v4: boolean, t: Record<string, Tensor>): Record<string, Tensor> {
  if (!v4) return t;
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(t)) out[`${k}4`] = v;
  return out;
}

/** y = z + sigmoid(g) * r, elementwise; z, g and r share one shape. */
export function gatedResidual(z: Tensor, g: Tensor, r: Tensor): Tensor {
  checkSame('gatedResidual', z, { g, r });
  const y = empty(z.shape);
  const pl = plan(z.size);
  if (z.size > 0) {
    launch('gatedResidual', {
      shader: 'gate',
      entry: pl.v4 ? 'fwd4' : 'fwd',
      constants: { WG: gateTuning.wg, UNROLL: gateTuning.unroll },
      tensors: names(pl.v4, { z, g, r, y }),
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
  const pl = plan(z.size);
  const outs = want.map((w) => (w ? empty(z.shape) : null));
  if (z.size === 0) return [outs[0], outs[1], outs[2]];
  // Unwanted outputs are written nowhere (WANT_* = false) but must be bound: one dummy each.
  const dummies = want.filter((w) => !w).map(() => empty([4]));
  let d = 0;
  const bind = (t: Tensor | null) => t ?? dummies[d++];
  launch('gatedResidual backward', {
    shader: 'gate',
    entry: pl.v4 ? 'bwd4' : 'bwd',
    constants: { WG: gateTuning.wg, UNROLL: gateTuning.unroll, WANT_GZ: +want[0], WANT_GG: +want[1], WANT_GR: +want[2] },
    tensors: names(pl.v4, { g, r, gy, gz: bind(outs[0]), gg: bind(outs[1]), gr: bind(outs[2]) }),
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

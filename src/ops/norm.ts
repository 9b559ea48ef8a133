// Parameter-free instance normalisation and the fused modulation
//   instanceNorm(x)              = (x - mean_hw) / sqrt(var_hw + eps)   (biased variance)
//   modulate(x, gamma, beta)     = instanceNorm(x) * (1 + gamma) + beta  (gamma, beta shaped like x)
// over the spatial axes of x = [N, C, ...spatial] (normally [N, C, H, W]). One kernel computes the
// per-(n, c) statistics and writes the output; one kernel computes every gradient.
// Kernels: shaders/norm.wgsl. CPU reference at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { Tensor, empty, shapeStr, type Shape } from '../tensor/tensor.js';
import { allow, tunable } from './tunable.js';
import { groups1d, launch, sameShape } from './util.js';

const FWD24 = 'modulate/24ch @64²';
const FWD96 = 'modulate/96ch @16²';

/**
 * Threads per row for rows of `narrowBelow` elements or more (one workgroup per row, a power of
 * two); shorter rows get one thread each, `narrowWg` rows per workgroup; the vec4 entries where
 * H*W is a multiple of 4. The defaults favour lavapipe, where a workgroup with barriers costs tens
 * of microseconds, so one thread per row wins up to rows of a few thousand elements; real GPUs want
 * the wide path much earlier (`hlgfa tune`). narrowBelow 8192 ties 2048 on the bench cases (within
 * 8 %, 64² rows) and keeps every HLGFA level at S <= 256 on the narrow kernels, so the wide ones
 * (the slowest of an inference to compile, 0.25-0.45 s) are not created at all.
 */
export const normTuning = tunable('norm', {
  vec4: { default: true, allowed: allow.bool, candidates: [true, false], cases: [FWD24, FWD96], quick: true },
  narrowBelow: { default: 8192, allowed: allow.int(0, 2 ** 31), candidates: [0, 2048, 8192, 65536], cases: [FWD24, FWD96, 'modulate/backward 24ch @64²'], quick: true },
  wg: { default: 32, allowed: allow.pow2(1, 256), candidates: [32, 64, 128, 256], cases: [FWD24, 'modulate/backward 24ch @64²'] },
  narrowWg: { default: 16, allowed: allow.int(1, 256), candidates: [8, 16, 32, 64], cases: [FWD96, 'modulate/backward 96ch @16²'] },
});

interface Geometry {
  rows: number;
  hw: number;
}

function geometry(op: string, x: Tensor): Geometry {
  if (x.shape.length < 3) {
    throw new Error(`${op}: x has shape ${shapeStr(x.shape)}, expected rank >= 3 ([N, C, H, W])`);
  }
  const hw = x.shape.slice(2).reduce((a, b) => a * b, 1);
  if (hw === 0) throw new Error(`${op}: x has shape ${shapeStr(x.shape)} with no spatial elements`);
  return { rows: x.shape[0] * x.shape[1], hw };
}

function checkEps(op: string, eps: number): void {
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) {
    throw new Error(`${op}: eps must be a finite number >= 0, got ${eps}`);
  }
}

function checkLike(op: string, x: Tensor, others: Record<string, Tensor>): void {
  for (const [name, t] of Object.entries(others)) {
    if (!sameShape(t.shape, x.shape)) {
      throw new Error(`${op}: ${name} has shape ${shapeStr(t.shape)}, expected ${shapeStr(x.shape)} (the shape of x)`);
    }
  }
}

/** The entry suffix, constants, uniforms and grid for rows of `hw` elements (and the bench's label). */
export function normPlan(g: { rows: number; hw: number }): { suffix: string; constants: Record<string, number>; uniforms: Record<string, number>; workgroups: [number, number]; label: string } {
  const t = normTuning.values;
  const narrow = g.hw < t.narrowBelow;
  const v4 = t.vec4 && g.hw % 4 === 0;
  const wg = narrow ? t.narrowWg : t.wg;
  return {
    suffix: (narrow ? '_narrow' : '_wide') + (v4 ? '_v4' : ''),
    constants: { WG: wg },
    uniforms: { rows: g.rows, hw: v4 ? g.hw / 4 : g.hw, inv_hw: 1 / g.hw },
    workgroups: narrow ? groups1d(g.rows, t.narrowWg) : groups1d(g.rows, 1),
    label: `${narrow ? 'narrow' : 'wide'} wg=${wg}${v4 ? ' vec4' : ''}`,
  };
}

/** Runs the fused forward; returns the output and the per-row (mean, rstd) statistics [rows, 2]. */
function forwardRaw(op: string, x: Tensor, gamma: Tensor | null, beta: Tensor | null, eps: number): { y: Tensor; stats: Tensor } {
  const g = geometry(op, x);
  const pl = normPlan(g);
  const y = empty(x.shape);
  const stats = empty([g.rows, 2]);
  if (x.size === 0) return { y, stats }; // nothing to launch (and empty tensors bind only 4 bytes)
  const dummies = gamma ? [] : [empty([4]), empty([4])];
  launch(op, {
    shader: 'norm',
    entry: `fwd${pl.suffix}`,
    constants: { ...pl.constants, MOD: gamma ? 1 : 0 },
    tensors: { x, gamma: gamma ?? dummies[0], beta: beta ?? dummies[1], y, stats },
    uniforms: { ...pl.uniforms, eps },
    workgroups: pl.workgroups,
  });
  for (const d of dummies) d.dispose();
  return { y, stats };
}

/**
 * Gradients of instanceNorm (gamma = null) or modulate from the saved statistics. Returns
 * [gx, ggamma, gbeta], null where the input does not require a gradient (or gamma is null).
 */
export function normBackward(
  gy: Tensor,
  x: Tensor,
  stats: Tensor,
  gamma: Tensor | null,
  beta: Tensor | null,
): [Tensor | null, Tensor | null, Tensor | null] {
  const op = gamma ? 'modulate backward' : 'instanceNorm backward';
  const g = geometry(op, x);
  checkLike(op, x, gamma ? { gy, gamma } : { gy });
  if (stats.size !== 2 * g.rows) throw new Error(`${op}: stats has shape ${shapeStr(stats.shape)}, expected [${g.rows}, 2]`);
  const want = [x.requiresGrad, !!gamma?.requiresGrad, !!beta?.requiresGrad];
  if (!want.some(Boolean)) return [null, null, null];
  const pl = normPlan(g);
  const outs = want.map((w) => (w ? empty(x.shape) : null));
  if (x.size === 0) return [outs[0], outs[1], outs[2]];
  const dummies: Tensor[] = [];
  const bind = (t: Tensor | null) => t ?? dummies[dummies.push(empty([4])) - 1];
  launch(op, {
    shader: 'norm',
    entry: `bwd${pl.suffix}`,
    constants: { ...pl.constants, MOD: gamma ? 1 : 0, WANT_GX: +want[0], WANT_GG: +want[1], WANT_GB: +want[2] },
    tensors: { x, gamma: bind(gamma), gy, stats, gx: bind(outs[0]), ggamma: bind(outs[1]), gbeta: bind(outs[2]) },
    uniforms: pl.uniforms,
    workgroups: pl.workgroups,
  });
  for (const d of dummies) d.dispose();
  return [outs[0], outs[1], outs[2]];
}

/** (x - mean) / sqrt(var + eps) per (n, c) over the spatial axes; x is [N, C, H, W] (rank >= 3). */
export function instanceNorm(x: Tensor, eps = 1e-5): Tensor {
  checkEps('instanceNorm', eps);
  const { y, stats } = forwardRaw('instanceNorm', x, null, null, eps);
  if (!needsGrad(x)) {
    stats.dispose();
    return y;
  }
  record('instanceNorm', [x], y, (gy) => {
    const [gx] = normBackward(gy, x, stats, null, null);
    stats.dispose();
    return [gx];
  });
  return y;
}

/** instanceNorm(x, eps) * (1 + gamma) + beta, fused; gamma and beta have x's shape. */
export function modulate(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  checkEps('modulate', eps);
  geometry('modulate', x);
  checkLike('modulate', x, { gamma, beta });
  const { y, stats } = forwardRaw('modulate', x, gamma, beta, eps);
  if (!needsGrad(x, gamma, beta)) {
    stats.dispose();
    return y;
  }
  record('modulate', [x, gamma, beta], y, (gy) => {
    const grads = normBackward(gy, x, stats, gamma, beta);
    stats.dispose();
    return grads;
  });
  return y;
}

// ---- CPU reference (float64) ------------------------------------------------------------------

export const normRef = {
  /** Per-row mean and rstd, and xhat. */
  stats(x: ArrayLike<number>, shape: Shape, eps: number): { xhat: Float64Array; mean: Float64Array; rstd: Float64Array } {
    const hw = shape.slice(2).reduce((a, b) => a * b, 1);
    const rows = shape[0] * shape[1];
    const xhat = new Float64Array(rows * hw);
    const mean = new Float64Array(rows);
    const rstd = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < hw; i++) s += x[r * hw + i];
      const m = s / hw;
      let q = 0;
      for (let i = 0; i < hw; i++) q += (x[r * hw + i] - m) ** 2;
      const rs = 1 / Math.sqrt(q / hw + eps);
      for (let i = 0; i < hw; i++) xhat[r * hw + i] = (x[r * hw + i] - m) * rs;
      mean[r] = m;
      rstd[r] = rs;
    }
    return { xhat, mean, rstd };
  },
  instanceNorm(x: ArrayLike<number>, shape: Shape, eps = 1e-5): Float64Array {
    return normRef.stats(x, shape, eps).xhat;
  },
  modulate(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, shape: Shape, eps = 1e-5): Float64Array {
    const { xhat } = normRef.stats(x, shape, eps);
    return xhat.map((h, i) => h * (1 + gamma[i]) + beta[i]);
  },
  /** Analytic gradients; pass gamma = null for plain instanceNorm. */
  backward(
    gy: ArrayLike<number>,
    x: ArrayLike<number>,
    gamma: ArrayLike<number> | null,
    shape: Shape,
    eps = 1e-5,
  ): { gx: Float64Array; ggamma: Float64Array; gbeta: Float64Array } {
    const hw = shape.slice(2).reduce((a, b) => a * b, 1);
    const rows = shape[0] * shape[1];
    const { xhat, rstd } = normRef.stats(x, shape, eps);
    const gx = new Float64Array(rows * hw);
    const ggamma = Float64Array.from(xhat, (h, i) => h * gy[i]);
    const gbeta = Float64Array.from(gy);
    for (let r = 0; r < rows; r++) {
      let s1 = 0;
      let s2 = 0;
      const gh = (i: number) => gy[i] * (gamma ? 1 + gamma[i] : 1);
      for (let i = r * hw; i < (r + 1) * hw; i++) {
        s1 += gh(i);
        s2 += gh(i) * xhat[i];
      }
      for (let i = r * hw; i < (r + 1) * hw; i++) gx[i] = rstd[r] * (gh(i) - s1 / hw - (xhat[i] * s2) / hw);
    }
    return { gx, ggamma, gbeta };
  },
};

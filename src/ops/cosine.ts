// Per-position cosine similarity across channels, PyTorch `F.cosine_similarity(a, b, dim=1, eps)`
// semantics (PyTorch >= 1.12: each norm clamped separately):
//   cos[n, p] = sum_c a[n, c, p] * b[n, c, p] / (max(|a[n, :, p]|, eps) * max(|b[n, :, p]|, eps))
// a, b: [N, C, ...spatial] (normally [N, C, H, W]); the output keeps the channel axis as size 1,
// [N, 1, ...spatial] (`y.reshape([N, H, W])` is a free view for PyTorch's squeezed shape).
// Computes the training loss and the anomaly map. Kernels: shaders/cosine.wgsl. CPU reference at
// the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { Tensor, empty, shapeStr, type Shape } from '../tensor/tensor.js';
import { allow, tunable } from './tunable.js';
import { groups1d, launch, sameShape } from './util.js';

const CASES = ['cosine/24ch @64²', 'cosine/backward 24ch @64²'];

/** Threads per workgroup and the vec4 entries (four positions per thread). Measured: bench/RESULTS.md. */
export const cosineTuning = tunable('cosine', {
  vec4: { default: true, allowed: allow.bool, candidates: [true, false], cases: CASES, quick: true },
  wg: { default: 256, allowed: allow.int(1, 256), candidates: [32, 64, 128, 256], cases: CASES },
});

interface Geometry {
  n: number;
  c: number;
  hw: number;
  outShape: number[];
}

function geometry(op: string, a: Tensor, b: Tensor): Geometry {
  if (a.shape.length < 2) throw new Error(`${op}: a has shape ${shapeStr(a.shape)}, expected rank >= 2 ([N, C, H, W])`);
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${op}: b has shape ${shapeStr(b.shape)}, expected ${shapeStr(a.shape)} (the shape of a)`);
  }
  const [n, c] = a.shape;
  if (c === 0) throw new Error(`${op}: a has shape ${shapeStr(a.shape)} with no channels`);
  const hw = a.shape.slice(2).reduce((x, y) => x * y, 1);
  return { n, c, hw, outShape: [n, 1, ...a.shape.slice(2)] };
}

/** The entry suffix, constants, uniforms and grid for a geometry (and the bench's label). */
export function cosinePlan(g: { n: number; c: number; hw: number }): { suffix: string; constants: Record<string, number>; uniforms: Record<string, number>; workgroups: [number, number]; label: string } {
  const t = cosineTuning.values;
  const v4 = t.vec4 && g.hw % 4 === 0;
  const per = v4 ? g.hw / 4 : g.hw;
  return {
    suffix: v4 ? '_v4' : '',
    constants: { WG: t.wg },
    uniforms: { items: g.n * per, p: per, c: g.c },
    workgroups: groups1d(g.n * per, t.wg),
    label: `wg=${t.wg}${v4 ? ' vec4' : ''}`,
  };
}

/** cos(a, b) over dim 1 for a, b = [N, C, ...]; returns [N, 1, ...]. */
export function cosineSimilarity(a: Tensor, b: Tensor, eps = 1e-8): Tensor {
  const op = 'cosineSimilarity';
  const g = geometry(op, a, b);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new Error(`${op}: eps must be a finite number >= 0, got ${eps}`);
  const pl = cosinePlan(g);
  const save = needsGrad(a, b);
  const y = empty(g.outShape);
  const stats = save ? empty([g.n, 3, g.hw]) : empty([4]);
  if (y.size > 0) {
    launch(op, {
      shader: 'cosine',
      entry: `fwd${pl.suffix}`,
      constants: { ...pl.constants, SAVE: +save },
      tensors: { a, b, y, stats },
      uniforms: { ...pl.uniforms, eps },
      workgroups: pl.workgroups,
    });
  }
  if (!save) {
    stats.dispose();
    return y;
  }
  record(op, [a, b], y, (gy) => {
    const grads = cosineSimilarityBackward(gy, a, b, stats);
    stats.dispose();
    return grads;
  });
  return y;
}

/**
 * [ga, gb] from the upstream gradient gy = [N, 1, ...] and the coefficients `stats` = [N, 3, H*W]
 * saved by the forward; null for an input that does not require a gradient.
 */
export function cosineSimilarityBackward(gy: Tensor, a: Tensor, b: Tensor, stats: Tensor): [Tensor | null, Tensor | null] {
  const op = 'cosineSimilarity backward';
  const g = geometry(op, a, b);
  if (gy.size !== g.n * g.hw) throw new Error(`${op}: gy has shape ${shapeStr(gy.shape)}, expected ${shapeStr(g.outShape)}`);
  if (stats.size !== 3 * g.n * g.hw) throw new Error(`${op}: stats has shape ${shapeStr(stats.shape)}, expected [${g.n}, 3, ${g.hw}]`);
  const want = [a.requiresGrad, b.requiresGrad];
  if (!want.some(Boolean)) return [null, null];
  const pl = cosinePlan(g);
  const outs = want.map((w) => (w ? empty(a.shape) : null));
  if (gy.size === 0) return [outs[0], outs[1]];
  const dummies: Tensor[] = [];
  const bind = (t: Tensor | null) => t ?? dummies[dummies.push(empty([4])) - 1];
  launch(op, {
    shader: 'cosine',
    entry: `bwd${pl.suffix}`,
    constants: { ...pl.constants, WANT_GA: +want[0], WANT_GB: +want[1] },
    tensors: { a, b, gy, stats, ga: bind(outs[0]), gb: bind(outs[1]) },
    uniforms: pl.uniforms,
    workgroups: pl.workgroups,
  });
  for (const d of dummies) d.dispose();
  return [outs[0], outs[1]];
}

// ---- CPU reference (float64) ------------------------------------------------------------------

/** Σ a·b, Σ a², Σ b² over the channels at batch i, position q. */
function channelDots(a: ArrayLike<number>, b: ArrayLike<number>, c: number, hw: number, i: number, q: number): [number, number, number] {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let k = 0; k < c; k++) {
    const o = (i * c + k) * hw + q;
    ab += a[o] * b[o];
    aa += a[o] * a[o];
    bb += b[o] * b[o];
  }
  return [ab, aa, bb];
}

export const cosineRef = {
  forward(a: ArrayLike<number>, b: ArrayLike<number>, shape: Shape, eps = 1e-8): Float64Array {
    const [n, c] = shape;
    const hw = shape.slice(2).reduce((x, y) => x * y, 1);
    const out = new Float64Array(n * hw);
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < hw; q++) {
        const [ab, aa, bb] = channelDots(a, b, c, hw, i, q);
        out[i * hw + q] = ab / (Math.max(Math.sqrt(aa), eps) * Math.max(Math.sqrt(bb), eps));
      }
    }
    return out;
  },
  /** PyTorch's gradient (clamp without gradient, norm gradient a / |a|, zero at |a| = 0). */
  backward(gy: ArrayLike<number>, a: ArrayLike<number>, b: ArrayLike<number>, shape: Shape, eps = 1e-8): { ga: Float64Array; gb: Float64Array } {
    const [n, c] = shape;
    const hw = shape.slice(2).reduce((x, y) => x * y, 1);
    const ga = new Float64Array(a.length);
    const gb = new Float64Array(b.length);
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < hw; q++) {
        const [ab, aa, bb] = channelDots(a, b, c, hw, i, q);
        const [na, nb] = [Math.sqrt(aa), Math.sqrt(bb)];
        const [sa, sb] = [1 / Math.max(na, eps), 1 / Math.max(nb, eps)];
        const cs = ab * sa * sb;
        const g = gy[i * hw + q];
        const u = g * sa * sb;
        const va = na > 0 ? (g * cs * sa) / na : 0;
        const vb = nb > 0 ? (g * cs * sb) / nb : 0;
        for (let k = 0; k < c; k++) {
          const o = (i * c + k) * hw + q;
          ga[o] = u * b[o] - va * a[o];
          gb[o] = u * a[o] - vb * b[o];
        }
      }
    }
    return { ga, gb };
  },
};

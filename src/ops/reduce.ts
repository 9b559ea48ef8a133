// Reductions: sum, mean, max over any axes (keepdims optional), and sumToShape for broadcasting
// backward passes. Kernels: shaders/reduce.wgsl. CPU reference at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { runtime } from '../gpu/runtime.js';
import { Tensor, empty, shapeStr, type Shape } from '../tensor/tensor.js';
import { expandRaw } from './broadcast.js';
import { allow, tunable } from './tunable.js';
import { broadcastStrides, contiguousStrides, groups1d, launch, pad8, sameShape, MAX_RANK } from './util.js';

type ReduceKind = 'sum' | 'mean' | 'max';

export interface ReduceOptions {
  keepDims?: boolean;
}

/**
 * Split reductions aim for `splitTarget` workgroups in all. Lavapipe (2 cores, a barrier tree per
 * workgroup) wants few; a big GPU far more (`hlgfa tune`). Measured: bench/RESULTS.md.
 */
export const reduceTuning = tunable('reduce', {
  splitTarget: {
    default: 16,
    allowed: allow.int(1, 4096),
    candidates: [4, 16, 64, 256],
    cases: ['reduce/mean [1, 1, 256, 256]', 'reduce/sum [1, 96, 64, 64] axes 2,3'],
    quick: true,
  },
});

/** Normalises axes (negative allowed); `undefined` means all axes. */
export function normalizeAxes(op: string, shape: Shape, axes?: number | readonly number[]): number[] {
  if (axes === undefined) return shape.map((_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = new Set<number>();
  for (const a of list) {
    const ax = a < 0 ? a + shape.length : a;
    if (!Number.isInteger(ax) || ax < 0 || ax >= shape.length) {
      throw new Error(`${op}: axis ${a} is out of range for shape ${shapeStr(shape)}`);
    }
    out.add(ax);
  }
  return [...out].sort((x, y) => x - y);
}

function reducedShape(shape: Shape, axes: number[], keepDims: boolean): number[] {
  return keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/**
 * When the reduced axes of `shape`, ignoring size-1 axes, are one contiguous block, the number of
 * elements after it (its stride); otherwise null (the kernel then decodes coordinates).
 */
export function blockInner(shape: Shape, axes: readonly number[]): number | null {
  const dims = shape.map((d, i) => ({ d, reduced: axes.includes(i) })).filter((a) => a.d !== 1);
  const first = dims.findIndex((a) => a.reduced);
  if (first < 0) return 1;
  let end = first;
  while (end < dims.length && dims[end].reduced) end++;
  if (dims.slice(end).some((a) => a.reduced)) return null;
  return dims.slice(end).reduce((p, a) => p * a.d, 1);
}

/** How `shape` reduced over `axes` runs (also the bench's variant label). */
export function reducePlan(
  shape: Shape,
  axes: readonly number[],
): { entry: string; redCount: number; outCount: number; wide: boolean; inner: number | null; splits: number; label: string } {
  const redCount = shape.reduce((p, d, i) => (axes.includes(i) ? p * d : p), 1);
  const outCount = shape.reduce((p, d, i) => (axes.includes(i) ? p : p * d), 1);
  // A workgroup per output (tree reduction) pays a barrier cost per workgroup; it only wins for a
  // few long reductions (losses, per-channel sums). Many outputs: one thread per output, whose
  // neighbours read neighbouring addresses. Measured on lavapipe: channel mean of [1,96,64,64]
  // 37.8 ms wide → narrow far faster.
  const wide = redCount >= 256 && outCount <= 1024;
  const inner = blockInner(shape, axes);
  // Few long reductions: split each over several workgroups (>= 1024 elements each, about
  // reduceTuning.values.splitTarget workgroups in all) and combine the partials in a second, narrow pass.
  const splits = wide ? Math.max(1, Math.min(Math.ceil(reduceTuning.values.splitTarget / outCount), Math.floor(redCount / SPLIT_MIN_CHUNK))) : 1;
  const label = `${wide ? 'wide' : 'narrow'}${splits > 1 ? ` split ${splits}` : ''}${inner !== null ? ' block' : ''}`;
  return { entry: wide ? 'fwd_wide' : 'fwd_narrow', redCount, outCount, wide, inner, splits, label };
}

/** The fewest elements one workgroup of a split reduction folds. */
const SPLIT_MIN_CHUNK = 1024;

function reduceRaw(kind: ReduceKind, x: Tensor, axes: number[], outShape: Shape): Tensor {
  if (x.shape.length > MAX_RANK) throw new Error(`${kind}: rank ${x.shape.length} exceeds ${MAX_RANK}`);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const red = x.shape.map((d, i) => (axes.includes(i) ? d : 1));
  const { entry, redCount, outCount, wide, inner, splits } = reducePlan(x.shape, axes);
  const out = empty(outShape);
  if (outCount === 0) return out;
  if (redCount === 0) {
    // An empty sum is 0 (as in PyTorch); an empty mean or max has no value.
    if (kind !== 'sum') throw new Error(`${kind}: cannot reduce over an empty axis of shape ${shapeStr(x.shape)}`);
    runtime().clear(out.bufferFor(kind));
    return out;
  }
  const chunk = Math.ceil(redCount / splits);
  const op = kind === 'max' ? 1 : 0;
  const scale = kind === 'mean' ? 1 / redCount : 1;
  const target = splits > 1 ? empty([outCount * splits]) : out;
  launch(kind, {
    shader: 'reduce',
    entry,
    constants: { OP: op, BLOCK: inner !== null ? 1 : 0 },
    tensors: { x, out: target },
    uniforms: {
      rank: x.shape.length,
      out_count: outCount,
      red_count: redCount,
      scale: splits > 1 ? 1 : scale,
      kept_shape: pad8(kept, 1),
      red_shape: pad8(red, 1),
      in_strides: pad8(contiguousStrides(x.shape)),
      splits,
      chunk,
      inner: inner ?? 1,
    },
    workgroups: wide ? groups1d(outCount * splits, 1) : groups1d(outCount, 64),
  });
  if (splits > 1) {
    // The partials are [outCount, splits], contiguous: one thread per output folds its row.
    launch(kind, {
      shader: 'reduce',
      entry: 'fwd_narrow',
      constants: { OP: op, BLOCK: 1 },
      tensors: { x: target, out },
      uniforms: {
        rank: 2,
        out_count: outCount,
        red_count: splits,
        scale,
        kept_shape: pad8([outCount, 1], 1),
        red_shape: pad8([1, splits], 1),
        in_strides: pad8([splits, 1]),
        splits: 1,
        chunk: splits,
        inner: 1,
      },
      workgroups: groups1d(outCount, 64),
    });
    target.dispose();
  }
  return out;
}

function reduce(kind: ReduceKind, x: Tensor, axes?: number | readonly number[], opts: ReduceOptions = {}): Tensor {
  const ax = normalizeAxes(kind, x.shape, axes);
  const keepShape = reducedShape(x.shape, ax, true);
  const y = reduceRaw(kind, x, ax, reducedShape(x.shape, ax, opts.keepDims ?? false));
  if (needsGrad(x)) {
    record(kind, [x], y, (gy) => {
      const n = ax.reduce((p, a) => p * x.shape[a], 1);
      if (kind !== 'max') return [expandAs(gy, keepShape, x.shape, kind === 'mean' ? 1 / n : 1)];
      const gx = empty(x.shape);
      launch('max backward', {
        shader: 'reduce',
        entry: 'max_bwd',
        tensors: { x, ymax: y, gy, out: gx },
        uniforms: {
          rank: x.shape.length,
          out_count: x.size,
          in_shape: pad8(x.shape, 1),
          out_strides: pad8(broadcastStrides(keepShape, x.shape)),
        },
        workgroups: groups1d(x.size, 64),
      });
      return [gx];
    });
  }
  return y;
}

/** Broadcasts `g` (laid out as `keepShape`) back to `shape`, times `factor` (backward: not recorded). */
function expandAs(g: Tensor, keepShape: Shape, shape: Shape, factor: number): Tensor {
  // `g` holds keepShape's elements in order; read it through a view of that shape.
  const view = g.reshape(keepShape);
  const out = expandRaw(view, shape, factor);
  view.dispose();
  return out;
}

export const sum = (x: Tensor, axes?: number | readonly number[], opts?: ReduceOptions) => reduce('sum', x, axes, opts);
export const mean = (x: Tensor, axes?: number | readonly number[], opts?: ReduceOptions) => reduce('mean', x, axes, opts);
export const max = (x: Tensor, axes?: number | readonly number[], opts?: ReduceOptions) => reduce('max', x, axes, opts);

/**
 * Sums `g` down to `shape` (the reverse of broadcasting). Returns `g` itself when the shapes match,
 * so callers own the result only when it differs from `g`. Not recorded on the tape.
 */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.shape.length - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
  });
  return reduceRaw('sum', g, axes, shape);
}

// ---- CPU reference (float64) ------------------------------------------------------------------

export function reduceRef(kind: ReduceKind, x: ArrayLike<number>, shape: Shape, axes?: number | readonly number[]): Float64Array {
  const ax = normalizeAxes(kind, shape, axes);
  const keep = reducedShape(shape, ax, true);
  const outN = keep.reduce((a, b) => a * b, 1);
  const out = new Float64Array(outN).fill(kind === 'max' ? -Infinity : 0);
  const oStrides = broadcastStrides(keep, shape);
  const n = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let o = 0;
    for (let d = shape.length - 1; d >= 0; d--) {
      o += (rem % shape[d]) * oStrides[d];
      rem = Math.floor(rem / shape[d]);
    }
    out[o] = kind === 'max' ? Math.max(out[o], x[i]) : out[o] + x[i];
  }
  if (kind === 'mean') {
    const cnt = n / Math.max(outN, 1);
    for (let i = 0; i < outN; i++) out[i] /= cnt;
  }
  return out;
}

// Shape ops: autograd-aware zero-copy views (no kernel). The output shares x's buffer; the
// backward returns `gy.reshape(x.shape)`, a new Tensor object over gy's buffer. That satisfies the
// tape's contract: it is not `gy` itself, so backward() does not copy it, and backward()'s
// `gy.dispose()` only drops gy's reference to the shared storage, which lives on in the view
// until the gradient is consumed (storage is reference-counted, see Tensor.reshape).
import { needsGrad, record } from '../autograd/tape.js';
import { Tensor, shapeStr, sizeOf, type Shape } from '../tensor/tensor.js';

/** Resolves one optional -1 entry of `shape` against `x`'s element count. */
function resolveShape(op: string, from: Shape, size: number, shape: Shape): number[] {
  if (!shape || typeof shape.length !== 'number') throw new Error(`${op}: shape ${String(shape)} must be an array of integers`);
  const free = shape.filter((d) => d === -1).length;
  if (free > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new Error(`${op}: invalid target shape ${shapeStr(shape)} (integers >= 0 and at most one -1 expected)`);
  }
  const known = sizeOf(shape.filter((d) => d !== -1));
  const out = [...shape];
  if (free === 1) {
    if (known === 0 || size % known !== 0) {
      throw new Error(`${op}: cannot view ${shapeStr(from)} (${size} elements) as ${shapeStr(shape)}: the -1 dimension is not determined`);
    }
    out[out.indexOf(-1)] = size / known;
  }
  if (sizeOf(out) !== size) {
    throw new Error(`${op}: cannot view ${shapeStr(from)} (${size} elements) as ${shapeStr(shape)} (${sizeOf(out)} elements)`);
  }
  return out;
}

function view(op: string, x: Tensor, shape: number[]): Tensor {
  const y = x.reshape(shape);
  if (needsGrad(x)) record(op, [x], y, (gy) => [gy.reshape(x.shape)]);
  return y;
}

/** A view of `x` with another shape (same element count; one dimension may be -1). No copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  return view('reshape', x, resolveShape('reshape', x.shape, x.size, shape));
}

/**
 * Merges axes startAxis..endAxis (inclusive, negative counts from the end) into one, like
 * `torch.flatten(x, startAxis, endAxis)`; `flatten(x, 1)` turns [N, C, H, W] into [N, C*H*W].
 * A rank-0 tensor becomes shape [1]. No copy.
 */
export function flatten(x: Tensor, startAxis: number, endAxis = -1): Tensor {
  const op = 'flatten';
  const rank = x.shape.length;
  const r = Math.max(rank, 1);
  const s = startAxis < 0 ? startAxis + r : startAxis;
  const e = endAxis < 0 ? endAxis + r : endAxis;
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || s >= r || e < 0 || e >= r) {
    throw new Error(`${op}: axes ${startAxis}..${endAxis} are out of range for shape ${shapeStr(x.shape)}`);
  }
  if (s > e) {
    throw new Error(`${op}: startAxis ${startAxis} comes after endAxis ${endAxis} for shape ${shapeStr(x.shape)}`);
  }
  if (rank === 0) return view(op, x, [1]);
  const shape = [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return view(op, x, shape);
}

// ---- CPU reference ----------------------------------------------------------------------------

/** Reshape never moves data: the reference is the identity on the row-major values. */
export function shapeRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x);
}

// Concatenation and splitting along any axis (channels, axis 1, being the common case), forward
// and backward: the gradient of concat is a split of gy and vice versa. Parts of up to
// MAX_COPY_ROWS rows (a batch's channel concat) are the queue's buffer copies, others the kernels of
// shaders/concat.wgsl (strided block copies). CPU references at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { runtime } from '../gpu/runtime.js';
import { Tensor, empty, shapeStr, type Shape } from '../tensor/tensor.js';
import { groups1d, launch, sameShape } from './util.js';

const WG = 64;
/**
 * Elements (vec4s in the _v4 entries) per thread (override `VEC`). 16, not 4: lavapipe pays about a microsecond per
 * workgroup, and with 256 elements each the copies were mostly that (concat of two
 * [8, 24, 64, 64]: 8.3-8.9 → 3.5-5.5 ms; [1, 24, 64, 64]: 1.1-1.5 → 0.6-0.95 ms, alternated runs).
 * A GPU reads a thread's 16 consecutive floats through its caches; unmeasured there.
 */
const VEC = 16;

function normalizeAxis(op: string, shape: Shape, axis: number): number {
  const ax = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= shape.length) {
    throw new Error(`${op}: axis ${axis} is out of range for shape ${shapeStr(shape)}`);
  }
  return ax;
}

const prod = (v: readonly number[]) => v.reduce((a, b) => a * b, 1);

/** outer = product of dimensions before `axis`, inner = product after it. */
function outerInner(shape: Shape, axis: number): { outer: number; inner: number } {
  return { outer: prod(shape.slice(0, axis)), inner: prod(shape.slice(axis + 1)) };
}

/**
 * One block-copy kernel over `outer` rows of `rowLen` elements, VEC per thread; the _v4 entry
 * (VEC vec4s per thread, everything counted in vec4s) where every row, offset and length is a
 * multiple of 4 — a channel concat or split of NCHW maps with H·W % 4 == 0.
 */
function launchRows(op: string, entry: 'copy_block' | 'embed', src: Tensor, dst: Tensor, outer: number, rowLen: number, u: Record<string, number>): void {
  if (outer === 0 || rowLen === 0) return;
  const v4 = rowLen % 4 === 0 && Object.values(u).every((x) => x % 4 === 0);
  const q = v4 ? 4 : 1;
  const blocks = Math.ceil(rowLen / q / VEC);
  const count = outer * blocks;
  const scaled = Object.fromEntries(Object.entries(u).map(([k, x]) => [k, x / q]));
  launch(op, { shader: 'concat', entry: v4 ? `${entry}_v4` : entry, constants: { VEC }, tensors: { src, dst }, uniforms: { ...scaled, count, blocks }, workgroups: groups1d(count, WG) });
}

/**
 * Up to this many rows per part are copied by the queue's buffer copies (copyBufferToBuffer: a
 * memcpy each, and no pipeline: the copy kernel cost 0.33 s of a cold start on lavapipe); more
 * (a split along H or W) take the kernel. A channel concat has one row per image.
 */
const MAX_COPY_ROWS = 16;

/** dst[o, dstOff + r] = src[o, srcOff + r] for o < outer, r < len. */
function copyBlock(op: string, src: Tensor, dst: Tensor, outer: number, len: number, srcRow: number, srcOff: number, dstRow: number, dstOff: number): void {
  if (outer === 0 || len === 0) return;
  if (outer > MAX_COPY_ROWS) {
    launchRows(op, 'copy_block', src, dst, outer, len, { len, src_row: srcRow, src_off: srcOff, dst_row: dstRow, dst_off: dstOff });
    return;
  }
  const rt = runtime();
  const from = src.binding(op).buffer;
  const to = dst.bufferFor(op);
  // Rows that follow each other on both sides are one copy.
  const rows = srcRow === len && dstRow === len ? 1 : outer;
  const bytes = 4 * len * (rows === 1 ? outer : 1);
  for (let o = 0; o < rows; o++) rt.copy(from, 4 * (o * srcRow + srcOff), to, 4 * (o * dstRow + dstOff), bytes);
}

/** dst (outer rows of dstRow) = zeros with src (outer rows of len) placed at column dstOff. */
function embed(op: string, src: Tensor, dst: Tensor, outer: number, len: number, dstRow: number, dstOff: number): void {
  launchRows(op, 'embed', src, dst, outer, dstRow, { len, src_row: len, dst_row: dstRow, dst_off: dstOff });
}

/** Concatenates tensors along `axis` (negative counts from the end); all other dimensions must match. */
export function concat(xs: readonly Tensor[], axis = 1): Tensor {
  const { sizes, total, outer, inner, outShape } = concatGeometry('concat', xs, axis);
  const y = empty(outShape);
  copyParts('concat', xs, y, sizes, total, outer, inner);
  if (needsGrad(...xs)) {
    record('concat', xs, y, (gy) => {
      let o = 0;
      return xs.map((x, i) => {
        const start = o;
        o += sizes[i];
        if (!x.requiresGrad) return null;
        const gx = empty(x.shape);
        copyBlock('concat backward', gy, gx, outer, sizes[i] * inner, total * inner, start * inner, sizes[i] * inner, 0);
        return gx;
      });
    });
  }
  return y;
}

/**
 * concat's result written into `out`, a tensor of the concatenated shape (inputs a recorded step
 * reads, refilled before each replay). Not recorded by autograd.
 */
export function concatInto(xs: readonly Tensor[], out: Tensor, axis = 1): void {
  const op = 'concatInto';
  const { sizes, total, outer, inner, outShape } = concatGeometry(op, xs, axis);
  if (!sameShape(out.shape, outShape)) throw new Error(`${op}: out has shape ${shapeStr(out.shape)}, expected ${shapeStr(outShape)} (the inputs concatenated)`);
  copyParts(op, xs, out, sizes, total, outer, inner);
}

function concatGeometry(op: string, xs: readonly Tensor[], axis: number) {
  if (!xs || xs.length === 0) throw new Error(`${op}: expected a non-empty array of tensors`);
  const first = xs[0].shape;
  if (first.length === 0) throw new Error(`${op}: input 0 has shape [], expected rank >= 1`);
  const ax = normalizeAxis(op, first, axis);
  xs.forEach((x, i) => {
    const s = x.shape;
    if (s.length !== first.length || s.some((d, j) => j !== ax && d !== first[j])) {
      const want = first.map((d, j) => (j === ax ? '*' : String(d)));
      throw new Error(
        `${op}: input ${i} has shape ${shapeStr(s)}, expected [${want.join(', ')}] ` +
          `(every dimension but axis ${ax} must match input 0 ${shapeStr(first)})`,
      );
    }
  });
  const sizes = xs.map((x) => x.shape[ax]);
  const total = sizes.reduce((a, b) => a + b, 0);
  return { sizes, total, ...outerInner(first, ax), outShape: first.map((d, j) => (j === ax ? total : d)) };
}

function copyParts(op: string, xs: readonly Tensor[], y: Tensor, sizes: number[], total: number, outer: number, inner: number): void {
  let off = 0;
  xs.forEach((x, i) => {
    copyBlock(op, x, y, outer, sizes[i] * inner, sizes[i] * inner, 0, total * inner, off * inner);
    off += sizes[i];
  });
}

/** Splits `x` along `axis` into parts of the given sizes (which must add up to that dimension). */
export function split(x: Tensor, sizes: readonly number[], axis = 1): Tensor[] {
  const op = 'split';
  if (x.shape.length === 0) throw new Error(`${op}: input has shape [], expected rank >= 1`);
  const ax = normalizeAxis(op, x.shape, axis);
  if (!sizes || sizes.length === 0 || sizes.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(`${op}: sizes ${JSON.stringify(sizes)} must be a non-empty list of integers >= 0`);
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== x.shape[ax]) {
    throw new Error(`${op}: sizes ${JSON.stringify(sizes)} add up to ${total}, expected ${x.shape[ax]} (dimension ${ax} of ${shapeStr(x.shape)})`);
  }
  let off = 0;
  return sizes.map((s) => {
    const start = off;
    off += s;
    return slice(op, x, ax, start, s);
  });
}

/** The `length` entries of `x` from `start` along `axis` (a copy), e.g. the valid columns of padded rows. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const op = 'narrow';
  if (x.shape.length === 0) throw new Error(`${op}: input has shape [], expected rank >= 1`);
  const ax = normalizeAxis(op, x.shape, axis);
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > x.shape[ax]) {
    throw new Error(`${op}: start ${start} and length ${length} must be integers >= 0 with start + length <= ${x.shape[ax]} (dimension ${ax} of ${shapeStr(x.shape)})`);
  }
  return slice(op, x, ax, start, length);
}

/** x's entries start..start+length along axis ax; its gradient is gy embedded in zeros. */
function slice(op: string, x: Tensor, ax: number, start: number, length: number): Tensor {
  const { outer, inner } = outerInner(x.shape, ax);
  const total = x.shape[ax];
  const part = empty(x.shape.map((d, j) => (j === ax ? length : d)));
  copyBlock(op, x, part, outer, length * inner, total * inner, start * inner, length * inner, 0);
  // One tape entry per part (the tape records single outputs); a split's gradients add up in x.
  if (needsGrad(x)) {
    record(op, [x], part, (gy) => {
      const gx = empty(x.shape);
      embed(`${op} backward`, gy, gx, outer, length * inner, total * inner, start * inner);
      return [gx];
    });
  }
  return part;
}

// ---- CPU reference (float64) ------------------------------------------------------------------

export const concatRef = {
  concat(xs: ArrayLike<number>[], shapes: Shape[], axis: number): Float64Array {
    const ax = axis < 0 ? axis + shapes[0].length : axis;
    const { outer, inner } = outerInner(shapes[0], ax);
    const rows = shapes.map((s) => s[ax] * inner);
    const total = rows.reduce((a, b) => a + b, 0);
    const out = new Float64Array(outer * total);
    for (let o = 0; o < outer; o++) {
      let off = 0;
      xs.forEach((x, i) => {
        for (let r = 0; r < rows[i]; r++) out[o * total + off + r] = x[o * rows[i] + r];
        off += rows[i];
      });
    }
    return out;
  },
  split(x: ArrayLike<number>, shape: Shape, sizes: readonly number[], axis: number): Float64Array[] {
    const ax = axis < 0 ? axis + shape.length : axis;
    const { outer, inner } = outerInner(shape, ax);
    const total = shape[ax] * inner;
    let off = 0;
    return sizes.map((s) => {
      const len = s * inner;
      const out = new Float64Array(outer * len);
      for (let o = 0; o < outer; o++) for (let r = 0; r < len; r++) out[o * len + r] = x[o * total + off + r];
      off += len;
      return out;
    });
  },
};

// Spatial resizing of NCHW images: `resizeBilinear` (exactly PyTorch's
// `F.interpolate(x, size, mode='bilinear', align_corners=...)`, no antialias) and `areaDownsample`
// (mean over factor x factor blocks = `F.avg_pool2d(x, f, f)` = `F.interpolate(mode='area')` for
// sizes divisible by the factor). Forward and backward. Kernels: shaders/resize.wgsl. CPU
// references at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { Tensor, constant, empty, shapeStr, tensor } from '../tensor/tensor.js';
import { assertRank, groups1d, launch } from './util.js';

const WG = 64;
/** Outputs per thread along the blocked axis in the bilinear kernels (override `VEC`, 1..8). */
const VEC = 4;
/** Largest W factor of the integer-upsampling kernel (one pipeline per factor). */
const MAX_UP_FACTOR = 16;

/** The W factor when the forward can use the integer-upsampling kernel, else 0. */
export function upsampleFactor(inW: number, outW: number, alignCorners: boolean): number {
  const f = outW / inW;
  return !alignCorners && Number.isInteger(f) && f >= 2 && f <= MAX_UP_FACTOR && inW % 4 === 0 ? f : 0;
}

/** The bilinear forward kernel a resize uses (the bench's variant label). */
export function bilinearVariant(inW: number, outW: number, alignCorners: boolean): string {
  const f = upsampleFactor(inW, outW, alignCorners);
  return f ? `upsample ×${f}, vec4` : `table, VEC=${VEC}`;
}

export interface ResizeOptions {
  /** PyTorch's `align_corners`: true maps corner pixel centres onto each other. */
  alignCorners: boolean;
}

/** The two input taps and weights of every output index along one axis (PyTorch's rule). */
export interface AxisTaps {
  i0: Int32Array;
  i1: Int32Array;
  l0: Float64Array;
  l1: Float64Array;
}

/**
 * PyTorch `area_pixel_compute_scale` / `area_pixel_compute_source_index` /
 * `compute_source_index_and_lambda` for linear modes: half-pixel centres with the source index
 * clamped at 0 when `alignCorners` is false, corner-to-corner otherwise.
 */
export function bilinearTaps(inSize: number, outSize: number, alignCorners: boolean): AxisTaps {
  const scale = alignCorners ? (outSize > 1 ? (inSize - 1) / (outSize - 1) : 0) : inSize / outSize;
  const t: AxisTaps = {
    i0: new Int32Array(outSize),
    i1: new Int32Array(outSize),
    l0: new Float64Array(outSize),
    l1: new Float64Array(outSize),
  };
  for (let o = 0; o < outSize; o++) {
    const src = alignCorners ? scale * o : Math.max(scale * (o + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = i0 + (i0 < inSize - 1 ? 1 : 0);
    const l1 = Math.min(Math.max(src - i0, 0), 1);
    t.i0[o] = i0;
    t.i1[o] = i1;
    t.l1[o] = l1;
    t.l0[o] = 1 - l1;
  }
  return t;
}

/**
 * The GPU table described at the top of shaders/resize.wgsl (u32 words; weights as f32 bits), made
 * once per size pair and reused (see `constant`). Rows: the H taps, the W taps (from `twOff`), then
 * per input row (`rhOff`) and column (`rwOff`) the range of outputs that read it.
 */
function bilinearTable(inH: number, inW: number, outH: number, outW: number, align: boolean): { table: Tensor; twOff: number; rhOff: number; rwOff: number } {
  const table = constant(`resize.bilinear ${inH}x${inW} -> ${outH}x${outW} align ${align}`, () => {
    const h = bilinearTaps(inH, outH, align);
    const w = bilinearTaps(inW, outW, align);
    const words = new Uint32Array((outH + outW + inH + inW) * 4);
    const floats = new Float32Array(words.buffer);
    const putTaps = (t: AxisTaps, row0: number) => {
      for (let o = 0; o < t.i0.length; o++) {
        const k = (row0 + o) * 4;
        words[k] = t.i0[o];
        words[k + 1] = t.i1[o];
        floats[k + 2] = t.l0[o];
        floats[k + 3] = t.l1[o];
      }
    };
    // Outputs reading input i form a contiguous range because i0 and i1 are non-decreasing.
    const putRanges = (t: AxisTaps, inSize: number, row0: number) => {
      const lo = new Int32Array(inSize).fill(-1);
      const hi = new Int32Array(inSize).fill(-1);
      for (let o = 0; o < t.i0.length; o++) {
        for (const i of [t.i0[o], t.i1[o]]) {
          if (lo[i] < 0) lo[i] = o;
          hi[i] = o + 1;
        }
      }
      for (let i = 0; i < inSize; i++) {
        const k = (row0 + i) * 4;
        words[k] = Math.max(lo[i], 0);
        words[k + 1] = Math.max(hi[i], 0);
      }
    };
    putTaps(h, 0);
    putTaps(w, outH);
    putRanges(h, inH, outH + outW);
    putRanges(w, inW, outH + outW + inH);
    // The bytes travel unchanged: `tensor()` uploads a Float32Array as is.
    return tensor(floats, [words.length / 4, 4]);
  });
  return { table, twOff: outH, rhOff: outH + outW, rwOff: outH + outW + inH };
}

function checkSize(op: string, x: Tensor, size: readonly number[]): void {
  assertRank(op, 'input', x, 4);
  if (!size || size.length !== 2 || size.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`${op}: output size ${JSON.stringify(size)} must be two integers >= 1 [outH, outW]`);
  }
  if (x.shape[2] < 1 || x.shape[3] < 1) {
    throw new Error(`${op}: input ${shapeStr(x.shape)} has an empty spatial dimension, expected H >= 1 and W >= 1`);
  }
}

/**
 * Bilinear resize of `x` [N, C, H, W] to [N, C, outH, outW], matching PyTorch
 * `F.interpolate(x, size=[outH, outW], mode='bilinear', align_corners=alignCorners)`.
 */
export function resizeBilinear(x: Tensor, size: readonly [number, number] | readonly number[], opts: ResizeOptions): Tensor {
  const op = 'resizeBilinear';
  checkSize(op, x, size);
  if (typeof opts?.alignCorners !== 'boolean') {
    throw new Error(`${op}: options.alignCorners must be true or false (got ${String(opts?.alignCorners)})`);
  }
  const [n, c, inH, inW] = x.shape;
  const [outH, outW] = size;
  const align = opts.alignCorners;
  const y = empty([n, c, outH, outW]);
  const planes = n * c;
  if (planes > 0) {
    const { table, twOff } = bilinearTable(inH, inW, outH, outW, align);
    const factor = upsampleFactor(inW, outW, align);
    if (factor) {
      // Integer upsampling along W: each thread turns one vec4 of input into 4F outputs; F a
      // multiple of 4 as a uniform (one pipeline), others (F = 2: HLGFA's Up) as a constant.
      const count = (planes * outH * inW) / 4;
      const by4 = factor % 4 === 0;
      launch(op, {
        shader: 'resize',
        entry: by4 ? 'bilinear_fwd_up4' : 'bilinear_fwd_up',
        constants: by4 ? {} : { F: factor },
        tensors: { x, tab: table, out: y },
        uniforms: { count, in_h: inH, in_w: inW, out_h: outH, out_w: outW, factor },
        workgroups: groups1d(count, WG),
      });
    } else {
      const colBlocks = Math.ceil(outW / VEC);
      const count = planes * outH * colBlocks;
      launch(op, {
        shader: 'resize',
        entry: 'bilinear_fwd',
        constants: { VEC },
        tensors: { x, tab: table, out: y },
        uniforms: { count, in_h: inH, in_w: inW, out_h: outH, out_w: outW, col_blocks: colBlocks, tw_off: twOff },
        workgroups: groups1d(count, WG),
      });
    }
    table.dispose();
  }
  if (needsGrad(x)) {
    record(op, [x], y, (gy) => {
      const gx = empty(x.shape);
      if (planes === 0) return [gx];
      const { table, twOff, rhOff, rwOff } = bilinearTable(inH, inW, outH, outW, align);
      // gx = Wh^T gy Ww as two gathers: along W into tmp [N, C, outH, W], then along H.
      const tmp = empty([n, c, outH, inW]);
      const dims = { in_h: inH, in_w: inW, out_h: outH, out_w: outW, tw_off: twOff, rh_off: rhOff, rw_off: rwOff };
      // `blocks` runs of VEC outputs along the pass's direction per output line.
      const passes: Array<{ entry: string; tensors: Record<string, Tensor>; lines: number; blocks: number }> = [
        { entry: 'bilinear_bwd_cols', tensors: { tab: table, gy, out: tmp }, lines: planes * inW, blocks: Math.ceil(outH / VEC) },
        { entry: 'bilinear_bwd_rows', tensors: { tab: table, x: tmp, out: gx }, lines: planes * inH, blocks: Math.ceil(inW / VEC) },
      ];
      for (const { entry, tensors, lines, blocks } of passes) {
        const count = lines * blocks;
        launch(`${op} backward`, {
          shader: 'resize',
          entry,
          constants: { VEC },
          tensors,
          uniforms: { ...dims, count, col_blocks: blocks },
          workgroups: groups1d(count, WG),
        });
      }
      tmp.dispose();
      table.dispose();
      return [gx];
    });
  }
  return y;
}

/**
 * Mean over non-overlapping `factor` x `factor` blocks: [N, C, H, W] -> [N, C, H/f, W/f]. H and W
 * must be divisible by `factor` (then it equals PyTorch `F.interpolate(mode='area')` and
 * `F.avg_pool2d(x, factor, factor)`).
 */
export function areaDownsample(x: Tensor, factor: number): Tensor {
  const op = 'areaDownsample';
  assertRank(op, 'input', x, 4);
  if (!Number.isInteger(factor) || factor < 1) {
    throw new Error(`${op}: factor ${factor} must be an integer >= 1`);
  }
  const [n, c, h, w] = x.shape;
  if (h % factor !== 0 || w % factor !== 0) {
    throw new Error(`${op}: input ${shapeStr(x.shape)} has spatial size ${h}x${w}, which is not divisible by factor ${factor}`);
  }
  const outH = h / factor;
  const outW = w / factor;
  const y = empty([n, c, outH, outW]);
  const uniforms = { count: y.size, in_h: h, in_w: w, out_h: outH, out_w: outW, factor, inv_area: 1 / (factor * factor) };
  if (y.size > 0) {
    // Factor 2 on rows of a multiple of 8: 4 outputs per thread from vec4 loads (area2_fwd_v4).
    const v4 = factor === 2 && w % 8 === 0;
    const count = v4 ? y.size / 4 : y.size;
    launch(op, { shader: 'resize', entry: v4 ? 'area2_fwd_v4' : 'area_fwd', tensors: { x, out: y }, uniforms: { ...uniforms, count }, workgroups: groups1d(count, WG) });
  }
  if (needsGrad(x)) {
    record(op, [x], y, (gy) => {
      const gx = empty(x.shape);
      if (y.size > 0) {
        launch(`${op} backward`, { shader: 'resize', entry: 'area_bwd', tensors: { gy, out: gx }, uniforms, workgroups: groups1d(y.size, WG) });
      }
      return [gx];
    });
  }
  return y;
}

// ---- CPU reference (float64) ------------------------------------------------------------------

/** Calls `f(o, i, weight)` for the four (output index, input index, weight) taps of every output. */
function forEachBilinearTap(
  shape: readonly number[], outH: number, outW: number, alignCorners: boolean, f: (o: number, i: number, weight: number) => void,
): void {
  const [n, c, h, w] = shape;
  const th = bilinearTaps(h, outH, alignCorners);
  const tw = bilinearTaps(w, outW, alignCorners);
  for (let pl = 0; pl < n * c; pl++) {
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        const o = (pl * outH + oh) * outW + ow;
        for (const [ih, lh] of [[th.i0[oh], th.l0[oh]], [th.i1[oh], th.l1[oh]]]) {
          for (const [iw, lw] of [[tw.i0[ow], tw.l0[ow]], [tw.i1[ow], tw.l1[ow]]]) f(o, (pl * h + ih) * w + iw, lh * lw);
        }
      }
    }
  }
}

export const resizeRef = {
  /** Bilinear resize of NCHW data, PyTorch semantics. */
  bilinear(x: ArrayLike<number>, shape: readonly number[], outH: number, outW: number, alignCorners: boolean): Float64Array {
    const out = new Float64Array(shape[0] * shape[1] * outH * outW);
    forEachBilinearTap(shape, outH, outW, alignCorners, (o, i, weight) => (out[o] += weight * x[i]));
    return out;
  },
  /** The gradient of `bilinear` for an upstream gradient gy (its adjoint: the transposed taps). */
  bilinearBackward(gy: ArrayLike<number>, shape: readonly number[], outH: number, outW: number, alignCorners: boolean): Float64Array {
    const gx = new Float64Array(shape.reduce((a, d) => a * d, 1));
    forEachBilinearTap(shape, outH, outW, alignCorners, (o, i, weight) => (gx[i] += weight * gy[o]));
    return gx;
  },
  /** Mean over factor x factor blocks of NCHW data. */
  area(x: ArrayLike<number>, shape: readonly number[], factor: number): Float64Array {
    const [n, c, h, w] = shape;
    const oh = Math.floor(h / factor);
    const ow = Math.floor(w / factor);
    const out = new Float64Array(n * c * oh * ow);
    for (let pl = 0; pl < n * c; pl++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let s = 0;
          for (let dy = 0; dy < factor; dy++) for (let dx = 0; dx < factor; dx++) s += x[(pl * h + i * factor + dy) * w + j * factor + dx];
          out[(pl * oh + i) * ow + j] = s / (factor * factor);
        }
      }
    }
    return out;
  },
};

// Average pooling (avgPool2d), max pooling (maxPool2d) and global average pooling (globalAvgPool),
// forward and backward.
// Kernels: shaders/pool.wgsl. Float64 CPU references at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { runtime } from '../gpu/runtime.js';
import { Tensor, empty } from '../tensor/tensor.js';
import { assertRank, groups1d, launch } from './util.js';

export interface AvgPoolOptions {
  kernel: number | readonly [number, number];
  /** Defaults to the kernel size. */
  stride?: number | readonly [number, number];
  /** Zero padding on each side, at most half the kernel. Default 0. */
  padding?: number | readonly [number, number];
  /** Divide by the full window (true, the default) or by the taps inside the image. */
  countIncludePad?: boolean;
}

const WG = 64;

interface PoolGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  oh: number;
  ow: number;
  includePad: boolean;
}

function pair(op: string, name: string, v: number | readonly [number, number], min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if ((typeof v !== 'number' && v.length !== 2) || !p.every((e) => Number.isInteger(e) && e >= min)) {
    throw new Error(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

function geometry(op: string, x: Tensor, o: AvgPoolOptions): PoolGeometry {
  assertRank(op, 'input x', x, 4);
  if (!o || o.kernel === undefined) throw new Error(`${op}: options.kernel is required`);
  const [kh, kw] = pair(op, 'kernel', o.kernel, 1);
  const [sh, sw] = pair(op, 'stride', o.stride ?? [kh, kw], 1);
  const [ph, pw] = pair(op, 'padding', o.padding ?? 0, 0);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new Error(`${op}: padding [${ph}, ${pw}] must be at most half the kernel [${kh}, ${kw}]`);
  }
  const [n, c, h, w] = x.shape;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  if (oh < 1 || ow < 1) {
    throw new Error(`${op}: input [${x.shape.join(', ')}] with padding [${ph}, ${pw}] is smaller than the kernel [${kh}, ${kw}]`);
  }
  return { n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, includePad: o.countIncludePad ?? true };
}

/** Dispatch: x = workgroups over a plane's `pixels`, (y, z) = planes (plane = y + z · ny). */
function planeGrid(pixels: number, planes: number): [number, number, number] {
  const ny = Math.min(planes, runtime().limits.maxWorkgroupsPerDimension);
  return [Math.ceil(pixels / WG), ny, Math.ceil(planes / ny)];
}

function uniforms(g: PoolGeometry): Record<string, number> {
  return {
    planes: g.n * g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, kh: g.kh, kw: g.kw,
    sh: g.sh, sw: g.sw, ph: g.ph, pw: g.pw, include_pad: g.includePad ? 1 : 0,
  };
}

/**
 * Average pooling of x [N, C, H, W] → [N, C, OH, OW], OH = floor((H + 2·padding − kernel) / stride) + 1
 * (PyTorch's AvgPool2d with ceil_mode = false).
 */
export function avgPool2d(x: Tensor, opts: AvgPoolOptions): Tensor {
  const op = 'avgPool2d';
  const g = geometry(op, x, opts);
  const y = empty([g.n, g.c, g.oh, g.ow]);
  launch(op, {
    shader: 'pool',
    entry: 'avg_fwd',
    tensors: { x, out: y },
    uniforms: uniforms(g),
    workgroups: planeGrid(g.oh * g.ow, g.n * g.c),
  });
  if (needsGrad(x)) {
    record(op, [x], y, (gy) => {
      const gx = empty(x.shape);
      launch(`${op} backward`, {
        shader: 'pool',
        entry: 'avg_bwd',
        tensors: { gy, out: gx },
        uniforms: uniforms(g),
        workgroups: planeGrid(g.h * g.w, g.n * g.c),
      });
      return [gx];
    });
  }
  return y;
}

/** Mean over H and W: x [N, C, H, W] → [N, C, 1, 1]. */
export function globalAvgPool(x: Tensor): Tensor {
  const op = 'globalAvgPool';
  assertRank(op, 'input x', x, 4);
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const planes = n * c;
  if (hw === 0) throw new Error(`globalAvgPool: input [${x.shape.join(', ')}] has no pixels to average`);
  const y = empty([n, c, 1, 1]);
  // A workgroup per plane pays a reduction; a thread per plane suits small planes and many of them.
  const wide = hw >= 1024 || planes < 256;
  launch(op, {
    shader: 'pool',
    entry: wide ? 'gap_fwd_wide' : 'gap_fwd_narrow',
    tensors: { x, out: y },
    uniforms: { planes, hw, scale: 1 / hw },
    workgroups: wide ? groups1d(planes, 1) : groups1d(planes, WG),
  });
  if (needsGrad(x)) {
    record(op, [x], y, (gy) => {
      const gx = empty(x.shape);
      launch(`${op} backward`, {
        shader: 'pool',
        entry: 'gap_bwd',
        tensors: { gy, out: gx },
        uniforms: { hw, scale: 1 / hw, n: x.size },
        workgroups: groups1d(x.size, WG),
      });
      return [gx];
    });
  }
  return y;
}

export interface MaxPoolOptions {
  kernel: number | readonly [number, number];
  /** Defaults to the kernel size. */
  stride?: number | readonly [number, number];
  /** Implicit −inf padding on each side, at most half the kernel. Default 0. */
  padding?: number | readonly [number, number];
}

/**
 * Max pooling of x [N, C, H, W] → [N, C, OH, OW], OH = floor((H + 2·padding − kernel) / stride) + 1
 * (PyTorch's MaxPool2d with ceil_mode = false, dilation 1). The gradient goes to each window's
 * arg-max; on ties to the first maximum in row-major window order, as in PyTorch.
 */
export function maxPool2d(x: Tensor, opts: MaxPoolOptions): Tensor {
  const op = 'maxPool2d';
  const g = geometry(op, x, opts);
  const y = empty([g.n, g.c, g.oh, g.ow]);
  const grad = needsGrad(x);
  // The arg-max indices are u32 data in an f32-typed buffer, bound only as array<u32>.
  const idx = grad ? empty([g.n, g.c, g.oh, g.ow]) : null;
  const u = uniforms(g);
  launch(op, {
    shader: 'pool',
    entry: idx ? 'max_fwd_idx' : 'max_fwd',
    tensors: idx ? { x, out: y, idx_out: idx } : { x, out: y },
    uniforms: u,
    workgroups: planeGrid(g.oh * g.ow, g.n * g.c),
  });
  if (idx) {
    record(op, [x], y, (gy) => {
      const gx = empty(x.shape);
      launch(`${op} backward`, {
        shader: 'pool',
        entry: 'max_bwd',
        tensors: { gy, idx, out: gx },
        uniforms: u,
        workgroups: planeGrid(g.h * g.w, g.n * g.c),
      });
      idx.dispose();
      return [gx];
    });
  }
  return y;
}

// ---- CPU references (float64) -----------------------------------------------------------------

export function avgPool2dRef(x: ArrayLike<number>, shape: readonly number[], o: AvgPoolOptions): Float64Array {
  const [n, c, h, w] = shape;
  const [kh, kw] = typeof o.kernel === 'number' ? [o.kernel, o.kernel] : o.kernel;
  const [sh, sw] = o.stride === undefined ? [kh, kw] : typeof o.stride === 'number' ? [o.stride, o.stride] : o.stride;
  const [ph, pw] = o.padding === undefined ? [0, 0] : typeof o.padding === 'number' ? [o.padding, o.padding] : o.padding;
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const out = new Float64Array(n * c * oh * ow);
  for (let pl = 0; pl < n * c; pl++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let acc = 0;
        let count = 0;
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * sh - ph + ky;
            const ix = ox * sw - pw + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            acc += x[(pl * h + iy) * w + ix];
            count++;
          }
        }
        out[(pl * oh + oy) * ow + ox] = acc / ((o.countIncludePad ?? true) ? kh * kw : Math.max(count, 1));
      }
    }
  }
  return out;
}

export function globalAvgPoolRef(x: ArrayLike<number>, shape: readonly number[]): Float64Array {
  const [n, c, h, w] = shape;
  const out = new Float64Array(n * c);
  for (let i = 0; i < n * c * h * w; i++) out[Math.floor(i / (h * w))] += x[i] / (h * w);
  return out;
}

/** Window bounds and output size of max pooling, as in maxPool2d. */
function maxGeometry(shape: readonly number[], o: MaxPoolOptions) {
  const [n, c, h, w] = shape;
  const [kh, kw] = typeof o.kernel === 'number' ? [o.kernel, o.kernel] : o.kernel;
  const [sh, sw] = o.stride === undefined ? [kh, kw] : typeof o.stride === 'number' ? [o.stride, o.stride] : o.stride;
  const [ph, pw] = o.padding === undefined ? [0, 0] : typeof o.padding === 'number' ? [o.padding, o.padding] : o.padding;
  return { planes: n * c, h, w, kh, kw, sh, sw, ph, pw, oh: Math.floor((h + 2 * ph - kh) / sh) + 1, ow: Math.floor((w + 2 * pw - kw) / sw) + 1 };
}

/**
 * Max pooling in float64 with PyTorch's rule (first maximum wins, NaN propagates); also returns the
 * plane-local arg-max (iy · W + ix) of every output.
 */
export function maxPool2dRefWithIndices(x: ArrayLike<number>, shape: readonly number[], o: MaxPoolOptions): { data: Float64Array; indices: Int32Array } {
  const g = maxGeometry(shape, o);
  const data = new Float64Array(g.planes * g.oh * g.ow);
  const indices = new Int32Array(data.length);
  for (let pl = 0; pl < g.planes; pl++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        let best = -Infinity;
        let arg = -1;
        for (let ky = 0; ky < g.kh; ky++) {
          for (let kx = 0; kx < g.kw; kx++) {
            const iy = oy * g.sh - g.ph + ky;
            const ix = ox * g.sw - g.pw + kx;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            const v = x[(pl * g.h + iy) * g.w + ix];
            if (arg < 0 || v > best || Number.isNaN(v)) {
              best = v;
              arg = iy * g.w + ix;
            }
          }
        }
        const k = (pl * g.oh + oy) * g.ow + ox;
        data[k] = best;
        indices[k] = arg;
      }
    }
  }
  return { data, indices };
}

export function maxPool2dRef(x: ArrayLike<number>, shape: readonly number[], o: MaxPoolOptions): Float64Array {
  return maxPool2dRefWithIndices(x, shape, o).data;
}

/** d/dx of sum(maxPool2d(x) · gy): each output's gy goes to its arg-max. */
export function maxPool2dBackwardRef(x: ArrayLike<number>, shape: readonly number[], o: MaxPoolOptions, gy: ArrayLike<number>): Float64Array {
  const g = maxGeometry(shape, o);
  const { indices } = maxPool2dRefWithIndices(x, shape, o);
  const gx = new Float64Array(g.planes * g.h * g.w);
  const per = g.oh * g.ow;
  for (let k = 0; k < indices.length; k++) gx[Math.floor(k / per) * g.h * g.w + indices[k]] += gy[k];
  return gx;
}

// Float64 CPU references for conv2d, forward and backward (the tests, the finite-difference
// gradient checks and the bench validate the kernels against them).
import type { Shape } from '../tensor/tensor.js';
import { convGeometry, type Conv2dOptions, type ConvGeometry } from './conv2d.js';

/**
 * Calls `f(y, x, w, co)` for every (output element, input element, weight) product of the
 * convolution, in the order the forward sums them: per output, over (ci, kh, kw).
 */
function forEachTap(g: ConvGeometry, f: (y: number, x: number, w: number, co: number) => void): void {
  let y = 0;
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.cout; co++) {
      for (let oh = 0; oh < g.ho; oh++) {
        for (let ow = 0; ow < g.wo; ow++, y++) {
          for (let ci = 0; ci < g.cin; ci++) {
            for (let kh = 0; kh < g.kh; kh++) {
              const ih = oh * g.sh - g.pad[0] + kh * g.dh;
              if (ih < 0 || ih >= g.h) continue;
              for (let kw = 0; kw < g.kw; kw++) {
                const iw = ow * g.sw - g.pad[2] + kw * g.dw;
                if (iw >= 0 && iw < g.w) f(y, ((n * g.cin + ci) * g.h + ih) * g.w + iw, ((co * g.cin + ci) * g.kh + kh) * g.kw + kw, co);
              }
            }
          }
        }
      }
    }
  }
}

/** conv2d on row-major NCHW data; returns the output and its shape [N, Cout, Ho, Wo]. */
export function conv2dRef(
  x: ArrayLike<number>,
  xShape: Shape,
  w: ArrayLike<number>,
  wShape: Shape,
  bias: ArrayLike<number> | null = null,
  opts: Conv2dOptions = {},
): { data: Float64Array; shape: number[] } {
  const g = convGeometry('conv2d', xShape, wShape, bias ? [bias.length] : null, opts);
  const plane = g.ho * g.wo;
  const out = Float64Array.from({ length: g.n * g.cout * plane }, (_, i) => (bias ? bias[Math.floor(i / plane) % g.cout] : 0));
  forEachTap(g, (yi, xi, wi) => (out[yi] += x[xi] * w[wi]));
  return { data: out, shape: [g.n, g.cout, g.ho, g.wo] };
}

/** Gradients of conv2d (and of its bias) for an upstream gradient gy [N, Cout, Ho, Wo]. */
export function conv2dBackwardRef(
  x: ArrayLike<number>,
  xShape: Shape,
  w: ArrayLike<number>,
  wShape: Shape,
  gy: ArrayLike<number>,
  opts: Conv2dOptions = {},
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const g = convGeometry('conv2d', xShape, wShape, null, opts);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(g.cout);
  const plane = g.ho * g.wo;
  for (let i = 0; i < gy.length; i++) db[Math.floor(i / plane) % g.cout] += gy[i];
  forEachTap(g, (yi, xi, wi) => {
    dx[xi] += gy[yi] * w[wi];
    dw[wi] += gy[yi] * x[xi];
  });
  return { dx, dw, db };
}

/** x's patches as im2col lays them out: [N, Cin·kh·kw, Ho·Wo], zero where a tap meets the padding. */
export function im2colRef(x: Float32Array, g: ConvGeometry): Float32Array {
  const hw = g.ho * g.wo;
  const out = new Float32Array(g.n * g.cin * g.kh * g.kw * hw);
  let o = 0;
  for (let n = 0; n < g.n; n++) {
    for (let ci = 0; ci < g.cin; ci++) {
      for (let r = 0; r < g.kh; r++) {
        for (let c = 0; c < g.kw; c++) {
          for (let oh = 0; oh < g.ho; oh++) {
            for (let ow = 0; ow < g.wo; ow++, o++) {
              const ih = oh * g.sh - g.pad[0] + r * g.dh;
              const iw = ow * g.sw - g.pad[2] + c * g.dw;
              if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) out[o] = x[((n * g.cin + ci) * g.h + ih) * g.w + iw];
            }
          }
        }
      }
    }
  }
  return out;
}

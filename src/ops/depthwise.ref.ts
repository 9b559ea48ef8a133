// Float64 CPU references for src/ops/depthwise.ts: forward, the three gradients, and the
// multi-scale op as the sum of three separate depthwise convolutions.
import type { DepthwiseOptions, MultiScaleOptions } from './depthwise.js';

interface Geo {
  n: number; c: number; h: number; w: number; s: number; d: number; p: number; oh: number; ow: number;
}

function geo(xShape: readonly number[], k: number, opts: DepthwiseOptions): Geo {
  const [n, c, h, w] = xShape;
  const s = opts.stride ?? 1;
  const d = opts.dilation ?? 1;
  const pd = opts.padding;
  const [p, pb, pr] = pd === 'same' ? [((k - 1) / 2) * d, ((k - 1) / 2) * d, ((k - 1) / 2) * d]
    : Array.isArray(pd) ? [pd[0], pd[1], pd[3]] : [(pd as number | undefined) ?? 0, (pd as number | undefined) ?? 0, (pd as number | undefined) ?? 0];
  const oh = Math.floor((h + p + pb - (k - 1) * d - 1) / s) + 1;
  const ow = Math.floor((w + p + pr - (k - 1) * d - 1) / s) + 1;
  return { n, c, h, w, s, d, p, oh, ow };
}

/** Calls f(xIndex, wIndex, outIndex) for every tap that reads inside the input. */
function forEachTap(g: Geo, k: number, f: (xi: number, wi: number, oi: number, ch: number) => void): void {
  for (let b = 0; b < g.n; b++) {
    for (let ch = 0; ch < g.c; ch++) {
      const xb = (b * g.c + ch) * g.h * g.w;
      for (let oy = 0; oy < g.oh; oy++) {
        for (let ox = 0; ox < g.ow; ox++) {
          const oi = ((b * g.c + ch) * g.oh + oy) * g.ow + ox;
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * g.s - g.p + ky * g.d;
            if (iy < 0 || iy >= g.h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * g.s - g.p + kx * g.d;
              if (ix < 0 || ix >= g.w) continue;
              f(xb + iy * g.w + ix, (ch * k + ky) * k + kx, oi, ch);
            }
          }
        }
      }
    }
  }
}

/** Depthwise convolution of x [N, C, H, W] with w [C, 1, k, k] (+ bias [C]) in float64. */
export function depthwiseRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  k: number,
  bias: ArrayLike<number> | null = null,
  opts: DepthwiseOptions = {},
): Float64Array {
  const g = geo(xShape, k, opts);
  const out = new Float64Array(g.n * g.c * g.oh * g.ow);
  if (bias) for (let i = 0; i < out.length; i++) out[i] = bias[Math.floor(i / (g.oh * g.ow)) % g.c];
  forEachTap(g, k, (xi, wi, oi) => {
    out[oi] += x[xi] * w[wi];
  });
  return out;
}

/** Gradients of depthwiseRef for an upstream gradient gy [N, C, OH, OW]. */
export function depthwiseBackwardRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  k: number,
  gy: ArrayLike<number>,
  opts: DepthwiseOptions = {},
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const g = geo(xShape, k, opts);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(g.c * k * k);
  const db = new Float64Array(g.c);
  for (let i = 0; i < gy.length; i++) db[Math.floor(i / (g.oh * g.ow)) % g.c] += gy[i];
  forEachTap(g, k, (xi, wi, oi) => {
    dx[xi] += gy[oi] * w[wi];
    dw[wi] += gy[oi] * x[xi];
  });
  return { dx, dw, db };
}

/** Sum of three separate 'same'-padded depthwise convolutions (3, 5, 7) in float64. */
export function multiScaleDepthwiseRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  ws: readonly [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>],
  bs: readonly [ArrayLike<number> | null, ArrayLike<number> | null, ArrayLike<number> | null] | null = null,
  opts: MultiScaleOptions = {},
): Float64Array {
  const o: DepthwiseOptions = { ...opts, padding: 'same' };
  const parts = [3, 5, 7].map((k, i) => depthwiseRef(x, xShape, ws[i], k, bs?.[i] ?? null, o));
  return parts[0].map((v, i) => v + parts[1][i] + parts[2][i]);
}

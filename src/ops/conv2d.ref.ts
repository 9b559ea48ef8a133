// Float64 CPU reference for conv2d (used by the tests and the finite-difference gradient checks).
import type { Shape } from '../tensor/tensor.js';
import { convGeometry, type Conv2dOptions } from './conv2d.js';

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
  const out = new Float64Array(g.n * g.cout * g.ho * g.wo);
  let o = 0;
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.cout; co++) {
      for (let oh = 0; oh < g.ho; oh++) {
        for (let ow = 0; ow < g.wo; ow++) {
          let s = bias ? bias[co] : 0;
          for (let ci = 0; ci < g.cin; ci++) {
            for (let kh = 0; kh < g.kh; kh++) {
              const ih = oh * g.sh - g.pad[0] + kh * g.dh;
              if (ih < 0 || ih >= g.h) continue;
              for (let kw = 0; kw < g.kw; kw++) {
                const iw = ow * g.sw - g.pad[2] + kw * g.dw;
                if (iw < 0 || iw >= g.w) continue;
                s += x[((n * g.cin + ci) * g.h + ih) * g.w + iw] * w[((co * g.cin + ci) * g.kh + kh) * g.kw + kw];
              }
            }
          }
          out[o++] = s;
        }
      }
    }
  }
  return { data: out, shape: [g.n, g.cout, g.ho, g.wo] };
}

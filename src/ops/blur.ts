// Separable Gaussian blur of NCHW images (forward only). Kernels: shaders/blur.wgsl. CPU reference
// at the bottom.
//
// Borders use PyTorch/kornia 'reflect' padding: mirror WITHOUT repeating the edge pixel (index -1
// reads 1, index n reads n - 2) - this is scipy.ndimage's 'mirror', not scipy's 'reflect'. When
// the radius exceeds the image the reflection is applied repeatedly (period 2n - 2; a size-1 axis
// reads its single pixel), where PyTorch's reflect padding would refuse.
import { Tensor, constant, empty, shapeStr, tensor } from '../tensor/tensor.js';
import { assertRank, groups1d, launch } from './util.js';
import { allow, tunable } from './tunable.js';

const WG = 64;

/** Outputs per thread: 4 * span (shader override `SPAN`); `gaussianBlur` reads it unless a call passes `span`. */
export const blurTuning = tunable<{ span: 1 | 2 }>('blur', {
  span: { default: 2, allowed: allow.oneOf([1, 2], '1 or 2'), candidates: [1, 2], cases: ['blur/σ=4 [1, 1, 256, 256]'], quick: true },
});

/** The constants a blur runs with (and the bench's label); `span` overrides the knob. */
export function blurPlan(span: 1 | 2 = blurTuning.values.span): { constants: Record<string, number>; per: number; label: string } {
  return { constants: { SPAN: span }, per: 4 * span, label: `span=${span}` };
}

export interface BlurOptions {
  /** Kernel radius in pixels (kernel size 2r + 1). Default ⌊4σ + 0.5⌋, so σ = 4 gives 33 taps. */
  radius?: number;
  /** Outputs per thread: 4 * span (shader override `SPAN`). For tuning; default 2 (faster on lavapipe). */
  span?: 1 | 2;
  /** The result times `scale` plus `shift`, in the last pass's stores (an affine map fused in; default 1, 0). */
  scale?: number;
  shift?: number;
}

export function defaultBlurRadius(sigma: number): number {
  return Math.floor(4 * sigma + 0.5);
}

/** The normalised 1-D Gaussian, 2 * radius + 1 taps summing to 1 (computed in float64). */
export function gaussianKernel1d(sigma: number, radius: number): Float64Array {
  const w = new Float64Array(2 * radius + 1);
  let s = 0;
  for (let k = -radius; k <= radius; k++) {
    w[k + radius] = Math.exp(-(k * k) / (2 * sigma * sigma));
    s += w[k + radius];
  }
  for (let i = 0; i < w.length; i++) w[i] /= s;
  return w;
}

/**
 * Gaussian blur of `x` [N, C, H, W] with standard deviation `sigma` (pixels), each plane
 * independently: a horizontal then a vertical pass. Not differentiable: the result is not
 * recorded on the autograd tape (it never requires a gradient).
 */
export function gaussianBlur(x: Tensor, sigma: number, opts: BlurOptions = {}): Tensor {
  const op = 'gaussianBlur';
  assertRank(op, 'input', x, 4);
  if (typeof sigma !== 'number' || !Number.isFinite(sigma) || sigma <= 0) {
    throw new Error(`${op}: sigma ${sigma} must be a finite number > 0 (input ${shapeStr(x.shape)})`);
  }
  const radius = opts.radius ?? defaultBlurRadius(sigma);
  if (!Number.isInteger(radius) || radius < 0) {
    throw new Error(`${op}: radius ${radius} must be an integer >= 0`);
  }
  const span = opts.span ?? blurTuning.values.span;
  const scale = opts.scale ?? 1;
  const shift = opts.shift ?? 0;
  if (!Number.isFinite(scale) || !Number.isFinite(shift)) throw new Error(`${op}: scale ${scale} and shift ${shift} must be finite numbers`);
  if (span !== 1 && span !== 2) throw new Error(`${op}: span ${String(span)} must be 1 or 2`);
  const pl = blurPlan(span);
  const [n, c, h, w] = x.shape;
  const y = empty(x.shape);
  if (x.size === 0) return y;
  const weights = constant(`blur.gaussian sigma ${sigma} radius ${radius}`, () => tensor(Float32Array.from(gaussianKernel1d(sigma, radius))));
  const tmp = empty(x.shape);
  const per = pl.per;
  const planes = n * c;
  const common = { width: w, height: h, radius, taps: 2 * radius + 1 };
  // Rows (x → tmp), then columns (tmp → y): `per` outputs per thread along the pass's direction;
  // the columns 4 at a time (fwd_v4, vec4 loads) where rows are a multiple of 4 wide.
  const v4 = w % 4 === 0;
  const passes = [['fwd_h', x, tmp, w, h, false], [v4 ? 'fwd_v4' : 'fwd_v', tmp, y, h, v4 ? w / 4 : w, true]] as const;
  for (const [entry, src, dst, along, across, last] of passes) {
    const blocks = Math.ceil(along / per);
    const count = planes * across * blocks;
    launch(op, {
      shader: 'blur',
      entry,
      constants: pl.constants,
      tensors: { x: src, wt: weights, out: dst },
      uniforms: { ...common, count, blocks, scale: last ? scale : 1, shift: last ? shift : 0 },
      workgroups: groups1d(count, WG),
    });
  }
  tmp.dispose();
  weights.dispose();
  return y;
}

// ---- CPU reference (float64) ------------------------------------------------------------------

/** Repeated 'reflect' (mirror without edge repeat) of index i into [0, n). */
export function reflectIndex(i: number, n: number): number {
  if (i >= 0 && i < n) return i;
  if (n <= 1) return 0;
  const period = 2 * n - 2;
  let m = i % period;
  if (m < 0) m += period;
  return m >= n ? period - m : m;
}

/** Direct 2-D separable blur of NCHW data (horizontal then vertical, like the GPU). */
export function gaussianBlurRef(x: ArrayLike<number>, shape: readonly number[], sigma: number, radius = defaultBlurRadius(sigma)): Float64Array {
  const [n, c, h, w] = shape;
  const k = gaussianKernel1d(sigma, radius);
  const tmp = new Float64Array(n * c * h * w);
  const out = new Float64Array(n * c * h * w);
  for (let pl = 0; pl < n * c; pl++) {
    const base = pl * h * w;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let s = 0;
        for (let t = -radius; t <= radius; t++) s += k[t + radius] * x[base + i * w + reflectIndex(j + t, w)];
        tmp[base + i * w + j] = s;
      }
    }
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let s = 0;
        for (let t = -radius; t <= radius; t++) s += k[t + radius] * tmp[base + reflectIndex(i + t, h) * w + j];
        out[base + i * w + j] = s;
      }
    }
  }
  return out;
}

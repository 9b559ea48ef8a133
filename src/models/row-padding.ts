// Feature maps whose rows are padded to a multiple of 4 columns, inside a network's forward pass.
//
// Why: on rows that do not start on vec4 boundaries the kernels fall back to scalar paths. A 1×1
// convolution is the product W [Cout, Cin] · x [Cin, H·W]; where H·W is not a multiple of 4
// (MobileNetV2's 7×7 layers at 224²) the subgroup matmul takes its ragged entry, which loads B
// twice over and stores C as scalars: 14-25 GFLOP/s against 36-50 for the same layers at 8×8
// (lavapipe, bench/RESULTS.md). And a depthwise convolution over rows not a multiple of 4 wide
// (14×14) runs its scalar blocked kernel instead of vec4 windows with a shared filter. With the
// map stored as [N, C, H, Wp], Wp = W rounded up to 4, both are aligned. The pad columns cost up to
// Wp / W more work (less where the matmul's column tiles covered them anyway: 196 and 224 columns
// both fill 7 subgroups of 32) and are garbage, which is harmless where every reader works per
// pixel (1×1 convolutions, residual adds) and is turned into zeros where a depthwise convolution
// reads them: the 1×1 convolution that feeds one stores them as 0 (gemm's zeroColumns), and then
// they are exactly that convolution's right-hand zero padding.
//
// The rule: a depthwise convolution whose output rows are not a multiple of 4 wide writes padded
// rows when the subgroup matmul runs here; maps leave the padded form (one copy, `narrow`) where
// something other than these layers reads them (taps, the pooled head, full convolutions).
import { conv2d, conv2dPlan, convGeometry, pointwiseInto, type Padding4 } from '../ops/conv2d.js';
import { narrow } from '../ops/concat.js';
import { depthwiseConv2d } from '../ops/depthwise.js';
import { storesZeroColumns } from '../ops/matmul.js';
import { activationCode } from '../ops/util.js';
import { empty, type Tensor } from '../tensor/tensor.js';

/** An NCHW feature map `w` columns wide, stored in `t` with rows t.shape[3] >= w wide. */
export interface RowMap {
  t: Tensor;
  w: number;
  /** The pad columns hold zeros (else garbage). */
  zeroPad: boolean;
}

/** One convolution layer of a network (BatchNorm folded into weight and bias). */
export interface ConvLayer {
  weight: Tensor;
  bias: Tensor;
  stride: number;
  k: number;
  depthwise: boolean;
  relu6: boolean;
}

export const plainMap = (t: Tensor): RowMap => ({ t, w: t.shape[3], zeroPad: true });
export const isPadded = (x: RowMap): boolean => x.t.shape[3] !== x.w;
const round4 = (v: number) => Math.ceil(v / 4) * 4;

/** x's valid columns as a plain tensor: x.t itself, or a copy (which the caller disposes). */
export const unpadded = (x: RowMap): Tensor => (isPadded(x) ? narrow(x.t, 3, 0, x.w) : x.t);

/** A 1×1 convolution from c to cout channels over an h×w map runs on an aligned subgroup kernel, one that can zero pad columns. */
const alignedProduct = (cout: number, c: number, h: number, w: number) =>
  storesZeroColumns(conv2dPlan(convGeometry('runRowLayer', [1, c, h, w], [cout, c, 1, 1], null)));

/** f(t) on x's valid columns, the copy they needed (if any) disposed after. */
function onPlain(x: RowMap | undefined, f: (t: Tensor | undefined) => Tensor): Tensor {
  const t = x && unpadded(x);
  try {
    return f(t);
  } finally {
    if (t && t !== x?.t) t.dispose();
  }
}

/**
 * Runs layer `l` on `x` with `padding` [top, bottom, left, right] computed for x's valid size;
 * `residual` (a map of the output's form) is added in the stores; `feedsDepthwise`: the next layer
 * is a depthwise convolution, which must read zeros in the pad columns. Padded maps go in and come
 * out where the rule above allows, else the layer runs on a plain copy.
 */
export function runRowLayer(l: ConvLayer, x: RowMap, padding: Padding4, opts: { residual?: RowMap; feedsDepthwise: boolean; rowPadding: boolean }): RowMap {
  const activation = l.relu6 ? ('relu6' as const) : ('none' as const);
  const [n, c, h, stored] = x.t.shape;
  const cout = l.weight.shape[0];
  if (l.depthwise) {
    const [top, bottom, left, right] = padding;
    const oh = Math.floor((h + top + bottom - l.k) / l.stride) + 1;
    const ow = Math.floor((x.w + left + right - l.k) / l.stride) + 1;
    // Output rows padded to a multiple of 4 where the rule holds (the 1×1 convolutions that read
    // them then run aligned: their kernel depends on K and N, so c stands in for their Cout). A
    // padded input with zeroed pad columns is read as it is either way.
    const pads = opts.rowPadding && ow % 4 !== 0 && alignedProduct(c, c, oh, round4(ow));
    if (x.zeroPad && (pads || isPadded(x))) {
      // Rows of wt outputs: the extra right padding (or the zeroed pad columns) reads zeros, so
      // the valid outputs are the unpadded convolution's.
      const wt = pads ? round4(ow) : ow;
      const extra = Math.max((wt - 1) * l.stride + l.k - stored - left, 0);
      if (Math.floor((stored + left + extra - l.k) / l.stride) + 1 === wt) {
        return { t: depthwiseConv2d(x.t, l.weight, l.bias, { stride: l.stride, padding: [top, bottom, left, extra], activation }), w: ow, zeroPad: wt === ow };
      }
    }
    return plainMap(onPlain(x, (t) => depthwiseConv2d(t!, l.weight, l.bias, { stride: l.stride, padding, activation })));
  }
  const residual = opts.residual;
  if (l.k === 1 && l.stride === 1 && isPadded(x) && (!residual || residual.t.shape[3] === stored) && (!opts.feedsDepthwise || alignedProduct(cout, c, h, stored))) {
    const y = empty([n, cout, h, stored]);
    pointwiseInto(y, x.t, l.weight, l.bias, activationCode('conv2d', activation), residual?.t ?? null, opts.feedsDepthwise ? { period: stored, valid: x.w } : null);
    return { t: y, w: x.w, zeroPad: opts.feedsDepthwise };
  }
  return plainMap(onPlain(x, (t) => onPlain(residual, (r) => conv2d(t!, l.weight, l.bias, { stride: l.stride, padding, activation, residual: r }))));
}

// 2-D convolution (NCHW, zero padding, stride, dilation), forward and backward, all on the GPU.
// 1x1 / stride 1 / no padding with Cin and H·W multiples of 4 runs as a matmul per image (shaders/matmul.wgsl);
// everything else is a direct register-blocked convolution (shaders/conv2d.wgsl, conv2d-sg.wgsl),
// but for the weight gradient, a matmul over the input's patches (im2col; see WEIGHT_GRADS).
// CPU reference: src/ops/conv2d.ref.ts.
import { needsGrad, record } from '../autograd/tape.js';
import { runtime } from '../gpu/runtime.js';
import { Tensor, empty, shapeStr, zeros, type Shape } from '../tensor/tensor.js';
import { activate, add } from './elementwise.js';
import { gemm, matmulPlan, type GemmArgs } from './matmul.js';
import { shaderConstant } from '../gpu/kernel.js';
import { allow, tunable } from './tunable.js';
import { activationCode, groups1d, launch, sameShape, vec4Phase, type Activation, type ActivationCode } from './util.js';

export type Pair = number | readonly [number, number];
/** Padding [top, bottom, left, right]. */
export type Padding4 = readonly [number, number, number, number];

export interface Conv2dOptions {
  stride?: Pair;
  /** One value for every side, [vertical, horizontal], or [top, bottom, left, right]. */
  padding?: Pair | Padding4;
  dilation?: Pair;
  /**
   * 'relu6' clamps the output to [0, 6], 'relu' at 0, in the kernel's store instead of a pass of its
   * own (MobileNetV2's layers, HLGFA's structure prior; a fifth of an inference's GPU time on
   * lavapipe went to separate ReLU6 passes). With gradients it runs as conv2d then the activation:
   * the same values, the usual backward.
   */
  activation?: Activation;
  /**
   * Added to the output (shape [N, Cout, Ho, Wo]) before the activation: y = act(conv + bias +
   * residual), a residual connection. Fused into the output stores where the convolution runs as a
   * matmul (MobileNetV2's project convs: a pass fewer per block); elsewhere, and with gradients, it
   * runs as conv2d then add.
   */
  residual?: Tensor;
}

export interface ConvGeometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  /** top, bottom, left, right */
  pad: [number, number, number, number];
  ho: number;
  wo: number;
}

const WG = 64;

/** Multiply-adds ×2 of the convolution (its forward, input gradient and weight gradient each do this many). */
const convFlops = (g: ConvGeometry): number => 2 * g.n * g.cout * g.ho * g.wo * g.cin * g.kh * g.kw;
const C24 = 'conv2d/3x3 24→48 @64²';

/**
 * How the weight gradient of a convolution other than 1×1 runs: 'im2col' lays each image's input
 * patches out as a matrix (the im2col entry) and sums gy · patchesᵀ over the images with the
 * matmul kernels (3-4× the direct kernel on lavapipe, whose 96 accumulators per thread spill);
 * 'direct' is bwd_w, which needs no extra memory. im2col falls back to direct where it cannot run:
 * output rows not a multiple of 4 wide, or a patch matrix over IM2COL_MAX_BYTES.
 */
export const WEIGHT_GRADS = ['im2col', 'direct'] as const;
export type WeightGrad = (typeof WEIGHT_GRADS)[number];
/** The largest patch matrix the weight gradient lays out (S=256, batch 8: the HLGFA level-0 conv's is 28 MB). */
export const IM2COL_MAX_BYTES = 128 * 2 ** 20;

/**
 * `tiled`: the forward as an implicit GEMM over 32×32 workgroup-memory tiles (shaders/conv2d-tiled.wgsl),
 * for GPUs; off by default (slower on lavapipe, where barriers are dear).
 * The direct kernels' knobs. `pixelsPerThread`: output pixels per thread along a row (override
 * PX, at most the shader's PXMAX). `vec4Loads`: fwd_v4, which reads input row segments as vec4
 * where rows and thread windows are vec4-aligned. `subgroupWeights`: with those, fwd_v4_sg
 * (shaders/conv2d-sg.wgsl) where the device has subgroups of at least 2·kw lanes.
 */
export const conv2dTuning = tunable('conv2d', {
  tiled: { default: false, allowed: allow.bool, candidates: [false, true], cases: [C24, 'conv2d/3x3 96→192 @16²', 'conv2d/3x3 s2 3→32 @256²'] },
  weightGrad: { default: 'im2col' as WeightGrad, allowed: allow.oneOf(WEIGHT_GRADS), candidates: WEIGHT_GRADS, cases: ['conv2d/backward 3x3 24→48 @64²', 'conv2d/backward 3x3 96→192 @16²'], quick: true },
  vec4Loads: { default: true, allowed: allow.bool, candidates: [true, false], cases: [C24, 'conv2d/3x3 96→192 @16²'], quick: true },
  subgroupWeights: { default: true, allowed: allow.bool, candidates: [true, false], cases: [C24, 'conv2d/3x3 96→192 @16²'], quick: true },
  pixelsPerThread: { default: 8, allowed: allow.int(1, 16), candidates: [2, 4, 8, 16], cases: [C24, 'conv2d/3x3 s2 3→32 @256²'], quick: true },
});

function pair(op: string, name: string, v: Pair | undefined, dflt: number, min: number): [number, number] {
  const p: [number, number] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  const ok = (typeof v === 'number' || v === undefined || (Array.isArray(v) && v.length === 2)) && p.every((d) => Number.isInteger(d) && d >= min);
  if (!ok) throw new Error(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  return p;
}

function padding4(op: string, v: Pair | Padding4 | undefined): [number, number, number, number] {
  if (Array.isArray(v) && v.length === 4) {
    if (!v.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new Error(`${op}: padding must hold integers >= 0, got ${JSON.stringify(v)}`);
    }
    return [v[0], v[1], v[2], v[3]];
  }
  const [ph, pw] = pair(op, 'padding', v as Pair | undefined, 0, 0);
  return [ph, ph, pw, pw];
}

/** Validates shapes and options; every error names the op and the shapes involved. */
export function convGeometry(op: string, xs: Shape, ws: Shape, bs: Shape | null, opts: Conv2dOptions = {}): ConvGeometry {
  if (xs.length !== 4) throw new Error(`${op}: input has shape ${shapeStr(xs)}, expected rank 4 [N, Cin, H, W]`);
  if (ws.length !== 4) throw new Error(`${op}: weight has shape ${shapeStr(ws)}, expected rank 4 [Cout, Cin, kh, kw]`);
  const [n, cin, h, w] = xs;
  const [cout, wcin, kh, kw] = ws;
  if (wcin !== cin) {
    throw new Error(`${op}: weight ${shapeStr(ws)} expects ${wcin} input channels but input ${shapeStr(xs)} has ${cin}`);
  }
  if (cin === 0 || cout === 0 || kh === 0 || kw === 0) {
    throw new Error(`${op}: weight ${shapeStr(ws)} and input ${shapeStr(xs)} must have non-zero channels and kernel size`);
  }
  if (bs && (bs.length !== 1 || bs[0] !== cout)) {
    throw new Error(`${op}: bias has shape ${shapeStr(bs)}, expected [${cout}] (one per output channel of weight ${shapeStr(ws)})`);
  }
  const [sh, sw] = pair(op, 'stride', opts.stride, 1, 1);
  const [dh, dw] = pair(op, 'dilation', opts.dilation, 1, 1);
  const pad = padding4(op, opts.padding);
  const eh = dh * (kh - 1) + 1;
  const ew = dw * (kw - 1) + 1;
  const ho = Math.floor((h + pad[0] + pad[1] - eh) / sh) + 1;
  const wo = Math.floor((w + pad[2] + pad[3] - ew) / sw) + 1;
  if (ho < 1 || wo < 1) {
    throw new Error(
      `${op}: input ${shapeStr(xs)} with padding ${JSON.stringify(pad)} is smaller than the ${eh}x${ew} dilated kernel of weight ${shapeStr(ws)}`,
    );
  }
  return { n, cin, h, w, cout, kh, kw, sh, sw, dh, dw, pad, ho, wo };
}

const is1x1 = (g: ConvGeometry) => g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.pad.every((v) => v === 0);
/**
 * A 1×1 convolution's forward and input gradient run as matmuls where the matmul can load vec4s:
 * Cin % 4 == 0 and H·W % 4 == 0. Otherwise the matmul falls to its scalar kernel (1.6-4.5 GFLOP/s;
 * the HLGFA gate, Cin = 30, also ~0.5 s to compile), and the direct kernels, which take any
 * channel count and row width, are faster: gate 2 → 0.7 ms on lavapipe. (The forward with
 * Cin % 4 == 0 has the subgroup kernel's ragged entry as well: forwardAsMatmul.)
 */
const runsAsMatmul = (g: ConvGeometry) => is1x1(g) && g.cin % 4 === 0 && (g.h * g.w) % 4 === 0;
/** The forward's product: y[n] = W [Cout, Cin] · x[n] [Cin, H·W], one image's x after another (`residual`: an addend in its stores). */
const forwardProduct = (g: ConvGeometry, residual = false) =>
  matmulPlan(g.cout, g.h * g.w, g.cin, false, false, undefined, { a: 0, b: g.cin * g.h * g.w }, { addend: residual });
/**
 * The forward also runs as a matmul where H·W is not a multiple of 4 but the subgroup kernel takes
 * the product with scalar B loads and stores (fwd_subgroup_ragged: MobileNetV2's 7×7 layers at 224).
 */
const forwardAsMatmul = (g: ConvGeometry) =>
  runsAsMatmul(g) || (is1x1(g) && g.cin % 4 === 0 && forwardProduct(g).sg?.ragged === true);
const round8 = (v: number) => Math.ceil(v / 8) * 8;

interface DirectKernel {
  shader: 'conv2d' | 'conv2d-sg';
  entry: 'fwd' | 'fwd_v4' | 'fwd_v4_sg';
  constants: Record<string, number>;
}

/**
 * The direct forward kernel over input rows `width` wide (stride-1 input gradient: gy rows) for
 * PX = px: fwd_v4 when rows and every thread's window (PX·stride columns apart) start on vec4
 * boundaries up to the constant phase (−padLeft) mod 4 and the segment fits the register row
 * (the shader's SEGMAX); its subgroup variant fwd_v4_sg where subgroups have at least 2·kw lanes;
 * else fwd.
 */
function directKernel(width: number, sw: number, kw: number, dw: number, px: number, padLeft: number): DirectKernel {
  const t = conv2dTuning.values;
  const seglen = (px - 1) * sw + (kw - 1) * dw + 1;
  const constants = { KW: kw, SW: sw, DW: dw, PX: px };
  if (!t.vec4Loads || width % 4 !== 0 || (px * sw) % 4 !== 0 || seglen > shaderConstant('conv2d', 'SEGMAX')) {
    return { shader: 'conv2d', entry: 'fwd', constants };
  }
  const sg = runtime().gpu.subgroups;
  const shared = t.subgroupWeights && sg !== null && sg.min >= 2 * kw;
  return { shader: shared ? 'conv2d-sg' : 'conv2d', entry: shared ? 'fwd_v4_sg' : 'fwd_v4', constants: { ...constants, XPH: vec4Phase(padLeft) } };
}

/** How the forward of a convolution runs (`residual`: with a residual add fused): its kernel, constants and the bench's label. */
export function conv2dPlan(g: ConvGeometry, residual = false): { shader: string; entry: string; constants: Record<string, number>; label: string } {
  if (forwardAsMatmul(g)) {
    const mm = forwardProduct(g, residual);
    return { shader: mm.shader, entry: mm.entry, constants: mm.constants, label: `1x1 as matmul ${mm.label}` };
  }
  if (conv2dTuning.values.tiled) return { shader: 'conv2d-tiled', entry: 'fwd_tiled', constants: { KW: g.kw, SW: g.sw, DW: g.dw }, label: 'tiled 32x32' };
  const px = conv2dTuning.values.pixelsPerThread;
  const k = directKernel(g.w, g.sw, g.kw, g.dw, px, g.pad[2]);
  return { ...k, label: `direct px=${px}${k.entry === 'fwd_v4_sg' ? ' v4 sg' : k.entry === 'fwd_v4' ? ' v4' : ''}` };
}

/**
 * Weights as wt[c_in][kh][kw][c_out padded to 8]; `flip` swaps channel roles and flips the taps.
 * Laid out once per weight contents (Tensor.derive): a model's fixed weights cost no pass per call.
 */
function prepWeights(op: string, w: Tensor, g: ConvGeometry, flip: boolean): Tensor {
  const cIn = flip ? g.cout : g.cin;
  const cOut = flip ? g.cin : g.cout;
  const count = cIn * g.kh * g.kw * round8(cOut);
  return w.derive(`conv2d.wprep${flip ? ' flipped' : ''} ${shapeStr(w.shape)}`, () => {
    const wt = empty([count]);
    launch(op, {
      shader: 'conv2d',
      entry: 'wprep',
      tensors: { wsrc: w, out: wt },
      uniforms: { cin: g.cin, cout: cOut, cout8: round8(cOut), count, kh: g.kh, kw: g.kw, flip: flip ? 1 : 0 },
      workgroups: groups1d(count, 256),
    });
    return wt;
  });
}

/**
 * A 1×1 convolution's forward as a matmul into `out` [N, Cout, H, W]: y[n] = W [Cout, Cin] · x[n]
 * [Cin, H·W] (+ bias per row, + addend, then the activation). `zeroColumns`: maps on padded rows
 * (src/models/row-padding.ts), whose pad columns are stored as 0.
 */
export function pointwiseInto(
  out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null, act: ActivationCode, addend: Tensor | null, zeroColumns: GemmArgs['zeroColumns'] = null,
): void {
  const [n, cin, h, wd] = x.shape;
  const hw = h * wd;
  gemm({ op: 'conv2d', a: w, b: x, out, m: w.shape[0], n: hw, k: cin, transA: false, transB: false, batches: n, aBatchStride: 0, bBatchStride: cin * hw, bias, act, addend, zeroColumns });
}

function forward(x: Tensor, w: Tensor, bias: Tensor | null, g: ConvGeometry, act: ActivationCode, residual: Tensor | null = null): Tensor {
  const y = empty([g.n, g.cout, g.ho, g.wo]);
  if (y.size === 0) return y;
  if (forwardAsMatmul(g)) {
    pointwiseInto(y, x, w, bias, act, residual);
    return y;
  }
  if (residual) throw new Error('conv2d: a fused residual needs the matmul route'); // conv2d() adds it otherwise
  const plan = conv2dPlan(g);
  if (plan.entry === 'fwd_tiled') {
    launch('conv2d', {
      shader: plan.shader,
      entry: plan.entry,
      constants: plan.constants,
      tensors: { x, wsrc: w, bias: bias ?? w, out: y },
      flops: convFlops(g),
      uniforms: { cin: g.cin, h: g.h, w: g.w, cout: g.cout, ho: g.ho, wo: g.wo, pad_h: g.pad[0], pad_w: g.pad[2], kh: g.kh, sh: g.sh, dh: g.dh, has_bias: bias ? 1 : 0, act },
      workgroups: [Math.ceil((g.ho * g.wo) / 32), Math.ceil(g.cout / 32), g.n],
    });
    return y;
  }
  const wt = prepWeights('conv2d', w, g, false);
  launchDirect('conv2d', plan, { x, wt, bias: bias ?? wt, out: y }, g.n, { ...g, hasBias: !!bias, padH: g.pad[0], padW: g.pad[2], act }, convFlops(g));
  wt.dispose();
  return y;
}

/** The uniforms of a direct-kernel launch: the convolution it runs (the input gradient swaps roles). */
interface DirectDims {
  cin: number;
  h: number;
  w: number;
  cout: number;
  ho: number;
  wo: number;
  padH: number;
  padW: number;
  kh: number;
  sh: number;
  dh: number;
  hasBias: boolean;
  /** The activation of the stored output (forward only). */
  act?: ActivationCode;
}

/** One launch of fwd* or bwd_x: a thread per PX pixels of an output row × 8 output channels. */
function launchDirect(op: string, k: { shader: string; entry: string; constants: Record<string, number> }, tensors: Record<string, Tensor>, n: number, d: DirectDims, flops: number): void {
  const wblocks = Math.ceil(d.wo / k.constants.PX);
  launch(op, {
    shader: k.shader,
    entry: k.entry,
    constants: k.constants,
    tensors,
    flops,
    uniforms: {
      n, cin: d.cin, h: d.h, w: d.w, cout: d.cout, ho: d.ho, wo: d.wo, cout8: round8(d.cout), pad_h: d.padH, pad_w: d.padW,
      wblocks, has_bias: d.hasBias ? 1 : 0, kh: d.kh, sh: d.sh, dh: d.dh, act: d.act ?? 0,
    },
    workgroups: [Math.ceil((wblocks * d.ho) / WG), round8(d.cout) / 8, n],
  });
}

/** Input gradient [N, Cin, H, W] from gy [N, Cout, Ho, Wo]. */
function gradInput(gy: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  const op = 'conv2d backward';
  const gx = empty([g.n, g.cin, g.h, g.w]);
  const hw = g.h * g.w;
  if (runsAsMatmul(g)) {
    gemm({ op, a: w, b: gy, out: gx, m: g.cin, n: hw, k: g.cout, transA: true, transB: false, batches: g.n, aBatchStride: 0, bBatchStride: g.cout * hw });
    return gx;
  }
  const wt = prepWeights(op, w, g, true);
  const px = conv2dTuning.values.pixelsPerThread;
  // The forward with channel roles swapped, over gy.
  const d: DirectDims = { cin: g.cout, h: g.ho, w: g.wo, cout: g.cin, ho: g.h, wo: g.w, padH: g.pad[0], padW: g.pad[2], kh: g.kh, sh: g.sh, dh: g.dh, hasBias: false };
  if (g.sh === 1 && g.sw === 1) {
    // Stride 1: the forward kernel on gy with flipped weights and padding d · (k − 1) − pad.
    const padW = g.dw * (g.kw - 1) - g.pad[2];
    launchDirect(op, directKernel(g.wo, 1, g.kw, g.dw, px, padW), { x: gy, wt, bias: wt, out: gx }, g.n, { ...d, padH: g.dh * (g.kh - 1) - g.pad[0], padW }, convFlops(g));
  } else {
    launchDirect(op, { shader: 'conv2d', entry: 'bwd_x', constants: { KW: g.kw, SW: g.sw, DW: g.dw, PX: px } }, { gy, wt, bias: wt, out: gx }, g.n, d, convFlops(g));
  }
  wt.dispose();
  return gx;
}

/** The weight gradient's kernel for a convolution other than 1×1 (see WEIGHT_GRADS). */
export function weightGradPlan(g: ConvGeometry): WeightGrad {
  if (conv2dTuning.values.weightGrad === 'direct' || g.wo % 4 !== 0) return 'direct';
  const bytes = 4 * g.n * g.cin * g.kh * g.kw * g.ho * g.wo;
  const { maxStorageBufferBindingSize, maxWorkgroupsPerDimension } = runtime().limits;
  return bytes <= Math.min(IM2COL_MAX_BYTES, maxStorageBufferBindingSize) && Math.max(g.n * g.cin * g.kh, g.ho) <= maxWorkgroupsPerDimension ? 'im2col' : 'direct';
}

/**
 * x's patches as matrices [N, Cin·kh·kw, Ho·Wo]: row (ci, r, c) of image n holds, for every output
 * pixel, the input value tap (r, c) of channel ci meets there (0 in the padding). Needs Wo % 4 == 0.
 */
export function im2col(x: Tensor, g: ConvGeometry): Tensor {
  if (g.wo % 4 !== 0) throw new Error(`conv2d: im2col needs output rows a multiple of 4 wide, got ${g.wo}`);
  const cols = empty([g.n, g.cin * g.kh * g.kw, g.ho * g.wo]);
  if (cols.size === 0) return cols;
  const lx = Math.min(6, Math.ceil(Math.log2(g.wo / 4))); // log2 of the threads a workgroup puts along a row
  launch('conv2d backward', {
    shader: 'conv2d',
    entry: 'im2col',
    constants: { KW: g.kw, SW: g.sw, DW: g.dw, COLS4: g.sw === 1 && g.w % 4 === 0 ? 1 : 0 },
    tensors: { x, cols },
    uniforms: { cin: g.cin, h: g.h, w: g.w, ho: g.ho, wo: g.wo, kh: g.kh, sh: g.sh, dh: g.dh, pad_h: g.pad[0], pad_w: g.pad[2], lx },
    // (the shader's IM2COL_ROWS output rows per thread; wid.z: image, channel and kernel row)
    workgroups: [Math.ceil(g.wo / 4 / 2 ** lx), Math.ceil(g.ho / (shaderConstant('conv2d', 'IM2COL_ROWS') * 2 ** (6 - lx))), g.n * g.cin * g.kh],
  });
  return cols;
}

/** Weight gradient [Cout, Cin, kh, kw]. */
function gradWeight(gy: Tensor, x: Tensor, g: ConvGeometry): Tensor {
  const op = 'conv2d backward';
  const gw = empty([g.cout, g.cin, g.kh, g.kw]);
  const hw = g.ho * g.wo;
  if (is1x1(g)) {
    // dW = sum over images of gy[n] [Cout, HW] · x[n]ᵀ [HW, Cin]
    gemm({ op, a: gy, b: x, out: gw, m: g.cout, n: g.cin, k: hw, transA: false, transB: true, batches: g.n, aBatchStride: g.cout * hw, bBatchStride: g.cin * hw, reduce: true });
    return gw;
  }
  if (weightGradPlan(g) === 'im2col') {
    const cols = im2col(x, g);
    const taps = g.cin * g.kh * g.kw;
    // dW [Cout, Cin·kh·kw] = sum over images of gy[n] [Cout, HW] · cols[n]ᵀ [HW, Cin·kh·kw]
    gemm({ op, a: gy, b: cols, out: gw, m: g.cout, n: taps, k: hw, transA: false, transB: true, batches: g.n, aBatchStride: g.cout * hw, bBatchStride: taps * hw, reduce: true });
    cols.dispose();
    return gw;
  }
  const count = gw.size;
  const threads = g.cin * Math.ceil(g.kh / 3) * Math.ceil(g.kw / 4); // TH x TW tap blocks
  const groups = Math.ceil(threads / WG) * Math.ceil(g.cout / 8);
  const rows = g.n * g.ho;
  const want = Math.min(rows, Math.max(1, Math.ceil(32 / groups)));
  const rowsPerSplit = Math.ceil(rows / want);
  const splits = Math.ceil(rows / rowsPerSplit);
  const target = splits > 1 ? empty([splits * count]) : gw;
  launch(op, {
    shader: 'conv2d',
    entry: 'bwd_w',
    flops: convFlops(g),
    // gy is read as vec4 (gy_v4) where rows allow
    constants: { KW: g.kw, SW: g.sw, DW: g.dw, GY4: g.wo % 4 === 0 ? 1 : 0 },
    tensors: { x, gy, out: target },
    uniforms: { n: g.n, cin: g.cin, h: g.h, w: g.w, cout: g.cout, ho: g.ho, wo: g.wo, pad_h: g.pad[0], pad_w: g.pad[2], rows_per_split: rowsPerSplit, count, kh: g.kh, sh: g.sh, dh: g.dh },
    workgroups: [Math.ceil(threads / WG), Math.ceil(g.cout / 8), splits],
  });
  if (splits > 1) {
    launch(op, {
      shader: 'conv2d',
      entry: 'bwd_w_sum',
      tensors: { x: target, out: gw },
      uniforms: { count, splits },
      workgroups: groups1d(count, 256),
    });
    target.dispose();
  }
  return gw;
}

function gradBias(gy: Tensor, g: ConvGeometry): Tensor {
  const gb = empty([g.cout]);
  launch('conv2d backward', {
    shader: 'conv2d',
    entry: 'bwd_b',
    tensors: { gy, out: gb },
    uniforms: { n: g.n, cout: g.cout, ho: g.ho, wo: g.wo },
    workgroups: [g.cout],
  });
  return gb;
}

/**
 * 2-D convolution of x [N, Cin, H, W] with w [Cout, Cin, kh, kw] (+ bias [Cout]) with zero padding:
 * output [N, Cout, Ho, Wo], Ho = floor((H + pad_top + pad_bottom - dilation * (kh - 1) - 1) / stride) + 1.
 */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const g = convGeometry('conv2d', x.shape, w.shape, bias ? bias.shape : null, opts);
  const act = activationCode('conv2d', opts.activation);
  const residual = opts.residual ?? null;
  if (residual) {
    const want = [g.n, g.cout, g.ho, g.wo];
    if (!sameShape(residual.shape, want)) {
      throw new Error(`conv2d: residual has shape ${shapeStr(residual.shape)}, expected the output's ${shapeStr(want)}`);
    }
    const taped = needsGrad(x, w, bias, residual);
    if (taped || !forwardAsMatmul(g)) {
      // Unfused: the same values, and each op's own backward.
      const z = conv2d(x, w, bias, { ...opts, activation: 'none', residual: undefined });
      const y = add(z, residual);
      if (!taped) z.dispose();
      if (!act) return y;
      const r = activate(y, act);
      if (!taped) y.dispose();
      return r;
    }
  }
  if (act && needsGrad(x, w, bias)) return activate(conv2d(x, w, bias, { ...opts, activation: 'none' }), act);
  const y = forward(x, w, bias, g, act, residual);
  if (needsGrad(x, w, bias)) {
    const inputs = bias ? [x, w, bias] : [x, w];
    record('conv2d', inputs, y, (gy) => {
      if (g.n === 0) return inputs.map((t) => (t.requiresGrad ? zeros(t.shape) : null));
      const grads = [
        x.requiresGrad ? gradInput(gy, w, g) : null,
        w.requiresGrad ? gradWeight(gy, x, g) : null,
        bias?.requiresGrad ? gradBias(gy, g) : null,
      ];
      return grads.slice(0, inputs.length);
    });
  }
  return y;
}

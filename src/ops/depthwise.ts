// Depthwise 2-D convolution (k = 3, 5, 7; stride, dilation, zero padding) and the fused multi-scale
// depthwise op DW3(x) + DW5(x) + DW7(x) with 'same' padding, forward and backward.
// Kernels: shaders/depthwise.wgsl. Float64 CPU references at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { runtime } from '../gpu/runtime.js';
import { Tensor, empty, shapeStr, type Shape } from '../tensor/tensor.js';
import { activate, copy } from './elementwise.js';
import { shaderConstant } from '../gpu/kernel.js';
import { allow, tunable } from './tunable.js';
import { activationCode, assertRank, groups1d, launch, vec4Phase, type Activation, type ActivationCode } from './util.js';

export interface DepthwiseOptions {
  stride?: number;
  /**
   * Zero padding on every side; 'same' = (k - 1) / 2 · dilation; or [top, bottom, left, right] with
   * top = left (TensorFlow "SAME" at stride 2 puts the extra row and column bottom/right). Default 0.
   */
  padding?: number | 'same' | readonly [number, number, number, number];
  dilation?: number;
  /** 'relu6' or 'relu', fused into the output store (see conv2d's `activation`). */
  activation?: Activation;
}

export interface MultiScaleOptions {
  stride?: number;
  dilation?: number;
}

/**
 * The knobs (values are clamped to what the geometry and the shader's register arrays allow).
 * `rolling`: stride-1 passes of at least 16 rows use fwd_rolling / bwd_w_rolling, where a thread
 * walks `rollingRows` rows of a `rollingBw`-wide column strip with K partial rows in registers;
 * otherwise `forward` / `backwardInput` give each thread a bh × bw output block and
 * `backwardWeight.bw` is the weight-gradient row segment. `vec4Loads`: the forward kernels (and the
 * rolling input gradient) read rows as vec4 where rows and blocks align; `subgroupWeights`: with
 * those, the blocked forward shares the filter by subgroup shuffles (fwd_v4_sg). The defaults
 * favour lavapipe, where loads per output decide (shaders/README.md); measured: bench/RESULTS.md.
 * `rollingLanes`: fwd_rolling's workgroup size, one for every shape (each size is a pipeline to
 * compile); 0 = one subgroup (the adapter's largest, at least 8). Its filter loads are uniform per
 * workgroup, so small workgroups cost little and spread a plane over more of them: on lavapipe 8
 * lanes beat the 8..64 sized to the plane (HLGFA inference's rolling passes 6.4 → 4.9 ms) and make
 * 2 pipelines of 5.
 */
export interface DepthwiseTuning {
  rolling: boolean;
  rollingLanes: number;
  rollingBw: number;
  rollingRows: number;
  vec4Loads: boolean;
  subgroupWeights: boolean;
  forward: { bw: number; bh: number };
  backwardInput: { bw: number; bh: number };
  backwardWeight: { bw: number };
}

const ROLLING_CASES = ['depthwise/3x3 144ch @64²', 'depthwise/multiscale 3+5+7 32ch @32²'];
const BLOCK_CASES = ['depthwise/3x3 s2 96ch @128²', 'depthwise/3x3 s2 576ch @16²'];
const BLOCKS = [{ bw: 8, bh: 4 }, { bw: 4, bh: 4 }, { bw: 8, bh: 2 }, { bw: 16, bh: 2 }, { bw: 4, bh: 8 }];
const block = allow.fields({ bw: [1, 64], bh: [1, 32] });

export const depthwiseTuning = tunable<DepthwiseTuning>('depthwise', {
  rolling: { default: true, allowed: allow.bool, candidates: [true, false], cases: ROLLING_CASES, quick: true },
  rollingLanes: { default: 0, allowed: allow.oneOf([0, 8, 16, 32, 64], '0 (one subgroup), 8, 16, 32 or 64'), candidates: [0, 16, 64], cases: ROLLING_CASES },
  rollingBw: { default: 8, allowed: allow.int(1, 64), candidates: [4, 8, 16], cases: ROLLING_CASES },
  rollingRows: { default: 32, allowed: allow.int(1, 4096), candidates: [16, 32, 64], cases: ROLLING_CASES },
  vec4Loads: { default: true, allowed: allow.bool, candidates: [true, false], cases: ['depthwise/3x3 s2 96ch @64²', 'depthwise/3x3 s2 576ch @16²'], quick: true },
  subgroupWeights: { default: true, allowed: allow.bool, candidates: [true, false], cases: ['depthwise/3x3 s2 96ch @128²', 'depthwise/3x3 576ch @16²'] },
  forward: { default: { bw: 8, bh: 4 }, allowed: block, candidates: BLOCKS, cases: BLOCK_CASES, quick: true },
  backwardInput: { default: { bw: 8, bh: 4 }, allowed: block, candidates: BLOCKS, cases: ['depthwise/backward 3x3 s2 96ch @128²'] },
  backwardWeight: { default: { bw: 8 }, allowed: allow.fields({ bw: [1, 64] }), candidates: [4, 8, 16].map((bw) => ({ bw })), cases: ['depthwise/backward 3x3 s2 96ch @128²'] },
});

const tuning = depthwiseTuning.values;
const WG = 64;
const KERNEL_SIZES = [3, 5, 7];
/** The shader's register limits: input values one thread reads per row, outputs per block. */
const maxSpan = () => shaderConstant('depthwise', 'MAX_SPAN');
const maxAcc = () => shaderConstant('depthwise', 'MAX_ACC');
/** Row segments each backward_weight thread handles before the workgroup reduction. */
const ITEMS_PER_THREAD = 8;

export interface DwGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  k: number;
  stride: number;
  dilation: number;
  pad: number;
  oh: number;
  ow: number;
}

function positiveInt(op: string, name: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new Error(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** Validates x [N,C,H,W] against a depthwise filter [C,1,k,k] and returns the geometry. */
function geometry(op: string, xs: Shape, ws: Shape, k: number | null, o: DepthwiseOptions): DwGeometry {
  assertRank(op, 'input x', { shape: xs }, 4);
  const [n, c, h, wd] = xs;
  if (ws.length !== 4 || ws[0] !== c || ws[1] !== 1 || ws[2] !== ws[3]) {
    throw new Error(
      `${op}: weight has shape ${shapeStr(ws)}, expected [${c}, 1, k, k] (one k×k filter per channel of x ${shapeStr(xs)})`,
    );
  }
  const kk = ws[2];
  if (k !== null && kk !== k) throw new Error(`${op}: weight has shape ${shapeStr(ws)}, expected [${c}, 1, ${k}, ${k}]`);
  if (!KERNEL_SIZES.includes(kk)) {
    throw new Error(`${op}: kernel size ${kk} (weight ${shapeStr(ws)}) is not supported, expected 3, 5 or 7`);
  }
  const stride = positiveInt(op, 'stride', o.stride ?? 1);
  const dilation = positiveInt(op, 'dilation', o.dilation ?? 1);
  const [pad, padBottom, padRight] = paddingOf(op, o.padding, kk, dilation);
  const ext = (kk - 1) * dilation + 1;
  if (ext > maxSpan()) throw new Error(`${op}: dilation ${dilation} with kernel ${kk} spans ${ext} pixels, over the supported ${maxSpan()}`);
  // The stride-S input gradient keeps an S×S (at least) block per thread in registers.
  if (stride * stride > maxAcc()) throw new Error(`${op}: stride ${stride} is not supported (at most 5)`);
  const oh = Math.floor((h + pad + padBottom - ext) / stride) + 1;
  const ow = Math.floor((wd + pad + padRight - ext) / stride) + 1;
  if (oh < 1 || ow < 1) {
    throw new Error(
      `${op}: input ${shapeStr(xs)} with padding ${pad} is smaller than the ${ext}×${ext} dilated kernel (output would be ${oh}×${ow})`,
    );
  }
  return { n, c, h, w: wd, k: kk, stride, dilation, pad, oh, ow };
}

/** [leading (top = left), bottom, right] padding; the kernels take one leading offset for both axes. */
function paddingOf(op: string, p: DepthwiseOptions['padding'], k: number, dilation: number): [number, number, number] {
  if (p === 'same') {
    const v = ((k - 1) / 2) * dilation;
    return [v, v, v];
  }
  if (Array.isArray(p)) {
    const [t, b, l, r] = p as readonly number[];
    if (p.length !== 4 || ![t, b, l, r].every((v) => Number.isInteger(v) && v >= 0)) {
      throw new Error(`${op}: padding ${JSON.stringify(p)} must be [top, bottom, left, right] integers >= 0`);
    }
    if (t !== l) throw new Error(`${op}: padding [${p.join(', ')}] needs top = left (the kernels share one leading offset)`);
    return [t, b, r];
  }
  const v = positiveInt(op, 'padding', (p as number | undefined) ?? 0, 0);
  return [v, v, v];
}

function checkBias(op: string, b: Tensor, c: number, what = 'bias'): void {
  if (b.shape.length !== 1 || b.shape[0] !== c) throw new Error(`${op}: ${what} has shape ${shapeStr(b.shape)}, expected [${c}]`);
}

/**
 * The block actually used: the requested one, shrunk while a plane of `width`×`height` outputs
 * would give fewer than `minBlocks` blocks (8: one SIMD row of lavapipe) and to fit the shader's
 * register arrays. Both sides stay multiples of `multipleOf` (backward_input needs multiples of
 * the stride).
 */
function fitBlock(
  g: DwGeometry, bw: number, bh: number, width: number, height: number, multipleOf = 1, minBlocks = 8,
): { bw: number; bh: number } {
  const m = multipleOf;
  const round = (v: number) => Math.max(m, Math.floor(v / m) * m);
  let w = round(bw);
  let h = round(bh);
  const span = (b: number) => (b - 1) * g.stride + (g.k - 1) * g.dilation + 1;
  const blocks = () => Math.ceil(width / w) * Math.ceil(height / h);
  while (blocks() < minBlocks && (w > Math.max(4, m) || h > m)) {
    if (w > Math.max(4, m)) w = round(w / 2);
    else h = round(h / 2);
  }
  while (w * h > maxAcc() && h > m) h = round(h / 2);
  while ((w * h > maxAcc() || span(w) > maxSpan()) && w > m) w = round(w / 2);
  return { bw: w, bh: h };
}

/**
 * Lanes for a plane of `tiles` blocks: the power of two covering them, min..64 (8 for the
 * plane-per-workgroup kernels' workgroup size; 1 for forward*'s lanes per plane, TPP).
 */
function planeWorkgroup(tiles: number, min = 8): number {
  let wg = min;
  while (wg < WG && wg < tiles) wg *= 2;
  return wg;
}

/** Dispatch: x = blocks of a plane, (y, z) = planes (plane = y + z · ny). */
function planeGrid(tiles: number, wg: number, planes: number): [number, number, number] {
  const max = runtime().limits.maxWorkgroupsPerDimension;
  const ny = Math.min(planes, max);
  return [Math.ceil(tiles / wg), ny, Math.ceil(planes / ny)];
}

function constants(g: DwGeometry, bw: number, bh: number, wg: number): Record<string, number> {
  return { K: g.k, S: g.stride, D: g.dilation, BW: bw, BH: bh, WG: wg };
}

/** Largest rolling strip width ≤ `bw` whose K²·bw tap loop stays within unroll budgets. */
function rollingWidth(g: DwGeometry, bw: number): number {
  let w = Math.max(1, bw);
  while (w > 1 && (g.k * g.k * w > 200 || g.k * w > 64)) w >>= 1;
  return fitBlock(g, w, 1, g.ow, g.oh).bw;
}

/** Chunking of a rolling walk over `rows` rows per dilation class. */
function rollingChunks(g: DwGeometry, rows: number): { chunks: number; steps: number } {
  const perClass = Math.ceil(rows / g.dilation);
  const chunks = Math.ceil(perClass / Math.max(1, tuning.rollingRows));
  return { chunks, steps: Math.ceil(perClass / chunks) };
}

/** Multiply-adds ×2 of a depthwise convolution (forward, input and weight gradients alike). */
const depthwiseFlops = (g: DwGeometry): number => 2 * g.n * g.c * g.oh * g.ow * g.k * g.k;

/** The rolling kernel's entry for strips `bw` wide: vec4 stores where output rows and strips align, as the blocked kernels. */
const rollingEntry = (g: DwGeometry, bw: number) => (g.ow % 4 === 0 && bw % 4 === 0 ? 'fwd_rolling_st4' : 'fwd_rolling');

/** Rolling stride-1 pass: out = x ⋆ w (+ bias), or with `flip` the correlation with w rotated 180°. */
function launchRolling(op: string, g: DwGeometry, x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, flip: boolean, act: ActivationCode = 0): void {
  const bw = rollingWidth(g, tuning.rollingBw);
  const tilesX = Math.ceil(g.ow / bw);
  const { chunks, steps } = rollingChunks(g, g.oh);
  const tiles = tilesX * g.dilation * chunks;
  const planes = g.n * g.c;
  const wg = tuning.rollingLanes || Math.min(WG, Math.max(8, runtime().gpu.subgroups?.max ?? 8));
  // vec4 row windows when rows and strips are vec4-aligned (x_v4 is bound either way)
  const x4 = tuning.vec4Loads && g.w % 4 === 0 && bw % 4 === 0;
  launch(op, {
    shader: 'depthwise',
    entry: rollingEntry(g, bw),
    flops: depthwiseFlops(g),
    constants: { ...constants(g, bw, 1, wg), FLIP: flip ? 1 : 0, X4: x4 ? 1 : 0, XPH: x4 ? vec4Phase(g.pad) : 0 },
    tensors: { x, wt: w, bias: bias ?? w, out },
    uniforms: {
      planes, tiles, tiles_x: tilesX, chunks, steps, pad: g.pad, has_bias: bias ? 1 : 0,
      c: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, act,
    },
    workgroups: planeGrid(tiles, wg, planes),
  });
}

/**
 * Rolling kernels pay K − 1 warm-up rows per walk: on lavapipe they win from 17 rows, and from 16
 * for 7×7 filters (forward at 16², ours/tfjs-webgpu: 3×3 576ch blocked 0.44 vs rolling 0.60, 5×5
 * 0.43 vs 0.52; 7×7 0.41 vs 0.29).
 */
export function usesRolling(k: number, stride: number, rows: number): boolean {
  return tuning.rolling && stride === 1 && (rows > 16 || (rows === 16 && k >= 7));
}

function useRolling(g: DwGeometry, rows: number): boolean {
  return usesRolling(g.k, g.stride, rows);
}

/** How the blocked forward (fwd, fwd_st4, fwd_v4, fwd_v4_sg) covers a plane. */
export interface ForwardPlan {
  bw: number;
  bh: number;
  tilesX: number;
  tiles: number;
  /** Lanes per plane: small planes share a workgroup instead of shrinking the block to fill one. */
  tpp: number;
  /** vec4 stores: every block row starts on a vec4 boundary. */
  store4: boolean;
  /** vec4 input windows: input rows do too. */
  load4: boolean;
  /** Lanes holding one copy of the filter for fwd_v4_sg, or 0 where the filter is not shared. */
  shareLanes: number;
}

/** The geometry of a depthwise convolution of x [N, C, H, W] with filters [C, 1, k, k] (for reports). */
export function depthwiseGeometry(xShape: Shape, wShape: Shape, opts: DepthwiseOptions = {}): DwGeometry {
  return geometry('depthwiseConv2d', xShape, wShape, null, opts);
}

export function forwardPlan(g: DwGeometry): ForwardPlan {
  const { bw, bh } = fitBlock(g, tuning.forward.bw, tuning.forward.bh, g.ow, g.oh, 1, 1);
  const store4 = g.ow % 4 === 0 && bw % 4 === 0;
  const load4 = store4 && tuning.vec4Loads && g.w % 4 === 0 && (bw * g.stride) % 4 === 0;
  const tilesX = Math.ceil(g.ow / bw);
  const tiles = tilesX * Math.ceil(g.oh / bh);
  const tpp = planeWorkgroup(tiles, 1);
  // The filter shared by subgroup shuffles within groups of h lanes of one plane (each lane holds
  // at most 7 taps; a group never straddles two subgroups).
  const sg = runtime().gpu.subgroups;
  const h = Math.min(tpp, 8);
  const share = load4 && tuning.subgroupWeights && sg !== null && h <= sg.min && Math.ceil((g.k * g.k) / h) <= 7;
  return { bw, bh, tilesX, tiles, tpp, store4, load4, shareLanes: share ? h : 0 };
}

/**
 * How a depthwise convolution runs: the forward's kernel and (for reports and the bench's label)
 * the backward's; `backward` labels the input and weight gradients.
 */
export function depthwisePlan(g: DwGeometry): { shader: string; entry: string; label: string; backwardLabel: string } {
  const t = tuning;
  const rollingLabel = `rolling bw=${t.rollingBw} rows=${t.rollingRows}`;
  const backwardLabel = useRolling(g, g.h) ? rollingLabel : `block ${t.backwardInput.bw}x${t.backwardInput.bh} dW bw=${t.backwardWeight.bw}`;
  if (useRolling(g, g.oh)) return { shader: 'depthwise', entry: rollingEntry(g, rollingWidth(g, t.rollingBw)), label: rollingLabel, backwardLabel };
  const p = forwardPlan(g);
  return {
    shader: p.shareLanes ? 'depthwise-sg' : 'depthwise',
    entry: p.shareLanes ? 'fwd_v4_sg' : p.load4 ? 'fwd_v4' : p.store4 ? 'fwd_st4' : 'fwd',
    label: `block ${p.bw}x${p.bh}${p.load4 ? ' v4' : ''}${p.shareLanes ? ' sg' : ''}`,
    backwardLabel,
  };
}

export function depthwiseForwardRaw(g: DwGeometry, x: Tensor, w: Tensor, bias: Tensor | null, act: ActivationCode = 0): Tensor {
  const out = empty([g.n, g.c, g.oh, g.ow]);
  if (useRolling(g, g.oh)) {
    launchRolling('depthwiseConv2d', g, x, w, bias, out, false, act);
    return out;
  }
  const planes = g.n * g.c;
  const common = { planes, pad: g.pad, has_bias: bias ? 1 : 0, c: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, act };
  const { bw, bh, tilesX, tiles, tpp, shareLanes: h } = forwardPlan(g);
  const { shader, entry } = depthwisePlan(g);
  const rows = (bh - 1) * g.stride + (g.k - 1) * g.dilation + 1;
  launch('depthwiseConv2d', {
    shader,
    entry,
    flops: depthwiseFlops(g),
    constants: { ...constants(g, bw, bh, WG), XPH: vec4Phase(g.pad), ...(h ? { H: h, NQ: Math.ceil((g.k * g.k) / h) } : {}) },
    tensors: { x, wt: w, bias: bias ?? w, out },
    uniforms: { ...common, tiles, tiles_x: tilesX, rows, bh, tpp_log2: Math.log2(tpp) },
    workgroups: planeGrid(tiles, tpp, Math.ceil(planes / (WG / tpp))),
  });
  return out;
}

export function depthwiseBackwardInput(g: DwGeometry, w: Tensor, gy: Tensor): Tensor {
  const gx = empty([g.n, g.c, g.h, g.w]);
  if (useRolling(g, g.h)) {
    // Stride 1: gx = gy correlated with the rotated filter, padding (k − 1)·dilation − padding.
    const t: DwGeometry = { ...g, h: g.oh, w: g.ow, oh: g.h, ow: g.w, pad: (g.k - 1) * g.dilation - g.pad };
    launchRolling('depthwiseConv2d backward (input)', t, gy, w, null, gx, true);
    return gx;
  }
  const s = g.stride;
  const { bw, bh } = fitBlock(g, tuning.backwardInput.bw, tuning.backwardInput.bh, g.w, g.h, s);
  // gy offsets (relative to the block origin / S) a block reads: [qLo, qHi(b)].
  const qLo = -Math.floor(((g.k - 1) * g.dilation - g.pad) / s);
  const qHi = (b: number) => Math.floor((b - 1 + g.pad) / s);
  if (qHi(bw) - qLo + 1 > maxSpan()) {
    throw new Error(`depthwiseConv2d: stride ${s}, padding ${g.pad} and dilation ${g.dilation} with kernel ${g.k} are not supported by the backward pass`);
  }
  const tilesX = Math.ceil(g.w / bw);
  const tiles = tilesX * Math.ceil(g.h / bh);
  const planes = g.n * g.c;
  const wg = planeWorkgroup(tiles);
  launch('depthwiseConv2d backward (input)', {
    shader: 'depthwise',
    entry: 'bwd_x',
    flops: depthwiseFlops(g),
    constants: { ...constants(g, bw, bh, wg), P: g.pad },
    tensors: { wt: w, gy, out: gx },
    uniforms: { planes, tiles, tiles_x: tilesX, rows: qHi(bh) - qLo + 1, bh, c: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow },
    workgroups: planeGrid(tiles, wg, planes),
  });
  return gx;
}

/** Weight gradient [C, 1, k, k] (stride 1: rolling kernel; else one filter row per workgroup). */
export function depthwiseBackwardWeight(g: DwGeometry, x: Tensor, gy: Tensor): Tensor {
  const kk = g.k * g.k;
  const s1 = useRolling(g, g.h);
  const bw = s1 ? rollingWidth(g, tuning.rollingBw) : fitBlock(g, tuning.backwardWeight.bw, 1, g.ow, g.oh).bw;
  const tilesX = Math.ceil(g.ow / bw);
  let items = g.n * g.oh * tilesX;
  let chunks = 1;
  let steps = 0;
  if (s1) {
    ({ chunks, steps } = rollingChunks(g, g.h));
    items = g.n * g.dilation * chunks * tilesX;
  }
  const perThread = s1 ? 2 : ITEMS_PER_THREAD;
  const wg = planeWorkgroup(Math.ceil(items / perThread));
  const splits = Math.max(1, Math.min(64, Math.ceil(items / (wg * perThread))));
  const part = empty([g.c * splits * kk]);
  const uniforms = { c: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, tiles_x: tilesX, items, splits, chunks, steps, pad: g.pad };
  launch('depthwiseConv2d backward (weight)', {
    shader: 'depthwise',
    entry: s1 ? 'bwd_w_rolling' : 'bwd_w',
    flops: depthwiseFlops(g),
    constants: constants(g, bw, 1, wg),
    tensors: { x, gy, out: part },
    uniforms,
    workgroups: groups1d(g.c * splits * (s1 ? 1 : g.k), 1),
  });
  const dw = empty([g.c, 1, g.k, g.k]);
  launch('depthwiseConv2d backward (weight)', {
    shader: 'depthwise',
    entry: 'bwd_w_sum',
    constants: { K: g.k, WG },
    tensors: { x: part, out: dw },
    uniforms,
    workgroups: groups1d(g.c * kk, WG),
  });
  part.dispose();
  return dw;
}

/** Bias gradient [C] = Σ gy over N, OH, OW. */
export function depthwiseBackwardBias(g: DwGeometry, gy: Tensor): Tensor {
  const db = empty([g.c]);
  launch('depthwiseConv2d backward (bias)', {
    shader: 'depthwise',
    entry: 'bwd_b',
    constants: { WG },
    tensors: { gy, out_b: db },
    uniforms: { c: g.c, oh: g.oh, ow: g.ow, items: g.n * g.oh * g.ow },
    workgroups: groups1d(g.c, 1),
  });
  return db;
}

/**
 * Depthwise convolution: x [N, C, H, W], w [C, 1, k, k] with k in {3, 5, 7}, optional bias [C].
 * Output [N, C, OH, OW] with OH = floor((H + 2·padding − dilation·(k − 1) − 1) / stride) + 1.
 */
export function depthwiseConv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, opts: DepthwiseOptions = {}): Tensor {
  const op = 'depthwiseConv2d';
  const g = geometry(op, x.shape, w.shape, null, opts);
  if (bias) checkBias(op, bias, g.c);
  const act = activationCode(op, opts.activation);
  const inputs = bias ? [x, w, bias] : [x, w];
  if (act && needsGrad(...inputs)) return activate(depthwiseConv2d(x, w, bias, { ...opts, activation: 'none' }), act);
  const y = depthwiseForwardRaw(g, x, w, bias, act);
  if (needsGrad(...inputs)) {
    record(op, inputs, y, (gy) => {
      const gx = x.requiresGrad ? depthwiseBackwardInput(g, w, gy) : null;
      const gw = w.requiresGrad ? depthwiseBackwardWeight(g, x, gy) : null;
      const gb = bias?.requiresGrad ? depthwiseBackwardBias(g, gy) : null;
      return bias ? [gx, gw, gb] : [gx, gw];
    });
  }
  return y;
}

export type MultiScaleWeights = readonly [Tensor, Tensor, Tensor];
export type MultiScaleBiases = readonly [Tensor | null, Tensor | null, Tensor | null];

/** Sums w3, w5, w7 (centred) into one [C, 1, 7, 7] filter and the present biases into one [C]. */
function combineWeights(c: number, ws: MultiScaleWeights, bs: MultiScaleBiases): { wc: Tensor; bc: Tensor | null } {
  const wc = empty([c, 1, 7, 7]);
  const mask = bs.reduce((m, b, i) => (b ? m | (1 << i) : m), 0);
  const bc = mask ? empty([c]) : null;
  const outB = bc ?? empty([1]); // written only when a bias is present
  launch('multiScaleDepthwise', {
    shader: 'depthwise',
    entry: 'ms_combine',
    constants: { BIAS_MASK: mask, WG },
    tensors: {
      w3: ws[0], w5: ws[1], w7: ws[2],
      b3: bs[0] ?? ws[0], b5: bs[1] ?? ws[0], b7: bs[2] ?? ws[0],
      out: wc, out_b: outB,
    },
    uniforms: { total: c * 49 },
    workgroups: groups1d(c * 49, WG),
  });
  if (!bc) outB.dispose();
  return { wc, bc };
}

/**
 * Fused multi-scale depthwise convolution DW3(x; w3) + DW5(x; w5) + DW7(x; w7) (+ biases), each with
 * 'same' padding (k − 1) / 2 · dilation and the same stride: one pass over x with the three filters
 * summed into a centred 7×7 filter. Gradients flow to x, each weight and each bias.
 */
export function multiScaleDepthwise(
  x: Tensor,
  weights: MultiScaleWeights,
  biases: MultiScaleBiases | null = null,
  opts: MultiScaleOptions = {},
): Tensor {
  const op = 'multiScaleDepthwise';
  if (!Array.isArray(weights) || weights.length !== 3) throw new Error(`${op}: expected three weights [w3, w5, w7]`);
  const o: DepthwiseOptions = { stride: opts.stride, dilation: opts.dilation, padding: 'same' };
  geometry(op, x.shape, weights[0].shape, 3, o);
  geometry(op, x.shape, weights[1].shape, 5, o);
  const g = geometry(op, x.shape, weights[2].shape, 7, o);
  const bs: MultiScaleBiases = biases ?? [null, null, null];
  if (bs.length !== 3) throw new Error(`${op}: expected three biases [b3, b5, b7] (entries may be null)`);
  bs.forEach((b, i) => b && checkBias(op, b, g.c, `bias ${2 * i + 3}`));
  const { wc, bc } = combineWeights(g.c, weights, bs);
  const y = depthwiseForwardRaw(g, x, wc, bc);
  wc.dispose();
  bc?.dispose();
  const present = bs.filter((b): b is Tensor => b !== null);
  const inputs = [x, ...weights, ...present];
  if (needsGrad(...inputs)) {
    record(op, inputs, y, (gy) => {
      let gx: Tensor | null = null;
      if (x.requiresGrad) {
        const { wc: w, bc: b } = combineWeights(g.c, weights, [null, null, null]);
        b?.dispose();
        gx = depthwiseBackwardInput(g, w, gy);
        w.dispose();
      }
      const gws: Array<Tensor | null> = [null, null, null];
      if (weights.some((w) => w.requiresGrad)) {
        const dw = depthwiseBackwardWeight(g, x, gy);
        const d3 = empty([g.c, 1, 3, 3]);
        const d5 = empty([g.c, 1, 5, 5]);
        const d7 = empty([g.c, 1, 7, 7]);
        launch(`${op} backward`, {
          shader: 'depthwise',
          entry: 'ms_split',
          constants: { WG },
          tensors: { x: dw, out: d7, out5: d5, out3: d3 },
          uniforms: { total: g.c * 49 },
          workgroups: groups1d(g.c * 49, WG),
        });
        dw.dispose();
        [d3, d5, d7].forEach((d, i) => {
          if (weights[i].requiresGrad) gws[i] = d;
          else d.dispose();
        });
      }
      // The three biases share one gradient; each input gets its own tensor.
      const gbs: Array<Tensor | null> = [];
      const db = present.some((b) => b.requiresGrad) ? depthwiseBackwardBias(g, gy) : null;
      for (const b of present) gbs.push(b.requiresGrad ? copy(db!) : null);
      db?.dispose();
      return [gx, ...gws, ...gbs];
    });
  }
  return y;
}

// CPU references (float64): src/ops/depthwise.ref.ts (not re-exported here: it imports this
// module's option types, and a re-export would make the two modules import each other).

// Batched matrix multiply with optional transposes, and the `gemm` launcher conv2d reuses.
// Kernels: shaders/matmul.wgsl. CPU reference (`matmulRef`) at the bottom.
import { needsGrad, record } from '../autograd/tape.js';
import { runtime } from '../gpu/runtime.js';
import { Tensor, empty, shapeStr } from '../tensor/tensor.js';
import { allow, tunable } from './tunable.js';
import { groups1d, launch, type ActivationCode } from './util.js';

/**
 * Kernel variants (entry points fwd_<variant> of shaders/matmul.wgsl, and fwd_subgroup and
 * fwd_smallk of shaders/matmul-sg.wgsl); 'auto' picks smallk for K ≤ 32 where subgroups are 8 wide,
 * else subgroup where the device (subgroups of 4..64 lanes) and the shape allow it, else vec4 when
 * aligned, else scalar (matmulPlan).
 */
export const MATMUL_VARIANTS = ['vec4', 'scalar', 'tiled', 'rows', 'subgroup', 'smallk'] as const;
export type MatmulVariant = (typeof MATMUL_VARIANTS)[number];

const CONV1X1 = 'conv2d/1x1 144→24 @64²';
const EXPAND = ['conv2d/1x1 16→96 @128²', 'conv2d/1x1 32→192 @32²'];

/**
 * The knobs. `variant`: the kernel every matmul (and the 1×1 convolution path) uses unless a call
 * asks for another. fwd_subgroup's `rowGroups`: row groups per thread (1..4); `groupLanes`: rows per
 * group, i.e. lanes that share them: 0 = the adapter's smallest subgroup size capped at 8 (4 on
 * SwiftShader), or 4 / 8 (never above the smallest subgroup size). `smallK`: 'auto' runs products
 * with K up to this on fwd_smallk where subgroups are 8 wide (0: never); `smallKSpan`: columns per
 * fwd_smallk workgroup (a uniform: no pipeline of its own). Measured: bench/RESULTS.md.
 */
export const matmulTuning = tunable<{ variant: MatmulVariant | 'auto'; groupLanes: 0 | 4 | 8; rowGroups: number; smallK: 0 | 32; smallKSpan: number }>('matmul', {
  variant: {
    default: 'auto',
    allowed: allow.oneOf(['auto', ...MATMUL_VARIANTS], `one of auto, ${MATMUL_VARIANTS.join(', ')}`),
    candidates: ['auto', 'vec4', 'scalar', 'tiled', 'rows'],
    cases: ['matmul/512x512x512', CONV1X1],
    quick: true,
  },
  groupLanes: { default: 0, allowed: allow.oneOf([0, 4, 8], '0 (auto), 4 or 8'), candidates: [0, 4], cases: ['matmul/512x512x512', CONV1X1] },
  rowGroups: { default: 2, allowed: allow.int(1, 4), candidates: [1, 2, 4], cases: ['matmul/512x512x512', CONV1X1] },
  smallK: { default: 32, allowed: allow.oneOf([0, 32], '0 (off) or 32'), candidates: [0, 32], cases: EXPAND },
  smallKSpan: { default: 256, allowed: allow.oneOf([32, 64, 128, 256, 512, 1024], '32, 64, 128, 256, 512 or 1024'), candidates: [64, 128, 256, 512], cases: EXPAND },
});

/** Sets the variant every matmul (and the 1x1 convolution path) uses unless told otherwise. */
export function setMatmulVariant(v: MatmulVariant | 'auto'): void {
  if (!matmulTuning.knobs.variant.allowed[0](v)) {
    throw new Error(`setMatmulVariant: unknown variant "${String(v)}", expected one of auto, ${MATMUL_VARIANTS.join(', ')}`);
  }
  matmulTuning.values.variant = v;
}

export function getMatmulVariant(): MatmulVariant | 'auto' {
  return matmulTuning.values.variant;
}

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** Overrides the default variant; 'vec4' falls back to 'scalar' on unaligned shapes. */
  variant?: MatmulVariant | 'auto';
}

/** One C = op(A) · op(B) launch over `batches` matrix pairs (see shaders/matmul.wgsl). */
export interface GemmArgs {
  op: string;
  a: Tensor;
  b: Tensor;
  /** [batches, m, n] contiguous, or [m, n] when `reduce`. */
  out: Tensor;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  batches: number;
  /** Elements between consecutive batches of A / B; 0 broadcasts one matrix. */
  aBatchStride: number;
  bBatchStride: number;
  /** Sum all batches into a single [m, n] result. */
  reduce?: boolean;
  /** bias[m] added to row m. */
  bias?: Tensor | null;
  /** The activation applied to what is stored, after the bias and addend (forward-only fusion; see conv2d's `activation`). */
  act?: ActivationCode;
  /**
   * Added to C element by element (a tensor of C's size and layout) after the bias, before the
   * activation: a residual connection fused into its convolution (forward-only; see conv2d's `residual`).
   */
  addend?: Tensor | null;
  /**
   * Columns stored as 0: n where n % period >= valid (C's rows as feature maps whose rows are
   * padded to `period`, a multiple of 4; see src/models/row-padding.ts). Forward-only, and only on the subgroup
   * kernels' aligned entries (fwd_subgroup, with split-K's sum_splits, and fwd_smallk).
   */
  zeroColumns?: { period: number; valid: number } | null;
  variant?: MatmulVariant | 'auto';
}

const TILE = 32;
/** Split K when a summed product has fewer output tiles than this (keeps every core busy). */
const MIN_TILES = 16;

export function vec4Aligned(m: number, n: number, k: number, transA: boolean, transB: boolean): boolean {
  return k % 4 === 0 && (!transA || m % 4 === 0) && (transB || n % 4 === 0);
}

/**
 * The subgroup kernel's shape for this device and product, or null when it cannot run: no
 * 'subgroups' feature, subgroups narrower than 4 or wider than 64 lanes, or A not loadable as vec4s
 * (K % 4, M % 4 when transposed, A's batch stride). `ragged`: B's or C's rows do not start on vec4
 * boundaries (N or B's batch stride not a multiple of 4), which fwd_subgroup_ragged handles with
 * scalar B loads and C stores when B is not transposed.
 */
function subgroupShape(
  m: number, n: number, k: number, transA: boolean, transB: boolean, aStride: number, bStride: number,
): { g: number; rg: number; ln: number; ragged: boolean } | null {
  const sg = runtime().gpu.subgroups;
  if (!sg || sg.min < 4 || sg.max > 64 || k % 4 !== 0 || (transA && m % 4 !== 0) || aStride % 4 !== 0) return null;
  const ragged = n % 4 !== 0 || bStride % 4 !== 0;
  if (ragged && transB) return null;
  const g = Math.min(matmulTuning.values.groupLanes || 8, sg.min >= 8 ? 8 : 4);
  // rowGroups · g rows per thread (fewer when M is small, but not below 2 where rowGroups allows it:
  // the only products with M <= g, the HLGFA detail convs, take hundredths of a millisecond either
  // way, while an RG = 1 pipeline of their own costs 0.2-0.3 s of a cold start on lavapipe); lanes
  // along N: enough for N, at least a subgroup.
  const rowGroups = matmulTuning.values.rowGroups;
  const rg = Math.min(rowGroups, Math.max(Math.min(rowGroups, 2), Math.ceil(m / g)));
  let ln = Math.max(8, sg.max);
  while (ln < 64 && ln * 4 < n) ln *= 2;
  return { g, rg, ln, ragged };
}

/** What else than its shape decides a product's kernel (gemm's arguments). */
export interface ProductTraits {
  /** Every batch summed into one C (gemm's reduce over several batches). */
  summed?: boolean;
  /** An addend fused into the stores. */
  addend?: boolean;
}

/**
 * Whether fwd_smallk can run the product: subgroups exactly 8 wide (a workgroup of 8 is one
 * subgroup), A and B not transposed, K ≤ 32 and vec4-aligned operands; not a sum over batches,
 * no addend.
 */
function smallKFits(n: number, k: number, transA: boolean, transB: boolean, strides: BatchStrides, t: ProductTraits): boolean {
  const sg = runtime().gpu.subgroups;
  return !!sg && sg.min === 8 && sg.max === 8 && !transA && !transB && k % 4 === 0 && k <= 32
    && n % 4 === 0 && strides.a % 4 === 0 && strides.b % 4 === 0 && !t.summed && !t.addend;
}

/**
 * The kernel `gemm` runs for a product: the requested variant where it can run, else the nearest
 * that can ('auto': smallk for K ≤ smallK and M ≥ 32, subgroup, then vec4, then scalar).
 */
export function resolveMatmulVariant(
  m: number, n: number, k: number, transA: boolean, transB: boolean,
  requested: MatmulVariant | 'auto' = matmulTuning.values.variant, strides: BatchStrides = NO_STRIDES, traits: ProductTraits = {},
): MatmulVariant {
  return matmulPlan(m, n, k, transA, transB, requested, strides, traits).variant;
}

/** Elements between consecutive batches of A and of B (0: one matrix, or a broadcast one). */
export interface BatchStrides {
  a: number;
  b: number;
}
const NO_STRIDES: BatchStrides = { a: 0, b: 0 };

export interface MatmulPlan {
  variant: MatmulVariant;
  /** fwd_subgroup's shape when the variant is 'subgroup' (ragged: fwd_subgroup_ragged). */
  sg: { g: number; rg: number; ln: number; ragged: boolean } | null;
  shader: 'matmul' | 'matmul-sg';
  entry: string;
  constants: Record<string, number>;
  /** Output tile of one workgroup: [rows, columns]. */
  tile: [number, number];
  /** e.g. 'auto→subgroup' (the bench's variant label). */
  label: string;
}

/** How a product runs: the variant resolveMatmulVariant picks, its kernel, constants and tile. */
export function matmulPlan(
  m: number, n: number, k: number, transA: boolean, transB: boolean,
  requested: MatmulVariant | 'auto' = matmulTuning.values.variant, strides: BatchStrides = NO_STRIDES, traits: ProductTraits = {},
): MatmulPlan {
  // M ≥ 32: a workgroup's 8 lanes own 4 rows each, idle past M.
  const autoSmallK = requested === 'auto' && k <= matmulTuning.values.smallK && m >= 32;
  if ((requested === 'smallk' || autoSmallK) && smallKFits(n, k, transA, transB, strides, traits)) {
    return { variant: 'smallk', sg: null, shader: 'matmul-sg', entry: 'fwd_smallk', constants: {}, tile: [32, matmulTuning.values.smallKSpan], label: requested === 'auto' ? 'auto→smallk' : 'smallk' };
  }
  if (requested === 'smallk') {
    const pl = matmulPlan(m, n, k, transA, transB, 'auto', strides, traits);
    return { ...pl, label: `smallk→${pl.variant}` };
  }
  const aligned = vec4Aligned(m, n, k, transA, transB) && strides.a % 4 === 0 && strides.b % 4 === 0;
  const sg = requested === 'auto' || requested === 'subgroup' ? subgroupShape(m, n, k, transA, transB, strides.a, strides.b) : null;
  const variant: MatmulVariant = sg
    ? 'subgroup'
    : requested === 'auto' || requested === 'subgroup'
      ? aligned ? 'vec4' : 'scalar'
      : (requested === 'vec4' || requested === 'rows') && !aligned ? 'scalar' : requested;
  // vec4 stores when every output row starts on a vec4 boundary
  const store4 = variant === 'vec4' && n % 4 === 0;
  return {
    variant,
    sg,
    shader: sg ? 'matmul-sg' : 'matmul',
    entry: sg?.ragged ? 'fwd_subgroup_ragged' : `fwd_${variant}${store4 ? '_st4' : ''}`,
    constants: sg ? { G: sg.g, RG: sg.rg, TA: transA ? 1 : 0, ...(sg.ragged ? { AB: 0 } : {}) } : {},
    tile: sg ? [sg.g * sg.rg * (64 / sg.ln), 4 * sg.ln] : variant === 'rows' ? [8, 256] : [TILE, TILE],
    label: requested === 'auto' ? `auto→${variant}` : variant,
  };
}

/** Whether the plan's kernel can store columns as 0 (gemm's zeroColumns): fwd_subgroup (with split-K's sum) and fwd_smallk. */
export const storesZeroColumns = (pl: { entry: string }): boolean => pl.entry === 'fwd_subgroup' || pl.entry === 'fwd_smallk';

export function gemm(args: GemmArgs): void {
  let g = args;
  if (g.addend && g.addend.size !== g.out.size) {
    throw new Error(`${g.op}: addend ${shapeStr(g.addend.shape)} does not match the output ${shapeStr(g.out.shape)}`);
  }
  // A shared B (bBatchStride 0) against contiguous row-major A matrices is one taller product.
  if (!g.reduce && g.batches > 1 && g.bBatchStride === 0 && !g.transA && g.aBatchStride === g.m * g.k && !g.bias) {
    g = { ...g, m: g.m * g.batches, batches: 1, aBatchStride: 0 };
  }
  const { m, n, k, transA, transB } = g;
  if (m === 0 || n === 0) return;
  const reduce = g.reduce === true || g.batches === 1;
  if (k === 0 || g.batches === 0) {
    if (g.bias || g.addend) throw new Error(`${g.op}: a bias or addend with an empty inner dimension is not supported`);
    runtime().clear(g.out.bufferFor(g.op));
    return;
  }
  const cols = g.zeroColumns ?? null;
  const traits = { summed: reduce && g.batches > 1, addend: !!g.addend };
  const pl = matmulPlan(m, n, k, transA, transB, g.variant ?? matmulTuning.values.variant, { a: g.aBatchStride, b: g.bBatchStride }, traits);
  if (cols && (!storesZeroColumns(pl) || !(Number.isInteger(cols.period) && cols.period > 0 && cols.period % 4 === 0 && n % cols.period === 0 && cols.valid >= 0 && cols.valid <= cols.period))) {
    throw new Error(`${g.op}: zeroColumns ${JSON.stringify(cols)} needs the fwd_subgroup or fwd_smallk kernel (this product runs ${pl.entry}) and a period that is a multiple of 4 dividing N = ${n}`);
  }
  const colUniforms = { col_period: cols?.period ?? 0, col_valid: cols?.valid ?? 0 };
  const [tm, tn] = pl.tile;
  const tiles = Math.ceil(m / tm) * Math.ceil(n / tn);
  let splits = 1;
  let kChunk = k;
  if (reduce && tiles < MIN_TILES && k * g.batches >= 512) {
    const want = Math.min(Math.ceil(MIN_TILES / tiles), Math.ceil(k / 64));
    kChunk = Math.ceil(Math.ceil(k / want) / 4) * 4;
    splits = Math.ceil(k / kChunk);
  }
  const biasMode = g.bias ? 1 : 0;
  const target = splits > 1 ? empty([splits * m * n]) : g.out;
  // With split-K the bias, addend and activation go to the summed result (sum_splits).
  const addend = splits === 1 ? g.addend ?? null : null;
  // `bias` and `addend` are bound even when unused (bias_mode / add_mode 0): any read-only tensor will do.
  const tensors = { a: g.a, b: g.b, c: target, bias: g.bias && splits === 1 ? g.bias : g.a, addend: addend ?? g.a };
  launch(g.op, {
    shader: pl.shader,
    entry: pl.entry,
    // The subgroup kernel adds by p.add_mode unless A is transposed (see adds() in matmul-sg.wgsl).
    constants: pl.sg && addend && transA ? { ...pl.constants, ADD: 1 } : pl.constants,
    tensors,
    flops: 2 * m * n * k * g.batches,
    uniforms: {
      m,
      n,
      k,
      batches: g.batches,
      lda: transA ? m : k,
      ldb: transB ? k : n,
      a_bs: g.aBatchStride,
      b_bs: g.bBatchStride,
      c_bs: m * n,
      k_chunk: kChunk,
      ta: transA ? 1 : 0,
      tb: transB ? 1 : 0,
      reduce: reduce ? 1 : 0,
      bias_mode: splits === 1 ? biasMode : 0,
      act: splits === 1 ? g.act ?? 0 : 0, // split-K: on the summed result only
      add_mode: addend ? 1 : 0,
      ...colUniforms,
      ...(pl.sg ? { ln: pl.sg.ln } : {}),
    },
    workgroups: [Math.ceil(n / tn), Math.ceil(m / tm), reduce ? splits : g.batches],
  });
  if (splits > 1) {
    const sum4 = n % 4 === 0;
    launch(g.op, {
      shader: 'matmul',
      entry: sum4 ? 'sum_splits_v4' : 'sum_splits',
      tensors: { parts: target, c: g.out, bias: g.bias ?? g.a, addend: g.addend ?? g.a },
      uniforms: { n, c_bs: m * n, splits, bias_mode: biasMode, act: g.act ?? 0, add_mode: g.addend ? 1 : 0, ...colUniforms },
      workgroups: groups1d(sum4 ? (m * n) / 4 : m * n, 256),
    });
    target.dispose();
  }
}

interface MatmulDims {
  m: number;
  n: number;
  k: number;
  batches: number;
  aBatched: boolean;
  bBatched: boolean;
  outShape: number[];
}

function matmulDims(a: Tensor, b: Tensor, transA: boolean, transB: boolean): MatmulDims {
  const flags = `${transA ? ', transA' : ''}${transB ? ', transB' : ''}`;
  for (const [name, t] of [['a', a], ['b', b]] as const) {
    if (t.shape.length !== 2 && t.shape.length !== 3) {
      throw new Error(`matmul: ${name} has shape ${shapeStr(t.shape)}, expected rank 2 [M, K] or 3 [batch, M, K]`);
    }
  }
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const ka = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (ka !== kb) {
    throw new Error(
      `matmul: inner dimensions differ: a ${shapeStr(a.shape)} gives K=${ka}, b ${shapeStr(b.shape)} gives K=${kb}${flags}`,
    );
  }
  const ba = ra === 3 ? a.shape[0] : 1;
  const bb = rb === 3 ? b.shape[0] : 1;
  if (ba !== bb && ba !== 1 && bb !== 1) {
    throw new Error(`matmul: batch dimensions differ: a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)} (${ba} vs ${bb})`);
  }
  const batches = Math.max(ba, bb);
  const outShape = ra === 3 || rb === 3 ? [batches, m, n] : [m, n];
  return { m, n, k: ka, batches, aBatched: ba > 1, bBatched: bb > 1, outShape };
}

/**
 * C = op(a) · op(b) for a [B?, M, K] and b [B?, K, N] (op = transpose when transA / transB, so
 * a may be [B?, K, M] and b [B?, N, K]). A batch of 1 (or a rank-2 operand) broadcasts against B.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const d = matmulDims(a, b, transA, transB);
  const { m, n, k, batches } = d;
  const out = empty(d.outShape);
  const aBS = d.aBatched ? m * k : 0;
  const bBS = d.bBatched ? k * n : 0;
  gemm({ op: 'matmul', a, b, out, m, n, k, transA, transB, batches, aBatchStride: aBS, bBatchStride: bBS, variant: opts.variant });
  if (needsGrad(a, b)) {
    record('matmul', [a, b], out, (gy) => {
      const gyBS = batches > 1 ? m * n : 0;
      // A gradient summed over the batches that broadcast its single matrix.
      const grad = (like: Tensor, batched: boolean, g: Omit<GemmArgs, 'op' | 'out' | 'batches' | 'reduce'>): Tensor => {
        const t = empty(like.shape);
        gemm({ ...g, op: 'matmul backward', out: t, batches, reduce: !batched || batches === 1, variant: opts.variant });
        return t;
      };
      let ga: Tensor | null = null;
      let gb: Tensor | null = null;
      if (a.requiresGrad) {
        ga = transA
          ? // dA (stored [K, M]) = op(B) · dCᵀ
            grad(a, d.aBatched, { a: b, b: gy, m: k, n: m, k: n, transA: transB, transB: true, aBatchStride: bBS, bBatchStride: gyBS })
          : // dA = dC · op(B)ᵀ
            grad(a, d.aBatched, { a: gy, b, m, n: k, k: n, transA: false, transB: !transB, aBatchStride: gyBS, bBatchStride: bBS });
      }
      if (b.requiresGrad) {
        gb = transB
          ? // dB (stored [N, K]) = dCᵀ · op(A)
            grad(b, d.bBatched, { a: gy, b: a, m: n, n: k, k: m, transA: true, transB: transA, aBatchStride: gyBS, bBatchStride: aBS })
          : // dB = op(A)ᵀ · dC
            grad(b, d.bBatched, { a, b: gy, m: k, n, k: m, transA: !transA, transB: false, aBatchStride: aBS, bBatchStride: gyBS });
      }
      return [ga, gb];
    });
  }
  return out;
}

// ---- CPU reference (float64) ------------------------------------------------------------------

/** Reference for `matmul` on row-major data; shapes as for the GPU op. */
export function matmulRef(
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  opts: { transA?: boolean; transB?: boolean } = {},
): { data: Float64Array; shape: number[] } {
  const ta = opts.transA ?? false;
  const tb = opts.transB ?? false;
  const ra = aShape.length;
  const rb = bShape.length;
  const m = ta ? aShape[ra - 1] : aShape[ra - 2];
  const k = ta ? aShape[ra - 2] : aShape[ra - 1];
  const n = tb ? bShape[rb - 2] : bShape[rb - 1];
  const ba = ra === 3 ? aShape[0] : 1;
  const bb = rb === 3 ? bShape[0] : 1;
  const batches = Math.max(ba, bb);
  const out = new Float64Array(batches * m * n);
  for (let z = 0; z < batches; z++) {
    const ao = (ba === 1 ? 0 : z) * m * k;
    const bo = (bb === 1 ? 0 : z) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          s += a[ao + (ta ? q * m + i : i * k + q)] * b[bo + (tb ? j * k + q : q * n + j)];
        }
        out[z * m * n + i * n + j] = s;
      }
    }
  }
  return { data: out, shape: ra === 3 || rb === 3 ? [batches, m, n] : [m, n] };
}

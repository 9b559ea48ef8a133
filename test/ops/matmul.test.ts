import { describe, expect, it } from 'vitest';
import '../../src/ops/index.js';
import { MATMUL_VARIANTS, gemm, matmul, matmulPlan, matmulRef, resolveMatmulVariant, setMatmulVariant, type MatmulVariant } from '../../src/ops/matmul.js';
import { runtime } from '../../src/gpu/runtime.js';
import { empty, tensor } from '../../src/tensor/tensor.js';
import { expectClose, gradCheck, numel, randn, sweepVariants, useGpu } from '../helpers.js';

useGpu();

// Tolerance: f32 accumulation in a different order than the float64 reference; inputs in [-1, 1],
// so the error grows like sqrt(K): atol 2e-6 * sqrt(K) + rtol 1e-5.
const tolFor = (k: number) => ({ atol: 2e-6 * Math.sqrt(Math.max(k, 1)) + 1e-6, rtol: 1e-5 });

interface Case {
  a: number[];
  b: number[];
  transA?: boolean;
  transB?: boolean;
}

// [M, K] x [K, N] stored as given (transposes swap the stored dimensions).
const plain: Array<[number, number, number]> = [
  [1, 1, 1],
  [1, 7, 1],
  [3, 5, 7],
  [4, 8, 12],
  [13, 17, 19],
  [33, 31, 37],
  [64, 64, 64],
  [36, 40, 68],
  [5, 2048, 3], // small output, long K: split-K
  [8, 1024, 4],
  [100, 36, 20], // subgroup kernel: several row blocks per workgroup, partial ones
  [37, 20, 49], // ragged N (subgroup kernel, scalar B and C)
];

const cases: Case[] = [];
for (const [m, k, n] of plain) {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      cases.push({ a: transA ? [k, m] : [m, k], b: transB ? [n, k] : [k, n], transA, transB });
    }
  }
}
cases.push(
  { a: [3, 5, 7], b: [3, 7, 9] },
  { a: [2, 12, 8], b: [2, 8, 16] },
  { a: [4, 5, 7], b: [7, 6] }, // rank-2 b broadcast
  { a: [7, 5], b: [3, 6, 7], transA: true, transB: true }, // rank-2 a broadcast
  { a: [1, 9, 4], b: [5, 4, 8] }, // batch of 1 broadcast
  { a: [5, 8, 4], b: [1, 8, 12], transA: true },
);

/** The matmul-sg entries the sweeps reach on an adapter with these subgroup sizes. */
function subgroupEntries(sg: { min: number; max: number } | null): string[] {
  if (!sg || sg.min < 4 || sg.max > 64) return [];
  return [...(sg.min === 8 && sg.max === 8 ? ['matmul-sg.fwd_smallk'] : []), 'matmul-sg.fwd_subgroup', 'matmul-sg.fwd_subgroup_ragged'];
}

function transpose2d(d: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(d.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = d[r * cols + c];
  return t;
}

describe('matmul forward', () => {
  for (const c of cases) {
    const label = `${JSON.stringify(c.a)}${c.transA ? 'ᵀ' : ''} x ${JSON.stringify(c.b)}${c.transB ? 'ᵀ' : ''}`;
    it(label, async () => {
      const ad = randn(numel(c.a), numel(c.a) + 3);
      const bd = randn(numel(c.b), numel(c.b) + 5);
      const ta = tensor(ad, c.a);
      const tb = tensor(bd, c.b);
      const ref = matmulRef(ad, c.a, bd, c.b, c);
      const k = c.transA ? c.a[c.a.length - 2] : c.a[c.a.length - 1];
      for (const variant of ['auto', ...MATMUL_VARIANTS] as const) {
        const y = matmul(ta, tb, { transA: c.transA, transB: c.transB, variant });
        expect(y.shape).toEqual(ref.shape);
        expectClose(await y.read(), ref.data, tolFor(k), variant);
        y.dispose();
      }
      ta.dispose();
      tb.dispose();
    });
  }

  it("'auto' takes the subgroup kernel where the device has 8..64-lane subgroups and the shape is aligned", () => {
    const sg = runtime().gpu.subgroups;
    const usable = sg !== null && sg.min >= 8 && sg.max <= 64;
    expect(resolveMatmulVariant(64, 64, 64, false, false, 'auto')).toBe(usable ? 'subgroup' : 'vec4');
    expect(resolveMatmulVariant(36, 20, 40, true, true, 'auto')).toBe(usable ? 'subgroup' : 'vec4');
    expect(resolveMatmulVariant(33, 31, 37, false, false, 'auto')).toBe('scalar'); // K % 4 != 0
    // N % 4 != 0: the subgroup kernel's ragged entry (scalar B loads and C stores), unless B is transposed
    expect(resolveMatmulVariant(33, 37, 32, false, false, 'auto')).toBe(usable ? 'subgroup' : 'scalar');
    expect(matmulPlan(33, 37, 32, false, false, 'auto').entry).toBe(usable ? 'fwd_subgroup_ragged' : 'fwd_scalar');
    expect(resolveMatmulVariant(8, 6, 8, false, true, 'subgroup')).toBe('vec4'); // vec4 loads, scalar stores
    expect(resolveMatmulVariant(8, 8, 8, false, false, 'subgroup', { a: 2, b: 0 })).toBe('scalar'); // unaligned A batch stride
    expect(matmulPlan(8, 8, 8, false, false, 'subgroup', { a: 0, b: 6 }).entry).toBe(usable ? 'fwd_subgroup_ragged' : 'fwd_scalar');
  });

  it("'auto' takes fwd_smallk for K <= 32 and M >= 32 where subgroups are 8 wide, for plain products", () => {
    const NONE = { a: 0, b: 0 };
    const sg = runtime().gpu.subgroups;
    const eight = sg !== null && sg.min === 8 && sg.max === 8;
    const other = sg !== null && sg.min >= 4 && sg.max <= 64 ? 'subgroup' : 'vec4';
    expect(resolveMatmulVariant(96, 12544, 16, false, false, 'auto')).toBe(eight ? 'smallk' : other);
    expect(matmulPlan(144, 3136, 24, false, false, 'auto', { a: 0, b: 24 * 3136 }).entry).toBe(eight ? 'fwd_smallk' : other === 'subgroup' ? 'fwd_subgroup' : 'fwd_vec4_st4');
    expect(resolveMatmulVariant(16, 12544, 32, false, false, 'auto')).toBe(other); // M < 32: idle lanes
    expect(resolveMatmulVariant(96, 256, 36, false, false, 'auto')).toBe(other); // K > 32
    expect(resolveMatmulVariant(96, 256, 16, true, false, 'auto')).toBe(other); // A transposed
    expect(resolveMatmulVariant(96, 256, 16, false, false, 'auto', { a: 0, b: 4096 }, { summed: true })).toBe(other);
    expect(resolveMatmulVariant(96, 256, 16, false, false, 'auto', NONE, { addend: true })).toBe(other);
    // asked for: any M (lanes past it store nothing), else the nearest that runs
    expect(matmulPlan(5, 20, 12, false, false, 'smallk').label).toBe(eight ? 'smallk' : `smallk→${other === 'subgroup' ? 'subgroup' : 'vec4'}`);
    expect(matmulPlan(5, 21, 12, false, false, 'smallk').entry).not.toBe('fwd_smallk'); // N % 4 != 0
  });

  it('every kernel variant (each candidate of every matmul knob, row groups and lanes of the subgroup kernel) matches the reference, and runs as planned', async () => {
    // [M, K, N], transA, transB: aligned (subgroup / vec4 with vec4 stores), Bᵀ with N % 4 != 0
    // (vec4 loads, scalar stores), unaligned (scalar), the subgroup kernel's partial row blocks
    // (transposed A too), split-K.
    const products: Array<[number, number, number, boolean, boolean]> = [
      [64, 64, 64, false, false], [8, 8, 6, false, true], [13, 17, 19, false, false], [100, 36, 20, true, false], [100, 36, 20, false, false], [5, 2048, 3, false, false],
      [8, 1024, 4, false, false], // split-K summed as vec4
      [37, 20, 49, false, false], [36, 12, 7, true, false], [3, 8, 1, false, false], // ragged N: fwd_subgroup_ragged
      [96, 16, 132, false, false], [33, 28, 8, false, false], [40, 32, 1028, false, false], // K <= 32: fwd_smallk (partial spans, rows)
    ];
    const runs = products.map(([m, k, n, transA, transB]) => ({
      name: `${m}x${k}x${n}${transA ? ' transA' : ''}${transB ? ' transB' : ''}`,
      record: () => {
        const [ad, bd] = [randn(m * k, m + k), randn(k * n, k + n)];
        const [a, b] = [tensor(ad, transA ? [k, m] : [m, k]), tensor(bd, transB ? [n, k] : [k, n])];
        const y = matmul(a, b, { transA, transB });
        return async () => {
          expectClose(await y.read(), matmulRef(ad, a.shape, bd, b.shape, { transA, transB }).data, tolFor(k), 'product');
          for (const t of [a, b, y]) t.dispose();
        };
      },
      planned: () => {
        const pl = matmulPlan(m, n, k, transA, transB);
        return [`${pl.shader}.${pl.entry}`];
      },
    }));
    const reached = await sweepVariants('matmul', runs, { shaders: ['matmul', 'matmul-sg'] });
    const sg = runtime().gpu.subgroups;
    const entries = ['fwd_rows', 'fwd_scalar', 'fwd_tiled', 'fwd_vec4', 'fwd_vec4_st4', 'sum_splits', 'sum_splits_v4'].map((e) => `matmul.${e}`);
    expect(reached).toEqual(subgroupEntries(sg).concat(entries));
  });

  it('every kernel variant adds a bias, an addend and a ReLU6 in its stores (split-K in sum_splits) as the reference does', async () => {
    // C = relu6(A·B + bias[m] + addend): the fused epilogue of a residual 1×1 convolution. Values
    // scaled so that both clamps are reached. Batched (B's batch stride: conv2d's layout), ragged N,
    // split-K ([5, 2048, 3]; [6, 1024, 8] summed as vec4), Bᵀ with N % 4 != 0 (vec4 loads, scalar stores), Aᵀ (the subgroup
    // kernel's ADD override; plain and ragged N), odd sizes.
    const products: Array<[number, number, number, number, boolean, boolean]> = [
      [64, 64, 64, 1, false, false], [13, 17, 19, 1, false, false], [24, 16, 36, 2, false, false], [37, 20, 49, 2, false, false],
      [3, 8, 1, 1, false, false], [5, 2048, 3, 1, false, false], [6, 1024, 8, 1, false, false], [1, 4, 4, 3, false, false], [8, 8, 6, 2, false, true],
      [36, 12, 20, 2, true, false], [36, 12, 7, 1, true, false], [40, 12, 20, 2, false, false], [32, 32, 4, 1, false, false],
    ];
    const runs = products.map(([m, k, n, batches, transA, transB]) => ({
      name: `${m}x${k}x${n} ×${batches}${transA ? ' transA' : ''}${transB ? ' transB' : ''} + bias + addend, relu6`,
      record: () => {
        const [ad, bd] = [randn(m * k, m + 3 * k), randn(batches * k * n, k + n)];
        const [biasd, addd] = [randn(m, 7).map((v) => 3 * v), randn(batches * m * n, 11).map((v) => 4 * v)];
        const a = tensor(ad, transA ? [k, m] : [m, k]);
        const [b, bias, addend] = [tensor(bd, transB ? [batches, n, k] : [batches, k, n]), tensor(biasd, [m]), tensor(addd, [batches, m, n])];
        const out = empty([batches, m, n]);
        gemm({ op: 'test', a, b, out, m, n, k, transA, transB, batches, aBatchStride: 0, bBatchStride: k * n, bias, addend, act: 1 });
        return async () => {
          const want = new Float64Array(batches * m * n);
          for (let z = 0; z < batches; z++) {
            const prod = matmulRef(ad, a.shape, bd.slice(z * k * n, (z + 1) * k * n), transB ? [n, k] : [k, n], { transA, transB }).data;
            for (let i = 0; i < m * n; i++) want[z * m * n + i] = Math.min(Math.max(prod[i] + biasd[Math.floor(i / n)] + addd[z * m * n + i], 0), 6);
          }
          expectClose(await out.read(), want, tolFor(k), 'relu6(A·B + bias + addend)');
          for (const t of [a, b, bias, addend, out]) t.dispose();
        };
      },
      planned: () => {
        const pl = matmulPlan(m, n, k, transA, transB, undefined, { a: 0, b: k * n }, { addend: true });
        return [`${pl.shader}.${pl.entry}`];
      },
    }));
    const reached = await sweepVariants('matmul', runs, { shaders: ['matmul', 'matmul-sg'] });
    const sg = runtime().gpu.subgroups;
    const entries = ['fwd_rows', 'fwd_scalar', 'fwd_tiled', 'fwd_vec4', 'fwd_vec4_st4', 'sum_splits', 'sum_splits_v4'].map((e) => `matmul.${e}`);
    // fwd_smallk takes no addend: the products it would take run on fwd_subgroup
    expect(reached).toEqual(subgroupEntries(sg).filter((e) => !e.endsWith('smallk')).concat(entries));
    const a = tensor(randn(8, 1), [2, 4]);
    expect(() => gemm({ op: 'test', a, b: a, out: a, m: 2, n: 2, k: 4, transA: false, transB: true, batches: 1, aBatchStride: 0, bBatchStride: 0, addend: tensor([1, 2, 3]) })).toThrow(
      /test: addend \[3\] does not match the output \[2, 4\]/,
    );
    a.dispose();
  });

  it('zeroColumns stores 0 in the columns n % period >= valid, after bias, addend and activation (fwd_subgroup, split-K, fwd_smallk)', async () => {
    const sg = runtime().gpu.subgroups;
    // [m, k, n, batches, period, valid, addend]: feature maps of 7×8 padded rows (7 valid), a
    // residual, split-K (k 1024, 8 columns), a period of 4 with 3 valid, batches of 2.
    const products: Array<[number, number, number, number, number, number, boolean]> = [
      [40, 16, 56, 1, 8, 7, false], [24, 12, 56, 2, 8, 7, true], [6, 1024, 8, 1, 8, 7, true], [20, 8, 12, 2, 4, 3, false],
      [40, 64, 56, 1, 8, 7, true], [64, 12, 24, 2, 4, 3, true], [64, 12, 24, 2, 4, 3, false],
    ];
    const ran = new Set<string>();
    for (const [m, k, n, batches, period, valid, withAddend] of products) {
      const entry = matmulPlan(m, n, k, false, false, undefined, { a: 0, b: k * n }, { addend: withAddend }).entry;
      ran.add(entry);
      const usable = entry === 'fwd_subgroup' || entry === 'fwd_smallk';
      expect(usable).toBe(!!sg && sg.min >= 4 && sg.max <= 64);
      const [ad, bd] = [randn(m * k, m + k), randn(batches * k * n, k + n)];
      const [biasd, addd] = [randn(m, 5).map((v) => 3 * v), randn(batches * m * n, 9).map((v) => 4 * v)];
      const [a, b, bias, addend] = [tensor(ad, [m, k]), tensor(bd, [batches, k, n]), tensor(biasd, [m]), tensor(addd, [batches, m, n])];
      const out = empty([batches, m, n]);
      const run = () => gemm({ op: 'test', a, b, out, m, n, k, transA: false, transB: false, batches, aBatchStride: 0, bBatchStride: k * n, bias, addend: withAddend ? addend : null, act: 1, zeroColumns: { period, valid } });
      if (!usable) {
        expect(run).toThrow(/test: zeroColumns \{"period":\d+,"valid":\d+\} needs the fwd_subgroup or fwd_smallk kernel/);
      } else {
        run();
        const want = new Float64Array(batches * m * n);
        for (let z = 0; z < batches; z++) {
          const prod = matmulRef(ad, [m, k], bd.slice(z * k * n, (z + 1) * k * n), [k, n]).data;
          for (let i = 0; i < m * n; i++) {
            const v = Math.min(Math.max(prod[i] + biasd[Math.floor(i / n)] + (withAddend ? addd[z * m * n + i] : 0), 0), 6);
            want[z * m * n + i] = (i % n) % period < valid ? v : 0;
          }
        }
        expectClose(await out.read(), want, tolFor(k), `zeroColumns ${m}x${k}x${n} ×${batches}, period ${period}, valid ${valid}`);
      }
      for (const t of [a, b, bias, addend, out]) t.dispose();
    }
    // fwd_smallk where subgroups are 8 wide (K <= 32, no addend), else fwd_subgroup
    if (sg && sg.min === 8 && sg.max === 8) expect([...ran].sort()).toEqual(['fwd_smallk', 'fwd_subgroup']);
    if (sg && sg.min >= 4 && sg.max <= 64) {
      const [a, b, out] = [tensor(randn(8 * 4, 1), [8, 4]), tensor(randn(4 * 49, 2), [4, 49]), empty([8, 49])];
      expect(() => gemm({ op: 'test', a, b, out, m: 8, n: 49, k: 4, transA: false, transB: false, batches: 1, aBatchStride: 0, bBatchStride: 0, zeroColumns: { period: 7, valid: 6 } })).toThrow(
        /test: zeroColumns \{"period":7,"valid":6\} needs the fwd_subgroup or fwd_smallk kernel \(this product runs fwd_subgroup_ragged\) and a period that is a multiple of 4 dividing N = 49/,
      );
      for (const t of [a, b, out]) t.dispose();
      const [a2, b2, out2] = [tensor(randn(40 * 16, 3), [40, 16]), tensor(randn(16 * 36, 4), [16, 36]), empty([40, 36])];
      expect(() => gemm({ op: 'test', a: a2, b: b2, out: out2, m: 40, n: 36, k: 16, transA: false, transB: false, batches: 1, aBatchStride: 0, bBatchStride: 0, zeroColumns: { period: 6, valid: 5 } })).toThrow(
        /test: zeroColumns \{"period":6,"valid":5\} needs .* a period that is a multiple of 4 dividing N = 36/,
      );
      for (const t of [a2, b2, out2]) t.dispose();
    }
  });

  it('empty inner dimension gives zeros', async () => {
    const a = tensor([], [3, 0]);
    const b = tensor([], [0, 2]);
    const y = matmul(a, b);
    expect(y.shape).toEqual([3, 2]);
    expect([...(await y.read())]).toEqual([0, 0, 0, 0, 0, 0]);
    for (const t of [a, b, y]) t.dispose();
  });

  it('setMatmulVariant changes the default and rejects unknown names', async () => {
    const ad = randn(6 * 8, 1);
    const bd = randn(8 * 4, 2);
    const a = tensor(ad, [6, 8]);
    const b = tensor(bd, [8, 4]);
    for (const v of MATMUL_VARIANTS) {
      setMatmulVariant(v);
      const y = matmul(a, b);
      expectClose(await y.read(), matmulRef(ad, [6, 8], bd, [8, 4]).data, tolFor(8), v);
      y.dispose();
    }
    setMatmulVariant('auto');
    expect(() => setMatmulVariant('fast' as MatmulVariant)).toThrow(/setMatmulVariant: unknown variant "fast"/);
    a.dispose();
    b.dispose();
  });
});

describe('matmul gradients', () => {
  const gcases: Case[] = [
    { a: [3, 5], b: [5, 4] },
    { a: [5, 3], b: [5, 4], transA: true },
    { a: [3, 5], b: [4, 5], transB: true },
    { a: [5, 3], b: [4, 5], transA: true, transB: true },
    { a: [2, 4, 8], b: [2, 8, 4] },
    { a: [4, 8], b: [3, 8, 5] }, // a broadcast: its gradient sums over the batch
    { a: [3, 4, 8], b: [8, 4] }, // b broadcast: batches fold into one taller product
    { a: [3, 8, 4], b: [1, 12, 8], transA: true, transB: true },
  ];
  for (const c of gcases) {
    it(`${JSON.stringify(c.a)}${c.transA ? 'ᵀ' : ''} x ${JSON.stringify(c.b)}${c.transB ? 'ᵀ' : ''}`, async () => {
      for (const variant of MATMUL_VARIANTS) {
        await gradCheck({
          inputs: [{ shape: c.a }, { shape: c.b }],
          gpu: ([a, b]) => matmul(a, b, { transA: c.transA, transB: c.transB, variant }),
          ref: ([a, b]) => matmulRef(a, c.a, b, c.b, c).data,
        });
      }
    });
  }

  it('split-K gradients of a long product', async () => {
    await gradCheck({
      inputs: [{ shape: [2, 600] }, { shape: [600, 3] }],
      gpu: ([a, b]) => matmul(a, b),
      ref: ([a, b]) => matmulRef(a, [2, 600], b, [600, 3]).data,
      fwdTol: tolFor(600),
      tol: { atol: 2e-3, rtol: 1e-2 },
    });
  });
});

describe('matmul errors', () => {
  it('rejects mismatched inner dimensions, naming the shapes', () => {
    const a = tensor(randn(6), [2, 3]);
    const b = tensor(randn(8), [4, 2]);
    expect(() => matmul(a, b)).toThrow(/matmul: inner dimensions differ: a \[2, 3\] gives K=3, b \[4, 2\] gives K=4/);
    expect(() => matmul(a, b, { transA: true })).toThrow(/matmul: inner dimensions differ: .*K=2.*K=4, transA/);
    a.dispose();
    b.dispose();
  });

  it('rejects bad ranks and batch mismatches', () => {
    const v = tensor(randn(3), [3]);
    const a = tensor(randn(24), [2, 3, 4]);
    const b = tensor(randn(60), [3, 4, 5]);
    expect(() => matmul(v, a)).toThrow(/matmul: a has shape \[3\], expected rank 2/);
    expect(() => matmul(a, b)).toThrow(/matmul: batch dimensions differ: a \[2, 3, 4\] and b \[3, 4, 5\]/);
    for (const t of [v, a, b]) t.dispose();
  });
});

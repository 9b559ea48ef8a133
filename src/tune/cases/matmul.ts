// Matmul: square products 256…2048 (the default variant), every variant at 512, and the backward
// pass (dA = dC·Bᵀ, dB = Aᵀ·dC) at 512. Work model: flops = 2·M·N·K; bytes = 4·(M·K + K·N + M·N).
// Large products are validated on sampled rows (matmulRef on those rows of A).
import { matmul, matmulPlan, matmulRef, type MatmulVariant } from '../../ops/matmul.js';
import type { BenchCase, Expected } from '../harness.js';
import { F32, backwardInstance, forwardInstance, input, model, rowIndices, sampleRows, takeRows } from './common.js';

/** Reference rows of A·B (all rows when M·N·K is small). */
function productRef(a: Float32Array, b: Float32Array, m: number, k: number, n: number, trans: { transA?: boolean; transB?: boolean } = {}): Expected {
  if (m * n * k <= 3e7) return { values: matmulRef(a, trans.transA ? [k, m] : [m, k], b, trans.transB ? [n, k] : [k, n], trans).data };
  const rows = sampleRows(m, 24);
  // op(A) rows: row-major slices of A, or columns when A is stored transposed.
  const aRows = trans.transA ? new Float64Array(rows.length * k) : takeRows(a, rows, k);
  if (trans.transA) rows.forEach((r, i) => { for (let q = 0; q < k; q++) aRows[i * k + q] = a[q * m + r]; });
  const ref = matmulRef(aRows, [rows.length, k], b, trans.transB ? [n, k] : [k, n], { transB: trans.transB });
  return { values: ref.data, indices: rowIndices(rows, n) };
}

function squareCase(n: number, variant?: MatmulVariant, quick = false): BenchCase {
  return {
    id: `matmul/${n}x${n}x${n}${variant ? ` ${variant}` : ''}`,
    family: 'matmul',
    op: 'matmul',
    shape: `[${n}, ${n}] · [${n}, ${n}]`,
    variant: () => matmulPlan(n, n, n, false, false, variant).label,
    model: model(2 * n ** 3, F32 * 3 * n * n, 'flops = 2·M·N·K; bytes = 4·(M·K + K·N + M·N)'),
    quick,
    tol: 1e-4,
    setup: () => {
      const A = input([n, n], 11);
      const B = input([n, n], 12);
      return forwardInstance([A, B], ([a, b]) => matmul(a, b, variant ? { variant } : {}), () => [productRef(A.data, B.data, n, n, n)]);
    },
    peer: {
      op: 'tf.matMul',
      setup: (peer) => {
        const { tf } = peer;
        const a = tf.randomUniform([n, n], -1, 1);
        const b = tf.randomUniform([n, n], -1, 1);
        return {
          run: () => tf.tidy(() => void tf.matMul(a, b)),
          sync: () => peer.sync(),
          dispose: () => tf.dispose([a, b]),
        };
      },
    },
  };
}

function backwardCase(n: number): BenchCase {
  return {
    id: `matmul/backward ${n}x${n}x${n}`,
    family: 'matmul',
    op: 'matmul backward',
    shape: `[${n}, ${n}] · [${n}, ${n}]`,
    variant: () => matmulPlan(n, n, n, false, false).label,
    model: model(4 * n ** 3, F32 * 5 * n * n, 'flops = 4·M·N·K (dA and dB); bytes = 4·(A + B + dC + dA + dB)'),
    tol: 1e-4,
    setup: () => {
      const A = input([n, n], 21);
      const B = input([n, n], 22);
      const G = input([n, n], 23);
      return backwardInstance([A, B], ([a, b]) => matmul(a, b), G.data, () => [
        productRef(G.data, B.data, n, n, n, { transB: true }), // dA = dC · Bᵀ
        productRef(A.data, G.data, n, n, n, { transA: true }), // dB = Aᵀ · dC
      ]);
    },
  };
}

export function matmulCases(): BenchCase[] {
  return [
    squareCase(256, undefined, true),
    squareCase(512),
    squareCase(1024),
    squareCase(2048),
    squareCase(512, 'vec4'),
    squareCase(512, 'scalar'),
    squareCase(512, 'tiled'),
    squareCase(512, 'rows'),
    squareCase(512, 'subgroup'),
    backwardCase(256),
    backwardCase(512),
  ];
}

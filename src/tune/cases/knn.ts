// The memory-bank kernels at the sizes HLGFA's normality 'knn' runs them (S = 256: 16² patches of
// 128 features per image, a 5000-row bank; the coreset picks among 270 images' patches projected
// to 32 dimensions — here a slice of that, so the float64 reference stays quick). Work models:
//   nearest (N·P queries, K rows, D features): flops = 2·N·P·K·D (the matmul) + 3·N·P·K (the
//     min epilogue); bytes = 4·(N·D·P + K·D + N·K·P written and read + N·P)
//   coreset (P points, D dims, m picks): flops = 3·P·D per pick; bytes = 4·(P·D + 2P) per pick
import { knnRef, nearestDistance, recordCoreset } from '../../ops/knn.js';
import { tensor } from '../../tensor/tensor.js';
import type { BenchCase } from '../harness.js';
import { F32, dims, forwardInstance, input, model } from './common.js';

function nearestCase(n: number, d: number, p: number, k: number, quick = false): BenchCase {
  const shape = [n, d, p];
  return {
    id: `knn/nearest ${n}×${p} queries, ${k}×${d} bank`,
    family: 'knn',
    op: 'nearestDistance',
    shape: `x ${dims(shape)}, bank [${k}, ${d}]`,
    variant: () => `matmul + min_sqdist, chunks of ≤ 4096 rows`,
    model: model(2 * n * p * k * d + 3 * n * p * k, F32 * (n * d * p + k * d + 2 * n * k * p + n * p), 'flops = 2·NPKD + 3·NPK; bytes = 4·(x + bank + 2·dot + out)'),
    quick,
    setup: () => {
      const ins = [input(shape, 501, false), input([k, d], 502, false)];
      return forwardInstance(ins, ([x, bank]) => nearestDistance(x, bank, { squared: true }), () => [
        { values: knnRef.nearestSqDist(ins[0].data, shape, ins[1].data, k) },
      ]);
    },
  };
}

function coresetCase(n: number, d: number, p: number, picks: number, quick = false): BenchCase {
  const shape = [n, d, p];
  const points = n * p;
  return {
    id: `knn/coreset ${picks} of ${points} points × ${d}`,
    family: 'knn',
    op: 'greedyCoreset',
    shape: `z ${dims(shape)}, ${picks} picks`,
    variant: () => (p % 4 === 0 ? 'coreset_update4 (4 points per thread)' : 'coreset_update'),
    model: model(3 * points * d * picks, F32 * (points * d + 2 * points) * picks, 'per pick: flops = 3·P·D, bytes = 4·(P·D + 2P)'),
    quick,
    // Integer coordinates: every distance exact in f32, so the picks must equal the reference's.
    tol: 0,
    setup: () => {
      const data = Float32Array.from(input(shape, 503, false).data, (v) => Math.round(8 * v));
      const z = tensor(data, shape);
      return {
        run: () => void recordCoreset(z, picks, 0),
        async outputs() {
          const sel = recordCoreset(z, picks, 0);
          const bits = new Uint32Array((await sel.read()).buffer);
          sel.dispose();
          return [Float32Array.from(bits)];
        },
        expected: () => [{ values: Float32Array.from(knnRef.greedyCoreset(data, shape, picks, 0)) }],
        dispose: () => z.dispose(),
      };
    },
  };
}

export function knnCases(): BenchCase[] {
  return [nearestCase(1, 128, 256, 5000, true), nearestCase(8, 128, 256, 5000), coresetCase(16, 32, 256, 200, true)];
}

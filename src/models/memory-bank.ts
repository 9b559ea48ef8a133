// The absolute-normality term (config `normality: 'knn'`): how far each patch of an image lies
// from the nearest patch of a coreset of normal training patches, in frozen backbone features —
// PatchCore's memory bank. It complements the cross-resolution discrepancy, which cannot see a
// defect that both resolutions see alike (a low-frequency change, a wide stain): such a patch
// still looks unlike any normal patch. Portable (no I/O).
import { Tensor, keep, scope, tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/tape.js';
import { avgPool2d, concat, gaussianBlur, greedyCoreset, matmul, nearestDistance, resizeBilinear } from '../ops/index.js';
import { runtime } from '../gpu/runtime.js';
import { createRng, deriveSeed, permutation } from '../util/random.js';

/** Dimensions of the random projection the coreset is selected in (PatchCore uses one too). */
export const CORESET_PROJECTION = 32;

export type KnnGrid = 'coarsest' | 'finest';

/** The grid patches are compared on: the coarsest or the finest of the taps' grids. */
function gridOf(features: readonly Tensor[], grid: KnnGrid): [number, number] {
  const sizes = features.map((f) => [f.shape[2], f.shape[3]] as [number, number]);
  const area = (s: [number, number]) => s[0] * s[1];
  return sizes.reduce((a, b) => ((grid === 'coarsest' ? area(b) < area(a) : area(b) > area(a)) ? b : a));
}

/**
 * Patch features [N, D, h·w] from backbone features at the kNN taps: each averaged over its 3×3
 * neighbourhood (PatchCore's local aggregation, so a patch carries its context), brought to the
 * `grid` (bilinear; at 2× down that is a 2×2 mean) and concatenated along channels.
 */
export function patchEmbedding(features: readonly Tensor[], grid: KnnGrid = 'coarsest'): Tensor {
  return noGrad(() =>
    scope(() => {
      const n = features[0].shape[0];
      const [h, w] = gridOf(features, grid);
      const parts = features.map((f) => {
        const pooled = avgPool2d(f, { kernel: 3, stride: 1, padding: 1, countIncludePad: false });
        return f.shape[2] === h && f.shape[3] === w ? pooled : resizeBilinear(pooled, [h, w], { alignCorners: false });
      });
      const e = parts.length > 1 ? concat(parts, 1) : parts[0];
      return e.reshape([n, e.shape[1], h * w]);
    }),
  );
}

/** The term's map [N, 1, size, size]: nearest-bank distance per patch, upsampled and blurred. */
export function normalityMap(bank: Tensor, features: readonly Tensor[], size: number, blurSigma: number, grid: KnnGrid = 'coarsest'): Tensor {
  return noGrad(() =>
    scope(() => {
      const n = features[0].shape[0];
      const [h, w] = gridOf(features, grid);
      const dist = nearestDistance(patchEmbedding(features, grid), bank).reshape([n, 1, h, w]);
      const up = resizeBilinear(dist, [size, size], { alignCorners: false });
      return blurSigma > 0 ? gaussianBlur(up, blurSigma) : up;
    }),
  );
}

/**
 * Selects `count` bank rows among the patches of `batches` batches of normal images, `embed(b)`
 * giving batch b's patch embeddings [n, D, P]: greedy k-center in a fixed random projection, then
 * the chosen patches' full features. When the projected points would exceed one buffer binding,
 * a seeded random subset of whole batches takes part. Returns a kept tensor [K, D].
 */
export async function buildMemoryBank(batches: number, embed: (b: number) => Tensor, count: number, seed: number): Promise<Tensor> {
  const first = embed(0);
  const [n0, d, p] = first.shape;
  first.dispose();
  const rng = createRng(deriveSeed(seed, 0xba4c));
  const projection = Float32Array.from({ length: CORESET_PROJECTION * d }, () => gaussian(rng) / Math.sqrt(CORESET_PROJECTION));
  const proj = tensor(projection, [CORESET_PROJECTION, d]);
  // The batches whose projected points fit one binding (usually all of them).
  const perBatch = CORESET_PROJECTION * p * 4 * Math.max(1, n0);
  const fit = Math.max(1, Math.floor(runtime().limits.maxStorageBufferBindingSize / perBatch));
  const chosen = batches <= fit ? [...Array(batches).keys()] : permutation(batches, rng).slice(0, fit).sort((a, b) => a - b);
  const sizes: number[] = [];
  const projected = chosen.map((b) =>
    noGrad(() =>
      scope(() => {
        const e = embed(b);
        sizes.push(e.shape[0]);
        return matmul(proj, e); // [n, 32, P]
      }),
    ),
  );
  const z = noGrad(() => (projected.length > 1 ? concat(projected, 0) : projected[0]));
  if (projected.length > 1) projected.forEach((t) => t.dispose());
  proj.dispose();
  const points = z.shape[0] * p;
  const picked = await greedyCoreset(z, Math.min(count, points), Math.floor(rng() * points));
  z.dispose();

  // Gather the picked patches' full features, batch by batch.
  const bank = new Float32Array(picked.length * d);
  const rowOf = new Map<number, number>();
  picked.forEach((idx, row) => rowOf.set(idx, row));
  let offset = 0; // first point index of the current batch
  for (const [k, b] of chosen.entries()) {
    const n = sizes[k];
    const wanted = [...rowOf.entries()].filter(([idx]) => idx >= offset && idx < offset + n * p);
    if (wanted.length) {
      const e = embed(b);
      const values = await e.read();
      e.dispose();
      for (const [idx, row] of wanted) {
        const local = idx - offset;
        const img = Math.floor(local / p);
        const pos = local % p;
        for (let f = 0; f < d; f++) bank[row * d + f] = values[(img * d + f) * p + pos];
      }
    }
    offset += n * p;
  }
  return keep(tensor(bank, [picked.length, d]));
}

/** A standard normal deviate (Box–Muller) from a uniform generator. */
function gaussian(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

// Nearest-neighbour search against a memory bank, and the greedy coreset that picks the bank.
// Points and queries are [N, D, P] (N items, D features, P positions: a feature map flattened);
// the bank is [K, D]. Kernels: shaders/knn.wgsl. Forward only: the bank and the features are
// frozen, nothing here is ever differentiated. Float64 CPU references at the bottom.
//
// nearestDistance: |q − b|² = |q|² + |b|² − 2 q·b, so the K·D·P-sized work is a matmul (b · x, the
// engine's fastest kernel) and the rest a min-reduction over the bank with that epilogue, done in
// bank chunks so the [N, K, P] product stays within the device's binding limit.
// greedyCoreset: farthest-point sampling (PatchCore's coreset), two dispatches per picked point
// and no readback until the end.
import { runtime } from '../gpu/runtime.js';
import { Tensor, empty, scope, shapeStr, tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/tape.js';
import { matmul } from './matmul.js';
import { mul } from './elementwise.js';
import { sum } from './reduce.js';
import { split } from './concat.js';
import { assertRank, groups1d, launch } from './util.js';

const WG = 256;
/** Bank rows per min_sqdist pass, at most: bounds the [N, K, P] dot-product tensor. */
const MAX_CHUNK = 4096;

function checkPoints(op: string, x: Tensor): [number, number, number] {
  assertRank(op, 'points', x, 3);
  const [n, d, p] = x.shape;
  if (d === 0) throw new Error(`${op}: points ${shapeStr(x.shape)} have no features`);
  return [n, d, p];
}

export interface NearestOptions {
  /** Squared distances instead of distances. */
  squared?: boolean;
  /** Bank rows per pass (default: as many as the binding limit allows, at most 4096). */
  chunk?: number;
}

/** For x [N, D, P] and bank [K, D]: the distance from every point to its nearest bank row, [N, P]. */
export function nearestDistance(x: Tensor, bank: Tensor, opts: NearestOptions = {}): Tensor {
  const op = 'nearestDistance';
  const [n, d, p] = checkPoints(op, x);
  assertRank(op, 'bank', bank, 2);
  const [k, bd] = bank.shape;
  if (bd !== d) throw new Error(`${op}: bank ${shapeStr(bank.shape)} has ${bd} features per row, the points ${shapeStr(x.shape)} have ${d}`);
  if (k === 0) throw new Error(`${op}: the bank is empty`);
  const limit = runtime().limits.maxStorageBufferBindingSize;
  const fits = Math.max(1, Math.min(MAX_CHUNK, Math.floor(limit / (4 * Math.max(1, n * p)))));
  const chunk = Math.min(k, opts.chunk ?? fits);
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`${op}: chunk must be an integer >= 1, got ${opts.chunk}`);
  return noGrad(() => {
    const out = empty([n, p]);
    if (out.size === 0) return out;
    scope(() => {
      const qn = sum(mul(x, x), 1); // [N, P]
      const bn = sum(mul(bank, bank), 1); // [K]
      const sizes = Array.from({ length: Math.ceil(k / chunk) }, (_, i) => Math.min(chunk, k - i * chunk));
      const parts = sizes.length > 1 ? split(bank, sizes, 0) : [bank];
      let koff = 0;
      parts.forEach((part, i) => {
        const dot = matmul(part, x); // [N, Kc, P]
        launch(op, {
          shader: 'knn',
          entry: 'min_sqdist',
          constants: { WG, FIRST: +(i === 0), ROOT: +(!opts.squared && i === parts.length - 1) },
          tensors: { dots: dot, bn, qn, out },
          uniforms: { items: n * p, p, k: sizes[i], koff, d },
          workgroups: groups1d(n * p, WG),
        });
        koff += sizes[i];
      });
    });
    return out;
  });
}

/**
 * Greedy k-center selection of `count` points of z [N, D, P] (flat index n·P + p), starting from
 * point `start`: each next point is the one farthest from all picked so far (the lowest index on
 * ties). Returns the indices in the order picked; `count` is capped at N·P.
 */
export async function greedyCoreset(z: Tensor, count: number, start = 0): Promise<Uint32Array> {
  const picked = recordCoreset(z, count, start);
  try {
    return new Uint32Array((await picked.read()).buffer);
  } finally {
    picked.dispose();
  }
}

/**
 * `greedyCoreset`'s GPU work, recorded without waiting: a tensor of min(count, N·P) elements whose
 * bytes are the picked indices as u32 (f32 is only their container: read it as Uint32Array).
 */
export function recordCoreset(z: Tensor, count: number, start = 0): Tensor {
  const op = 'greedyCoreset';
  const [n, d, p] = checkPoints(op, z);
  const items = n * p;
  if (!Number.isInteger(count) || count < 1) throw new Error(`${op}: count must be an integer >= 1, got ${count}`);
  if (!Number.isInteger(start) || start < 0 || start >= items) throw new Error(`${op}: start ${start} is not a point index in [0, ${items})`);
  const m = Math.min(count, items);
  const v4 = p % 4 === 0; // four neighbouring points per thread (never straddling two items)
  const grid = groups1d(v4 ? items / 4 : items, WG);
  const groups = grid[0] * grid[1];
  return scope(() => {
    const selInit = new Uint32Array(m);
    selInit[0] = start;
    const sel = tensor(new Float32Array(selInit.buffer), [m]);
    const dist = empty([items]);
    const partVal = empty([groups]);
    const partIdx = empty([groups]);
    for (let t = 0; t + 1 < m; t++) {
      const uniforms = { items, p, k: 0, koff: 0, d, t, groups };
      launch(op, {
        shader: 'knn',
        entry: v4 ? 'coreset_update_v4' : 'coreset_update',
        constants: { WG, FIRST: +(t === 0) },
        tensors: { z, dist, sel, part_val: partVal, part_idx: partIdx },
        uniforms,
        workgroups: grid,
      });
      launch(op, { shader: 'knn', entry: 'coreset_pick', constants: { WG }, tensors: { sel, part_val: partVal, part_idx: partIdx }, uniforms, workgroups: [1] });
    }
    return sel;
  });
}

// ---- CPU references (float64) -----------------------------------------------------------------

export const knnRef = {
  /** Squared distances (`nearestDistance(…, { squared: true })`); their square roots otherwise. */
  nearestSqDist(x: ArrayLike<number>, shape: readonly number[], bank: ArrayLike<number>, k: number): Float64Array {
    const [n, d, p] = shape;
    const out = new Float64Array(n * p);
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < p; q++) {
        let best = Infinity;
        for (let r = 0; r < k; r++) {
          let s = 0;
          for (let f = 0; f < d; f++) s += (x[(i * d + f) * p + q] - bank[r * d + f]) ** 2;
          best = Math.min(best, s);
        }
        out[i * p + q] = best;
      }
    }
    return out;
  },

  greedyCoreset(z: ArrayLike<number>, shape: readonly number[], count: number, start = 0): Uint32Array {
    const [n, d, p] = shape;
    const items = n * p;
    const coord = (i: number, f: number) => z[(Math.floor(i / p) * d + f) * p + (i % p)];
    const dist = new Float64Array(items).fill(Infinity);
    const picked = [start];
    while (picked.length < Math.min(count, items)) {
      const c = picked[picked.length - 1];
      let best = -1;
      for (let i = 0; i < items; i++) {
        let s = 0;
        for (let f = 0; f < d; f++) s += (coord(i, f) - coord(c, f)) ** 2;
        dist[i] = Math.min(dist[i], s);
        if (best < 0 || dist[i] > dist[best]) best = i;
      }
      picked.push(best);
    }
    return Uint32Array.from(picked);
  },
};

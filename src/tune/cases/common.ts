// Building blocks for bench cases: seeded inputs, forward and backward instances, sampled
// references, and the work-model helper.
import { backward, parameter, record, zeroGrad } from '../../autograd/tape.js';
import { Tensor, empty, scope, tensor } from '../../tensor/tensor.js';
import type { CaseInstance, Expected } from '../harness.js';
import type { WorkModel } from '../schema.js';
import { createRng } from '../../util/random.js';

/** Seeded uniform values in [lo, hi) (the runtime's generator, src/util/random.ts). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = createRng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
export const F32 = 4;

export function model(flops: number, bytes: number, formula: string): WorkModel {
  return { flops, bytes, formula };
}

/** "[1, 96, 64, 64]" */
export const dims = (s: readonly number[]) => `[${s.join(', ')}]`;

export interface Input {
  shape: number[];
  data: Float32Array;
  /** Backward cases: whether the input is a trainable parameter (default true). */
  grad?: boolean;
}

export function input(shape: number[], seed: number, grad = true, lo = -1, hi = 1): Input {
  return { shape, data: rand(numel(shape), seed, lo, hi), grad };
}

async function readAll(ts: Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const t of ts) out.push(await t.read());
  return out;
}

/** A forward case: inputs uploaded once; each run records `op` and drops its outputs. */
export function forwardInstance(inputs: Input[], op: (xs: Tensor[]) => Tensor | Tensor[], expected: () => Expected[]): CaseInstance {
  const xs = inputs.map((i) => tensor(i.data, i.shape));
  const outs = (): Tensor[] => {
    const y = op(xs);
    return Array.isArray(y) ? y : [y];
  };
  return {
    run: () => void outs(),
    async outputs() {
      const ys = scope(() => outs());
      try {
        return await readAll(ys);
      } finally {
        ys.forEach((y) => y.dispose());
      }
    },
    expected,
    dispose: () => xs.forEach((x) => x.dispose()),
  };
}

/**
 * A backward case: `prepare` records the forward op on parameters (untimed); `run` back-propagates
 * the fixed upstream gradient `gy` (uploaded, so no extra kernel) into every input with grad !==
 * false and drops the gradients. Outputs: those gradients, in input order.
 */
export function backwardInstance(inputs: Input[], op: (xs: Tensor[]) => Tensor, gy: Float32Array, expected: () => Expected[]): CaseInstance {
  const xs = inputs.map((i) => {
    const t = tensor(i.data, i.shape);
    return i.grad === false ? t : parameter(t);
  });
  const params = xs.filter((_, k) => inputs[k].grad !== false);
  let y: Tensor | null = null;
  const seeded = () => {
    const out = y!;
    const seed = empty([1]);
    record('bench seed', [out], seed, () => [tensor(gy, out.shape)]);
    backward(seed);
    y = null;
  };
  return {
    prepare: () => {
      y = op(xs);
    },
    run: () => {
      seeded();
      zeroGrad(params);
    },
    async outputs() {
      scope(() => {
        y = op(xs);
        seeded();
      });
      try {
        return await readAll(params.map((p) => p.grad!));
      } finally {
        zeroGrad(params);
      }
    },
    expected,
    dispose: () => xs.forEach((x) => x.dispose()),
  };
}

/** Row indices to check of an R-row output: first, last and `count` seeded others. */
export function sampleRows(rows: number, count: number, seed = 5): number[] {
  if (rows <= count + 2) return [...Array(rows).keys()];
  const r = rand(count, seed, 0, rows);
  return [...new Set([0, rows - 1, ...Array.from(r, (v) => Math.floor(v))])].sort((a, b) => a - b);
}

/** Element indices of whole rows (row length `width`). */
export function rowIndices(rows: readonly number[], width: number): Int32Array {
  const idx = new Int32Array(rows.length * width);
  rows.forEach((r, k) => {
    for (let j = 0; j < width; j++) idx[k * width + j] = r * width + j;
  });
  return idx;
}

/** Float64 copy of the listed rows of a row-major [rows, width] array. */
export function takeRows(data: ArrayLike<number>, rows: readonly number[], width: number): Float64Array {
  const out = new Float64Array(rows.length * width);
  rows.forEach((r, k) => {
    for (let j = 0; j < width; j++) out[k * width + j] = data[r * width + j];
  });
  return out;
}

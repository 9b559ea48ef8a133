// Test helpers: a GPU per test file, seeded random data, float comparison with a readable report,
// and a finite-difference gradient check against the float64 CPU reference.
import { afterAll, beforeAll, expect } from 'vitest';
import { destroyRuntime, initRuntime, runtime } from '../src/gpu/runtime.js';
import { Tensor, scope, tensor, type Shape } from '../src/tensor/tensor.js';
import { backward, parameter } from '../src/autograd/tape.js';
import { mul, sum } from '../src/ops/index.js';
import { TUNABLES, defaultTuning, withTuning, type TunableFamily, type TuningRecord } from '../src/ops/tuning.js';
import type { KnobSpec } from '../src/ops/tunable.js';
import { traceLaunches } from '../src/ops/util.js';
import { createRng } from '../src/util/random.js';

/** Runs `fn` (sync or async) with the knobs of `record` in force, restoring them afterwards. */
export { withTuning };

/** Acquires the WebGPU device for the file and releases it afterwards. */
export function useGpu(): void {
  beforeAll(async () => {
    await initRuntime();
  });
  afterAll(async () => {
    await runtime().sync();
    destroyRuntime();
  });
}

/** Deterministic PRNG: the runtime's own seeded generator. */
export const rng = createRng;

/** `n` uniform values in [lo, hi). */
export function randn(n: number, seed = 1, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

export function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

export interface Tol {
  atol?: number;
  rtol?: number;
}

/** Asserts |actual - expected| <= atol + rtol * |expected| everywhere, reporting the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tol, label = ''): void {
  const { atol = 1e-5, rtol = 1e-4 } = tol;
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  let maxAbs = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    maxAbs = Math.max(maxAbs, err);
    const excess = err - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${label}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(atol ${atol}, rtol ${rtol}; max abs error ${maxAbs})`,
    );
  }
}

/** Relative L2 error ||a - b|| / ||b||. */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

export interface GradInput {
  shape: number[];
  data?: Float32Array;
  /** Inputs that are not differentiated (indices, constants). */
  constant?: boolean;
}

export interface GradCheckOptions {
  inputs: GradInput[];
  /** The op under test, on GPU tensors. */
  gpu: (xs: Tensor[]) => Tensor;
  /** Its float64 CPU reference. */
  ref: (xs: Float64Array[]) => Float64Array;
  /** Elements sampled per input for finite differences (all when the input is smaller). */
  samples?: number;
  eps?: number;
  tol?: Tol;
  /** Forward tolerance against the reference. */
  fwdTol?: Tol;
  seed?: number;
}

/**
 * Checks the GPU backward against central differences of the CPU reference, through the scalar
 * loss L = sum(op(x) * R) with a fixed random R. Also checks the forward against the reference.
 */
export async function gradCheck(o: GradCheckOptions): Promise<void> {
  const { samples = 24, eps = 1e-3, tol = { atol: 1e-3, rtol: 1e-2 }, fwdTol = { atol: 1e-4, rtol: 1e-3 }, seed = 7 } = o;
  const datas = o.inputs.map((inp, i) => inp.data ?? randn(numel(inp.shape), seed + 31 * i));
  const xs = o.inputs.map((inp, i) => {
    const t = tensor(datas[i], inp.shape);
    return inp.constant ? t : parameter(t);
  });
  const refOut = o.ref(datas.map((d) => Float64Array.from(d)));
  const R = randn(refOut.length, seed + 1000);
  let y!: Float32Array;
  const outHandle = scope(() => {
    const out = o.gpu(xs);
    const loss = sum(mul(out, tensor(R, out.shape)));
    backward(loss);
    return out;
  });
  y = await outHandle.read();
  outHandle.dispose();
  expectClose(y, refOut, fwdTol, 'forward vs reference');
  const lossOf = (inputs: Float64Array[]) => {
    const out = o.ref(inputs);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * R[i];
    return s;
  };
  const r = rng(seed + 99);
  for (let i = 0; i < xs.length; i++) {
    if (o.inputs[i].constant) continue;
    const grad = xs[i].grad;
    expect(grad, `input ${i} received a gradient`).not.toBeNull();
    const g = await grad!.read();
    const n = datas[i].length;
    const idx = n <= samples ? [...Array(n).keys()] : Array.from({ length: samples }, () => Math.floor(r() * n));
    const analytic: number[] = [];
    const numeric: number[] = [];
    for (const k of idx) {
      const inputs = datas.map((d) => Float64Array.from(d));
      inputs[i][k] += eps;
      const up = lossOf(inputs);
      inputs[i][k] -= 2 * eps;
      const down = lossOf(inputs);
      numeric.push((up - down) / (2 * eps));
      analytic.push(g[k]);
    }
    expectClose(analytic, numeric, tol, `gradient of input ${i} ${JSON.stringify(o.inputs[i].shape)}`);
  }
  for (const x of xs) x.dispose();
}

/** One op run of a variant sweep. */
export interface SweepRun {
  /** What the run is (messages). */
  name: string;
  /** Records the op(s) under the knobs in force and returns the check against the CPU reference. */
  record: () => () => Promise<void>;
  /** The entry points (`shader.entry`) the family's plan names for this run under the knobs in force. */
  planned: () => string[];
}

/**
 * The variant sweep of a tunable family: the defaults, then every candidate of every knob as the
 * family declares it (what `hlgfa tune` tries), one knob at a time, on every run. Each run's
 * launches must be the kernels its plan names and its results must match the CPU reference.
 * Returns every `shader.entry` of the family's own shaders (default: the shader named like it)
 * reached, sorted, for the caller to compare with the family's variants.
 */
export async function sweepVariants(
  family: TunableFamily, runs: SweepRun[], o: { extra?: TuningRecord[]; shaders?: string[] } = {},
): Promise<string[]> {
  const records: TuningRecord[] = [{}, ...(o.extra ?? [])];
  const own = o.shaders ?? [family];
  for (const [knob, spec] of Object.entries(TUNABLES[family].knobs as Record<string, KnobSpec<unknown>>)) {
    for (const v of spec.candidates ?? []) records.push({ [family]: { [knob]: v } } as TuningRecord);
  }
  const reached = new Set<string>();
  for (const record of records) {
    const d = defaultTuning() as Record<string, object>;
    const full = Object.fromEntries(Object.entries(d).map(([f, v]) => [f, { ...v, ...(record as Record<string, object>)[f] }])) as TuningRecord;
    await withTuning(full, async () => {
      for (const run of runs) {
        const { result: check, launches } = traceLaunches(run.record);
        const names = launches.map((l) => `${l.shader}.${l.entry}`);
        const label = `${run.name} with ${JSON.stringify(record)}`;
        for (const want of run.planned()) expect(names, `${label}: the planned ${want} ran`).toContain(want);
        for (const l of launches) if (own.includes(l.shader)) reached.add(`${l.shader}.${l.entry}`);
        await check();
      }
    });
  }
  return [...reached].sort();
}

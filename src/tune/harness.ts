// The measuring core: a case records its op on our runtime; the harness validates it once against
// the CPU reference, then times batches of repetitions with GPU timestamp queries (every compute
// pass the runtime begins writes its start and end, see Runtime.setPassTimer) or, without the
// 'timestamp-query' feature, by wall clock from the first record to onSubmittedWorkDone.
import { scope } from '../tensor/tensor.js';
import type { PassTimer, Runtime } from '../gpu/runtime.js';
import type { Peer, PeerInstance } from './peer.js';

export type { PeerInstance };
import type { CaseResult, Roofline, TimeStats, Validation, WorkModel } from './schema.js';

/** Reference values for one output: every element, or only those at `indices`. */
export interface Expected {
  values: ArrayLike<number>;
  indices?: ArrayLike<number>;
}

/** One prepared instance of a case (inputs allocated). */
export interface CaseInstance {
  /** Untimed work recorded before each timed `run` (the forward pass of a backward case). */
  prepare?(): void;
  /** Records the measured work once (called inside scope(): temporaries are disposed). */
  run(): void;
  /** Executes prepare + run once and reads the outputs to the CPU. */
  outputs(): Promise<Float32Array[]>;
  /** The CPU reference for `outputs()`, same order. */
  expected(): Expected[];
  dispose(): void;
}

export interface BenchCase {
  /** "family/what shape", unique; --filter matches it. */
  id: string;
  family: string;
  op: string;
  shape: string;
  /** The variant in force, evaluated when the case runs (tuning may change it). */
  variant: () => string;
  model: WorkModel;
  /** Part of --quick. */
  quick?: boolean;
  /** Validation tolerance on maxAbsErr / rms(reference); default 1e-3. */
  tol?: number;
  setup: () => CaseInstance;
  /** The same op and shape on the peer (created on demand with the peer's module). */
  peer?: { op: string; setup: (peer: Peer) => PeerInstance };
}

export interface MeasureOptions {
  /** Target length of one sample (ms): repetitions per sample are chosen to reach it. */
  sampleMs: number;
  minSamples: number;
  maxSamples: number;
  /** Stop sampling after this much time (ms) once minSamples are in. */
  budgetMs: number;
}

/** Executions slower than this (ms) take at most 3 samples (a 2048³ matmul takes seconds here). */
const SLOW_MS = 500;

export const QUICK: MeasureOptions = { sampleMs: 3, minSamples: 3, maxSamples: 3, budgetMs: 0 };
export const FULL: MeasureOptions = { sampleMs: 25, minSamples: 7, maxSamples: 21, budgetMs: 2500 };

/** Percentile p (0..100) of sorted values, linear interpolation. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const x = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(x);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

export function stats(values: readonly number[], repsPerSample: number): TimeStats {
  const s = [...values].sort((a, b) => a - b);
  return {
    median: percentile(s, 50),
    p10: percentile(s, 10),
    p90: percentile(s, 90),
    q1: percentile(s, 25),
    q3: percentile(s, 75),
    min: s[0],
    max: s[s.length - 1],
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    samples: s.length,
    repsPerSample,
  };
}

/** Compares outputs with the reference: maxAbsErr relative to the reference's RMS; NaN fails. */
export function compare(actual: readonly Float32Array[], expected: readonly Expected[], tol: number): Validation {
  const fail = (note: string): Validation => ({ ok: false, method: 'full', checked: 0, maxAbsErr: NaN, relErr: NaN, tol, note });
  if (actual.length !== expected.length) return fail(`got ${actual.length} outputs, expected ${expected.length}`);
  let maxAbs = 0;
  let sq = 0;
  let n = 0;
  let sampled = false;
  for (const [o, a] of actual.entries()) {
    const { values, indices } = expected[o];
    if (indices) sampled = true;
    else if (a.length !== values.length) return fail(`output ${o} has ${a.length} values, expected ${values.length}`);
    for (let i = 0; i < values.length; i++) {
      const at = indices ? indices[i] : i;
      const err = Math.abs(a[at] - values[i]);
      if (Number.isNaN(err)) return { ...fail(`output ${o}[${at}] is ${a[at]}, expected ${values[i]}`), checked: n + 1 };
      if (err > maxAbs) maxAbs = err;
      sq += values[i] * values[i];
      n++;
    }
  }
  const rms = Math.sqrt(sq / Math.max(1, n));
  const relErr = rms > 0 ? maxAbs / rms : maxAbs;
  return { ok: n > 0 && relErr <= tol, method: sampled ? 'sampled' : 'full', checked: n, maxAbsErr: maxAbs, relErr, tol };
}

/** ms per sample (GPU time when timestamps work, else NaN) and wall ms per sample. */
interface Sample {
  gpu: number;
  wall: number;
}

/** Times batches of repetitions of a case instance on the runtime. */
export class Timer {
  readonly timestamps: boolean;
  private querySet: GPUQuerySet | null = null;
  private resolveBuf: GPUBuffer | null = null;
  private readBuf: GPUBuffer | null = null;
  /** Largest power of two dividing every timestamp seen (ns): the clock's granularity. */
  resolutionNs = 0;
  private static readonly SLOTS = 4096;

  constructor(
    private readonly rt: Runtime,
    useTimestamps = true,
  ) {
    this.timestamps = useTimestamps && rt.device.features.has('timestamp-query');
    if (this.timestamps) {
      const bytes = Timer.SLOTS * 8;
      this.querySet = rt.device.createQuerySet({ type: 'timestamp', count: Timer.SLOTS });
      this.resolveBuf = rt.device.createBuffer({ size: bytes, usage: 0x200 /* QUERY_RESOLVE */ | 0x04 /* COPY_SRC */ });
      this.readBuf = rt.device.createBuffer({ size: bytes, usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
    }
  }

  /**
   * One sample of `reps` executions; with `prepare`, only the `run` passes count as GPU time.
   * `timed` false: wall clock only, without timestamp writes, as the peer is timed.
   */
  async sample(inst: CaseInstance, reps: number, withRun = true, timed = true): Promise<Sample> {
    const rt = this.rt;
    await rt.sync();
    const timer: PassTimer | null = timed && this.querySet ? { querySet: this.querySet, next: 0, dropped: 0 } : null;
    const ranges: Array<[number, number]> = [];
    const t0 = performance.now();
    if (timer) rt.setPassTimer(timer);
    rt.setSubmitBatching(false);
    try {
      for (let r = 0; r < reps; r++) {
        scope(() => {
          if (inst.prepare) {
            inst.prepare();
            if (!withRun) return;
            rt.setPassTimer(timer); // ends the prepare pass: run starts a pass of its own
          }
          const a = timer?.next ?? 0;
          inst.run();
          if (inst.prepare) {
            rt.setPassTimer(timer);
            ranges.push([a, timer?.next ?? 0]);
          }
        });
      }
      if (!inst.prepare && timer) ranges.push([0, Number.MAX_SAFE_INTEGER]);
      await rt.sync();
    } finally {
      if (timer) rt.setPassTimer(null);
      rt.setSubmitBatching(true);
    }
    const wall = performance.now() - t0;
    // No timer, or passes that found the query set full: no GPU time for this sample.
    if (!timer || timer.dropped > 0) return { gpu: NaN, wall };
    if (timer.next === 0) return { gpu: 0, wall };
    const ts = await this.resolve(timer.next);
    let ns = 0n;
    for (const [a, b] of ranges) for (let i = a; i < Math.min(b, timer.next); i += 2) ns += ts[i + 1] - ts[i];
    return { gpu: Number(ns) / 1e6, wall };
  }

  private async resolve(count: number): Promise<BigUint64Array> {
    const enc = this.rt.device.createCommandEncoder();
    enc.resolveQuerySet(this.querySet!, 0, count, this.resolveBuf!, 0);
    enc.copyBufferToBuffer(this.resolveBuf!, 0, this.readBuf!, 0, count * 8);
    this.rt.device.queue.submit([enc.finish()]);
    await this.readBuf!.mapAsync(1 /* READ */, 0, count * 8);
    const ts = new BigUint64Array(this.readBuf!.getMappedRange(0, count * 8).slice(0));
    this.readBuf!.unmap();
    for (const t of ts) {
      if (t === 0n) continue;
      let res = 1;
      let v = t;
      while ((v & 1n) === 0n && res < 1 << 20) {
        v >>= 1n;
        res *= 2;
      }
      this.resolutionNs = this.resolutionNs === 0 ? res : Math.min(this.resolutionNs, res);
    }
    return ts;
  }

  /**
   * Samples per `opts`; returns per-execution stats of GPU time (null without timestamps) and of
   * wall time (run only: for cases with `prepare`, the prepare-only median is subtracted).
   */
  async measure(inst: CaseInstance, opts: MeasureOptions, bytesPerRep: number): Promise<{ gpu: TimeStats | null; wall: TimeStats }> {
    const probe = await this.sample(inst, 1);
    const est = Math.max(1e-3, Number.isFinite(probe.gpu) && probe.gpu > 0 ? probe.gpu : probe.wall);
    // Released buffers come back only after the batch finishes: bound the memory a batch pins.
    const maxReps = Math.max(1, Math.min(1000, Math.floor((512 * 2 ** 20) / Math.max(1, bytesPerRep))));
    const reps = Math.max(1, Math.min(maxReps, Math.round(opts.sampleMs / est)));
    const minSamples = est > SLOW_MS ? Math.min(3, opts.minSamples) : opts.minSamples;
    const gpu: number[] = [];
    const wall: number[] = [];
    const start = performance.now();
    while (gpu.length < opts.maxSamples && (gpu.length < minSamples || performance.now() - start < opts.budgetMs)) {
      const s = await this.sample(inst, reps);
      gpu.push(s.gpu / reps);
      wall.push(s.wall / reps);
    }
    let wallRun = wall;
    if (inst.prepare) {
      const pre: number[] = [];
      for (let i = 0; i < Math.min(wall.length, 5); i++) pre.push((await this.sample(inst, reps, false)).wall / reps);
      const p = stats(pre, reps).median;
      wallRun = wall.map((w) => Math.max(0, w - p));
    }
    const gpuOk = this.timestamps && gpu.every((g) => Number.isFinite(g));
    return { gpu: gpuOk ? stats(gpu, reps) : null, wall: stats(wallRun, reps) };
  }

  /**
   * Ours against the peer by wall clock, in interleaved samples (one of ours, one of the peer's,
   * repeated) so load drifting on a shared machine hits both alike.
   */
  async comparePeer(ours: CaseInstance, oursReps: number, peer: PeerInstance, opts: MeasureOptions): Promise<{ ours: TimeStats; peer: TimeStats }> {
    const peerOnce = async (reps: number) => {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) peer.run();
      await peer.sync();
      return performance.now() - t0;
    };
    peer.run(); // compiles the peer's pipelines
    await peer.sync();
    const est = Math.max(1e-3, await peerOnce(1));
    const reps = Math.max(1, Math.min(1000, Math.round(opts.sampleMs / est)));
    const a: number[] = [];
    const b: number[] = [];
    const minSamples = est > SLOW_MS ? Math.min(3, opts.minSamples) : opts.minSamples;
    const start = performance.now();
    while (a.length < opts.maxSamples && (a.length < minSamples || performance.now() - start < opts.budgetMs)) {
      a.push((await this.sample(ours, oursReps, true, false)).wall / oursReps);
      b.push((await peerOnce(reps)) / reps);
    }
    return { ours: stats(a, oursReps), peer: stats(b, reps) };
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuf?.destroy();
    this.readBuf?.destroy();
  }
}

/** Achieved throughput and percent of the roofline min(peak, intensity · bandwidth). */
export function rooflineOf(model: WorkModel, ms: number, roof: Roofline): Pick<CaseResult, 'throughput' | 'roofline'> {
  const s = ms / 1e3;
  const tCompute = model.flops / (roof.peakGflops * 1e9);
  const tMemory = model.bytes / (roof.copyGBps * 1e9);
  const intensity = model.flops / Math.max(1, model.bytes);
  return {
    throughput: { gflops: model.flops / s / 1e9, gbps: model.bytes / s / 1e9 },
    roofline: {
      pct: (100 * Math.max(tCompute, tMemory)) / s,
      bound: tCompute >= tMemory ? 'compute' : 'memory',
      attainableGflops: Math.min(roof.peakGflops, intensity * roof.copyGBps),
    },
  };
}

/** Validates a case once (which also compiles its pipelines), then measures it. */
export async function runCase(
  timer: Timer,
  rt: Runtime,
  c: BenchCase,
  opts: MeasureOptions,
  roof: Roofline,
  /** Called after a successful measurement while the instance is alive (the peer comparison). */
  after?: (inst: CaseInstance, r: CaseResult) => Promise<void>,
): Promise<CaseResult> {
  const model = { ...c.model, intensity: c.model.flops / Math.max(1, c.model.bytes) };
  const base: CaseResult = {
    id: c.id, family: c.family, op: c.op, shape: c.shape, variant: '', status: 'ERROR',
    validation: null, time: null, wall: null, model, throughput: null, roofline: null,
  };
  let inst: CaseInstance | null = null;
  try {
    base.variant = c.variant();
    inst = c.setup();
    const outs = await inst.outputs();
    base.validation = compare(outs, inst.expected(), c.tol ?? 1e-3);
    if (!base.validation.ok) {
      base.status = 'WRONG';
      return base;
    }
    const m = await timer.measure(inst, opts, c.model.bytes);
    base.time = m.gpu ?? m.wall;
    base.wall = m.wall;
    Object.assign(base, rooflineOf(c.model, base.time.median, roof));
    base.status = 'ok';
    await after?.(inst, base);
  } catch (e) {
    base.status = 'ERROR';
    base.error = e instanceof Error ? e.message : String(e);
  } finally {
    try {
      inst?.dispose();
      await rt.sync();
    } catch (e) {
      base.status = 'ERROR';
      base.error ??= e instanceof Error ? e.message : String(e);
    }
    rt.pool.trim();
  }
  return base;
}
